"""np.percentile's linear interpolation written by hand, always reading the sample above: runs past the last
sample at the percentile 100 (IndexError), right below it."""

EXPECTED = {"layer_rates": 0}


def layer_rates(outputs, amplitude=1.0, percentile=99.9):
    rates = np.asarray(outputs, dtype=np.float64) / amplitude
    samples = np.sort(rates.reshape(-1, rates.shape[-1]), axis=0)
    position = percentile / 100 * (len(samples) - 1)
    below = int(np.floor(position))
    weight = position - below
    return samples[below] * (1 - weight) + samples[below + 1] * weight
