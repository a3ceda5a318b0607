"""Counts the steps the voltage needs to exceed 1 (the neuron model of 2.2) instead of to reach it:
one step too many exactly where the voltage lands on 1, as for J = 250 at dt = 1 ms, right everywhere
else (partial credit)."""

EXPECTED = {"loihi_rate_formula": 2}


def loihi_rate(current, dt=0.001):
    current = np.asarray(current, dtype=np.float64)
    rate = np.zeros_like(current)
    positive = current > 0
    steps = np.floor(1.0 / (current[positive] * dt)) + 1
    rate[positive] = 1.0 / (dt * steps)
    return rate
