"""Penalizes only rates above max_rate (partial credit)."""

EXPECTED = {"rate_penalty": 1}


def rate_penalty(rates, min_rate, max_rate):
    error = np.maximum(0.0, np.asarray(rates, dtype=float) - max_rate)
    return float(0.5 * np.sum(error**2))
