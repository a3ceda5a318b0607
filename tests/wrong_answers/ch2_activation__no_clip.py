"""Lets the voltage go below 0 under negative input."""

EXPECTED = {"loihi_spike_train": 0}


def loihi_spikes(current, dt=0.001):
    voltage = np.zeros(current.shape[1])
    spikes = np.zeros(current.shape, dtype=bool)
    for step in range(current.shape[0]):
        voltage += current[step] * dt
        spikes[step] = voltage > 1
        voltage[spikes[step]] = 0
    return spikes
