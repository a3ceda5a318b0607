"""Reads the prediction one step before the last (index -2)."""

EXPECTED = {"last_step_accuracy": 0}


def last_step_accuracy(output, labels):
    return float(np.mean(np.argmax(np.asarray(output)[:, -2, :], axis=-1) == labels))
