"""Passes the percentile as a fraction (percentile / 100) to np.percentile."""

EXPECTED = {"layer_rates": 0}


def layer_rates(outputs, amplitude=1.0, percentile=99.9):
    return np.percentile(np.asarray(outputs, dtype=np.float64) / amplitude, percentile / 100, axis=(0, 1))
