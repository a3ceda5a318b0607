"""Takes the percentile over the time steps only, then the mean over examples."""

EXPECTED = {"layer_rates": 0}


def layer_rates(outputs, amplitude=1.0, percentile=99.9):
    rates = np.asarray(outputs, dtype=np.float64) / amplitude
    return np.percentile(rates, percentile, axis=1).mean(axis=0)
