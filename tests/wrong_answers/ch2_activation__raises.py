"""Raises an error."""

EXPECTED = {"loihi_spike_train": 0}


def loihi_spikes(current, dt=0.001):
    raise ValueError("voltage went wrong")
