"""Equivalent correct: float32 arithmetic and NumPy scalars (full marks)."""

EXPECTED = {}


def prepare_images(images, n_steps):
    images = np.asarray(images, dtype=np.float32)
    return np.repeat(images.reshape((len(images), 1, -1)), n_steps, axis=1)


def last_step_accuracy(output, labels):
    right = np.argmax(np.asarray(output, dtype=np.float32)[:, -1, :], axis=-1) == labels
    return np.mean(right, dtype=np.float32)  # a NumPy float32 scalar
