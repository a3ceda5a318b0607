"""Stock vs fast vs batched nengo-loihi emulator, side by side on the course's network.

Usage::

    .venv/bin/python benchmarks/emulator.py [--images 20] [--lanes 100] [--params PATH | --random]

The stock and the fast (per-image) simulators are built from the same deployed
network (the seed notebook's deployment, see
:func:`k2l_course.chip.loihi.seed_deployment`), then run one image (30 steps) at
a time, alternately, so that the load of a shared machine weighs on both
alike. The batched emulator (:mod:`k2l_course.chip.batched`) then runs ``--lanes``
chips side by side, each presenting ``--images`` images in sequence (lane 0
the same images as the others). The script prints seconds per image (wall and
CPU) of each, the ratios, and whether every probe (the output and each layer's
spikes) is bit-identical between stock and fast, and between fast and lane 0
of the batched run; it exits with status 1 if any differs.

Parameters: ``--params`` names a nengo-dl parameter file; by default the
course's newest cached Loihi-trained parameters are used when there are any
(see :func:`trained_params`), else random Glorot weights (times
``emulator.RANDOM_WEIGHT_GAIN``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from k2l_course import stack  # noqa: E402
from k2l_course.files import cache_dir  # noqa: E402

PRESENTATION_STEPS = 30


def trained_params():
    """The newest cached Loihi-trained parameters (scale 100) of the course, or None.

    Looks in the library's cache (:func:`k2l_course.files.cache_dir`: where
    the book keeps them).
    """
    found = list((cache_dir() / "params").glob("loihi-relu-x100-*.npz"))
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
    parser.add_argument("--lanes", type=int, default=100, help="chips side by side in the batched run (default 100)")
    args = parser.parse_args(argv)

    nengo_loihi = stack.nengo_loihi
    from k2l_course.chip import emulator
    from k2l_course.chip import loihi as chip
    from k2l_course.chip.loihi import presentation_predictions
    from k2l_course.pipeline import data

    params = None if args.random else (args.params or trained_params())
    what = f"parameters {params}" if params else f"random weights (gain {emulator.RANDOM_WEIGHT_GAIN:g})"
    mnist = data.load_mnist()
    images, labels = mnist.test_images[: args.images], mnist.test_labels[: args.images]
    deployment = chip.seed_deployment(images, params=params, probe_layers=True)
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

    # The batched emulator: lane 0 presents the same images; the others the next ones.
    from k2l_course.chip.batched import BatchedSimulator

    all_images = mnist.test_images[: args.images * args.lanes]
    if len(all_images) < args.images * args.lanes:
        all_images = np.resize(mnist.test_images, (args.images * args.lanes, 28, 28))
    items = data.to_sequences(all_images, 1)[:, 0, :].reshape(args.lanes, args.images, -1)
    start = time.perf_counter()
    batched = BatchedSimulator(deployment.net, {deployment.converted.input: items}, seed=args.seed)
    build["batched"] = time.perf_counter() - start
    try:
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(args.images):
            batched.run_steps(PRESENTATION_STEPS)
        batched_s = (time.perf_counter() - start) / (args.images * args.lanes)
        batched_cpu = (time.process_time() - cpu) / (args.images * args.lanes)
        lane0 = {probe: values[0] for probe, values in batched.data.items()}
    finally:
        batched.close()

    stock_s, fast_s = (float(np.median(seconds[n])) for n in ("stock", "fast"))
    print(f"build seconds:             stock {build['stock']:.3f}   fast {build['fast']:.3f}   batched {build['batched']:.3f}")
    print(f"seconds per image, median: stock {stock_s:.4f}   fast {fast_s:.4f}")
    print(f"seconds per image, mean:   stock {seconds['stock'].mean():.4f}   fast {seconds['fast'].mean():.4f}")
    print(f"batched, {args.lanes} lanes:        {batched_s:.5f} s per image wall, {batched_cpu:.5f} s CPU")
    print(f"speed-up over stock:       fast {stock_s / fast_s:.1f}x (median)   batched {stock_s / batched_s:.1f}x")
    print(f"spikes per image:          {chip_spikes / args.images:.0f} on chip, {input_spikes / args.images:.0f} from the host")

    bad = emulator.mismatches(probes["stock"], probes["fast"])
    bad_batched = emulator.mismatches(probes["fast"], lane0)
    output = probes["fast"][deployment.converted.output]
    predictions = presentation_predictions(output, PRESENTATION_STEPS)
    accuracy = np.mean(predictions == np.asarray(labels).reshape(-1))
    if bad:
        print(f"MISMATCH: probes differ between stock and fast: {', '.join(bad)}")
        return 1
    if bad_batched:
        print(f"MISMATCH: probes differ between fast and batched lane 0: {', '.join(bad_batched)}")
        return 1
    print(f"identical:                 yes, all {len(probes['stock'])} probes bit for bit (stock, fast, batched lane 0)")
    print(f"accuracy:                  {100 * accuracy:.1f}% on these images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
