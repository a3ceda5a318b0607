"""Equivalent correct: np.repeat, then a read-only broadcast view (full marks)."""

EXPECTED = {}


def prepare_images(images, n_steps):
    images = np.asarray(images)
    flat = images.reshape((len(images), 1, -1)).astype(np.float32)
    return np.broadcast_to(flat, (len(images), n_steps, flat.shape[-1]))


def last_step_accuracy(output, labels):
    predictions = np.argmax(np.asarray(output)[:, np.asarray(output).shape[1] - 1], axis=-1)
    return np.asarray((predictions == labels).mean())  # a 0-d array
