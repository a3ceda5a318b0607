"""Equivalent correct: float32 arithmetic, NumPy scalars and a 0-d array (full marks)."""

EXPECTED = {}


def mean_active_rate(outputs, amplitude=1.0):
    outputs = np.asarray(outputs, dtype=np.float32)
    rates = outputs.mean(axis=1) / np.float32(amplitude)
    active = (outputs > 0).any(axis=1)
    per_example = np.zeros(len(outputs), dtype=np.float32)
    for i in range(len(outputs)):
        if active[i].any():
            per_example[i] = rates[i][active[i]].mean()
    return np.asarray(per_example.mean())  # a 0-d float32 array


def scales_for_target(rates, target=200.0):
    return {name: np.float32(target) / np.float32(rate) for name, rate in rates.items()}


def scaled_layer_output(values, scale, dt=0.001):
    current = np.float32(scale) * np.asarray(values, dtype=np.float32)
    rate = np.zeros_like(current)
    positive = current > 0
    rate[positive] = np.float32(1.0) / (np.float32(dt) * np.ceil(np.float32(1.0) / (current[positive] * np.float32(dt))))
    return rate / np.float32(scale)
