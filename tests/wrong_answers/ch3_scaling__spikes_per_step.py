"""Counts spikes per time step instead of computing a rate in Hz."""

EXPECTED = {"mean_active_rate": 0}


def mean_active_rate(outputs, amplitude=1.0):
    outputs = np.asarray(outputs, dtype=np.float64)
    rates = (outputs > 0).mean(axis=1)
    active = (outputs > 0).any(axis=1)
    counts = active.sum(axis=1)
    sums = np.where(active, rates, 0.0).sum(axis=1)
    return float(np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0).mean())
