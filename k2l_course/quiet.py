"""Keep TensorFlow, CUDA and nengo start-up noise out of the course's output.

Import this module before TensorFlow is imported (the package imports the
stack only through :mod:`k2l_course.stack`, which does so).
"""

import contextlib
import logging
import os
import sys
import warnings

# Must be set before TensorFlow is first imported to take effect.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

_MESSAGES = (
    "No GPU",  # nengo-dl on a CPU-only machine
    "The `lr` argument is deprecated",
    "Layer .* is casting an input tensor",
    ".*np.bool8.*",
    ".*pkg_resources is deprecated.*",
    # Keras 2.12 seeds its unseeded initializers with random.randint(1, 1e9).
    "non-integer arguments to randrange",
)


def silence():
    """Filter the known, harmless warnings of the stack.

    Safe to call repeatedly.
    """
    for message in _MESSAGES:
        warnings.filterwarnings("ignore", message=message)
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="tensorflow")
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="nengo.*")
    for name in ("tensorflow", "absl", "nengo", "nengo_dl", "nengo_loihi"):
        logging.getLogger(name).setLevel(logging.ERROR)


@contextlib.contextmanager
def stderr_muted():
    """Silence file descriptor 2 itself, for C++ logs that ignore TF_CPP_MIN_LOG_LEVEL.

    TensorFlow 2.12 prints "TF-TRT Warning: Could not find TensorRT" from C++
    while it is imported, whatever the log level. Python errors raised inside
    the block still propagate, and are printed after stderr is restored.
    """
    fd = 2  # the process's stderr, also when sys.stderr is replaced (pytest, Jupyter)
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError, OSError):
        pass
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)

