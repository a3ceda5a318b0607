"""The book's machinery, without building it: the execution-cache key, the
``k2l book`` command, the chapters' sources, the figures and the rate
regularization the training chapter uses.

The full build and the rendered pages are tested in ``test_site.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import runpy
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from jupyter_cache.cache.db import DB_NAME

from k2l_course.exercises import checks
from k2l_course.site import book
from processes import alive

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "book").glob("*.md"))
EXERCISES = checks.EXERCISES


@pytest.fixture(autouse=True)
def own_execution_cache(tmp_path, monkeypatch):
    """No test here touches the checkout's executed chapters."""
    monkeypatch.setenv("K2L_JUPYTER_CACHE", str(tmp_path / "executed"))


# -- the execution cache cannot publish stale outputs -------------------------------


@pytest.fixture()
def repo_copy(tmp_path):
    """A copy of what the cache key reads: the package and the lock file."""
    shutil.copytree(ROOT / "k2l_course", tmp_path / "k2l_course", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "requirements").mkdir()
    shutil.copy(ROOT / "requirements" / "lock.txt", tmp_path / "requirements" / "lock.txt")
    shutil.copytree(ROOT / "book", tmp_path / "book", ignore=shutil.ignore_patterns("_static"))
    return tmp_path


def test_the_cache_key_is_stable_for_unchanged_sources(repo_copy):
    assert book.execution_cache_key(repo_copy) == book.execution_cache_key(repo_copy)
    assert re.fullmatch(r"[0-9a-f]{16}", book.execution_cache_key(repo_copy))


def test_a_change_in_the_library_changes_the_cache_key(repo_copy):
    before = book.execution_cache_key(repo_copy)
    rates = repo_copy / "k2l_course" / "pipeline" / "rates.py"
    rates.write_text(rates.read_text().replace("TARGET_RATE = 200.0", "TARGET_RATE = 150.0"))
    assert book.execution_cache_key(repo_copy) != before


def test_a_change_in_a_module_the_chapters_reach_only_indirectly_changes_the_key(repo_copy):
    # no chapter imports k2l_course.chip.emulator; k2l_course.chip.loihi does
    before = book.execution_cache_key(repo_copy)
    emulator = repo_copy / "k2l_course" / "chip" / "emulator.py"
    emulator.write_text(emulator.read_text() + "\n# changed\n")
    assert book.execution_cache_key(repo_copy) != before


def test_a_new_module_counts_once_a_chapter_module_imports_it(repo_copy):
    before = book.execution_cache_key(repo_copy)
    (repo_copy / "k2l_course" / "newmodule.py").write_text("X = 1\n")
    assert book.execution_cache_key(repo_copy) == before, "a module nothing imports changed the key"
    rates = repo_copy / "k2l_course" / "pipeline" / "rates.py"
    rates.write_text(rates.read_text() + "\n\ndef _helper():\n    from k2l_course import newmodule\n")
    with_import = book.execution_cache_key(repo_copy)
    assert with_import != before
    (repo_copy / "k2l_course" / "newmodule.py").write_text("X = 2\n")
    assert book.execution_cache_key(repo_copy) != with_import


def test_modules_the_chapters_never_reach_do_not_change_the_key(repo_copy):
    # working on the grader or the command line does not re-execute the book
    before = book.execution_cache_key(repo_copy)
    for name in ("cli.py", "site/book.py"):
        path = repo_copy / "k2l_course" / name
        path.write_text(path.read_text() + "\n# changed\n")
    assert book.execution_cache_key(repo_copy) == before
    assert {"k2l_course.pipeline.evaluation", "k2l_course.site.plots", "k2l_course.stats"} <= book.chapter_modules(repo_copy)
    assert "k2l_course.cli" not in book.chapter_modules(repo_copy)


def test_a_chapter_that_does_not_parse_makes_every_module_count(repo_copy):
    chapter = repo_copy / "book" / "02-activation.md"
    chapter.write_text(chapter.read_text() + "\n```{code-cell} ipython3\nthis is not python(\n```\n")
    assert "k2l_course.cli" in book.chapter_modules(repo_copy)


