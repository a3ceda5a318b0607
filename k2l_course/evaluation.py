"""Run a converted network on test images in nengo-dl and measure it.

Each test image is shown for ``n_steps`` time steps (1 ms each). A spiking
network needs a while to respond, so the prediction is read from the output at
the **last** step. The accuracy comes with its n and 95% interval, and each
layer's firing rate is the mean rate of its active neurons.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from k2l_course import data as data_module
from k2l_course.conversion import convert
from k2l_course.model import NEURON_LAYERS
from k2l_course.quiet import import_stack
from k2l_course.rates import active_rates
from k2l_course.stats import Accuracy


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
    """

    accuracy: Accuracy
    predictions: np.ndarray
    labels: np.ndarray
    rates: dict
    output: np.ndarray
    activities: dict
    settings: dict


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
    progress=False,
):
    """Evaluate trained parameters with the given neurons in nengo-dl.

    Parameters
    ----------
    seed_net : k2l_course.model.SeedNetwork
    params : path-like
        Parameter file written by :mod:`k2l_course.training`.
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
    progress : bool
        Show a progress bar over minibatches.

    Returns
    -------
    Evaluation
    """
    _, _, nengo_dl, _ = import_stack()
    n = len(images)
    conv = convert(seed_net, neuron, scale_firing_rates, synapse)
    with conv.net:
        nengo_dl.configure_settings(stateful=False)
    x = data_module.to_sequences(images, n_steps)
    pad = (-n) % minibatch
    if pad:
        x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)])
    with nengo_dl.Simulator(conv.net, minibatch_size=minibatch, progress_bar=False) as sim:
        sim.load_params(str(params))
        callbacks = [_PredictBar(len(x) // minibatch, settings_label(neuron))] if progress else []
        out = sim.predict({conv.input: x}, verbose=0, callbacks=callbacks)
    output = out[conv.output][:n]
    predictions = last_step_predictions(output)
    rates, activities = {}, {}
    for name in NEURON_LAYERS:
        layer = out[conv.probes[name]][:n]
        amplitude = conv.amplitudes[name]
        rates[name] = float(active_rates(layer, amplitude).mean())
        activities[name] = layer[:n_keep] / amplitude
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
        rates=rates,
        output=output[:n_keep],
        activities=activities,
        settings=settings,
    )


def settings_label(neuron):
    """A short label for progress bars."""
    return neuron if isinstance(neuron, str) else type(neuron).__name__


def _PredictBar(steps, label):
    """A Keras callback that shows prediction progress with tqdm."""
    tf, _, _, _ = import_stack()
    from tqdm.auto import tqdm

    class Bar(tf.keras.callbacks.Callback):
        def on_predict_begin(self, logs=None):
            self.bar = tqdm(total=steps, desc=f"evaluating ({label})", unit="batch", leave=False)

        def on_predict_batch_end(self, batch, logs=None):
            self.bar.update(1)

        def on_predict_end(self, logs=None):
            self.bar.close()

    return Bar()
