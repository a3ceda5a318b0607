"""The ideal ReLU: forgets both the plateaus and the 1000 Hz cap."""

EXPECTED = {"loihi_rate_formula": 0}


def loihi_rate(current, dt=0.001):
    return np.maximum(np.asarray(current, dtype=float), 0.0)