def test_a_change_in_the_locked_environment_changes_the_cache_key(repo_copy):
    before = book.execution_cache_key(repo_copy)
    with open(repo_copy / "requirements" / "lock.txt", "a") as f:
        f.write("\n# another pin\n")
    assert book.execution_cache_key(repo_copy) != before


def test_byte_code_and_prose_do_not_change_the_cache_key(repo_copy):
    # a changed chapter re-executes through jupyter-cache's own key (its code cells)
    before = book.execution_cache_key(repo_copy)
    (repo_copy / "k2l_course" / "pipeline" / "__pycache__").mkdir(exist_ok=True)
    (repo_copy / "k2l_course" / "pipeline" / "__pycache__" / "rates.cpython-311.pyc").write_bytes(b"\0junk")
    chapter = repo_copy / "book" / "02-activation.md"
    chapter.write_text(chapter.read_text().replace("This chapter explains why", "This chapter shows why"))
    assert book.execution_cache_key(repo_copy) == before


def test_the_cache_path_follows_the_key_and_drops_stale_caches(repo_copy, monkeypatch):
    monkeypatch.delenv("K2L_JUPYTER_CACHE", raising=False)
    stale = repo_copy / "_build" / ".jupyter_cache" / "0123456789abcdef"
    stale.mkdir(parents=True)
    unrelated = repo_copy / "_build" / ".jupyter_cache" / "notes"
    unrelated.mkdir()
    path = book.execution_cache_path(repo_copy)
    assert path.name == book.execution_cache_key(repo_copy)
    assert path.parent == repo_copy / "_build" / ".jupyter_cache"
    assert not stale.exists(), "a cache of other sources survived"
    assert unrelated.exists(), "a directory that is not a cache was removed"


