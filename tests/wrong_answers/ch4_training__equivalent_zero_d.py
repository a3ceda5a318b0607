"""Equivalent correct: a clipped distance to the range, returned as a 0-d array (full marks)."""

EXPECTED = {}


def rate_penalty(rates, min_rate, max_rate):
    rates = np.asarray(rates, dtype=np.float64)
    error = rates - np.clip(rates, min_rate, max_rate)
    return np.asarray(0.5 * np.dot(error, error))
