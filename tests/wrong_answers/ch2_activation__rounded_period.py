"""Rounds the steps between spikes to the nearest whole number instead of up: capped, off the plateaus (partial credit)."""

EXPECTED = {"loihi_rate_formula": 1}


def loihi_rate(current, dt=0.001):
    current = np.asarray(current, dtype=np.float64)
    rate = np.zeros_like(current)
    positive = current > 0
    steps = np.maximum(np.round(1.0 / (current[positive] * dt)), 1.0)
    rate[positive] = 1.0 / (dt * steps)
    return rate
