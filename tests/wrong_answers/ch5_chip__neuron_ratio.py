"""Divides the neuron counts: ignores that each dimension is split separately."""

EXPECTED = {"n_blocks": 0}


def n_blocks(layer_shape, block_shape):
    return int(np.ceil(np.prod(layer_shape) / np.prod(block_shape)))
