"""Checks of exercise 5, chip deployment (``exercises/ch5_chip``).

Items
-----
``block_shapes``
    Block shapes for the on-chip layers (conv0, conv1, dense0) so that every
    block fits one Loihi core, with fewer cores than the seed's shapes. Judged
    with nengo-loihi's own builder, accounting and validation on the seed
    network (:mod:`k2l_course.checks.blockfit`, in a worker process that
    leaves TensorFlow out).
``n_blocks``
    How many cores (blocks) a layer is split into by a block shape.
    Reference: :func:`reference_n_blocks`, which the test suite proves equal to
    ``nengo_loihi.BlockShape(...).n_splits``.
``presentation_predictions``
    The prediction for each image presented to the chip, from the output at
    the last step of its presentation.
    Reference: :func:`k2l_course.chip.presentation_predictions`.
"""

from __future__ import annotations

import functools

import numpy as np

from k2l_course.checks import blockfit
from k2l_course.checks import validate as v
from k2l_course.checks.items import Fail, full, item, partial
from k2l_course.chip import SEED_BLOCK_SHAPES, presentation_predictions
from k2l_course.chipfit import RESOURCE_NAMES
from k2l_course.model import ON_CHIP_LAYERS

EXERCISE = "ch5_chip"


# -- n_blocks ----------------------------------------------------------------------------


def reference_n_blocks(layer_shape, block_shape):
    """Blocks (cores) a layer takes: each dimension is split separately, rounding up."""
    return int(np.prod(np.ceil(np.asarray(layer_shape) / np.asarray(block_shape))))


def n_blocks_cases():
    pairs = [
        ((13, 13, 32), (16, 16, 4)),
        ((6, 6, 64), (8, 8, 16)),
        ((100,), (50,)),
        ((13, 13, 32), (5, 5, 10)),
        ((28, 28, 3), (7, 9, 2)),
        ((10,), (3,)),
        ((13, 13, 32), (13, 13, 32)),
        ((6, 6, 64), (4, 4, 64)),
    ]
    return [{"layer_shape": layer, "block_shape": block} for layer, block in pairs]


def check_n_blocks(outcomes, cases):
    """prod(ceil(layer / block)) for every case."""
    for value, case in zip(v.values(outcomes, cases), cases):
        layer, block = case["layer_shape"], case["block_shape"]
        what = f"for a layer of shape {layer} and blocks of shape {block}, the number of blocks"
        got = v.number(value, what)
        if got != int(got):
            raise Fail(f"{what} is {v.fmt(got)}; a number of cores is a whole number")
        expected = reference_n_blocks(layer, block)
        if got == expected:
            continue
        if got == int(np.prod(np.floor(np.asarray(layer) / np.asarray(block)))):
            raise Fail(
                f"{what} is {v.fmt(got)}: a dimension that does not divide evenly leaves a partial "
                "block at the edge, and that block still needs a core of its own (round up)"
            )
        if got == int(np.ceil(np.prod(layer) / np.prod(block))):
            raise Fail(
                f"{what} is {v.fmt(got)}, the neuron count divided by the block size; the layer is "
                "split along each dimension separately, and the smaller edge blocks each take a whole core"
            )
        raise Fail(f"{what} is {v.fmt(got)}, which is not how many blocks the layer is split into")
    return full("block counts are right")


# -- presentation_predictions -------------------------------------------------------


def _chip_output(rng, n_images, steps):
    """Output of the chip over a run with no reset between images: each
    presentation starts with the previous image's answer fading, a transient
    towards a distractor, and ends on the network's answer."""
    answers = rng.integers(0, 10, n_images)
    distractors = (answers + rng.integers(1, 10, n_images)) % 10
    eye = np.eye(10)
    t = np.arange(steps)[:, None] / (steps - 1)
    out, previous = [], eye[rng.integers(0, 10)]
    for answer, distractor in zip(answers, distractors):
        trace = (
            2.5 * previous * np.exp(-np.arange(steps)[:, None] / 4.0)
            + 3.0 * (1 - t) ** 3 * eye[distractor]
            + 3.0 * t**2 * eye[answer]
            + rng.normal(0.0, 0.3, (steps, 10))
        )
        out.append(trace)
        previous = eye[answer]
    return np.concatenate(out).astype(np.float32)


def prediction_cases():
    rng = np.random.default_rng(9)
    return [
        {"output": _chip_output(rng, 12, 30), "steps_per_image": 30},
        {"output": _chip_output(rng, 5, 30), "steps_per_image": 30},
        {"output": _chip_output(rng, 20, 10), "steps_per_image": 10},
    ]


