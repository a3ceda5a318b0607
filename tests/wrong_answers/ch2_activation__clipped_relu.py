"""Knows the cap but not the plateaus (partial credit)."""

EXPECTED = {"loihi_rate_formula": 1}


def loihi_rate(current, dt=0.001):
    return np.clip(np.asarray(current, dtype=float), 0.0, 1.0 / dt)
