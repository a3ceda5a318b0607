"""Equivalent correct: both functions computed in float32 (full marks)."""

EXPECTED = {}


def loihi_rate(current, dt=0.001):
    current = np.asarray(current, dtype=np.float32)
    dt = np.float32(dt)
    rate = np.zeros_like(current)
    positive = current > 0
    rate[positive] = np.float32(1.0) / (dt * np.ceil(np.float32(1.0) / (current[positive] * dt)))
    return rate


def loihi_spikes(current, dt=0.001):
    current = np.asarray(current, dtype=np.float32)
    voltage = np.zeros(current.shape[1], dtype=np.float32)
    spikes = np.zeros(current.shape, dtype=bool)
    for step in range(current.shape[0]):
        voltage += current[step] * np.float32(dt)
        spikes[step] = voltage > 1
        voltage[voltage < 0] = 0
        voltage[spikes[step]] = 0
    return spikes
