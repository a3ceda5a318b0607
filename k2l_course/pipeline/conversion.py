"""Convert the Keras network to a Nengo network with ``nengo_dl.Converter``.

Three knobs of the converter carry the whole course:

``swap_activations``
    replaces Keras's ``tf.nn.relu`` by a Nengo neuron type: rate ReLU,
    spiking ReLU, or Loihi's discretized spiking ReLU.
``scale_firing_rates``
    multiplies each neuron's input gain and divides its output amplitude by the
    same number: the rate network computes the same function, but spiking
    neurons fire that many times faster, which averages out their noise.
``synapse``
    a low-pass filter (time constant in seconds) on every connection, which
    smooths spike trains.
"""

from __future__ import annotations

import dataclasses

from k2l_course import stack
from k2l_course.pipeline.model import NEURON_LAYERS, OUTPUT_LAYER

#: Neuron types by the names the course uses.
NEURON_NAMES = ("relu", "spiking-relu", "loihi-relu")


def neuron_type(name):
    """The Nengo neuron type called ``name``.

    Parameters
    ----------
    name : {"relu", "spiking-relu", "loihi-relu"} or nengo.neurons.NeuronType
        ``"relu"``: ``nengo.RectifiedLinear`` (rates); ``"spiking-relu"``:
        ``nengo.SpikingRectifiedLinear``; ``"loihi-relu"``:
        ``nengo_loihi.neurons.LoihiSpikingRectifiedLinear``. A neuron type
        instance is returned as it is.
    """
    nengo, nengo_loihi = stack.nengo, stack.nengo_loihi
    if isinstance(name, nengo.neurons.NeuronType):
        return name
    types = {
        "relu": nengo.RectifiedLinear,
        "spiking-relu": nengo.SpikingRectifiedLinear,
        "loihi-relu": nengo_loihi.neurons.LoihiSpikingRectifiedLinear,
    }
    if name not in types:
        raise ValueError(f"unknown neuron type {name!r}; choose one of {', '.join(NEURON_NAMES)}")
    return types[name]()


@dataclasses.dataclass
class Converted:
    """A converted network and the handles the course uses.

    Attributes
    ----------
    converter : nengo_dl.Converter
    net : nengo.Network
        ``converter.net``.
    input : nengo.Node
        The input node (pixels).
    output : nengo.Probe
        The probe on the output layer (logits).
    probes : dict of str -> nengo.Probe
        A probe on the neurons of each layer of ``NEURON_LAYERS``.
    ensembles : dict of str -> nengo.Ensemble
        The ensemble of each layer of ``NEURON_LAYERS``.
    amplitudes : dict of str -> float
        Output amplitude of each layer's neurons (1 / its firing-rate scale):
        divide probed outputs by it to get firing rates in Hz.
    """

    converter: object
    net: object
    input: object
    output: object
    probes: dict
    ensembles: dict
    amplitudes: dict


def layer_scales(scale_firing_rates):
    """Normalize a scale (one number or a dict by layer name) to a dict by layer name."""
    if isinstance(scale_firing_rates, dict):
        unknown = set(scale_firing_rates) - set(NEURON_LAYERS)
        if unknown:
            raise ValueError(f"scales given for unknown layers {sorted(unknown)}; layers are {NEURON_LAYERS}")
        missing = set(NEURON_LAYERS) - set(scale_firing_rates)
        if missing:
            raise ValueError(f"no scale given for layers {sorted(missing)}")
        return {name: float(scale_firing_rates[name]) for name in NEURON_LAYERS}
    return {name: float(scale_firing_rates) for name in NEURON_LAYERS}


def convert(seed_net, neuron="relu", scale_firing_rates=1, synapse=None, probes=True):
    """Convert the seed network to Nengo with the given neurons.

    Parameters
    ----------
    seed_net : k2l_course.pipeline.model.SeedNetwork
    neuron : str or nengo.neurons.NeuronType
        Replaces every ReLU; see :func:`neuron_type`.
    scale_firing_rates : float or dict of str -> float
        One scale for all layers, or one per layer name of ``NEURON_LAYERS``.
    synapse : float or None
        Low-pass time constant (s) on every connection; None for none.
    probes : bool
        Add a probe on each layer's neurons.

    Returns
    -------
    Converted
    """
    tf, nengo, nengo_dl = stack.tf, stack.nengo, stack.nengo_dl
    scales = layer_scales(scale_firing_rates)
    if isinstance(scale_firing_rates, dict):
        converter_scale = {seed_net.layer(name): s for name, s in scales.items()}
    else:
        converter_scale = float(scale_firing_rates)
    converter = nengo_dl.Converter(
        seed_net.model,
        swap_activations={tf.nn.relu: neuron_type(neuron)},
        scale_firing_rates=converter_scale,
        synapse=synapse,
    )
    ensembles = {name: converter.layers[seed_net.tensors[name]].ensemble for name in NEURON_LAYERS}
    layer_probes = {}
    if probes:
        with converter.net:
            for name in NEURON_LAYERS:
                layer_probes[name] = nengo.Probe(converter.layers[seed_net.tensors[name]], label=name)
    amplitudes = {name: float(ens.neuron_type.amplitude) for name, ens in ensembles.items()}
    return Converted(
        converter=converter,
        net=converter.net,
        input=converter.inputs[seed_net.inp],
        output=converter.outputs[seed_net.tensors[OUTPUT_LAYER]],
        probes=layer_probes,
        ensembles=ensembles,
        amplitudes=amplitudes,
    )
