"""Checks of exercise 1, MNIST spiking conversion (``exercises/ch1_conversion``).

Items
-----
``prepare_images``
    Shape images for the converted network: flatten each 28x28 image into a
    row of 784 pixels, add a time axis and repeat the image at every step.
    Reference: :func:`k2l_course.data.to_sequences`, on real MNIST test images.
``last_step_accuracy``
    The accuracy of a spiking network read from the output probe at the last
    time step. Reference: :func:`k2l_course.evaluation.last_step_predictions`.
"""

from __future__ import annotations

import functools

import numpy as np

from k2l_course.checks import validate as v
from k2l_course.checks.items import Fail, full, item, partial
from k2l_course.data import load_mnist, to_sequences
from k2l_course.evaluation import last_step_predictions
from k2l_course.stats import Accuracy

EXERCISE = "ch1_conversion"


# -- prepare_images ----------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _test_images():
    """The first 20 real MNIST test images (uint8, 28x28)."""
    images = load_mnist().test_images[:20]
    images.setflags(write=False)
    return images


def prepare_cases():
    images = _test_images()
    return [
        {"images": images[:3], "n_steps": 5},
        {"images": images[3:4], "n_steps": 1},
        {"images": images[4:11], "n_steps": 30},
        {"images": images[11:20], "n_steps": 2},
    ]


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


def _spiking_output(rng, labels, n_steps, n_classes=10):
    """An output probe's trace: it starts out favouring a wrong class and
    settles, by the last step, on the network's answer (right for most)."""
    n = len(labels)
    answers = labels.copy()
    wrong = rng.random(n) < 0.3
    answers[wrong] = (labels[wrong] + rng.integers(1, n_classes, wrong.sum())) % n_classes
    early = (answers + rng.integers(1, n_classes, n)) % n_classes
    t = np.linspace(0.0, 1.0, n_steps)[None, :, None]
    noise = rng.normal(0.0, 0.3, (n, n_steps, n_classes))
    eye = np.eye(n_classes)
    out = noise + 4.0 * (1.0 - t) ** 3 * eye[early][:, None, :] + 3.0 * t**2 * eye[answers][:, None, :]
    return out.astype(np.float32)


def accuracy_cases():
    rng = np.random.default_rng(1)
    cases = []
    for n, n_steps in ((40, 30), (25, 10), (64, 30)):
        labels = rng.integers(0, 10, n)
        cases.append({"output": _spiking_output(rng, labels, n_steps), "labels": labels.astype(np.uint8)})
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
        if abs(got - expected) <= 1e-9:
            continue
        if 1.0 < got <= 100.0 and abs(got / 100 - expected) <= 1e-9:
            raise Fail(f"{what} is {v.fmt(got)}: return it as a fraction between 0 and 1, not a percentage")
        if abs(got - expected * len(labels)) <= 1e-9:
            raise Fail(f"{what} is {v.fmt(got)}: return the fraction of correct examples, not their count")
        if not 0.0 <= got <= 1.0:
            raise Fail(f"{what} is {v.fmt(got)}; an accuracy is a fraction between 0 and 1")
        early = Accuracy.from_predictions(np.argmax(output[:, 0, :], axis=-1), labels).value
        mean = Accuracy.from_predictions(np.argmax(output.mean(axis=1), axis=-1), labels).value
        if abs(got - early) <= 1e-9:
            raise Fail(
                f"{what} comes from the first time step; a spiking network needs time to respond, "
                "so read the prediction at the last step"
            )
        if abs(got - mean) <= 1e-9:
            raise Fail(
                f"{what} comes from the output averaged over time, which mixes in the early steps "
                "before the network has settled; read the prediction at the last step"
            )
        raise Fail(f"{what} is {v.fmt(got)}, which is not the accuracy of the predictions at the last time step")
    return full("the accuracy at the last time step is right")


ITEMS = [
    item(
        EXERCISE, "prepare_images", function="prepare_images",
        points=2, partial={"dtype": 1},
        cases=prepare_cases, check=check_prepare,
    ),
    item(
        EXERCISE, "last_step_accuracy", function="last_step_accuracy",
        points=2,
        cases=accuracy_cases, check=check_accuracy,
    ),
]  # fmt: skip
