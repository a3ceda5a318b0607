"""Checks of exercise 1, MNIST spiking conversion (``exercises/ch1_conversion``).

Items
-----
``prepare_images``
    Shape images for the converted network: flatten each 28x28 image into a
    row of 784 pixels, add a time axis and repeat the image at every step.
    Reference: :func:`k2l_course.pipeline.data.to_sequences`, on real MNIST test images.
``last_step_accuracy``
    The accuracy of a spiking network read from the output probe at the last
    time step. Reference: :func:`k2l_course.pipeline.evaluation.last_step_predictions`.
"""

from __future__ import annotations

import functools

import numpy as np

from k2l_course.exercises.checks import validate as v
from k2l_course.exercises.checks.items import Fail, full, item, partial
from k2l_course.pipeline.data import load_mnist, to_sequences
from k2l_course.pipeline.evaluation import last_step_predictions
from k2l_course.stats import Accuracy

EXERCISE = "ch1_conversion"
#: The book page that teaches it (``book/<page>.md``) and its title there.
CHAPTER = ("01-conversion", "1. MNIST spiking conversion")


# -- prepare_images ----------------------------------------------------------------

#: Nothing to refuse: no library function of the stack shapes MNIST images for
#: nengo-dl (the course's own, ``k2l_course.pipeline.data.to_sequences``, is out of
#: reach of student code like all of the course library), and reading a
#: prediction at a time step is plain NumPy.
FORBIDDEN = {}


@functools.lru_cache(maxsize=1)
def _test_images():
    """The real MNIST test images (uint8, 28x28), read-only."""
    images = load_mnist().test_images
    images.setflags(write=False)
    return images


def prepare_cases(rng=None):
    """Real MNIST test images, several counts and presentation lengths.

    Public: the first 20 test images. Fresh: 20 test images drawn from all
    10,000, and other counts and numbers of steps of the same sizes (one case
    is always a single image shown for a single step).
    """
    all_images = _test_images()
    if rng is None:
        images, counts, steps = all_images[:20], (3, 1, 7, 9), (5, 1, 30, 2)
    else:
        images = all_images[np.sort(rng.choice(len(all_images), 20, replace=False))]
        counts = (int(rng.integers(2, 6)), 1, int(rng.integers(5, 9)), 0)
        counts = counts[:3] + (20 - sum(counts[:3]),)
        steps = (int(rng.integers(3, 9)), 1, int(rng.integers(20, 40)), 2)
    cases, start = [], 0
    for count, n_steps in zip(counts, steps):
        cases.append({"images": images[start : start + count], "n_steps": n_steps})
        start += count
    return cases


def check_prepare(outcomes, cases):
    """Shape (n, n_steps, 784), float32, raw pixel values repeated at every step."""
    dtype_ok = True
    for value, case in zip(v.values(outcomes, cases), cases):
        expected = to_sequences(case["images"], case["n_steps"])
        n, n_steps = len(case["images"]), case["n_steps"]
        what = f"for {n} images and n_steps={n_steps}, the result"
        got = v.array(value, what, shape=expected.shape)
        if got.dtype != np.float32:
            dtype_ok = False
        got = got.astype(np.float64)
        if 0 < got.max() <= 1.0 < expected.max():
            raise Fail(
                f"{what} holds pixels between 0 and 1; the seed network was trained on the raw "
                "pixel values 0-255, so feed them unchanged"
            )
        for step in range(n_steps):
            if not np.array_equal(got[:, step, :], expected[:, step, :]):
                if step > 0 and np.array_equal(got[:, 0, :], expected[:, 0, :]):
                    raise Fail(
                        f"{what} is right at the first time step but not at step {step}: "
                        "the network sees the same image at every step of its presentation"
                    )
                raise Fail(
                    f"{what} at time step {step} is not each image's 784 pixels, flattened row by row "
                    "in the image's order"
                )
    if not dtype_ok:
        return partial(
            "dtype",
            "shape and pixel values are right, but the array is not float32, the type nengo-dl feeds to the network",
        )
    return full("shape, dtype and pixel values are right at every time step")


# -- last_step_accuracy ------------------------------------------------------------


def _other(rng, classes, n_classes=10):
    """A class different from each of ``classes``."""
    return (classes + rng.integers(1, n_classes, len(classes))) % n_classes


