"""Never resets the voltage after a spike: the neuron fires at every step once past 1."""

EXPECTED = {"loihi_spike_train": 0}


def loihi_spikes(current, dt=0.001):
    current = np.asarray(current, dtype=np.float64)
    voltage = np.zeros(current.shape[1])
    spikes = np.zeros(current.shape, dtype=bool)
    for step in range(current.shape[0]):
        voltage += current[step] * dt
        spikes[step] = voltage > 1
        voltage[voltage < 0] = 0
    return spikes