def test_the_cache_can_live_elsewhere_under_the_same_key(repo_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("K2L_JUPYTER_CACHE", str(tmp_path / "elsewhere"))
    assert book.execution_cache_path(repo_copy) == tmp_path / "elsewhere" / book.execution_cache_key(repo_copy)


def test_conf_py_executes_from_the_keyed_cache():
    conf = runpy.run_path(str(ROOT / "conf.py"))
    assert Path(conf["nb_execution_cache_path"]).name == book.execution_cache_key(ROOT)
    assert conf["nb_execution_mode"] == "cache"
    assert conf["nb_execution_raise_on_error"] is True
    assert 60 <= conf["nb_execution_timeout"] <= 3600
    assert conf["nb_ipywidgets_js"] == {}, "the widget manager would be loaded from a CDN"


# -- k2l book ---------------------------------------------------------------------


def parse(*argv):
    parser = argparse.ArgumentParser()
    book.add_arguments(parser)
    return parser.parse_args(argv)


def test_book_command_defaults_to_a_strict_student_build():
    args = parse()
    assert args.strict is True and args.solutions is False and args.output is None
    assert parse("--no-strict").strict is False


def test_strict_builds_turn_warnings_into_errors(tmp_path):
    cmd = book.sphinx_command(tmp_path / "html", strict=True)
    assert "-W" in cmd and "--keep-going" in cmd
    assert "-W" not in book.sphinx_command(tmp_path / "html", strict=False)


def test_sphinx_executes_the_chapters_on_every_core(tmp_path, monkeypatch):
    monkeypatch.setattr(book.os, "cpu_count", lambda: 6)
    cmd = book.sphinx_command(tmp_path / "html")
    assert cmd[cmd.index("-j") + 1] == "6"
    cmd = book.sphinx_command(tmp_path / "html", jobs=1)
    assert cmd[cmd.index("-j") + 1] == "1"


def test_the_instructor_build_sets_the_solutions_tag(tmp_path):
    cmd = book.sphinx_command(tmp_path / "html", solutions=True)
    assert cmd[cmd.index("-t") + 1] == book.SOLUTIONS_TAG
    assert "-t" not in book.sphinx_command(tmp_path / "html")


def test_the_build_reads_book_with_the_root_configuration(tmp_path):
    cmd = book.sphinx_command(tmp_path / "out", root=ROOT)
    assert cmd[cmd.index("-c") + 1] == str(ROOT)
    assert str(ROOT / "book") in cmd and str(tmp_path / "out") in cmd


def test_k2l_cache_defaults_to_the_repository_but_is_never_overridden():
    assert book.build_environment({})["K2L_CACHE"] == str(ROOT / ".k2l")
    assert book.build_environment({"K2L_CACHE": "/elsewhere"})["K2L_CACHE"] == "/elsewhere"


@pytest.fixture()
def prefill(monkeypatch):
    """The prefill process ``k2l book`` starts: a stand-in, ``exit 0`` unless a test says otherwise.

    ``prefill.commands`` lists the commands the build asked for;
    ``prefill.stand_in`` is the command run instead (list of str).
    """
    real_popen = subprocess.Popen

    def start(cmd, **kwargs):
        start.commands.append(cmd)
        start.started.append(real_popen(start.stand_in, **kwargs))
        return start.started[-1]

    start.commands, start.started = [], []
    start.stand_in = [sys.executable, "-c", "pass"]
    monkeypatch.setattr(book.subprocess, "Popen", start)
    return start


def test_a_failed_build_exits_non_zero_and_says_so(monkeypatch, tmp_path, capsys, prefill):
    calls = []

    def failing_sphinx(cmd, **kwargs):
        calls.append((cmd, kwargs))
        return subprocess.CompletedProcess(cmd, 2)

    monkeypatch.setattr(book.subprocess, "run", failing_sphinx)
    status = book.run(parse("--output", str(tmp_path / "site")))
    assert status == 2
    assert "FAILED" in capsys.readouterr().out
    ((_, kwargs),) = calls
    assert kwargs["env"]["K2L_CACHE"]


def test_a_successful_build_prints_where_to_open_the_site(monkeypatch, tmp_path, capsys, prefill):
    monkeypatch.setattr(book.subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(cmd, 0))
    assert book.run(parse("--output", str(tmp_path / "site"))) == 0
    assert (tmp_path / "site" / "index.html").as_uri() in capsys.readouterr().out


def test_the_caches_are_filled_beside_the_chapters(monkeypatch, tmp_path, prefill):
    sphinx_runs = []

    def sphinx(cmd, **kwargs):
        # The prefill was started first, and is still needed while the chapters run.
        sphinx_runs.append((list(prefill.commands), prefill.started[-1].returncode if prefill.started else None))
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(book.subprocess, "run", sphinx)
    assert book.run(parse("--output", str(tmp_path / "site"))) == 0
    ((started, _),) = sphinx_runs
    assert len(started) == 1 and "book.prefill(jobs=None)" in started[0][-1]
    assert prefill.started[0].returncode == 0, "the build did not wait for the prefill"

    sphinx_runs.clear()
    assert book.run(parse("--output", str(tmp_path / "site"), "--prefill-jobs", "0")) == 0
    assert len(sphinx_runs) == 1 and len(prefill.commands) == 1, "--prefill-jobs 0 still started a prefill"


def test_a_failed_prefill_fails_the_build(monkeypatch, tmp_path, capsys, prefill):
    prefill.stand_in = [sys.executable, "-c", "raise SystemExit(3)"]
    monkeypatch.setattr(book.subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(cmd, 0))
    assert book.run(parse("--output", str(tmp_path / "site"))) == 3
    assert "filling the caches FAILED" in capsys.readouterr().out


def test_a_failed_build_stops_the_prefill_and_its_workers(monkeypatch, tmp_path, prefill):
    pid_file = tmp_path / "worker.pid"
    # A prefill whose worker (a grandchild) would otherwise compute for ten minutes.
    prefill.stand_in = [
        sys.executable,
        "-c",
        "import subprocess, sys; worker = subprocess.Popen(['sleep', '600']); "
        f"open({str(pid_file)!r}, 'w').write(str(worker.pid)); worker.wait()",
    ]

    def failing_sphinx(cmd, **kwargs):
        while not pid_file.exists() or not pid_file.read_text():  # the worker has started
            assert prefill.started[0].poll() is None, "the stand-in prefill ended early"
            time.sleep(0.05)
        return subprocess.CompletedProcess(cmd, 2)

    monkeypatch.setattr(book.subprocess, "run", failing_sphinx)
    assert book.run(parse("--output", str(tmp_path / "site"))) == 2
    assert prefill.started[0].returncode == -signal.SIGTERM
    worker = int(pid_file.read_text())
    for _ in range(1200):  # a killed process is gone, or a zombie, within moments
        if not alive(worker):
            break
        time.sleep(0.05)
    assert not alive(worker), "the prefill's worker survived the failed build"


def test_the_execution_cache_exists_before_sphinx_starts_chapters_in_parallel(monkeypatch, tmp_path):
    # Two chapters starting at once on an empty cache would both create its tables.
    seen = []

    def sphinx(cmd, **kwargs):
        database = book.execution_cache_path(prune=False) / DB_NAME
        with contextlib.closing(sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)) as db:
            seen.append([name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")])
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(book.subprocess, "run", sphinx)
    assert book.run(parse("--output", str(tmp_path / "site"), "--prefill-jobs", "0")) == 0
    (tables,) = seen
    assert {"nbcache", "nbproject", "settings"} <= set(tables)


def test_the_prefill_covers_the_trainings_the_chapters_share():
    from k2l_course.pipeline import regularization, training

    trainings, chip_runs = book.prefill_tasks()
    assert trainings[0] == training.TrainingConfig(neuron="loihi-relu", scale_firing_rates=100)
    assert training.TrainingConfig(neuron="relu") in trainings
    assert regularization.RegularizationConfig().training_config() in trainings
    assert len(set(trainings)) == len(trainings), "a training would run twice, concurrently"
    assert {"chunk": 1} in chip_runs and {} in chip_runs


# -- the chapters' sources --------------------------------------------------------


def read_chapters():
    return {p.stem: p.read_text() for p in CHAPTERS}


def test_every_chapter_is_an_executable_notebook():
    for name, text in read_chapters().items():
        assert text.startswith("---\njupytext:"), f"{name}: no jupytext header"
        assert "kernelspec:" in text.split("---", 2)[1], f"{name}: no kernelspec"
        assert "```{code-cell} ipython3" in text, f"{name}: no code cell"


def test_chapters_link_their_exercise_and_hint_in_dropdowns():
    chapters = read_chapters()
    for exercise in EXERCISES:
        number = exercise[2]
        (name,) = [n for n in chapters if n.startswith(f"0{number}-")]
        text = chapters[name]
        for suffix in (".ipynb", ".py"):
            assert f"<../exercises/{exercise}{suffix}>" in text, f"{name} does not link {exercise}{suffix}"
        assert "```{dropdown} Hint" in text, f"{name}: no hint"
        assert f"../solutions/{exercise}.py" in text and ":::{only} solutions" in text, f"{name}: no solution block"
        assert (ROOT / "exercises" / f"{exercise}.ipynb").exists()


def test_no_measured_number_is_typed_into_a_sentence_that_glue_should_fill():
    # Accuracies are always glued: a "NN.N%" typed into prose would go stale.
    for name, text in read_chapters().items():
        prose = re.sub(r"```.*?```", "", text, flags=re.S)  # code cells and blocks
        typed = re.findall(r"(?<![\w.`{])\d{1,3}\.\d%", prose)
        assert not typed, f"{name}: accuracies typed by hand: {typed}"


def test_every_displayed_figure_has_alt_text():
    for name, text in read_chapters().items():
        for cell in re.findall(r"```\{code-cell\} ipython3\n(.*?)```", text, flags=re.S):
            shows_figure = re.search(r"^fig\w*\s*$", cell.strip().splitlines()[-1]) if cell.strip() else None
            if shows_figure:
                assert "alt:" in cell, f"{name}: a figure cell without alt text:\n{cell[:200]}"
        for block in re.findall(r"```\{glue:figure\}.*?```", text, flags=re.S):
            assert ":alt:" in block, f"{name}: a glued figure without alt text"


# -- figures ----------------------------------------------------------------------


def test_figures_have_a_white_background_and_labelled_axes():
    from k2l_course.site import plots

    x = np.linspace(-10, 1100, 200)
    figures = [
        plots.activation_profiles([("ReLU", x, {"a": np.maximum(x, 0), "b": np.minimum(np.maximum(x, 0), 1000)})]),
        plots.discretized_rates(x[x > 0], x[x > 0], np.minimum(x[x > 0], 1000)),
        plots.layer_rates({"one": {"to-spikes": 100, "conv0": 50, "conv1": 20, "dense0": 0}}, target=200),
        plots.sample_digits(np.zeros((3, 28, 28), np.uint8), np.array([1, 2, 3])),
    ]
    for fig in figures:
        assert fig.get_facecolor()[:3] == (1.0, 1.0, 1.0)
        for ax in fig.axes:
            if ax.axison:
                assert ax.get_xlabel() and ax.get_ylabel(), f"unlabelled axes in {ax.get_title()!r}"


def test_softmax_rows_are_probabilities():
    from k2l_course.site.plots import softmax

    p = softmax(np.array([[1000.0, 0.0], [1.0, 1.0]]))
    np.testing.assert_allclose(p.sum(axis=-1), 1.0)
    np.testing.assert_allclose(p[1], [0.5, 0.5])
    assert np.isfinite(p).all()


# -- firing-rate regularization --------------------------------------------------


def test_the_rate_penalty_is_zero_inside_the_range_and_quadratic_outside():
    from k2l_course.pipeline.losses import range_penalty

    inside = np.array([[0.0, 150.0, 250.0], [0.0, 200.0, 0.0]])  # mean active rate 200
    assert range_penalty(inside, 150, 250) == 0.0
    assert range_penalty(inside * 0.5, 150, 250) == pytest.approx(50.0**2)  # mean 100: 50 Hz short
    assert range_penalty(inside * 2, 150, 250) == pytest.approx(150.0**2)  # mean 400: 150 Hz over
    assert range_penalty(np.zeros((2, 3)), 150, 250) == pytest.approx(150.0**2)  # silent layer


def test_the_training_loss_matches_the_numpy_penalty():
    from k2l_course.pipeline.losses import range_penalty, rate_range_loss

    rng = np.random.default_rng(0)
    for scale in (0.3, 1.0, 3.0):
        rates = np.maximum(rng.normal(150, 100, size=(20, 1, 50)), 0) * scale
        amplitude = 0.01
        loss = rate_range_loss(150, 250, amplitude=amplitude)
        got = float(loss(np.zeros((20, 1, 1), np.float32), (rates * amplitude).astype(np.float32)))
        assert got == pytest.approx(range_penalty(rates, 150, 250), rel=1e-4)


def test_rate_landing_reports_the_share_of_rates_in_and_above_the_range():
    from k2l_course.pipeline.regularization import rate_landing

    # 2 examples, 3 neurons: rates 100, 300 and a silent neuron
    rates = np.array([[100.0, 300.0, 0.0], [100.0, 300.0, 0.0]])
    landing = rate_landing({"conv0": rates}, low=150, high=250)["conv0"]
    assert landing["mean"] == pytest.approx(200.0)
    assert landing["above"] == pytest.approx(50.0)
    assert landing["within"] == pytest.approx(0.0)


def test_bad_regularization_settings_are_refused():
    from k2l_course.pipeline.regularization import RegularizationConfig

    with pytest.raises(ValueError, match="low < high"):
        RegularizationConfig(low=300, high=200)
    with pytest.raises(ValueError, match="unknown layers"):
        RegularizationConfig(layers=("conv9",))