def _spiking_output(rng, labels, n_steps, n_classes=10):
    """An output probe's trace that only settles at the very last step.

    Each example starts out favouring an early class (right for some), drifts
    towards a settling class, the answer read one step before the end (for
    about half of the examples not the final answer), and ends, at the last
    step, on the network's answer (right for most). So the accuracies read at
    the first step, at the step before the last, over the mean of the steps
    and at the last step differ from one another.
    """
    n = len(labels)
    answers = np.where(rng.random(n) < 0.7, labels, _other(rng, labels))
    flipped = np.where(answers == labels, _other(rng, labels), labels)
    settling = np.where(rng.random(n) < 0.5, answers, flipped)
    early = np.where(rng.random(n) < 0.3, labels, _other(rng, labels))
    t = np.linspace(0.0, 1.0, n_steps)[None, :, None]
    eye = np.eye(n_classes)
    out = rng.normal(0.0, 0.3, (n, n_steps, n_classes))
    out += 4.0 * (1.0 - t) ** 3 * eye[early][:, None, :] + 3.0 * t**2 * eye[settling][:, None, :]
    out[:, -1, :] = rng.normal(0.0, 0.3, (n, n_classes)) + 4.0 * eye[answers]
    return out.astype(np.float32)


def _readings(output, labels):
    """The accuracy read in each typical way (what the hints tell apart)."""
    at = lambda scores: Accuracy.from_predictions(np.argmax(scores, axis=-1), labels).value  # noqa: E731
    return {
        "last": at(output[:, -1, :]),
        "second_last": at(output[:, -2, :]),
        "first": at(output[:, 0, :]),
        "mean": at(output.mean(axis=1)),
    }


def accuracy_cases(rng=None):
    """Output traces of 3 runs; public ones from a fixed seed, fresh ones of random sizes.

    Every case is drawn again until the readings of :func:`_readings` differ
    from one another and from 0 and 1 (so a hint can name the one the
    student's value comes from).
    """
    if rng is None:
        rng, sizes = np.random.default_rng(1), ((40, 30), (25, 10), (64, 30))
    else:
        sizes = [(int(rng.integers(20, 70)), int(rng.integers(5, 40))) for _ in range(3)]
    cases = []
    for n, n_steps in sizes:
        for _ in range(100):
            labels = rng.integers(0, 10, n)
            output = _spiking_output(rng, labels, n_steps)
            values = list(_readings(output, labels).values()) + [0.0, 1.0]
            if len(set(values)) == len(values):
                break
        cases.append({"output": output, "labels": labels.astype(np.uint8)})
    return cases


def reference_accuracy(output, labels):
    """Fraction of examples whose output at the last step picks the label."""
    return Accuracy.from_predictions(last_step_predictions(output), np.asarray(labels)).value


def check_accuracy(outcomes, cases):
    """A fraction in [0, 1]: predictions from the output at the last time step."""
    for value, case in zip(v.values(outcomes, cases), cases):
        output, labels = case["output"], case["labels"]
        what = f"for an output of shape {output.shape}, the accuracy"
        got = v.number(value, what)
        expected = reference_accuracy(output, labels)
        if v.close(got, expected):
            continue
        if 1.0 < got <= 100.0 and v.close(got / 100, expected):
            raise Fail(f"{what} is {v.fmt(got)}: return it as a fraction between 0 and 1, not a percentage")
        if expected > 0 and v.close(got, expected * len(labels)):
            raise Fail(f"{what} is {v.fmt(got)}: return the fraction of correct examples, not their count")
        if not 0.0 <= got <= 1.0:
            raise Fail(f"{what} is {v.fmt(got)}; an accuracy is a fraction between 0 and 1")
        readings = _readings(output, labels)
        candidates = {**{k: r for k, r in readings.items() if k != "last"}, "zero": 0.0, "one": 1.0}
        named = v.cause(got, expected, candidates)
        if named == "first":
            raise Fail(
                f"{what} comes from the first time step; a spiking network needs time to respond, "
                "so read the prediction at the last step"
            )
        if named == "second_last":
            raise Fail(
                f"{what} comes from a step just before the last; the prediction is read at the very "
                "last step (index -1, or n_steps - 1)"
            )
        if named == "mean":
            raise Fail(
                f"{what} comes from the output averaged over time, which mixes in the early steps "
                "before the network has settled; read the prediction at the last step"
            )
        raise Fail(f"{what} is {v.fmt(got)}, which is not the accuracy of the predictions at the last time step")
    return full("the accuracy at the last time step is right")


ITEMS = [
    item(
        EXERCISE, "prepare_images", function="prepare_images",
        section="The data, with a time axis",
        points=2, partial={"dtype": 1},
        cases=prepare_cases, check=check_prepare,
    ),
    item(
        EXERCISE, "last_step_accuracy", function="last_step_accuracy",
        section="The output lag",
        points=2,
        cases=accuracy_cases, check=check_accuracy,
    ),
]  # fmt: skip
