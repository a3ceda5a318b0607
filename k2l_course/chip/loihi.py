"""Deploy the trained network on Loihi (nengo-loihi's emulator here).

Deployment differs from a nengo-dl evaluation in four ways:

* the trained parameters are **frozen** into the Nengo network, because
  nengo-loihi builds from the network, not from a nengo-dl parameter file;
* the input node **presents** the test images one after another
  (``nengo.processes.PresentInput``), with no reset between them;
* the to-spikes layer runs **off-chip** (the host turns pixels into spikes);
* each on-chip layer is split into **blocks** (``nengo_loihi.BlockShape``) so
  that every block fits one Loihi core.

The real chip needs Intel's proprietary NxSDK; without it
``nengo_loihi.Simulator`` runs its bit-accurate emulator of the chip's
integer arithmetic, which is what the course uses.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm.auto import trange

from k2l_course import stack
from k2l_course.pipeline import data as data_module
from k2l_course.pipeline.conversion import convert
from k2l_course.pipeline.model import ON_CHIP_LAYERS, build_seed_model
from k2l_course.stats import Accuracy

#: How long each image is shown (s): 30 steps of 1 ms.
PRESENTATION_TIME = 0.03
#: The seed's deployment scale and synapse.
CHIP_SCALE = 400
CHIP_SYNAPSE = 0.005
#: The seed's block shapes (rows, columns, channels) per on-chip layer.
SEED_BLOCK_SHAPES = {"conv0": (16, 16, 4), "conv1": (8, 8, 16), "dense0": (50,)}


@dataclasses.dataclass
class Deployment:
    """A network ready for ``nengo_loihi.Simulator``.

    Attributes
    ----------
    net : nengo.Network
        The converted network with frozen parameters and the input presenting images.
    converted : k2l_course.pipeline.conversion.Converted
    n_images : int
        Images the input presents (one after another).
    presentation_time : float
    """

    net: object
    converted: object
    n_images: int
    presentation_time: float

    @property
    def run_time(self):
        """Simulated seconds needed to present every image once."""
        return self.n_images * self.presentation_time


def deploy(
    seed_net,
    params,
    images,
    scale_firing_rates=CHIP_SCALE,
    synapse=CHIP_SYNAPSE,
    presentation_time=PRESENTATION_TIME,
    block_shapes=SEED_BLOCK_SHAPES,
    probe_layers=False,
):
    """Prepare the trained network for the Loihi emulator.

    Parameters
    ----------
    seed_net : k2l_course.pipeline.model.SeedNetwork
    params : path-like
        nengo-dl parameter file (trained with Loihi neurons, like the seed).
    images : ndarray, shape (n, 28, 28)
        Images to present, in order.
    scale_firing_rates : float or dict
    synapse : float
    presentation_time : float
        Seconds each image is shown.
    block_shapes : dict of str -> tuple, or None
        Block shape per on-chip layer; None (or a missing layer) leaves the
        layer to nengo-loihi.
    probe_layers : bool
        Keep the per-layer neuron probes (slower to emulate).

    Returns
    -------
    Deployment
    """
    nengo_dl, nengo_loihi = stack.nengo_dl, stack.nengo_loihi
    conv = convert(seed_net, "loihi-relu", scale_firing_rates, synapse, probes=probe_layers)
    net = conv.net
    with nengo_dl.Simulator(net, progress_bar=False) as sim:
        sim.load_params(str(params))
        sim.freeze_params(net)
    with net:
        nengo_loihi.add_params(net)
        net.config[conv.ensembles["to-spikes"]].on_chip = False
        for name in ON_CHIP_LAYERS:
            set_block_shape(net.config, conv.ensembles[name], (block_shapes or {}).get(name), seed_net.output_shape(name))
    deployment = Deployment(net=net, converted=conv, n_images=0, presentation_time=presentation_time)
    return present(deployment, images)


def set_block_shape(config, ensemble, shape, layer_shape):
    """Split an on-chip layer into blocks of ``shape``, one block per core.

    The one place the course makes a ``nengo_loihi.BlockShape``: deployment,
    the fit reports (:mod:`k2l_course.chip.chipfit`) and the block-shape check
    (:mod:`k2l_course.exercises.checks.blockfit`) all set shapes through it.

    Parameters
    ----------
    config : nengo.Config
        The network's config (with nengo-loihi's parameters added).
    ensemble : nengo.Ensemble
        The layer's neurons.
    shape : tuple of int, nengo_loihi.BlockShape or None
        Block shape; None leaves the layer to nengo-loihi's automatic split.
    layer_shape : tuple of int
        The layer's output shape, e.g. ``(13, 13, 32)``.
    """
    import nengo_loihi

    if shape is None:
        if config[ensemble].block_shape is not None:  # the parameter refuses None: clear it instead
            del config[ensemble].block_shape
    elif isinstance(shape, nengo_loihi.BlockShape):
        config[ensemble].block_shape = shape
    else:
        config[ensemble].block_shape = nengo_loihi.BlockShape(tuple(shape), tuple(layer_shape))


def present(deployment, images):
    """The same deployed network, presenting other images.

    Freezing the parameters (a nengo-dl build) is the slow part of
    :func:`deploy`; this swaps only the input process, so one deployment can
    be run on many batches of images.

    Parameters
    ----------
    deployment : Deployment
    images : ndarray, shape (n, 28, 28)

    Returns
    -------
    Deployment
        Sharing the network with ``deployment`` (whose input now presents ``images``).
    """
    nengo = stack.nengo
    flat = data_module.to_sequences(images, 1)[:, 0, :]
    deployment.converted.input.output = nengo.processes.PresentInput(
        flat, presentation_time=deployment.presentation_time
    )
    return dataclasses.replace(deployment, n_images=len(images))


def simulator_class(name):
    """The simulator of an emulator name: ``"stock"`` (nengo-loihi's) or ``"fast"`` (bit-exact, faster)."""
    nengo_loihi = stack.nengo_loihi
    if name == "stock":
        return nengo_loihi.Simulator
    if name == "fast":
        from k2l_course.chip.emulator import Simulator  # lazy: chip stays cheap to import (the checks use it)

        return Simulator
    raise ValueError(f"unknown emulator {name!r}: choose 'fast' or 'stock'")


@dataclasses.dataclass
class ChipRun:
    """What the emulated chip produced.

    Attributes
    ----------
    predictions : ndarray of int, shape (n_images,)
    accuracy : k2l_course.stats.Accuracy or None
        When labels were given.
    output : ndarray, shape (n_steps_total, 10)
        The output over the whole run.
    seconds : float
        Wall time of the build and run.
    data : dict
        Probe data of the layer probes, if any.
    """

    predictions: np.ndarray
    accuracy: object
    output: np.ndarray
    seconds: float
    data: dict


def presentation_predictions(output, steps_per_image):
    """Prediction of each presentation from the output at its last step.

    Parameters
    ----------
    output : ndarray, shape (n_images * steps_per_image, n_classes)
    steps_per_image : int

    Returns
    -------
    ndarray of int, shape (n_images,)
    """
    output = np.asarray(output)
    if output.ndim != 2 or output.shape[0] % steps_per_image:
        raise ValueError(f"output of shape {output.shape} is not whole presentations of {steps_per_image} steps")
    return np.argmax(output[steps_per_image - 1 :: steps_per_image], axis=-1)


def run(deployment, labels=None, simulator=None, progress=False):
    """Build the deployment in nengo-loihi and present every image once.

    Parameters
    ----------
    deployment : Deployment
    labels : ndarray, optional
        True labels of the presented images, to compute the accuracy.
    simulator : callable, optional
        The simulator class; ``nengo_loihi.Simulator`` (the stock emulator) by default.
    progress : bool
        Show a progress bar over the presented images.

    Returns
    -------
    ChipRun
    """
    nengo_loihi = stack.nengo_loihi
    simulator = simulator or nengo_loihi.Simulator
    conv = deployment.converted
    start = time.perf_counter()
    with simulator(deployment.net, progress_bar=False) as sim:
        steps = int(round(deployment.presentation_time / sim.dt))
        for _ in trange(deployment.n_images, desc="emulated chip", unit="image", leave=False, disable=not progress):
            sim.run_steps(steps)
        output = np.asarray(sim.data[conv.output])
        layer_data = {name: np.asarray(sim.data[p]) for name, p in conv.probes.items()}
    seconds = time.perf_counter() - start
    predictions = presentation_predictions(output, steps)
    accuracy = None if labels is None else Accuracy.from_predictions(predictions, labels)
    return ChipRun(predictions=predictions, accuracy=accuracy, output=output, seconds=seconds, data=layer_data)


#: Gain on the random (Glorot) initial weights of :func:`seed_deployment`, so
#: that every on-chip layer spikes at a realistic rate (thousands of spikes per
#: image on the chip, as with trained weights).
RANDOM_WEIGHT_GAIN = 2.0


def seed_deployment(images, params=None, weight_gain=RANDOM_WEIGHT_GAIN, seed=0, probe_layers=False):
    """The course's network, deployed as in the seed notebook, to test emulators on.

    Parameters
    ----------
    images : ndarray, shape (n, 28, 28)
        Images to present, 30 ms each.
    params : path-like, optional
        A nengo-dl parameter file (e.g. trained with Loihi neurons). Without
        it the network keeps its random Glorot initial weights, multiplied by
        ``weight_gain``.
    weight_gain : float
        Gain on the random weights (ignored with ``params``).
    seed : int
        Seed of the random weights.
    probe_layers : bool
        Probe the spikes of every layer.

    Returns
    -------
    Deployment
    """
    nengo_dl = stack.nengo_dl
    seed_net = build_seed_model(seed=seed)
    if params is not None:
        return deploy(seed_net, params, images, probe_layers=probe_layers)
    model = seed_net.model
    model.set_weights([w * weight_gain for w in model.get_weights()])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "random"
        conv = convert(seed_net, "loihi-relu", CHIP_SCALE, CHIP_SYNAPSE, probes=False)
        with nengo_dl.Simulator(conv.net, progress_bar=False) as sim:
            sim.save_params(str(path))
        return deploy(seed_net, path, images, probe_layers=probe_layers)
