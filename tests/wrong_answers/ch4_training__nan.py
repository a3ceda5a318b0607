"""Produces NaN (inf - inf when max_rate is infinite)."""

EXPECTED = {"rate_penalty": 0}


def rate_penalty(rates, min_rate, max_rate):
    rates = np.asarray(rates, dtype=float)
    below = np.maximum(0.0, min_rate - rates)
    above = np.maximum(0.0, rates - max_rate) * (max_rate - rates) / (max_rate - rates)
    return float(0.5 * np.sum((below + above) ** 2))
