"""Train the converted network in nengo-dl, and keep its parameters.

Training follows the seed: RMSprop (learning rate 1e-3), minibatches of 200,
2 epochs over the 60,000 training images, sparse categorical cross-entropy on
the logits. The trained parameters are saved under a key made of the training
configuration and the code that defines the network, so every later stage (and
every chapter of the book) loads them instead of training again, and a change
to the network or the training code cannot reuse stale parameters.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from k2l_course import stack
from k2l_course.files import atomic_path, cache_dir, computed_once, write_atomic
from k2l_course.pipeline import data as data_module
from k2l_course.pipeline.conversion import convert
from k2l_course.pipeline.losses import rate_range_loss
from k2l_course.pipeline.model import NEURON_LAYERS, build_seed_model

#: The seed's training settings.
LEARNING_RATE = 1e-3
MINIBATCH = 200
EPOCHS = 2


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """What a training run depends on.

    Attributes
    ----------
    neuron : str
        Neuron type trained with: ``"relu"`` or ``"loihi-relu"``.
    scale_firing_rates : float
        Firing-rate scale during training (the seed's trick: 100 for Loihi neurons).
    epochs, minibatch : int
    learning_rate : float
    seed : int
        Seeds the initial weights and nengo-dl's simulator.
    n_train : int or None
        Train on the first ``n_train`` images only (tests); None for all 60,000.
    rate_range : tuple of (float, float) or None
        Firing-rate regularization: add, for each layer of ``rate_layers``, a
        loss that keeps its mean active rate in this range (Hz); see
        :mod:`k2l_course.pipeline.regularization`. None for plain training.
    rate_weight : float
        Weight of those rate losses against the cross-entropy.
    rate_layers : tuple of str
        The layers whose rates are regularized.
    """

    neuron: str = "relu"
    scale_firing_rates: float = 1.0
    epochs: int = EPOCHS
    minibatch: int = MINIBATCH
    learning_rate: float = LEARNING_RATE
    seed: int = 0
    n_train: int | None = None
    rate_range: tuple | None = None
    rate_weight: float = 0.0
    rate_layers: tuple = ()

    def __post_init__(self):
        if self.rate_range is not None:
            low, high = self.rate_range
            if not 0 <= low < high:
                raise ValueError(f"need 0 <= low < high, got rate_range={self.rate_range}")
            unknown = set(self.rate_layers) - set(NEURON_LAYERS)
            if unknown:
                raise ValueError(f"unknown layers {sorted(unknown)}; layers are {NEURON_LAYERS}")

    def key(self):
        """A short hash of the configuration and of the code that trains."""
        h = hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True).encode())
        here = Path(__file__).parent
        for module in ("model.py", "conversion.py", "training.py", "losses.py", "regularization.py"):
            h.update((here / module).read_bytes())
        return h.hexdigest()[:16]


@dataclasses.dataclass
class Trained:
    """A trained parameter file and what produced it.

    Attributes
    ----------
    config : TrainingConfig
    params : pathlib.Path
        nengo-dl parameter file (``.npz``), for ``Simulator.load_params``.
    accuracy : float
        Training accuracy over the last epoch, as Keras reports it.
    n_train : int
        Number of training images.
    seconds : float
        Wall time of the training run (when loaded from the cache: of the
        run that produced it).
    from_cache : bool
    """

    config: TrainingConfig
    params: Path
    accuracy: float
    n_train: int
    seconds: float
    from_cache: bool


def params_path(config):
    """The parameter file for ``config`` (without the ``.npz`` suffix nengo-dl adds)."""
    kind = "regularized-" if config.rate_range is not None else ""
    return cache_dir() / "params" / f"{kind}{config.neuron}-x{config.scale_firing_rates:g}-{config.key()}"


def params_file(base):
    """The file nengo-dl writes for the parameters ``base`` (``Simulator.save_params`` adds ``.npz``)."""
    return Path(f"{base}.npz")


def metadata_path(base):
    """The JSON file beside a parameter file: accuracy, training time, final losses."""
    return base.with_name(base.name + ".json")


def is_trained(config):
    """Whether parameters for ``config`` are saved (so :func:`load_or_train` will not train)."""
    base = params_path(config)
    return metadata_path(base).exists() and params_file(base).exists()


def load_or_train(config=TrainingConfig(), mnist=None, progress=True):
    """Return trained parameters for ``config``, training only if none are saved.

    When another process is training the same ``config``, this waits for it
    and loads what it saved.

    Parameters
    ----------
    config : TrainingConfig
    mnist : k2l_course.pipeline.data.Mnist, optional
        Loaded if not given.
    progress : bool
        Show a progress bar while training.

    Returns
    -------
    Trained
    """
    base = params_path(config)
    if not is_trained(config):
        # Another process training the same network (the book's prefill, another
        # chapter) is waited for, not repeated.
        with computed_once(base):
            if not is_trained(config):
                return train(config, mnist=mnist, progress=progress)
    info = json.loads(metadata_path(base).read_text())
    return Trained(config, base, info["accuracy"], info["n_train"], info["seconds"], True)


def train(config=TrainingConfig(), mnist=None, progress=True):
    """Train the seed network in nengo-dl and save its parameters.

    Parameters
    ----------
    config : TrainingConfig
    mnist : k2l_course.pipeline.data.Mnist, optional
    progress : bool

    Returns
    -------
    Trained
    """
    tf, nengo_dl = stack.tf, stack.nengo_dl
    from tqdm.keras import TqdmCallback  # imports Keras: only once the stack is loaded quietly
    mnist = mnist or data_module.load_mnist()
    n = config.n_train or len(mnist.train_images)
    x = data_module.to_sequences(mnist.train_images[:n], 1)
    y = data_module.label_sequences(mnist.train_labels[:n])

    seed_net = build_seed_model(seed=config.seed)
    regularized = config.rate_range is not None
    conv = convert(seed_net, config.neuron, config.scale_firing_rates, probes=regularized)
    losses = {conv.output: tf.losses.SparseCategoricalCrossentropy(from_logits=True)}
    weights = {conv.output: 1.0}
    targets = {conv.output: y}
    if regularized:
        ignored = np.zeros((n, 1, 1), dtype=np.float32)  # the rate losses have no targets
        for name in config.rate_layers:
            probe = conv.probes[name]
            losses[probe] = rate_range_loss(*config.rate_range, amplitude=conv.amplitudes[name])
            weights[probe] = config.rate_weight
            targets[probe] = ignored
    label = ("regularized " if regularized else "") + config.neuron
    start = time.perf_counter()
    with nengo_dl.Simulator(conv.net, seed=config.seed, minibatch_size=config.minibatch, progress_bar=False) as sim:
        sim.compile(
            optimizer=tf.optimizers.RMSprop(config.learning_rate),
            loss=losses,
            loss_weights=weights,
            metrics={conv.output: tf.metrics.sparse_categorical_accuracy},
        )
        callbacks = []
        if progress:  # tqdm draws its bars as soon as the callback exists
            callbacks.append(TqdmCallback(epochs=config.epochs, data_size=n, batch_size=config.minibatch,
                                          desc=f"training ({label})", leave=False))  # fmt: skip
        history = sim.fit({conv.input: x}, targets, epochs=config.epochs, verbose=0, callbacks=callbacks)
        base = params_path(config)
        with atomic_path(params_file(base)) as temporary:
            sim.save_params(str(temporary.with_suffix("")))  # nengo-dl adds the .npz
    seconds = time.perf_counter() - start
    acc_key = [k for k in history.history if k.endswith("sparse_categorical_accuracy")][0]
    accuracy = float(history.history[acc_key][-1])
    info = {
        "config": dataclasses.asdict(config),
        "accuracy": accuracy,
        "n_train": n,
        "seconds": seconds,
        "final_losses": {k: float(v[-1]) for k, v in history.history.items()},
    }
    write_atomic(metadata_path(base), json.dumps(info, indent=2))
    return Trained(config, base, accuracy, n, seconds, False)

