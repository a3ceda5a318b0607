"""The sum of squares, without tf.nn.l2_loss's one half (partial credit)."""

EXPECTED = {"rate_penalty": 2}


def rate_penalty(rates, min_rate, max_rate):
    rates = np.asarray(rates, dtype=float)
    error = np.maximum(0.0, min_rate - rates) + np.maximum(0.0, rates - max_rate)
    return float(np.sum(error**2))
