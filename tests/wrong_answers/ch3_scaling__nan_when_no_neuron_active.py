"""Averages each example's active neurons with np.mean: NaN for an example with none."""

EXPECTED = {"mean_active_rate": 0}


def mean_active_rate(outputs, amplitude=1.0):
    outputs = np.asarray(outputs, dtype=np.float64)
    rates = outputs.mean(axis=1) / amplitude
    active = (outputs > 0).any(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_example = [np.mean(r[a]) for r, a in zip(rates, active)]
    return float(np.mean(per_example))
