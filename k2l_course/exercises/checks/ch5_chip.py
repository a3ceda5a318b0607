"""Checks of exercise 5, chip deployment (``exercises/ch5_chip``).

Items
-----
``block_shapes``
    Block shapes for the on-chip layers (conv0, conv1, dense0) so that every
    block fits one Loihi core, with fewer cores than the seed's shapes. Judged
    with nengo-loihi's own builder, accounting and validation on the seed
    network (:mod:`k2l_course.exercises.checks.blockfit`, in a worker process that
    leaves TensorFlow out).
``n_blocks``
    How many cores (blocks) a layer is split into by a block shape.
    Reference: :func:`reference_n_blocks`, which the test suite proves equal to
    ``nengo_loihi.BlockShape(...).n_splits``.
``presentation_predictions``
    The prediction for each image presented to the chip, from the output at
    the last step of its presentation.
    Reference: :func:`k2l_course.chip.loihi.presentation_predictions`.
"""

from __future__ import annotations

import functools

import numpy as np

from k2l_course.chip.chipfit import RESOURCE_NAMES
from k2l_course.chip.loihi import SEED_BLOCK_SHAPES, presentation_predictions
from k2l_course.exercises.checks import blockfit
from k2l_course.exercises.checks import validate as v
from k2l_course.exercises.checks.items import Fail, full, item, partial
from k2l_course.pipeline.model import ON_CHIP_LAYERS

EXERCISE = "ch5_chip"
#: The book page that teaches it (``book/<page>.md``) and its title there.
CHAPTER = ("05-chip", "5. Chip deployment")


#: nengo-loihi's ``BlockShape`` splits a layer and counts its blocks
#: (``n_splits``): the answer of exercise 5.2. Exercise 5.1 returns plain
#: tuples and is judged by nengo-loihi's builder in the grader, so nothing
#: the exercise needs is refused (the builder itself is not).
FORBIDDEN = {
    "nengo_loihi.BlockShape": (
        "a BlockShape counts a layer's blocks for you (its n_splits), which exercise 5.2 asks you to compute; "
        "exercise 5.1 wants plain tuples of ints"
    ),
    "nengo_loihi.config.BlockShape": (
        "a BlockShape counts a layer's blocks for you (its n_splits), which exercise 5.2 asks you to compute; "
        "exercise 5.1 wants plain tuples of ints"
    ),
}


# -- n_blocks ----------------------------------------------------------------------------


def reference_n_blocks(layer_shape, block_shape):
    """Blocks (cores) a layer takes: each dimension is split separately, rounding up."""
    return int(np.prod(np.ceil(np.asarray(layer_shape) / np.asarray(block_shape))))


def _floor_blocks(layer, block):
    return int(np.prod(np.floor(np.asarray(layer) / np.asarray(block))))


def _ratio_blocks(layer, block):
    return int(np.ceil(np.prod(layer) / np.prod(block)))


