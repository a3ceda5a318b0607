"""Equivalent correct: math.ceil per dimension, a 0-d int array, a read-only view (full marks)."""

EXPECTED = {}


def n_blocks(layer_shape, block_shape):
    import math

    return np.asarray(math.prod(math.ceil(size / block) for size, block in zip(layer_shape, block_shape)))


def presentation_predictions(output, steps_per_image):
    last = np.asarray(output)[steps_per_image - 1 :: steps_per_image]
    predictions = np.argmax(last, axis=-1)
    predictions.setflags(write=False)
    return predictions
