"""Counts the splits of one dimension only (the first), ignoring the others."""

EXPECTED = {"n_blocks": 0}


def n_blocks(layer_shape, block_shape):
    return -(-layer_shape[0] // block_shape[0])
