"""Equivalent correct: NumPy masked arrays, np.where and per-key division (full marks)."""

EXPECTED = {}


def mean_active_rate(outputs, amplitude=1.0):
    outputs = np.asarray(outputs, dtype=np.float64)
    rates = np.ma.masked_array(outputs.mean(axis=1) / amplitude, mask=~(outputs > 0).any(axis=1))
    per_example = rates.mean(axis=1).filled(0.0)  # an example without active neurons counts as 0
    return float(per_example.mean())


def scales_for_target(rates, target=200.0):
    scales = {}
    for name in rates:
        scales[name] = np.divide(target, rates[name])  # a NumPy float64
    return scales


def scaled_layer_output(values, scale, dt=0.001):
    current = np.asarray(values, dtype=np.float64) * scale
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(current > 0, 1.0 / (dt * np.ceil(1.0 / (current * dt))), 0.0)
    return rate * (1.0 / scale)
