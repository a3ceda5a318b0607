"""Hard-codes dt = 1 ms and ignores the argument."""

EXPECTED = {"loihi_rate_formula": 0}


def loihi_rate(current, dt=0.001):
    current = np.asarray(current, dtype=float)
    rate = np.zeros_like(current)
    positive = current > 0
    rate[positive] = 1000.0 / np.ceil(1000.0 / current[positive])
    return rate
