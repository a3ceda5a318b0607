"""Skips the examples in which no neuron is active (np.nanmean) instead of counting them as 0."""

EXPECTED = {"mean_active_rate": 0}


def mean_active_rate(outputs, amplitude=1.0):
    outputs = np.asarray(outputs, dtype=np.float64)
    rates = outputs.mean(axis=1) / amplitude
    active = (outputs > 0).any(axis=1)
    masked = np.where(active, rates, np.nan)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        per_example = np.nanmean(masked, axis=1)
    return float(np.nanmean(per_example))
