"""Right classes, but as floats: an array of class indices is an int array."""

EXPECTED = {"presentation_predictions": 0}


def presentation_predictions(output, steps_per_image):
    output = np.asarray(output)
    return np.argmax(output[steps_per_image - 1 :: steps_per_image], axis=-1).astype(np.float64)
