"""Averages all active (example, neuron) pairs at once (partial credit)."""

EXPECTED = {"mean_active_rate": 2}


def mean_active_rate(outputs, amplitude=1.0):
    outputs = np.asarray(outputs, dtype=np.float64)
    rates = outputs.mean(axis=1) / amplitude
    return float(rates[(outputs > 0).any(axis=1)].mean())
