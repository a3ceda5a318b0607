"""``k2l chip-eval``: the emulated chip on the whole MNIST test set.

The seed judges the chip on 5 images, which says almost nothing (5/5 is
compatible with a true accuracy of 48%). This runs the deployed network over
all 10,000 test images:

* in **chunks** of consecutive images, each presented one after another as in
  the seed (the chip is not reset between images; each chunk starts from a
  rested chip). ``chunk=1`` gives every image a rested chip of its own;
* **batched**: the default emulator (:mod:`k2l_course.chip.batched`) runs many
  chunks side by side as lanes of the same arrays, bit for bit as the
  per-image emulator runs each chunk on its own;
* in **parallel**, one worker process per core, each deploying the network
  once and then running batch after batch; nengo-dl's evaluation of the same
  images (for the comparison) runs in the same pool, split into one task per
  worker (the split does not change its results), and is cached next to the
  chunks;
* **resumably**: every finished chunk is written to its own file, atomically,
  so an interrupted run picks up where it stopped and a finished one is
  reused;
* **once**: a process asking for a run that another one is computing (the
  book's prefill and a chapter) waits for it, then reads its results;

and reports the accuracy with its 95% interval beside nengo-dl's accuracy with
Loihi neurons on the same images and settings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from k2l_course.chip import loihi
from k2l_course.files import atomic_path, cache_dir, computed_once, source_digest, write_atomic
from k2l_course.pipeline import data, evaluation, training
from k2l_course.pipeline.model import build_seed_model
from k2l_course.quiet import silence
from k2l_course.stats import Accuracy

N_IMAGES = 10_000
CHUNK = 200
#: The most chunks the batched emulator runs side by side in one task.
MAX_LANES = 200
#: Images nengo-dl simulates at once for the comparison (part of its cache key).
NENGO_DL_MINIBATCH = 100
EMULATORS = ("batched", "fast", "stock")


@dataclasses.dataclass
class ChipEval:
    """The result of a whole-test-set chip evaluation.

    Attributes
    ----------
    chip : Accuracy
        The emulated chip.
    nengo_dl : Accuracy
        nengo-dl with Loihi neurons, same parameters, scale, synapse and images.
    agreement : float
        Fraction of images where both predict the same digit.
    predictions : ndarray of int
        The chip's predictions, image by image.
    seconds : float
        Wall time of the chip runs (summed over the runs that produced the chunks).
    seconds_per_image : float
        Per worker: chip seconds divided by images.
    emulator : str
    jobs : int
    """

    chip: Accuracy
    nengo_dl: Accuracy
    agreement: float
    predictions: np.ndarray
    seconds: float
    seconds_per_image: float
    emulator: str
    jobs: int

    def to_dict(self):
        """Plain data for JSON."""
        d = dataclasses.asdict(self)
        d["chip"] = self.chip.to_dict()
        d["nengo_dl"] = self.nengo_dl.to_dict()
        d["predictions"] = self.predictions.tolist()
        return d

    @classmethod
    def from_dict(cls, d):
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["chip"] = Accuracy(d["chip"]["correct"], d["chip"]["n"])
        d["nengo_dl"] = Accuracy(d["nengo_dl"]["correct"], d["nengo_dl"]["n"])
        d["predictions"] = np.asarray(d["predictions"])
        return cls(**d)


def _settings_key(settings):
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]


#: The chip package's modules whose code decides a run's predictions (part of its cache key).
CHIP_CODE = ("loihi.py", "emulator.py", "batched.py", "evaluate.py")


def run_dir(params, n_images, chunk):
    """Where the chunks of one evaluation live.

    Keyed by the parameters, the settings and the code that deploys and
    emulates the network (:data:`CHIP_CODE`, and the conversion's
    :func:`k2l_course.pipeline.evaluation.code_digest`), so a change there
    never reuses chunks computed before it. Every emulator shares the folder:
    they give the same predictions bit for bit.
    """

    code = source_digest(Path(__file__).parent, CHIP_CODE)
    settings = [str(params), n_images, chunk, loihi.CHIP_SCALE, loihi.CHIP_SYNAPSE, loihi.SEED_BLOCK_SHAPES, loihi.PRESENTATION_TIME]
    settings += [evaluation.code_digest(), code]
    return cache_dir() / "chip-eval" / f"{Path(params).name}-{_settings_key(settings)}"


def nengo_dl_path(params, n_images):
    """Where nengo-dl's predictions on the chip's images are kept (shared by every chunk size).

    The key holds the code that computes them (:func:`k2l_course.pipeline.evaluation.code_digest`),
    so a change there never reuses predictions computed before it.
    """

    code = evaluation.code_digest()
    settings = [str(params), n_images, loihi.CHIP_SCALE, loihi.CHIP_SYNAPSE, loihi.PRESENTATION_TIME, f"minibatch {NENGO_DL_MINIBATCH}", code]
    return cache_dir() / "chip-eval" / f"{Path(params).name}-nengo-dl-{_settings_key(settings)}.npz"


# --- worker process -----------------------------------------------------------

_WORKER = {}


def _init_worker(params, emulator):
    import atexit
    import warnings

    silence()
    # nengo-loihi's emulator fills integer state arrays with NaN before setting
    # them; NumPy 1.24 reports that cast, and the values are then overwritten.
    warnings.filterwarnings("ignore", message="invalid value encountered in cast", category=RuntimeWarning)

    mnist = data.load_mnist()
    deployment = loihi.deploy(build_seed_model(), params, mnist.test_images[:1])
    _WORKER.update(mnist=mnist, deployment=deployment, params=params)
    if emulator == "batched":
        from k2l_course.chip.batched import BatchedSimulator

        images = data.to_sequences(mnist.test_images[:1], 1)[:, 0, :]
        _WORKER["batched"] = BatchedSimulator(deployment.net, {deployment.converted.input: images[None]})
        atexit.register(_WORKER["batched"].close)  # while the interpreter is whole, not at its teardown
    else:
        _WORKER["simulator"] = loihi.simulator_class(emulator)


def _save_chunk(out, predictions, start, stop, seconds):
    with atomic_path(out) as temporary:  # concurrent writers never share a temporary file
        np.savez(temporary, predictions=predictions, start=start, stop=stop, seconds=seconds)


def _run_chunk(task):
    start, stop, out = task
    mnist = _WORKER["mnist"]
    deployment = loihi.present(_WORKER["deployment"], mnist.test_images[start:stop])
    result = loihi.run(deployment, simulator=_WORKER["simulator"])
    _save_chunk(out, result.predictions, start, stop, result.seconds)
    return stop - start


def _run_lanes(tasks):
    """Chunks of equal length side by side in the batched emulator, one lane each."""
    begin = time.perf_counter()
    mnist, deployment = _WORKER["mnist"], _WORKER["deployment"]
    n = tasks[0][1] - tasks[0][0]
    items = np.stack([data.to_sequences(mnist.test_images[a:b], 1)[:, 0, :] for a, b, _ in tasks])
    sim = _WORKER["batched"].restart({deployment.converted.input: items})
    steps = int(round(deployment.presentation_time / sim.dt))
    for _ in range(n):
        sim.run_steps(steps)
    output = sim.data[deployment.converted.output]
    seconds = (time.perf_counter() - begin) / len(tasks)
    for lane, (start, stop, out) in enumerate(tasks):
        _save_chunk(out, loihi.presentation_predictions(output[lane], steps), start, stop, seconds)
    return n * len(tasks)


def _nengo_dl_task(task):
    """nengo-dl with Loihi neurons on test images ``start:stop`` with the chip's settings; predictions saved to ``out``."""
    start, stop, out = task
    with computed_once(out):  # the other chunk sizes' runs need the same reference
        if not Path(out).exists():
            mnist = _WORKER["mnist"]
            ref = evaluation.evaluate(
                build_seed_model(),
                _WORKER["params"],
                mnist.test_images[start:stop],
                mnist.test_labels[start:stop],
                neuron="loihi-relu",
                scale_firing_rates=loihi.CHIP_SCALE,
                synapse=loihi.CHIP_SYNAPSE,
                n_steps=int(round(loihi.PRESENTATION_TIME / 0.001)),
                minibatch=NENGO_DL_MINIBATCH,
                layers=False,
            )
            with atomic_path(out) as temporary:
                np.savez(temporary, predictions=ref.predictions)
    return 0


