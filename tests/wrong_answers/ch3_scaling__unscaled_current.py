"""Drives the neurons with the values themselves, forgetting that the scale multiplies the current."""

EXPECTED = {"scaled_layer_output": 0}


def scaled_layer_output(values, scale, dt=0.001):
    current = np.asarray(values, dtype=np.float64)
    rate = np.zeros_like(current)
    positive = current > 0
    rate[positive] = 1.0 / (dt * np.ceil(1.0 / (current[positive] * dt)))
    return rate / scale
