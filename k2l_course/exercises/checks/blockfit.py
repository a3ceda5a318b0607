"""Does the seed network fit Loihi's cores with given block shapes? Without TensorFlow.

nengo-loihi imports TensorFlow and nengo-dl when they are installed,
although its builder never uses them. The block-shape check only needs the
builder, so it runs it here in a worker process of its own in which
TensorFlow and nengo-dl are hidden, which saves their import time. The
network built here, from the seed network's description in
:mod:`k2l_course.pipeline.model`, has exactly the neurons, connections and
shapes that nengo-dl's converter makes of it, with random weights (the
cores' use does not depend on the weights' values); the test suite proves
that every block uses the same resources as in the converted network.

Run as ``python -m k2l_course.exercises.checks.blockfit`` with a JSON object of block
shapes on stdin; prints :func:`fit`'s report as JSON.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys


from k2l_course.chip.seed_network import seed_network
from k2l_course.pipeline.model import CONVOLUTIONS, ON_CHIP_LAYERS

#: Seconds the worker may take (a build with the most blocks a chip holds).
WORKER_TIMEOUT = 600


def ndims(layer):
    """Number of dimensions of a layer's block shape (3 for a convolution, 1 for dense)."""
    return 3 if any(name == layer for name, *_ in CONVOLUTIONS) else 1


def fit(block_shapes):
    """Build the seed network with these block shapes and report each layer's cores.

    Uses nengo-loihi's builder (which splits each on-chip layer into blocks,
    one per core), its accounting of each block's resources
    (:func:`k2l_course.chip.chipfit.block_fit`) and its validation.

    Parameters
    ----------
    block_shapes : dict of str -> tuple of int
        Per on-chip layer.

    Returns
    -------
    dict
        Plain data: ``layer_shapes`` and ``blocks`` (cores) per layer,
        ``cores_per_chip``; when the blocks fit on one chip, also ``layers``
        (per layer: ``worst``, resource -> [most used by a block, limit];
        ``over``, the resources some block exceeds) and ``error`` (what
        nengo-loihi's validation says, or None). Too many blocks for a chip are
        not built (``layers`` is None).
    """
    import nengo
    import nengo_loihi
    from nengo_loihi.builder import Model
    from nengo_loihi.builder.builder import ValidationLevel
    from nengo_loihi.builder.validate import validate_model
    from nengo_loihi.hardware.allocators import Greedy

    from k2l_course.chip.chipfit import RESOURCES, block_fit
    from k2l_course.nengo_loihi_numpy2 import apply as fix_nengo_loihi_for_numpy2

    fix_nengo_loihi_for_numpy2()  # nengo-loihi 1.1's builder fails on NumPy 2 without it

    net, shapes = seed_network(nengo, nengo_loihi, block_shapes)
    blocks = {
        ensemble.label: int(net.config[ensemble].block_shape.n_splits)
        for ensemble in net.all_ensembles
        if ensemble.label in ON_CHIP_LAYERS
    }
    report = {
        "layer_shapes": {name: list(shapes[name]) for name in ON_CHIP_LAYERS},
        "blocks": blocks,
        "cores_per_chip": int(inspect.signature(Greedy).parameters["cores_per_chip"].default),
        "layers": None,
        "error": None,
    }
    if sum(blocks.values()) > report["cores_per_chip"]:
        return report
    model = Model()
    model.validation_level = ValidationLevel.NONE
    model.build(net, discretize=True)
    layers = {name: {"blocks": 0, "worst": {}, "over": []} for name in ON_CHIP_LAYERS}
    for block in model.blocks:
        one = block_fit(block)
        entry = layers[one.label.split("[")[0]]
        entry["blocks"] += 1
        for resource in RESOURCES:
            most = max(entry["worst"].get(resource, [0, 0])[0], one.used[resource])
            entry["worst"][resource] = [most, one.limits[resource]]
        entry["over"] += [r for r in one.over() if r not in entry["over"]]
    report["layers"] = layers
    model.validation_level = ValidationLevel.MINIMAL
    try:
        validate_model(model)
    except nengo.exceptions.BuildError as error:
        report["error"] = str(error)
    return report


def fit_in_worker(block_shapes):
    """:func:`fit` in a worker process where TensorFlow is hidden.

    Raises
    ------
    RuntimeError
        If the worker fails.
    """
    request = json.dumps({name: [int(x) for x in shape] for name, shape in block_shapes.items()})
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "k2l_course.exercises.checks.blockfit"],
            input=request, capture_output=True, text=True, timeout=WORKER_TIMEOUT, env=env,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"building the network took more than {WORKER_TIMEOUT} s") from None
    if done.returncode != 0:
        raise RuntimeError(f"the nengo-loihi build failed: {done.stderr.strip()[-1500:]}")
    return json.loads(done.stdout)


def main():
    """The worker: hide TensorFlow and nengo-dl, read shapes, print the report."""
    sys.modules["tensorflow"] = None  # nengo-loihi then skips its optional nengo-dl support
    sys.modules["nengo_dl"] = None
    import warnings

    warnings.simplefilter("ignore")
    shapes = json.loads(sys.stdin.read())
    print(json.dumps(fit({name: tuple(shape) for name, shape in shapes.items()})))


if __name__ == "__main__":
    main()
