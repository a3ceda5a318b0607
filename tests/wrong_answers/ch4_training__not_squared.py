"""Sums the distances to the range without squaring them."""

EXPECTED = {"rate_penalty": 0}


def rate_penalty(rates, min_rate, max_rate):
    rates = np.asarray(rates, dtype=float)
    error = np.maximum(0.0, min_rate - rates) + np.maximum(0.0, rates - max_rate)
    return float(0.5 * np.sum(error))
