"""Returns spikes per time step instead of spikes per second (Hz)."""

EXPECTED = {"loihi_rate_formula": 0}


def loihi_rate(current, dt=0.001):
    current = np.asarray(current, dtype=np.float64)
    rate = np.zeros_like(current)
    positive = current > 0
    rate[positive] = 1.0 / np.ceil(1.0 / (current[positive] * dt))
    return rate
