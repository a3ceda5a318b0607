"""Averages the accuracy of every time step instead of reading the last one."""

EXPECTED = {"last_step_accuracy": 0}


def last_step_accuracy(output, labels):
    return float(np.mean(np.argmax(np.asarray(output), axis=-1) == np.asarray(labels)[:, None]))
