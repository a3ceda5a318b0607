"""Assumes the scaled layer passes on the ideal ReLU."""

EXPECTED = {"scaled_layer_output": 0}


def scaled_layer_output(values, scale, dt=0.001):
    return np.maximum(np.asarray(values, dtype=np.float64), 0.0)
