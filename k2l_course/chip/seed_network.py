"""The converted seed network built directly with nengo: its neurons, connections and shapes, random weights.

nengo-dl's converter needs TensorFlow; this network has exactly the neurons,
connections and shapes the converter makes of the seed network, described in
:mod:`k2l_course.pipeline.model`, with deterministic random weights, so it
builds where TensorFlow is absent (the students' environments) or not worth
importing (exercise 5's block-shape check, :mod:`k2l_course.exercises.checks.blockfit`;
the chip's digests, :mod:`k2l_course.chip.build_digest`). The test suite
proves every block uses the same resources as in the converted network.
"""

from __future__ import annotations

import numpy as np

from k2l_course.chip.loihi import CHIP_SCALE, CHIP_SYNAPSE, set_block_shape
from k2l_course.pipeline.model import CONVOLUTIONS, DENSE, INPUT_SHAPE, NEURON_LAYERS, ON_CHIP_LAYERS, OUTPUT_UNITS


def seed_network(nengo, nengo_loihi, block_shapes, seed=0):
    """The converted seed network's neurons and connections, with random weights.

    Returns
    -------
    net : nengo.Network
    shapes : dict of str -> tuple
        Output shape of each layer with neurons.
    """
    rng = np.random.RandomState(seed)
    neuron = nengo_loihi.neurons.LoihiSpikingRectifiedLinear(amplitude=1.0 / CHIP_SCALE)
    shapes, ensembles = {}, {}
    with nengo.Network(seed=seed) as net:
        nengo_loihi.add_params(net)
        previous, shape = nengo.Node(np.zeros(int(np.prod(INPUT_SHAPE))), label="input"), INPUT_SHAPE
        for name, filters, kernel, strides in CONVOLUTIONS:
            transform = nengo.Convolution(
                filters, shape, kernel_size=(kernel, kernel), strides=(strides, strides),
                init=rng.uniform(-0.3, 0.3, (kernel, kernel, shape[-1], filters)),
            )  # fmt: skip
            ensembles[name] = _layer(nengo, name, transform.output_shape.size, neuron)
            first = name == NEURON_LAYERS[0]  # fed by the input node, the others by neurons
            source = previous if first else previous.neurons
            nengo.Connection(source, ensembles[name].neurons, transform=transform, synapse=None if first else CHIP_SYNAPSE)
            previous, shape = ensembles[name], transform.output_shape.shape
            shapes[name] = tuple(int(s) for s in shape)
        for name, units in DENSE:
            ensembles[name] = _layer(nengo, name, units, neuron)
            weights = rng.uniform(-0.05, 0.05, (units, int(np.prod(shape))))
            nengo.Connection(previous.neurons, ensembles[name].neurons, transform=weights, synapse=CHIP_SYNAPSE)
            previous, shape = ensembles[name], (units,)
            shapes[name] = shape
        output = nengo.Node(size_in=OUTPUT_UNITS, label="output")
        weights = rng.uniform(-0.1, 0.1, (OUTPUT_UNITS, shape[0]))
        nengo.Connection(previous.neurons, output, transform=weights, synapse=CHIP_SYNAPSE)
        nengo.Probe(output)
        for name, ensemble in ensembles.items():
            if name not in ON_CHIP_LAYERS:
                net.config[ensemble].on_chip = False
            else:
                set_block_shape(net.config, ensemble, block_shapes.get(name), shapes[name])
    return net, shapes


def _layer(nengo, name, n, neuron):
    return nengo.Ensemble(n, 1, neuron_type=neuron, gain=np.full(n, float(CHIP_SCALE)), bias=np.zeros(n), label=name)
