"""Gives dense0's block shape as a bare int (50) instead of a tuple of one int, (50,)."""

EXPECTED = {"block_shapes": 0}


def block_shapes():
    return {"conv0": (13, 13, 6), "conv1": (6, 6, 22), "dense0": 50}
