"""Adds one more piece along every dimension, also where the block divides it evenly (size // block + 1)."""

EXPECTED = {"n_blocks": 0}


def n_blocks(layer_shape, block_shape):
    count = 1
    for size, block in zip(layer_shape, block_shape):
        count *= size // block + 1
    return count
