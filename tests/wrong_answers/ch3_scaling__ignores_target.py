"""Always aims at 200 Hz, whatever target it is given."""

EXPECTED = {"scales_for_target": 0}


def scales_for_target(rates, target=200.0):
    return {name: 200.0 / rate for name, rate in rates.items()}
