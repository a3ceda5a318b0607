"""Returns NaN where the neuron is silent."""

EXPECTED = {"loihi_rate_formula": 0}


def loihi_rate(current, dt=0.001):
    current = np.asarray(current, dtype=float)
    rate = np.full_like(current, np.nan)
    positive = current > 0
    rate[positive] = 1.0 / (dt * np.ceil(1.0 / (current[positive] * dt)))
    return rate
