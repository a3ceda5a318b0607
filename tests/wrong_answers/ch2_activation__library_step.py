"""Lets nengo-loihi's own neuron step the voltage (``LoihiSpikingRectifiedLinear.step``): refused, the exercise declares it."""

import numpy as np
from nengo_loihi.neurons import LoihiSpikingRectifiedLinear

EXPECTED = {"loihi_spike_train": 0}


def loihi_spikes(current, dt=0.001):
    current = np.asarray(current, dtype=float)
    neuron = LoihiSpikingRectifiedLinear()
    voltage, output = np.zeros(current.shape[1]), np.zeros(current.shape[1])
    spikes = np.zeros(current.shape, dtype=bool)
    for t, J in enumerate(current):
        neuron.step(dt, J, output, voltage)
        spikes[t] = output > 0
    return spikes