def _nengo_dl_parts(reference, n_images, jobs):
    """nengo-dl's share of the work: one ``(start, stop, path)`` per worker, cut at whole evaluation batches."""
    batch = evaluation.batch_size(NENGO_DL_MINIBATCH)
    step = batch * -(-n_images // (batch * jobs))
    parts = []
    for start in range(0, n_images, step):
        stop = min(start + step, n_images)
        parts.append((start, stop, str(reference.with_name(f"{reference.stem}-{start:05d}-{stop:05d}.npz"))))
    return parts


def _lane_groups(todo, jobs, max_lanes=MAX_LANES):
    """Chunks to run side by side: equal lengths together, about one group per worker or more."""
    by_length = {}
    for task in todo:
        by_length.setdefault(task[1] - task[0], []).append(task)
    groups = []
    for tasks in by_length.values():
        size = max(1, min(max_lanes, -(-len(tasks) // jobs)))
        groups += [tasks[i : i + size] for i in range(0, len(tasks), size)]
    return groups


def _chunk_path(directory, start):
    return Path(directory) / f"chunk-{start:05d}.npz"


def evaluate_chip(n_images=N_IMAGES, chunk=CHUNK, jobs=None, emulator="batched", progress=True, params=None):
    """Run the emulated chip over the first ``n_images`` test images.

    Parameters
    ----------
    n_images : int
    chunk : int
        Images per chunk (the unit of parallel work and of resumption).
    jobs : int, optional
        Worker processes; the number of cores by default.
    emulator : {"batched", "fast", "stock"}
        ``"batched"`` (many chunks side by side) and ``"fast"`` (one chunk at
        a time) give the stock emulator's results bit for bit.
    progress : bool
    params : path-like, optional
        nengo-dl parameters; by default the Loihi-neuron training of the seed.

    Returns
    -------
    ChipEval
    """
    if emulator not in EMULATORS:
        raise ValueError(f"unknown emulator {emulator!r}: choose one of {', '.join(EMULATORS)}")
    mnist = data.load_mnist()
    if not 0 < n_images <= len(mnist.test_images):
        raise ValueError(f"n_images must be between 1 and {len(mnist.test_images)}")
    if params is None:
        params = training.load_or_train(
            training.TrainingConfig(neuron="loihi-relu", scale_firing_rates=100), mnist, progress=progress
        ).params
    if not training.params_file(params).exists():
        raise FileNotFoundError(f"no trained parameters at {training.params_file(params)}")
    directory = run_dir(params, n_images, chunk)
    # A second process asking for the same run (the book's prefill and a
    # chapter) waits for the first, then reads its chunks and summary.
    with computed_once(directory):
        return _evaluate_run(directory, params, mnist, n_images, chunk, jobs, emulator, progress)


def _evaluate_run(directory, params, mnist, n_images, chunk, jobs, emulator, progress):
    """:func:`evaluate_chip` once its run folder is locked: the chunks still missing, then the summary."""
    from tqdm.auto import tqdm

    directory.mkdir(parents=True, exist_ok=True)
    summary_path = directory / f"summary-{emulator}.json"
    if summary_path.exists():
        return ChipEval.from_dict(json.loads(summary_path.read_text()))

    starts = range(0, n_images, chunk)
    todo = [(s, min(s + chunk, n_images), str(_chunk_path(directory, s))) for s in starts]
    todo = [t for t in todo if not Path(t[2]).exists()]
    reference = nengo_dl_path(params, n_images)
    jobs = jobs or os.cpu_count() or 1
    done = n_images - sum(stop - start for start, stop, _ in todo)
    with tqdm(total=n_images, initial=done, desc=f"chip ({emulator} emulator, {jobs} jobs)", unit="image", disable=not progress) as bar:
        parts = [] if reference.exists() else _nengo_dl_parts(reference, n_images, jobs)
        if todo or parts:
            work = [(_nengo_dl_task, part) for part in parts]  # first: the longest tasks
            if emulator == "batched":
                work += [(_run_lanes, group) for group in _lane_groups(todo, jobs)]
            else:
                work += [(_run_chunk, task) for task in todo]
            # A spawned pool: TensorFlow must not be forked. Unlike
            # multiprocessing.Pool, the executor fails (BrokenProcessPool)
            # instead of hanging when a worker cannot start.
            with ProcessPoolExecutor(
                min(jobs, len(work)),
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(str(params), emulator),
            ) as pool:
                for future in as_completed([pool.submit(f, task) for f, task in work]):
                    bar.update(future.result())
        if parts:
            with atomic_path(reference) as temporary:
                np.savez(temporary, predictions=np.concatenate([np.load(path)["predictions"] for _, _, path in parts]))

    chunks = [np.load(_chunk_path(directory, s)) for s in starts]
    predictions = np.concatenate([c["predictions"] for c in chunks])
    chip_seconds = float(sum(float(c["seconds"]) for c in chunks))
    labels = mnist.test_labels[:n_images]
    with np.load(reference) as f:
        reference_predictions = f["predictions"]

    result = ChipEval(
        chip=Accuracy.from_predictions(predictions, labels),
        nengo_dl=Accuracy.from_predictions(reference_predictions, labels),
        agreement=float(np.mean(predictions == reference_predictions)),
        predictions=predictions,
        seconds=chip_seconds,
        seconds_per_image=chip_seconds / n_images,
        emulator=emulator,
        jobs=jobs,
    )
    write_atomic(summary_path, json.dumps(result.to_dict()))
    return result


def add_arguments(parser):
    """Options of ``k2l chip-eval``."""
    parser.add_argument("--n", type=int, default=N_IMAGES, help=f"test images (default all {N_IMAGES})")
    parser.add_argument("--chunk", type=int, default=CHUNK, help=f"images per chunk of work (default {CHUNK})")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: one per core)")
    parser.add_argument(
        "--emulator",
        choices=EMULATORS,
        default="batched",
        help="emulator (default batched: many chunks side by side; fast: one chunk at a time; stock: nengo-loihi's, the reference)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the result as JSON here")
    parser.add_argument("--no-progress", action="store_true")


def run(args):
    """Run ``k2l chip-eval``."""
    start = time.perf_counter()
    result = evaluate_chip(args.n, args.chunk, args.jobs, args.emulator, progress=not args.no_progress)
    print(f"emulated chip ({result.emulator} emulator): {result.chip}")
    print(f"nengo-dl, Loihi neurons, same images:  {result.nengo_dl}")
    print(f"agreement between the two: {100 * result.agreement:.2f}% of images")
    print(
        f"chip time {result.seconds:.0f} s over {result.jobs} jobs ({result.seconds_per_image * 1000:.1f} ms per image per job); "
        f"this call took {time.perf_counter() - start:.0f} s"
    )
    if args.json:
        args.json.write_text(json.dumps(result.to_dict(), indent=2))
    return 0
