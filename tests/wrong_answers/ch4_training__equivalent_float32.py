"""Equivalent correct: float32 arithmetic, np.quantile, a NumPy scalar loss (full marks)."""

EXPECTED = {}


def layer_rates(outputs, amplitude=1.0, percentile=99.9):
    rates = np.asarray(outputs, dtype=np.float32) / np.float32(amplitude)
    flat = rates.reshape(-1, rates.shape[-1])
    return np.quantile(flat, percentile / 100.0, axis=0)


def rate_penalty(rates, min_rate, max_rate):
    rates = np.asarray(rates, dtype=np.float32)
    error = np.maximum(np.float32(0.0), np.float32(min_rate) - rates)
    error = error + np.maximum(np.float32(0.0), rates - np.float32(max_rate))
    return np.float32(0.5) * np.sum(error * error)  # a NumPy float32 scalar
