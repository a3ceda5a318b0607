"""Uses each neuron's maximum instead of the percentile."""

EXPECTED = {"layer_rates": 0}


def layer_rates(outputs, amplitude=1.0, percentile=99.9):
    return np.asarray(outputs).max(axis=(0, 1)) / amplitude
