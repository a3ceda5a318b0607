"""Returns the scales as a list, losing which layer each belongs to."""

EXPECTED = {"scales_for_target": 0}


def scales_for_target(rates, target=200.0):
    return [target / rate for rate in rates.values()]
