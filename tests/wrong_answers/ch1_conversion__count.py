"""Returns how many examples are right instead of the fraction."""

EXPECTED = {"last_step_accuracy": 0}


def last_step_accuracy(output, labels):
    return int(np.sum(np.argmax(np.asarray(output)[:, -1, :], axis=-1) == labels))
