"""Returns a percentage instead of a fraction."""

EXPECTED = {"last_step_accuracy": 0}


def last_step_accuracy(output, labels):
    return 100 * float(np.mean(np.argmax(output[:, -1, :], axis=-1) == labels))
