"""Averages over all neurons, silent ones included."""

EXPECTED = {"mean_active_rate": 0}


def mean_active_rate(outputs, amplitude=1.0):
    return float(np.mean(outputs) / amplitude)
