"""The whole-test-set chip evaluation: parallel, resumable, reported with its interval."""

import numpy as np

from k2l_course import chip_eval


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
