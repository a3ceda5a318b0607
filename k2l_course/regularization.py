"""Firing-rate regularization: train with Loihi neurons and a loss on each layer's rates.

The reference notebook gets usable rates out of Loihi-neuron training with a
trick: train at ``scale_firing_rates=100`` and hope the rates stay in a good
range. It only names the principled alternative, which this module implements:
train at scale 1 and add, for every neuron layer, a loss that is zero while the
layer's rates lie in a target range and grows with the square of the distance
outside it. The network then learns weights whose rates land where Loihi
represents them faithfully (below about 250 Hz) and high enough to carry
information in a 30 ms presentation.

The penalty of one layer, for a minibatch, is on the measure the course uses
everywhere, the mean rate of the layer's active neurons (neurons with a rate
above zero, averaged over the minibatch's examples):

    penalty = (max(0, low - m) + max(0, m - high))**2        (Hz**2)

The total loss is the output's cross-entropy plus ``weight`` times the sum of
the layers' penalties. Unlike the seed's single scale, this acts on every layer
separately (like per-layer scaling), and unlike per-layer scaling it acts
during training, with the Loihi neurons' discretized rates, so the weights
adapt to the rates they will run at.

(A per-neuron variant, as in the nengo-loihi CIFAR-10 example, puts a range on
a high percentile of each neuron's rates instead. On MNIST it fights the
border pixels, whose to-spikes neurons can never fire, and in our trials it
left the deeper layers too slow to respond within a 30 ms presentation.)
"""

from __future__ import annotations

import dataclasses

import numpy as np

from k2l_course import training
from k2l_course.model import NEURON_LAYERS
from k2l_course.training import EPOCHS, TrainingConfig

#: Default target range of each layer's mean active rate (Hz): around the seed's
#: 200 Hz per-layer target, high enough that every layer answers within a
#: 30 ms presentation, and not beyond Loihi's faithful region.
LOW_RATE = 150.0
HIGH_RATE = 250.0
#: Weight of the rate penalties (Hz**2) against the cross-entropy.
WEIGHT = 1e-3


@dataclasses.dataclass(frozen=True)
class RegularizationConfig:
    """A regularized training run: Loihi neurons, scale 1, a rate range per layer.

    Attributes
    ----------
    neuron : str
        Neuron type trained with (``"loihi-relu"``).
    scale_firing_rates : float
        Firing-rate scale during training; 1, because the loss, not a scale,
        sets the rates.
    low, high : float
        Target range of each layer's mean active rate (Hz).
    weight : float
        Weight of the rate penalties in the loss.
    layers : tuple of str
        The layers whose rates are regularized.
    epochs : int
    seed : int
    n_train : int or None
        Train on the first ``n_train`` images only (tests); None for all.
    """

    neuron: str = "loihi-relu"
    scale_firing_rates: float = 1.0
    low: float = LOW_RATE
    high: float = HIGH_RATE
    weight: float = WEIGHT
    layers: tuple = NEURON_LAYERS
    epochs: int = EPOCHS
    seed: int = 0
    n_train: int | None = None

    def __post_init__(self):
        self.training_config()  # validates the range and the layers

    def training_config(self):
        """The :class:`k2l_course.training.TrainingConfig` that trains this run."""
        return TrainingConfig(
            neuron=self.neuron,
            scale_firing_rates=self.scale_firing_rates,
            epochs=self.epochs,
            seed=self.seed,
            n_train=self.n_train,
            rate_range=(float(self.low), float(self.high)),
            rate_weight=float(self.weight),
            rate_layers=tuple(self.layers),
        )


def load_or_train(config=RegularizationConfig(), mnist=None, progress=True):
    """Parameters trained with rate regularization, training only if none are saved.

    Parameters
    ----------
    config : RegularizationConfig
    mnist : k2l_course.data.Mnist, optional
    progress : bool
        Show a progress bar while training.

    Returns
    -------
    k2l_course.training.Trained
        ``accuracy`` is the training accuracy over the last epoch.
    """
    return training.load_or_train(config.training_config(), mnist=mnist, progress=progress)


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
    from k2l_course.quiet import import_stack

    tf, _, _, _ = import_stack()

    def loss(y_true, y_pred):
        rates = y_pred / amplitude
        active = tf.stop_gradient(tf.cast(rates > 0, rates.dtype))
        m = tf.reduce_sum(rates * active) / tf.maximum(tf.reduce_sum(active), 1.0)
        outside = tf.nn.relu(low - m) + tf.nn.relu(m - high)
        return tf.square(outside)

    loss.__name__ = "rate_range_loss"
    return loss


def rate_landing(neuron_rates, low=LOW_RATE, high=HIGH_RATE):
    """How well each layer's rates land in a range.

    Parameters
    ----------
    neuron_rates : dict of str -> ndarray, shape (n_examples, n_neurons)
        Time-averaged rate (Hz) of every neuron in each example
        (``Evaluation.neuron_rates``).
    low, high : float

    Returns
    -------
    dict of str -> dict
        Per layer, over the (example, neuron) pairs where the neuron was
        active: ``rates`` (their rates, Hz, 1-D), ``mean``, ``above`` (% above
        ``high``), ``within`` (% inside ``[low, high]``) and ``p99`` (99th
        percentile, Hz); all 0 for a silent layer.
    """
    out = {}
    for name, layer_rates in neuron_rates.items():
        layer_rates = np.asarray(layer_rates, dtype=np.float64)
        values = layer_rates[layer_rates > 0]
        if values.size == 0:
            out[name] = {"rates": values, "mean": 0.0, "above": 0.0, "within": 0.0, "p99": 0.0}
            continue
        out[name] = {
            "rates": values,
            "mean": float(values.mean()),
            "above": float(100 * np.mean(values > high)),
            "within": float(100 * np.mean((values >= low) & (values <= high))),
            "p99": float(np.percentile(values, 99)),
        }
    return out
