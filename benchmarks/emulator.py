"""Stock vs fast nengo-loihi emulator, side by side on the course's network.

Usage::

    .venv/bin/python benchmarks/emulator.py [--images 20] [--params PATH | --random]

Both simulators are built from the same deployed network (the seed notebook's
deployment, see :func:`k2l_course.emulator.seed_deployment`), then run one
image (30 steps) at a time, alternately, so that the load of a shared machine
weighs on both alike. The script prints the median seconds per image of each,
their ratio, and whether every probe (the output and each layer's spikes) is
bit-identical; it exits with status 1 if any differs.

Parameters: ``--params`` names a nengo-dl parameter file; by default the
course's newest cached Loihi-trained parameters are used when there are any
(see :func:`trained_params`), else random Glorot weights (times
``emulator.RANDOM_WEIGHT_GAIN``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from k2l_course.stack import import_stack  # noqa: E402

PRESENTATION_STEPS = 30


def trained_params():
    """The newest cached Loihi-trained parameters (scale 100) of the course, or None.

    Looks in ``$K2L_CACHE``, ``~/.cache/k2l`` and the repository's ``.k2l``
    (where the book keeps them).
    """
    roots = [os.environ.get("K2L_CACHE"), Path.home() / ".cache" / "k2l", REPO / ".k2l"]
    found = [p for root in roots if root for p in (Path(root) / "params").glob("loihi-relu-x100-*.npz")]
    if not found:
        return None
    newest = max(found, key=lambda p: p.stat().st_mtime)
    return newest.with_name(newest.name[: -len(".npz")])


def time_images(simulators, n_images, dt):
    """Run all simulators one image at a time, alternately.

    Returns
    -------
    dict of str -> ndarray, shape (n_images,)
        Wall seconds of each image, per simulator name.
    """
    seconds = {name: np.zeros(n_images) for name in simulators}
    for i in range(n_images):
        for name, sim in simulators.items():
            start = time.perf_counter()
            sim.run_steps(PRESENTATION_STEPS)
            seconds[name][i] = time.perf_counter() - start
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20, help="images to present (default 20)")
    parser.add_argument("--params", type=Path, help="nengo-dl parameter file (without .npz)")
    parser.add_argument("--random", action="store_true", help="random weights even if trained ones exist")
    parser.add_argument("--seed", type=int, default=0, help="emulator seed (default 0)")
    args = parser.parse_args(argv)

    _, _, _, nengo_loihi = import_stack()
    from k2l_course import data, emulator
    from k2l_course.chip import presentation_predictions

    params = None if args.random else (args.params or trained_params())
    what = f"parameters {params}" if params else f"random weights (gain {emulator.RANDOM_WEIGHT_GAIN:g})"
    mnist = data.load_mnist()
    images, labels = mnist.test_images[: args.images], mnist.test_labels[: args.images]
    deployment = emulator.seed_deployment(images, params=params, probe_layers=True)
    print(f"emulator benchmark: {args.images} MNIST test images, {what}")

    simulators, build = {}, {}
    for name, cls in (("stock", nengo_loihi.Simulator), ("fast", emulator.Simulator)):
        start = time.perf_counter()
        simulators[name] = cls(deployment.net, seed=args.seed, progress_bar=False)
        build[name] = time.perf_counter() - start
    try:
        seconds = time_images(simulators, args.images, simulators["stock"].dt)
        probes = {name: emulator.probe_data(sim) for name, sim in simulators.items()}
        fast_emu = simulators["fast"].emulator
        chip_spikes = int(fast_emu.compartment.spike_count.sum())
        input_spikes = int(sum(c.sum() for c in fast_emu.synapses.input_spike_counts.values()))
    finally:
        for sim in simulators.values():
            sim.close()

    stock_s, fast_s = (float(np.median(seconds[n])) for n in ("stock", "fast"))
    print(f"build seconds:             stock {build['stock']:.3f}   fast {build['fast']:.3f}")
    print(f"seconds per image, median: stock {stock_s:.4f}   fast {fast_s:.4f}")
    print(f"seconds per image, mean:   stock {seconds['stock'].mean():.4f}   fast {seconds['fast'].mean():.4f}")
    print(f"speed-up (median):         {stock_s / fast_s:.1f}x")
    print(f"spikes per image:          {chip_spikes / args.images:.0f} on chip, {input_spikes / args.images:.0f} from the host")

    bad = emulator.mismatches(probes["stock"], probes["fast"])
    output = probes["fast"][deployment.converted.output]
    predictions = presentation_predictions(output, PRESENTATION_STEPS)
    accuracy = np.mean(predictions == np.asarray(labels).reshape(-1))
    if bad:
        print(f"MISMATCH: probes differ between stock and fast: {', '.join(bad)}")
        return 1
    print(f"identical:                 yes, all {len(probes['stock'])} probes bit for bit")
    print(f"accuracy:                  {100 * accuracy:.1f}% on these images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
