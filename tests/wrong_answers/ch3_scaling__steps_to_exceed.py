"""Counts the steps the voltage needs to exceed 1 instead of to reach it: one step too many exactly
where the scaled current lands the voltage on 1, right everywhere else (partial credit)."""

EXPECTED = {"scaled_layer_output": 1}


def scaled_layer_output(values, scale, dt=0.001):
    current = scale * np.asarray(values, dtype=np.float64)
    rate = np.zeros_like(current)
    positive = current > 0
    rate[positive] = 1.0 / (dt * (np.floor(1.0 / (current[positive] * dt)) + 1))
    return rate / scale
