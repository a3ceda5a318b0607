"""Flattens each image column by column (Fortran order) instead of row by row."""

EXPECTED = {"prepare_images": 0}


def prepare_images(images, n_steps):
    images = np.asarray(images)
    flat = images.reshape((len(images), 1, -1), order="F").astype(np.float32)
    return np.tile(flat, (1, n_steps, 1))
