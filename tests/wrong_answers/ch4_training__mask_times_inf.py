"""Multiplies each error by a mask of the rates out of range: 0 * inf is NaN when max_rate is infinite."""

EXPECTED = {"rate_penalty": 0}


def rate_penalty(rates, min_rate, max_rate):
    rates = np.asarray(rates, dtype=np.float64)
    error = (rates < min_rate) * (min_rate - rates) + (rates > max_rate) * (rates - max_rate)
    return float(0.5 * np.sum(error**2))
