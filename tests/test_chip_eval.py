"""The whole-test-set chip evaluation: parallel, resumable, reported with its interval."""

import numpy as np
import pytest

from k2l_course.chip import evaluate as chip_eval
from k2l_course.pipeline import training

pytestmark = pytest.mark.slow  # whole chip-eval runs, in minutes


def test_chip_eval_runs_in_parallel_and_resumes(small_loihi, private_cache):
    first = chip_eval.evaluate_chip(n_images=40, chunk=10, jobs=2, params=small_loihi.params, progress=False)
    assert first.chip.n == 40 and first.nengo_dl.n == 40
    assert first.predictions.shape == (40,)
    assert first.chip.interval[0] > 0.1  # above chance
    assert 0 <= first.agreement <= 1

    directory = chip_eval.run_dir(small_loihi.params, 40, 10)
    chunks = sorted(directory.glob("chunk-*.npz"))
    assert len(chunks) == 4
    # A finished evaluation is reused as it is.
    again = chip_eval.evaluate_chip(n_images=40, chunk=10, jobs=2, params=small_loihi.params, progress=False)
    assert np.array_equal(again.predictions, first.predictions)

    # An interrupted one redoes only the missing chunk, with the same result.
    for summary in directory.glob("summary-*.json"):
        summary.unlink()
    kept = {p: p.stat().st_mtime_ns for p in chunks[:3]}
    chunks[3].unlink()
    resumed = chip_eval.evaluate_chip(n_images=40, chunk=10, jobs=1, params=small_loihi.params, progress=False)
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())
    assert chunks[3].exists()
    assert np.array_equal(resumed.predictions, first.predictions)


def test_missing_parameters_fail_at_once(tmp_path):
    import pytest

    with pytest.raises(FileNotFoundError, match="no trained parameters"):
        chip_eval.evaluate_chip(n_images=10, chunk=5, params=tmp_path / "nothing", progress=False)


def test_a_worker_that_cannot_start_fails_the_run_instead_of_hanging(small_loihi, tmp_path, monkeypatch):
    import shutil
    from concurrent.futures.process import BrokenProcessPool

    import pytest

    # Parameters that exist but cannot be loaded: every worker fails while starting.
    broken = tmp_path / "broken"
    shutil.copy(training.params_file(small_loihi.params), training.params_file(broken))
    with open(training.params_file(broken), "r+b") as f:
        f.truncate(100)
    with pytest.raises(BrokenProcessPool):
        chip_eval.evaluate_chip(n_images=4, chunk=2, jobs=2, params=broken, progress=False)



def test_batched_and_per_image_emulators_predict_the_same_in_both_protocols(small_loihi, private_cache):
    import json

    for chunk in (3, 1):  # images in sequence (chunks of 3), and a rested chip per image
        fast = chip_eval.evaluate_chip(n_images=6, chunk=chunk, jobs=2, emulator="fast", params=small_loihi.params, progress=False)
        for path in chip_eval.run_dir(small_loihi.params, 6, chunk).glob("*"):
            path.unlink()  # drop the chunks: the batched run computes them again
        batched = chip_eval.evaluate_chip(n_images=6, chunk=chunk, jobs=2, params=small_loihi.params, progress=False)
        assert batched.emulator == "batched" and fast.emulator == "fast"
        assert np.array_equal(batched.predictions, fast.predictions)
        assert batched.nengo_dl == fast.nengo_dl
        # --json writes this record: the predictions image by image, and the emulation time per image per worker
        record = json.loads(json.dumps(batched.to_dict()))
        assert record["seconds_per_image"] > 0 and record["jobs"] == 2
        assert record["predictions"] == batched.predictions.tolist() and record["chip"]["n"] == 6


def test_nengo_dls_reference_split_between_workers_equals_one_evaluation(small_loihi, mnist):
    from pathlib import Path

    from k2l_course.chip import loihi
    from k2l_course.pipeline import evaluation
    from k2l_course.pipeline.model import build_seed_model

    def outputs(start, stop):
        return evaluation.evaluate(
            build_seed_model(), small_loihi.params, mnist.test_images[start:stop], mnist.test_labels[start:stop],
            neuron="loihi-relu", scale_firing_rates=loihi.CHIP_SCALE, synapse=loihi.CHIP_SYNAPSE,
            minibatch=chip_eval.NENGO_DL_MINIBATCH, layers=False, n_keep=stop - start,
        ).output  # fmt: skip

    parts = chip_eval._nengo_dl_parts(Path("reference.npz"), 401, jobs=2)
    assert [(start, stop) for start, stop, _ in parts] == [(0, 400), (400, 401)]  # cut at whole batches of 200
    assert len({path for _, _, path in parts}) == 2
    halves = chip_eval._nengo_dl_parts(Path("reference.npz"), 400, jobs=2)
    assert [(start, stop) for start, stop, _ in halves] == [(0, 200), (200, 400)]
    # Each part starts from the seeded initial state, as every batch of one evaluation does.
    assert np.array_equal(np.concatenate([outputs(start, stop) for start, stop, _ in halves]), outputs(0, 400))


@pytest.mark.parametrize("module", ["evaluation.py", "conversion.py"])
def test_nengo_dls_cached_predictions_are_keyed_by_the_code_that_computes_them(module, tmp_path, edited_package):
    from k2l_course.pipeline import evaluation

    params = tmp_path / "params"
    before = chip_eval.nengo_dl_path(params, 100)
    edited_package(evaluation, module)
    assert chip_eval.nengo_dl_path(params, 100) != before


@pytest.mark.parametrize("module", ["batched.py", "loihi.py"])
def test_chip_runs_are_keyed_by_the_code_that_computes_them(module, tmp_path, edited_package):
    params = tmp_path / "params"
    before = chip_eval.run_dir(params, 100, 10)
    edited_package(chip_eval, module)
    assert chip_eval.run_dir(params, 100, 10) != before
