"""The seed's Keras network, built for conversion to a spiking network.

Input 28x28x1 pixels, then

============  =====================================  ===========
layer         what                                   runs
============  =====================================  ===========
to-spikes     Conv2D 3 filters, 1x1, ReLU, no bias   off-chip
conv0         Conv2D 32, 3x3, stride 2, no bias      on-chip
conv1         Conv2D 64, 3x3, stride 2, no bias      on-chip
dense0        Dense 100, ReLU                        on-chip
dense1        Dense 10, no activation (a Node)       off-chip
============  =====================================  ===========

250,809 parameters in all.
"""

from __future__ import annotations

import dataclasses

from k2l_course import stack

#: The seed network, layer by layer (the one description of it: the Keras
#: model below and the TensorFlow-free copy that checks block shapes,
#: :mod:`k2l_course.exercises.checks.blockfit`, are both built from it).
#: Input shape (rows, columns, channels):
INPUT_SHAPE = (28, 28, 1)
#: Convolutions with neurons (ReLU, no bias): (layer, filters, kernel size, strides).
CONVOLUTIONS = (("to-spikes", 3, 1, 1), ("conv0", 32, 3, 2), ("conv1", 64, 3, 2))
#: Dense layers with neurons (ReLU, with bias), after flattening: (layer, units).
DENSE = (("dense0", 100),)
#: Units of the output layer (dense, no activation).
OUTPUT_UNITS = 10

#: The layers with neurons, in order (the ones we probe and scale).
NEURON_LAYERS = tuple(name for name, *_ in CONVOLUTIONS) + tuple(name for name, _ in DENSE)
#: The layers that run on Loihi when the network is deployed.
ON_CHIP_LAYERS = ("conv0", "conv1", "dense0")
#: The output layer (no activation, so nengo-dl makes it an off-chip Node).
OUTPUT_LAYER = "dense1"
#: Parameters of the seed network (model.summary() in the seed notebook).
N_PARAMETERS = 250_809


@dataclasses.dataclass
class SeedNetwork:
    """A built Keras model with handles on its layers' output tensors.

    Attributes
    ----------
    model : tf.keras.Model
    inp : KerasTensor
        The input tensor.
    tensors : dict of str -> KerasTensor
        Output tensor of each layer, by layer name (``NEURON_LAYERS`` and
        ``OUTPUT_LAYER``).
    """

    model: object
    inp: object
    tensors: dict

    @property
    def output(self):
        """The output (logits) tensor."""
        return self.tensors[OUTPUT_LAYER]

    def layer(self, name):
        """The Keras layer called ``name``."""
        return self.model.get_layer(name)

    def output_shape(self, name):
        """Output shape of layer ``name`` without the batch axis, e.g. (13, 13, 32)."""
        return tuple(self.layer(name).output_shape[1:])


def build_seed_model(seed=0):
    """Build the seed's Keras network with seeded initial weights.

    Parameters
    ----------
    seed : int
        Seeds Python, NumPy and TensorFlow before the layers are created, so
        the initial weights are the same on every run.

    Returns
    -------
    SeedNetwork
    """
    tf = stack.tf
    tf.keras.backend.clear_session()
    # Seeds Python's, NumPy's and TensorFlow's generators (Keras's unseeded
    # initializers draw from the latter).
    tf.keras.utils.set_random_seed(seed)
    relu = tf.nn.relu
    conv = dict(activation=relu, use_bias=False)

    inp = x = tf.keras.Input(shape=INPUT_SHAPE, name="input")
    tensors = {}
    for name, filters, kernel, strides in CONVOLUTIONS:
        x = tensors[name] = tf.keras.layers.Conv2D(filters, kernel, strides=strides, name=name, **conv)(x)
    x = tf.keras.layers.Flatten(name="flatten")(x)
    for name, units in DENSE:
        x = tensors[name] = tf.keras.layers.Dense(units, activation=relu, name=name)(x)
    tensors[OUTPUT_LAYER] = tf.keras.layers.Dense(OUTPUT_UNITS, name=OUTPUT_LAYER)(x)

    model = tf.keras.Model(inputs=inp, outputs=tensors[OUTPUT_LAYER])
    return SeedNetwork(model=model, inp=inp, tensors=tensors)
