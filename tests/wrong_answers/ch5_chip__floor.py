"""Rounds down: forgets the partial blocks at the edges."""

EXPECTED = {"n_blocks": 0}


def n_blocks(layer_shape, block_shape):
    return int(np.prod([size // block for size, block in zip(layer_shape, block_shape)]))
