"""The seed's block shapes: they fit, but take as many cores as the seed (partial credit)."""

EXPECTED = {"block_shapes": 2}


def block_shapes():
    return {"conv0": (16, 16, 4), "conv1": (8, 8, 16), "dense0": (50,)}
