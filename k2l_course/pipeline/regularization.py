"""Firing-rate regularization: train with Loihi neurons and a loss on each layer's rates.

The reference notebook gets usable rates out of Loihi-neuron training with a
trick: train at ``scale_firing_rates=100`` and hope the rates stay in a good
range. It only names the principled alternative, which this module implements:
train at scale 1 and add, for every neuron layer, a loss that is zero while the
layer's rates lie in a target range and grows with the square of the distance
outside it. The network then learns weights whose rates land where Loihi
represents them faithfully (below about 250 Hz) and high enough to carry
information in a 30 ms presentation.

The penalty of one layer is defined in :mod:`k2l_course.pipeline.losses`. The total loss
is the output's cross-entropy plus ``weight`` times the sum of the layers'
penalties. Unlike the seed's single scale, this acts on every layer separately
(like per-layer scaling), and unlike per-layer scaling it acts during training,
with the Loihi neurons' discretized rates, so the weights adapt to the rates
they will run at.

(A per-neuron variant, as in the nengo-loihi CIFAR-10 example, puts a range on
a high percentile of each neuron's rates instead. On MNIST it fights the
border pixels, whose to-spikes neurons can never fire, and in our trials it
left the deeper layers too slow to respond within a 30 ms presentation.)
"""

from __future__ import annotations

import dataclasses

import numpy as np

from k2l_course.pipeline import training
from k2l_course.pipeline.losses import HIGH_RATE, LOW_RATE
from k2l_course.pipeline.model import NEURON_LAYERS
from k2l_course.pipeline.training import EPOCHS, TrainingConfig

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
        """The :class:`k2l_course.pipeline.training.TrainingConfig` that trains this run."""
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
    mnist : k2l_course.pipeline.data.Mnist, optional
    progress : bool
        Show a progress bar while training.

    Returns
    -------
    k2l_course.pipeline.training.Trained
        ``accuracy`` is the training accuracy over the last epoch.
    """
    return training.load_or_train(config.training_config(), mnist=mnist, progress=progress)


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
