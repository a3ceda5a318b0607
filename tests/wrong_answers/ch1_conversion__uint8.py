"""Right shape and pixels, but keeps MNIST's uint8 (partial credit)."""

EXPECTED = {"prepare_images": 1}


def prepare_images(images, n_steps):
    flat = np.asarray(images).reshape((len(images), 1, -1))
    return np.tile(flat, (1, n_steps, 1))
