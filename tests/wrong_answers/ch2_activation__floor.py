"""Rounds the steps between spikes down instead of up."""

EXPECTED = {"loihi_rate_formula": 0}


def loihi_rate(current, dt=0.001):
    current = np.asarray(current, dtype=float)
    rate = np.zeros_like(current)
    positive = current > 0
    with np.errstate(divide="ignore"):
        rate[positive] = 1.0 / (dt * np.floor(1.0 / (current[positive] * dt)))
    return rate
