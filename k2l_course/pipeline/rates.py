"""Firing rates: Loihi's discretized rate curve, measured rates, per-layer scales.

Loihi updates each neuron once per time step and lets it spike at most once
per step. A ReLU neuron driven by input current ``J`` accumulates ``J * dt``
per step and spikes when its voltage passes 1, then resets to 0, so its
inter-spike interval is a whole number of steps, ``ceil(1 / (J dt))``. Its rate

    r(J) = 1 / (dt * ceil(1 / (J * dt)))     for J > 0, else 0

follows the ideal ReLU (r = J) at low rates but moves in plateaus at high ones
(500 Hz, 333 Hz, 250 Hz, ... at dt = 1 ms) and can never exceed 1 / dt = 1000 Hz.
"""

from __future__ import annotations

import numpy as np

from k2l_course.pipeline.model import NEURON_LAYERS

#: Loihi's time step in the course (s); one spike per step at most.
DT = 0.001
#: The seed's target mean rate for per-layer scaling (Hz).
TARGET_RATE = 200.0
#: Up to this rate (Hz) Loihi's discretized rate curve follows the ideal ReLU
#: closely; above it the plateaus (250, 333, 500, 1000 Hz at dt = 1 ms) are
#: too far apart: the region where Loihi's neurons misbehave.
FAITHFUL_RATE = 250.0


def loihi_relu_rate(current, dt=DT):
    """Firing rate (Hz) of Loihi's spiking ReLU neuron for a constant input.

    Parameters
    ----------
    current : array_like
        Input current ``J`` (gain * x + bias), in Hz-equivalent units.
    dt : float
        Time step (s).

    Returns
    -------
    ndarray of float
        ``1 / (dt * ceil(1 / (J dt)))`` where ``J > 0``, 0 elsewhere.
    """
    j = np.asarray(current, dtype=np.float64)
    out = np.zeros_like(j)
    positive = j > 0
    out[positive] = 1.0 / (dt * np.ceil(1.0 / (j[positive] * dt)))
    return out


def active_rates(outputs, amplitude=1.0):
    """Mean rate of each example's active neurons, from probed layer outputs.

    Parameters
    ----------
    outputs : ndarray, shape (n_examples, n_steps, n_neurons)
        Probe data of one layer (spikes come as ``amplitude / dt`` per spike).
    amplitude : float
        The neurons' output amplitude (1 / firing-rate scale).

    Returns
    -------
    ndarray, shape (n_examples,)
        For each example, the time-averaged rate (Hz) averaged over the neurons
        that were nonzero at some step; 0 for an example where none was.
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.ndim != 3:
        raise ValueError(f"expected (examples, steps, neurons) outputs, got shape {outputs.shape}")
    rates = outputs.mean(axis=1) / amplitude  # (examples, neurons)
    active = (outputs > 0).any(axis=1)
    counts = active.sum(axis=1)
    sums = np.where(active, rates, 0.0).sum(axis=1)
    return np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)


def mean_active_rate(outputs, amplitude=1.0):
    """Mean over examples of :func:`active_rates` (Hz)."""
    return float(active_rates(outputs, amplitude).mean())


def scales_for_target(rates, target=TARGET_RATE):
    """Per-layer ``scale_firing_rates`` that move each layer's mean rate to ``target``.

    Parameters
    ----------
    rates : dict of str -> float
        Measured mean rate (Hz) of the active neurons of each layer, at scale 1.
    target : float
        Wanted mean rate (Hz).

    Returns
    -------
    dict of str -> float
        ``target / rate`` per layer.

    Raises
    ------
    ValueError
        If a layer is silent (rate 0): no scale can make it fire.
    """
    scales = {}
    for name in NEURON_LAYERS:
        rate = float(rates[name])
        if not rate > 0:
            raise ValueError(f"layer {name!r} is silent (mean rate {rate} Hz): no scale can make it fire")
        scales[name] = target / rate
    return scales


def over_cap_fraction(relu_rates, scale, dt=DT):
    """Share of active neurons that would need more than one spike per step.

    Parameters
    ----------
    relu_rates : ndarray
        Time-averaged rates (Hz) measured with rate ReLU at scale 1, e.g.
        ``Evaluation.neuron_rates[layer]`` (examples x neurons).
    scale : float
        The ``scale_firing_rates`` the spiking network will use.
    dt : float

    Returns
    -------
    float
        Among entries with a positive rate, the fraction whose ideal spiking
        rate ``scale * rate`` reaches Loihi's cap of ``1 / dt``; 0 if none is active.
    """
    relu_rates = np.asarray(relu_rates, dtype=np.float64)
    active = relu_rates > 0
    if not active.any():
        return 0.0
    return float(np.mean(relu_rates[active] * scale >= 1 / dt))


def passed_fraction(spiking_rate, relu_rate, scale):
    """Share of its ideal output that a spiking layer actually delivers.

    Parameters
    ----------
    spiking_rate : float
        Mean rate (Hz) over all neurons of the layer with spiking neurons.
    relu_rate : float
        Mean rate (Hz) over all neurons with rate ReLU at scale 1.
    scale : float

    Returns
    -------
    float
        ``spiking_rate / (scale * relu_rate)``: 1 when nothing is lost to the
        cap and the plateaus; NaN for a layer silent with ReLU.
    """
    ideal = scale * relu_rate
    return float(spiking_rate / ideal) if ideal > 0 else float("nan")


def spikes_per_neuron(rate, n_steps, dt=DT):
    """Spikes each neuron emits per image on average, from its mean rate (Hz)."""
    return float(rate * n_steps * dt)
