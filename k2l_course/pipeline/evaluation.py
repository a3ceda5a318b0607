"""Run a converted network on test images in nengo-dl and measure it.

Each test image is shown for ``n_steps`` time steps (1 ms each). A spiking
network needs a while to respond, so the prediction is read from the output at
the **last** step. The accuracy comes with its n and 95% interval, and each
layer's firing rate is the mean rate of its active neurons.

:func:`load_or_evaluate` keeps each evaluation in the library's cache, keyed by
everything that decides its result, so that chapters (and the book's
processes) that evaluate the same stage share one run of it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import time
from pathlib import Path

import numpy as np
from tqdm.auto import trange

from k2l_course import stack
from k2l_course.files import atomic_path, cache_dir, computed_once, source_digest
from k2l_course.pipeline import data as data_module
from k2l_course.pipeline import training
from k2l_course.pipeline.conversion import convert
from k2l_course.pipeline.rates import active_rates
from k2l_course.stats import Accuracy

#: Images simulated per call (bounds memory: probes hold every step of every neuron).
BATCH_IMAGES = 200


@dataclasses.dataclass
class Evaluation:
    """What one evaluation measured.

    Attributes
    ----------
    accuracy : k2l_course.stats.Accuracy
    predictions : ndarray of int, shape (n,)
        Predicted digit at the last step.
    labels : ndarray, shape (n,)
    rates : dict of str -> float
        Mean rate (Hz) of active neurons per layer, averaged over all examples.
    output : ndarray, shape (n_keep, n_steps, 10)
        Output (logits) over time of the first examples.
    activities : dict of str -> ndarray, shape (n_keep, n_steps, n_neurons)
        Layer outputs of the first examples, divided by the amplitude (Hz).
    settings : dict
        neuron, scale_firing_rates, synapse, n_steps.
    all_rates : dict of str -> float
        Mean rate (Hz) over all neurons (silent ones included) and examples.
    neuron_rates : dict of str -> ndarray, shape (n_rates, n_neurons)
        Time-averaged rate (Hz) of every neuron, for the first examples.
    seconds : float
        Wall time of the evaluation (when loaded from the cache: of the run
        that computed it).
    from_cache : bool
    """

    accuracy: Accuracy
    predictions: np.ndarray
    labels: np.ndarray
    rates: dict
    output: np.ndarray
    activities: dict
    settings: dict
    all_rates: dict
    neuron_rates: dict
    seconds: float = 0.0
    from_cache: bool = False


def last_step_predictions(output):
    """Predicted class of each example from the output at its last time step.

    Parameters
    ----------
    output : ndarray, shape (n_examples, n_steps, n_classes)

    Returns
    -------
    ndarray of int, shape (n_examples,)
    """
    output = np.asarray(output)
    if output.ndim != 3:
        raise ValueError(f"expected (examples, steps, classes) output, got shape {output.shape}")
    return np.argmax(output[:, -1, :], axis=-1)


def batch_size(minibatch):
    """Images :func:`evaluate` gives nengo-dl per call: whole minibatches, about :data:`BATCH_IMAGES`.

    Every minibatch starts from the simulator's seeded initial state, so
    evaluating consecutive ranges of images that start at multiples of this
    gives, image by image, what one evaluation of them all gives.
    """
    return minibatch * max(1, BATCH_IMAGES // minibatch)


def evaluate(
    seed_net,
    params,
    images,
    labels,
    neuron="relu",
    scale_firing_rates=1,
    synapse=None,
    n_steps=30,
    minibatch=20,
    n_keep=2,
    n_rates=100,
    layers=True,
    progress=False,
    seed=0,
):
    """Evaluate trained parameters with the given neurons in nengo-dl.

    Parameters
    ----------
    seed_net : k2l_course.pipeline.model.SeedNetwork
    params : path-like
        Parameter file written by :mod:`k2l_course.pipeline.training`.
    images : ndarray, shape (n, 28, 28)
    labels : ndarray, shape (n,)
    neuron : str or nengo.neurons.NeuronType
    scale_firing_rates : float or dict of str -> float
    synapse : float or None
    n_steps : int
        Steps each image is shown for.
    minibatch : int
        Images simulated at once (n is padded up to a multiple of it).
    n_keep : int
        How many examples' time series to keep for plots.
    n_rates : int
        How many examples' per-neuron rates to keep (for saturation diagnostics).
    layers : bool
        Probe the layers (rates, activities); False measures only the accuracy.
    progress : bool
        Show a progress bar over minibatches.
    seed : int
        Seeds the converted network (its objects' seeds, so the spiking
        neurons' initial voltages) and the nengo-dl simulator, so that the
        same call gives the same numbers wherever and after whatever it runs.

    Returns
    -------
    Evaluation
    """
    nengo_dl = stack.nengo_dl
    begin = time.perf_counter()
    n = len(images)
    conv = convert(seed_net, neuron, scale_firing_rates, synapse, probes=layers)
    # nengo draws the seeds of an unseeded network's objects, and so the
    # spiking neurons' initial voltages, from NumPy's global generator: the
    # result would depend on whatever ran before in the process.
    conv.net.seed = seed
    with conv.net:
        nengo_dl.configure_settings(stateful=False)
    batch = batch_size(minibatch)
    outputs, active, all_rates = [], {k: [] for k in conv.probes}, {k: [] for k in conv.probes}
    neuron_rates, activities = {k: [] for k in conv.probes}, {}
    with nengo_dl.Simulator(conv.net, minibatch_size=minibatch, progress_bar=False, seed=seed) as sim:
        sim.load_params(str(params))
        bar = trange(n, desc=f"evaluating ({settings_label(neuron)})", unit="image", leave=False, disable=not progress)
        for start in range(0, n, batch):
            chunk = images[start : start + batch]
            x = data_module.to_sequences(chunk, n_steps)
            pad = (-len(x)) % minibatch
            if pad:
                x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)])
            out = sim.predict({conv.input: x}, verbose=0)
            outputs.append(out[conv.output][: len(chunk)])
            for name, probe in conv.probes.items():
                # Probed outputs are amplitude / dt per spike: divide to get Hz.
                hz = out[probe][: len(chunk)] / conv.amplitudes[name]
                active[name].append(active_rates(hz))
                mean_hz = hz.mean(axis=1)  # (images, neurons)
                all_rates[name].append(mean_hz.mean(axis=1))
                if start < n_rates:
                    neuron_rates[name].append(mean_hz[: n_rates - start])
                if start == 0:
                    activities[name] = hz[:n_keep]
            bar.update(len(chunk))
        bar.close()
    output = np.concatenate(outputs)
    predictions = last_step_predictions(output)
    settings = {
        "neuron": settings_label(neuron),
        "scale_firing_rates": scale_firing_rates,
        "synapse": synapse,
        "n_steps": n_steps,
    }
    return Evaluation(
        accuracy=Accuracy.from_predictions(predictions, labels),
        predictions=predictions,
        labels=np.asarray(labels),
        rates={k: float(np.concatenate(v).mean()) for k, v in active.items()},
        output=output[:n_keep],
        activities=activities,
        settings=settings,
        all_rates={k: float(np.concatenate(v).mean()) for k, v in all_rates.items()},
        neuron_rates={k: np.concatenate(v) for k, v in neuron_rates.items()},
        seconds=time.perf_counter() - begin,
    )


#: The modules whose code decides what an evaluation gives (part of its cache keys).
CODE = ("evaluation.py", "conversion.py", "model.py", "rates.py", "data.py")


def code_digest():
    """A hash of the code of :data:`CODE`, for the keys of cached evaluations.

    Returns
    -------
    str
        Hexadecimal SHA-256.
    """
    return source_digest(Path(__file__).parent, CODE)


def evaluation_path(seed_net, params, images, labels, **kwargs):
    """Where :func:`load_or_evaluate` keeps the evaluation that these arguments give.

    The key is a hash of everything that decides the result: the network's
    architecture, the parameter file's contents, the images and labels, every
    setting of :func:`evaluate` (defaults included, so that spelling one out
    changes nothing), the code of :data:`CODE` and the versions of the
    simulator stack. Only ``progress`` is left out.

    Parameters
    ----------
    seed_net, params, images, labels, **kwargs
        As for :func:`evaluate`; ``neuron`` must be a name (a neuron object
        has no reliable key).

    Returns
    -------
    pathlib.Path
        An ``.npz`` file under ``<cache>/evaluations``.
    """
    arguments = inspect.signature(evaluate).bind(seed_net, params, images, labels, **kwargs)
    arguments.apply_defaults()
    settings = dict(arguments.arguments)
    for name in ("seed_net", "params", "images", "labels", "progress"):
        del settings[name]
    if not isinstance(settings["neuron"], str):
        raise TypeError(f"load_or_evaluate needs a neuron name, not {settings['neuron']!r}: use evaluate")
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    h.update(seed_net.model.to_json().encode())
    h.update(training.params_file(params).read_bytes())
    for array in (images, labels):
        array = np.ascontiguousarray(array)
        h.update(f"{array.dtype.str} {array.shape}".encode())
        h.update(array.tobytes())
    h.update(code_digest().encode())
    h.update(" ".join(m.__version__ for m in (np, stack.tf, stack.nengo, stack.nengo_dl)).encode())
    return cache_dir() / "evaluations" / f"{settings['neuron']}-{h.hexdigest()[:16]}.npz"


def load_or_evaluate(seed_net, params, images, labels, progress=False, **kwargs):
    """:func:`evaluate`, computed once: the result is cached under its :func:`evaluation_path`.

    When another process is computing the same evaluation, this waits for it
    and loads what it saved. A loaded evaluation equals the computed one
    field by field (``from_cache`` aside), its ``seconds`` included.

    Parameters
    ----------
    seed_net, params, images, labels, progress, **kwargs
        As for :func:`evaluate`.

    Returns
    -------
    Evaluation
    """
    path = evaluation_path(seed_net, params, images, labels, **kwargs)
    if not path.exists():
        with computed_once(path):
            if not path.exists():
                result = evaluate(seed_net, params, images, labels, progress=progress, **kwargs)
                _save(path, result)
                return result
    return _load(path)


def _save(path, result):
    """Write an evaluation as one compressed ``.npz`` (about 0.2 MB, not 6.5): its arrays, and its other fields as JSON."""
    arrays = {"predictions": result.predictions, "labels": result.labels, "output": result.output}
    for field in ("activities", "neuron_rates"):
        arrays.update({f"{field}/{name}": value for name, value in getattr(result, field).items()})
    fields = {"rates": result.rates, "all_rates": result.all_rates, "settings": result.settings, "seconds": result.seconds}
    with atomic_path(path) as temporary:
        np.savez_compressed(temporary, fields=np.array(json.dumps(fields, default=float)), **arrays)


def _load(path):
    with np.load(path, allow_pickle=False) as f:
        fields = json.loads(str(f["fields"]))
        nested = {"activities": {}, "neuron_rates": {}}
        for key in f.files:
            field, _, name = key.partition("/")
            if name:
                nested[field][name] = f[key]
        predictions, labels = f["predictions"], f["labels"]
        output = f["output"]
    return Evaluation(
        accuracy=Accuracy.from_predictions(predictions, labels),
        predictions=predictions,
        labels=labels,
        output=output,
        from_cache=True,
        **nested,
        **fields,
    )


def settings_label(neuron):
    """A short label for progress bars."""
    return neuron if isinstance(neuron, str) else type(neuron).__name__
