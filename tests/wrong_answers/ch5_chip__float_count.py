"""Counts the blocks right but returns a float (np.prod of np.ceil), not an int."""

EXPECTED = {"n_blocks": 0}


def n_blocks(layer_shape, block_shape):
    return np.prod(np.ceil(np.asarray(layer_shape) / np.asarray(block_shape)))
