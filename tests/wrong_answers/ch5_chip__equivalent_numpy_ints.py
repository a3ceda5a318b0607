"""Equivalent correct: NumPy integers, lists and int arrays where the text says int and tuple (full marks)."""

EXPECTED = {}


def block_shapes():
    return {"conv0": [13, 13, 6], "conv1": np.array([6, 6, 22]), "dense0": (np.int64(50),)}


def n_blocks(layer_shape, block_shape):
    return np.prod([-(-size // block) for size, block in zip(layer_shape, block_shape)])  # a NumPy int


def presentation_predictions(output, steps_per_image):
    output = np.asarray(output)
    blocks = output.reshape(-1, steps_per_image, output.shape[-1])
    return np.argmax(blocks[:, -1, :], axis=-1).astype(np.int32)
