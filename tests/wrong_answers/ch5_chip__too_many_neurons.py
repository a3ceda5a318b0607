"""conv0 blocks of 13 x 13 x 8 = 1352 neurons: more than a core's 1024 compartments."""

EXPECTED = {"block_shapes": 0}


def block_shapes():
    return {"conv0": (13, 13, 8), "conv1": (6, 6, 22), "dense0": (50,)}