def check_predictions(outcomes, cases):
    """argmax of the output at the last step of each presentation."""
    for value, case in zip(v.values(outcomes, cases), cases):
        output, steps = case["output"], case["steps_per_image"]
        n_images = len(output) // steps
        what = f"for {n_images} images of {steps} steps each, the predictions"
        if type(value) is np.ndarray and value.shape == (n_images - 1,):
            raise Fail(
                f"{what} have {n_images - 1} elements, one too few: check at which index the first "
                "presentation's last step is (indices count from 0)"
            )
        got = v.array(value, what, shape=(n_images,), kinds="iu")
        expected = presentation_predictions(output, steps)
        if np.array_equal(got, expected):
            continue
        blocks = output.reshape(n_images, steps, -1)
        if np.array_equal(got, np.argmax(blocks[:, 0], axis=-1)):
            raise Fail(
                f"{what} come from the first step of each presentation, when the chip is still "
                "answering the previous image (nothing resets between images); read the last step"
            )
        if np.array_equal(got, np.argmax(blocks.mean(axis=1), axis=-1)):
            raise Fail(
                f"{what} come from the output averaged over each presentation, which mixes in the "
                "steps before the chip has settled on the new image; read the last step"
            )
        raise Fail(f"{what} are not the classes the output picks at the end of each presentation")
    return full("predictions are read at the last step of every presentation")


# -- block_shapes -----------------------------------------------------------------------

@functools.lru_cache(maxsize=64)
def _chip_fit(shapes):
    return blockfit.fit_in_worker(dict(shapes))


def chip_fit(block_shapes):
    """Build the seed network for (emulated) Loihi with these block shapes.

    nengo-loihi's builder splits each on-chip layer into blocks (one per
    core) and accounts each block's resources; see
    :func:`k2l_course.checks.blockfit.fit` (run in a worker without TensorFlow).

    Parameters
    ----------
    block_shapes : dict of str -> tuple of int
        A block shape per on-chip layer.

    Returns
    -------
    dict of str -> dict
        Per layer: ``blocks`` (cores used), ``worst`` (resource -> [most used
        by one block, the per-core limit]), ``over`` (resources some block
        exceeds). Empty if the blocks are more than a chip's cores.
    """
    report = _chip_fit(tuple((name, tuple(int(x) for x in block_shapes[name])) for name in ON_CHIP_LAYERS))
    return report["layers"] or {}


def block_cases():
    return [{}]


def check_block_shapes(outcomes, cases):
    """Every block fits one core (nengo-loihi's validator), fewer cores than the seed."""
    (value,) = v.values(outcomes, cases)
    got = v.mapping(value, ON_CHIP_LAYERS, "the block shapes")
    shapes = {
        name: v.int_tuple(got[name], blockfit.ndims(name), f"the block shape of {name!r}") for name in ON_CHIP_LAYERS
    }
    report = _chip_fit(tuple((name, shapes[name]) for name in ON_CHIP_LAYERS))
    cores, total = report["blocks"], sum(report["blocks"].values())
    if total > report["cores_per_chip"]:
        split = ", ".join(f"{name} {n}" for name, n in cores.items())
        raise Fail(
            f"your block shapes split the layers into {total} blocks ({split}), but one Loihi chip has "
            f"{report['cores_per_chip']} cores: use bigger blocks"
        )
    layers = report["layers"]
    problems = [
        f"a block of {name} (shape {shapes[name]}) needs {layers[name]['worst'][resource][0]} "
        f"{RESOURCE_NAMES[resource]}, but a core has {layers[name]['worst'][resource][1]}"
        for name in ON_CHIP_LAYERS
        for resource in layers[name]["over"]
    ]
    if problems or report["error"]:
        raise Fail("; ".join(problems) if problems else f"nengo-loihi cannot build these blocks: {report['error']}")
    seed = sum(reference_n_blocks(report["layer_shapes"][n], SEED_BLOCK_SHAPES[n]) for n in ON_CHIP_LAYERS)
    used = ", ".join(f"{name} {cores[name]}" for name in ON_CHIP_LAYERS)
    if total >= seed:
        return partial(
            "fits",
            f"every block fits a core ({used}: {total} cores), but the seed's block shapes already "
            f"take {seed}: find shapes that use fewer cores",
        )
    return full(f"every block fits a core, in {total} cores ({used}) where the seed's shapes take {seed}")


ITEMS = [
    item(
        EXERCISE, "block_shapes", function="block_shapes",
        points=4, partial={"fits": 2},
        cases=block_cases, check=check_block_shapes,
    ),
    item(
        EXERCISE, "n_blocks", function="n_blocks",
        points=2,
        cases=n_blocks_cases, check=check_n_blocks,
    ),
    item(
        EXERCISE, "presentation_predictions", function="presentation_predictions",
        points=2,
        cases=prediction_cases, check=check_predictions,
    ),
]  # fmt: skip