def _one_more_blocks(layer, block):
    """One extra piece along every dimension, even where it divides evenly."""
    return int(np.prod(np.asarray(layer) // np.asarray(block) + 1))


def _bigger(layer, block):
    """A block bigger than the layer along some dimension (a single, smaller piece there)."""
    return any(b > size for size, b in zip(layer, block))


def _random_pair(rng, ndim):
    """A layer shape (rows, columns, channels or units) and a block shape for it."""
    if ndim == 1:
        layer = (int(rng.integers(10, 300)),)
    else:
        side = int(rng.integers(3, 30))
        layer = (side, side, int(rng.choice([3, 8, 16, 32, 64, 96])))
    # Mostly a block no bigger than the layer; sometimes bigger along a dimension.
    block = tuple(
        int(rng.integers(1, size + 1)) if rng.random() < 0.85 else size + int(rng.integers(1, 5)) for size in layer
    )
    return layer, block


def n_blocks_cases(rng=None):
    """Layer and block shapes, 3-d and 1-d: blocks that divide the layer, that
    leave partial blocks at an edge (where rounding down and dividing neuron
    counts give other numbers), one as big as the layer and one bigger.
    Fresh cases: 8 other pairs of the same kinds, always with at least 4 of
    the uneven kind, one as big as the layer and one bigger along some dimension."""
    if rng is None:
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
    else:
        pairs = []
        while sum(_uneven(*pair) for pair in pairs) < 4 or not any(_bigger(*pair) for pair in pairs[:6] + pairs[7:]):
            pairs = [_random_pair(rng, ndim) for ndim in (3, 3, 1, 3, 3, 1, 3, 3)]
        layer = pairs[6][0]
        pairs[6] = (layer, layer)  # one block for the whole layer
    return [{"layer_shape": layer, "block_shape": block} for layer, block in pairs]


def _uneven(layer, block):
    """Rounding down and dividing neuron counts both give another count than the right one."""
    right = reference_n_blocks(layer, block)
    return len({right, _floor_blocks(layer, block), _ratio_blocks(layer, block)}) == 3


def check_n_blocks(outcomes, cases):
    """prod(ceil(layer / block)) for every case, as an int.

    The message names a typical mistake when some case tells it apart (the
    first such case), else it describes the first wrong case.
    """
    named_failures, other_failures = [], []
    for value, case in zip(v.values(outcomes, cases), cases):
        layer, block = tuple(case["layer_shape"]), tuple(case["block_shape"])
        what = f"for a layer of shape {layer} and blocks of shape {block}, the number of blocks"
        got = v.number(value, what, integer=True)
        expected = reference_n_blocks(layer, block)
        if got == expected:
            continue
        candidates = {
            "floor": _floor_blocks(layer, block), "ratio": _ratio_blocks(layer, block),
            "one_more": _one_more_blocks(layer, block), "one": 1, "zero": 0,
        }  # fmt: skip
        named = v.cause(got, expected, candidates, equal=lambda a, b: a == b)
        if named == "floor":
            named_failures.append(
                f"{what} is {got}: a dimension that does not divide evenly leaves a partial "
                "block at the edge, and that block still needs a core of its own (round up)"
            )
        elif named == "one_more":
            named_failures.append(
                f"{what} is {got}: a dimension that divides evenly needs no extra piece; only one that "
                "does not divide evenly leaves a smaller piece at its edge"
            )
        elif named == "ratio":
            named_failures.append(
                f"{what} is {got}, the neuron count divided by the block size; the layer is "
                "split along each dimension separately, and the smaller edge blocks each take a whole core"
            )
        else:
            other_failures.append(f"{what} is {got}, which is not how many blocks the layer is split into")
    if named_failures or other_failures:
        raise Fail((named_failures or other_failures)[0])
    return full("block counts are right")


# -- presentation_predictions -------------------------------------------------------


def _chip_output(rng, n_images, steps):
    """Output of the chip over a run with no reset between images: each
    presentation starts with the previous image's answer fading, a transient
    towards a distractor, settles on a class one step before its end (for
    about half of the images not the final answer) and ends, at its last
    step, on the network's answer."""
    answers = rng.integers(0, 10, n_images)
    distractors = (answers + rng.integers(1, 10, n_images)) % 10
    settling = np.where(rng.random(n_images) < 0.5, answers, (answers + rng.integers(1, 10, n_images)) % 10)
    eye = np.eye(10)
    t = np.arange(steps)[:, None] / (steps - 1)
    out, previous = [], eye[rng.integers(0, 10)]
    for answer, distractor, settle in zip(answers, distractors, settling):
        trace = (
            2.5 * previous * np.exp(-np.arange(steps)[:, None] / 4.0)
            + 3.0 * (1 - t) ** 3 * eye[distractor]
            + 3.0 * t**2 * eye[settle]
            + rng.normal(0.0, 0.3, (steps, 10))
        )
        trace[-1] = rng.normal(0.0, 0.3, 10) + 4.0 * eye[answer]
        out.append(trace)
        previous = eye[answer]
    return np.concatenate(out).astype(np.float32)


def _readings(output, steps):
    """The predictions read in each typical way (what the hints tell apart)."""
    blocks = output.reshape(len(output) // steps, steps, -1)
    return {
        "last": np.argmax(blocks[:, -1], axis=-1),
        "second_last": np.argmax(blocks[:, -2], axis=-1),
        "first": np.argmax(blocks[:, 0], axis=-1),
        "mean": np.argmax(blocks.mean(axis=1), axis=-1),
    }


def prediction_cases(rng=None):
    """Chip runs of several images of 30 and 10 steps. Fresh cases: other runs,
    numbers of images and presentation lengths. Every case is drawn again
    until the readings of :func:`_readings` differ from one another."""
    if rng is None:
        rng, sizes = np.random.default_rng(9), ((12, 30), (5, 30), (20, 10))
    else:
        sizes = [(int(rng.integers(6, 20)), int(rng.integers(20, 40))) for _ in range(2)]
        sizes.append((int(rng.integers(10, 25)), int(rng.integers(5, 15))))
    cases = []
    for n_images, steps in sizes:
        for _ in range(100):
            output = _chip_output(rng, n_images, steps)
            readings = [tuple(r) for r in _readings(output, steps).values()]
            if len(set(readings)) == len(readings):
                break
        cases.append({"output": output, "steps_per_image": steps})
    return cases


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
        if type(value) is np.ndarray and value.dtype.kind == "f":
            raise Fail(
                f"{what} are floats (dtype {value.dtype}); class indices are whole numbers: "
                "return an int array (np.argmax gives one)"
            )
        got = v.array(value, what, shape=(n_images,), kinds="iu")
        expected = presentation_predictions(output, steps)
        if np.array_equal(got, expected):
            continue
        readings = _readings(output, steps)
        candidates = {k: r for k, r in readings.items() if k != "last"}
        named = v.cause(got, expected, candidates, equal=np.array_equal)
        if named == "first":
            raise Fail(
                f"{what} come from the first step of each presentation, when the chip is still "
                "answering the previous image (nothing resets between images); read the last step"
            )
        if named == "second_last":
            raise Fail(
                f"{what} come from the step just before the end of each presentation; read the very "
                "last step of each"
            )
        if named == "mean":
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
    :func:`k2l_course.exercises.checks.blockfit.fit` (run in a worker without TensorFlow).

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


def block_cases(rng=None):
    """One call without arguments, in public and fresh cases alike.

    ``block_shapes()`` takes no input: its answer is a design for the
    course's fixed network, judged by nengo-loihi's builder, so there is
    nothing to draw (a fixed answer is the answer, whoever found it).
    """
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
        section="Loihi's cores and `BlockShape`",
        points=4, partial={"fits": 2},
        cases=block_cases, check=check_block_shapes,
    ),
    item(
        EXERCISE, "n_blocks", function="n_blocks",
        section="Loihi's cores and `BlockShape`",
        points=2,
        cases=n_blocks_cases, check=check_n_blocks,
    ),
    item(
        EXERCISE, "presentation_predictions", function="presentation_predictions",
        section="Running on the emulator",
        points=2,
        cases=prediction_cases, check=check_predictions,
    ),
]  # fmt: skip
