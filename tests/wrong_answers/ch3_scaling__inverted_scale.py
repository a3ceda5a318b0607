"""Divides the rate by the target instead of the target by the rate."""

EXPECTED = {"scales_for_target": 0}


def scales_for_target(rates, target=200.0):
    return {name: rate / target for name, rate in rates.items()}
