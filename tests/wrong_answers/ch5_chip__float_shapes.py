"""Block shapes with floats (from a division) instead of ints."""

EXPECTED = {"block_shapes": 0}


def block_shapes():
    return {"conv0": (13, 13, 32 / 6), "conv1": (6, 6, 22), "dense0": (50,)}
