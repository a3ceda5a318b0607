"""The rate losses of firing-rate regularization, in NumPy and in Keras.

The penalty of one layer, for a minibatch, is on the measure the course uses
everywhere, the mean rate of the layer's active neurons (neurons with a rate
above zero, averaged over the minibatch's examples)::

    penalty = (max(0, low - m) + max(0, m - high))**2        (Hz**2)

:func:`rate_range_loss` is the Keras loss that :func:`k2l_course.pipeline.training.train`
attaches to each layer's probe; :func:`range_penalty` is its NumPy reference.
:mod:`k2l_course.pipeline.regularization` chooses the range and trains with it.
"""

from __future__ import annotations

import numpy as np

from k2l_course import stack
from k2l_course.pipeline.rates import FAITHFUL_RATE

#: Default target range of each layer's mean active rate (Hz): around the seed's
#: 200 Hz per-layer target, high enough that every layer answers within a
#: 30 ms presentation, and not beyond Loihi's faithful region.
LOW_RATE = 150.0
HIGH_RATE = FAITHFUL_RATE


def mean_active(rates):
    """Mean rate of the active (nonzero) entries of ``rates``; 0 if none is active.

    Parameters
    ----------
    rates : ndarray
        Rates (Hz) of a layer's neurons, any shape (examples, [steps,] neurons).

    Returns
    -------
    float
    """
    rates = np.asarray(rates, dtype=np.float64)
    active = rates > 0
    return float(rates[active].mean()) if active.any() else 0.0


def range_penalty(rates, low=LOW_RATE, high=HIGH_RATE):
    """The rate penalty of one layer, in NumPy (the reference for :func:`rate_range_loss`).

    Parameters
    ----------
    rates : ndarray
        Rates (Hz) of the layer's neurons over a minibatch, any shape.
    low, high : float
        Target range of the mean active rate (Hz).

    Returns
    -------
    float
        ``(max(0, low - m) + max(0, m - high))**2`` with ``m`` the mean active
        rate; 0 when it lies in the range.
    """
    m = mean_active(rates)
    return float((max(0.0, low - m) + max(0.0, m - high)) ** 2)


def rate_range_loss(low=LOW_RATE, high=HIGH_RATE, amplitude=1.0):
    """A Keras loss for a neuron probe: the layer's rate penalty.

    Parameters
    ----------
    low, high : float
        See :func:`range_penalty`.
    amplitude : float
        The neurons' output amplitude; probe values divided by it are rates (Hz).

    Returns
    -------
    callable
        ``loss(y_true, y_pred)``; ``y_true`` is ignored (pass any array of
        shape ``(n, 1, 1)``), ``y_pred`` has shape (batch, steps, neurons).
        Which neurons count as active is not differentiated; their rates are.
    """
    tf = stack.tf

    def loss(y_true, y_pred):
        rates = y_pred / amplitude
        active = tf.stop_gradient(tf.cast(rates > 0, rates.dtype))
        m = tf.reduce_sum(rates * active) / tf.maximum(tf.reduce_sum(active), 1.0)
        outside = tf.nn.relu(low - m) + tf.nn.relu(m - high)
        return tf.square(outside)

    loss.__name__ = "rate_range_loss"
    return loss
