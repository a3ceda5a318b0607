"""A small stand-in for the course's checks, and a generated class to grade.

The grader's own tests and benchmark use these so they do not depend on the
exercises' exact items: two exercises in the format of
:mod:`k2l_course.exercises.checks` (items with cases and a judge), one hidden check,
and :func:`make_class`, which writes a class of submissions (correct, partly
wrong, and one of each kind of bad behaviour) and returns the exact score
each must get.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

EXERCISES = ("ch1_conversion", "ch2_activation")


@dataclass(frozen=True)
class Verdict:
    score: float
    message: str


@dataclass(frozen=True)
class Item:
    """An item in the format of ``k2l_course.exercises.checks.Item`` (the issue 9 contract)."""

    exercise: str
    name: str
    function: str
    points: float
    cases: Callable  # cases(rng=None): the public cases, or fresh ones drawn with rng
    judge: Callable  # judge(outcomes, cases) -> Verdict
    hidden: bool = False

    @property
    def id(self):
        return f"{self.exercise}.{self.name}"

    def verdict(self, outcomes, cases):
        """Judge the outcomes of ``cases``; never raises."""
        try:
            return self.judge(list(outcomes), list(cases))
        except Exception as error:
            return Verdict(0.0, f"the check {self.id} failed ({type(error).__name__})")


def _rng(rng):
    return np.random.default_rng(0) if rng is None else rng


def _images(rng=None):
    sizes = (3, 5) if rng is None else rng.integers(2, 7, size=2)
    rng = _rng(rng)
    return [{"images": rng.integers(0, 256, size=(int(n), 28, 28), dtype=np.uint8)} for n in sizes]


def _rate(current, dt):
    j = np.asarray(current, dtype=np.float64)
    out = np.zeros_like(j)
    out[j > 0] = 1.0 / (dt * np.ceil(1.0 / (j[j > 0] * dt)))
    return out


def _per_case(points, expected):
    """A judge giving ``points / n`` per case whose value equals ``expected(kwargs)``."""

    def judge(outcomes, cases):
        share = points / len(cases)
        score, problems = 0.0, []
        for outcome, kwargs in zip(outcomes, cases):
            if not outcome.ok:
                problems.append(outcome.error)
                continue
            value, want = outcome.value, expected(**kwargs)
            if type(value) is not np.ndarray or value.shape != want.shape or value.dtype.kind != "f":
                problems.append(f"expected a float array of shape {want.shape}")
            elif not np.allclose(value, want):
                problems.append("wrong values")
            else:
                score += share
        return Verdict(score, "; ".join(problems) or "correct")

    return judge


def _item(exercise, name, function, points, cases, expected, hidden=False):
    return Item(exercise, name, function, points, cases, _per_case(points, expected), hidden)


def _tile_cases(rng=None):
    steps = (2, 4) if rng is None else rng.integers(1, 6, size=2)
    return [dict(case, n_steps=int(n)) for case, n in zip(_images(rng), steps)]


def _rate_cases(rng=None):
    """Currents across the cap, and currents whose rate is exactly the current (dt = 2 ms)."""
    if rng is None:
        return [{"current": np.linspace(-100, 2500, 53), "dt": 0.001},
                {"current": np.array([0.0, 100.0, 250.0]), "dt": 0.002}]  # fmt: skip
    wide = np.linspace(-rng.uniform(50, 150), rng.uniform(2000, 3000), int(rng.integers(40, 60)))
    exact = np.append(rng.permutation([0.0, 100.0, 250.0]), 0.0)  # never the public case
    return [{"current": wide, "dt": 0.001}, {"current": exact, "dt": 0.002}]


def _cap_cases(rng=None):
    middle = 5000.0 if rng is None else float(rng.uniform(2000, 9000))
    return [{"current": np.array([1000.0, middle, 1e9]), "dt": 0.001}]


ITEMS = [
    _item("ch1_conversion", "flatten", "flatten_images", 2, _images,
          lambda images: images.reshape(len(images), -1).astype(np.float32)),
    _item("ch1_conversion", "tile", "tile_over_time", 3, _tile_cases,
          lambda images, n_steps: np.tile(images.reshape(len(images), 1, -1), (1, n_steps, 1)).astype(np.float32)),
    _item("ch2_activation", "loihi_rate", "loihi_rate", 5, _rate_cases, _rate),
]  # fmt: skip

HIDDEN_ITEMS = [
    _item("ch2_activation", "rate_at_the_cap", "loihi_rate", 2, _cap_cases, _rate, hidden=True),
]


def items(exercise=None, hidden_dir=None):
    """The registry, like ``k2l_course.exercises.checks.items``."""
    found = list(ITEMS) + (list(HIDDEN_ITEMS) if hidden_dir else [])
    return [item for item in found if exercise in (None, item.exercise)]


# --- the class ----------------------------------------------------------------------

CH1 = '''
import numpy as np

def flatten_images(images):
    return np.asarray(images, dtype=np.float32).reshape(len(images), -1)

def tile_over_time(images, n_steps):
    flat = flatten_images(images)
    return np.tile(flat[:, None, :], (1, n_steps, 1))
'''

CH2 = '''
import numpy as np

def loihi_rate(current, dt):
    j = np.asarray(current, dtype=np.float64)
    out = np.zeros_like(j)
    out[j > 0] = 1.0 / (dt * np.ceil(1.0 / (j[j > 0] * dt)))
    return out
'''

#: Forgets the 1000 Hz cap (no ceil): only rates that happen to be exact pass.
CH2_NO_CAP = '''
import numpy as np

def loihi_rate(current, dt):
    return np.maximum(np.asarray(current, dtype=np.float64), 0.0)
'''

#: Tiles on the wrong axis: tile gets 0, flatten full.
CH1_WRONG_TILE = CH1.replace("np.tile(flat[:, None, :], (1, n_steps, 1))", "np.tile(flat[None, :, :], (n_steps, 1, 1))")


def notebook(*cells):
    """An .ipynb (JSON text) with the given code cells."""
    return json.dumps(
        {
            "cells": [
                {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": cell}
                for cell in cells
            ]
            + [{"cell_type": "markdown", "metadata": {}, "source": "# notes\n%not code"}],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


def max_points(hidden):
    return sum(item.points for item in items(hidden_dir="x" if hidden else None))


def leftover_prefix(root):
    """Where the class under ``root``'s ``leaves_process`` student writes in the shared ``/tmp`` (this class's name only)."""
    return f"/tmp/k2l-leftover-{hashlib.sha256(os.fsencode(Path(root).absolute())).hexdigest()[:12]}-"


def make_class(root, secrets, hidden=True):
    """Write a class of submissions under ``root``; return the expected grades.

    Parameters
    ----------
    root : Path
        Where the submissions go (created).
    secrets : dict
        Paths the attacks aim at: ``solutions`` (a folder with a solution
        file), ``hidden`` (the hidden checks folder), ``out`` (the grader's
        output folder), ``course`` (the course package folder), ``marker`` (a
        file anyone may read but no student may delete).
    hidden : bool
        Whether the hidden check is used (it adds 2 points to ch2).

    Returns
    -------
    dict
        student id -> (status, {"exercise/item": score}, total)
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    full = {"ch1_conversion.flatten": 2, "ch1_conversion.tile": 3, "ch2_activation.loihi_rate": 5}
    if hidden:
        full["ch2_activation.rate_at_the_cap (hidden)"] = 2
    zero = {key: 0 for key in full}
    expected = {}

    def student(name, files, status, scores):
        folder = root / name
        folder.mkdir()
        for filename, text in files.items():
            (folder / filename).write_text(textwrap.dedent(text))
        scores = dict(zero, **scores)
        expected[name] = (status, scores, sum(scores.values()))

    ch1_full = {"ch1_conversion.flatten": 2, "ch1_conversion.tile": 3}
    ch2_full = {k: v for k, v in full.items() if k.startswith("ch2")}

    # Correct work: .py for ch1, a notebook (with magics) for ch2.
    student("correct", {"ch1_conversion.py": CH1,
                        "ch2_activation.ipynb": notebook("%matplotlib inline\n!pip list\n", CH2, "%%bash\necho hi\n")},
            "ok", full)  # fmt: skip
    # Partly wrong: wrong tiling, forgotten cap (case 2 of the rate check is
    # below the cap and exact, so it earns half of loihi_rate).
    student("partly_wrong", {"ch1_conversion.py": CH1_WRONG_TILE, "ch2_activation.py": CH2_NO_CAP},
            "ok", {"ch1_conversion.flatten": 2, "ch2_activation.loihi_rate": 2.5})  # fmt: skip
    # Both formats of ch1: an older broken .py and a newer correct notebook: the newer counts.
    student("two_formats", {"ch1_conversion.py": "def flatten_images(:\n", "ch1_conversion.ipynb": notebook(CH1),
                            "ch2_activation.py": CH2}, "ok", full)  # fmt: skip
    os.utime(root / "two_formats" / "ch1_conversion.py", (1_000_000, 1_000_000))  # the notebook is newer: it counts
    # Only one exercise submitted.
    student("only_ch2", {"ch2_activation.py": CH2}, "ok", ch2_full)
    # Nothing gradable in the folder.
    student("empty", {"README.txt": "I did not do it"}, "no-submission", {})
    # Fails to parse.
    student("syntax_error", {"ch1_conversion.py": CH1 + "\ndef broken(:\n", "ch2_activation.py": CH2},
            "syntax-error", ch2_full)  # fmt: skip
    # Loops forever while loading (ch1), correct ch2 in its own file.
    student("loops_forever", {"ch1_conversion.py": "while True:\n    pass\n" + CH1, "ch2_activation.py": CH2},
            "timeout", ch2_full)  # fmt: skip
    # One function hangs, catching the time-out exception: costs only that item.
    student("hangs_in_one", {"ch1_conversion.py": CH1.replace(
        "def tile_over_time(images, n_steps):",
        "def tile_over_time(images, n_steps):\n    while True:\n        try:\n            while True: pass\n        except BaseException: pass\n"),
        "ch2_activation.py": CH2}, "timeout", dict(ch2_full, **{"ch1_conversion.flatten": 2}))  # fmt: skip
    # Exhausts memory inside a function; the rest counts.
    student("memory_hog", {"ch1_conversion.py": CH1, "ch2_activation.py": CH2.replace(
        "    j = np.asarray", "    hog = np.empty(3 * 2**30, dtype=np.uint8)  # more than the limit, untouched: fails at once\n    j = np.asarray")},
        "memory", ch1_full)  # fmt: skip
    # Exits the interpreter: sys.exit at the end of loading, os._exit in a call.
    student("exits", {"ch1_conversion.py": CH1 + "\nimport sys\nsys.exit(0)\n",
                      "ch2_activation.py": CH2.replace("    j = np.asarray", "    import os; os._exit(3)\n    j = np.asarray")},
            "crashed", ch1_full)  # fmt: skip
    # Kills its own process group (and tries everyone's).
    student("kills_group", {"ch1_conversion.py": CH1.replace(
        "def flatten_images(images):", "def flatten_images(images):\n    import os, signal\n"
        "    try: os.kill(-1, signal.SIGKILL)\n    except OSError: pass\n    os.killpg(0, signal.SIGKILL)\n"),
        "ch2_activation.py": CH2}, "crashed", dict(ch2_full, **{"ch1_conversion.tile": 0}))  # fmt: skip
    # Prints megabytes, but its answers are right.
    student("prints_megabytes", {"ch1_conversion.py": "print('x' * 5_000_000)\n" + CH1,
                                 "ch2_activation.py": CH2.replace("    return out", "    print('y' * 3_000_000)\n    return out")},
            "ok", full)  # fmt: skip
    # Deletes everything it can reach, then answers correctly.
    # (It never aims at the shared checkout: writing into the package is tried
    # with a new file name, deleting only at decoys.)
    vandal = f'''
import os, shutil
for target in {[str(secrets["out"]), str(secrets["marker"]), str(root)]!r}:
    try:
        shutil.rmtree(target) if os.path.isdir(target) else os.remove(target)
    except OSError:
        pass
for target in {[str(secrets["out"]), str(secrets["course"]), str(root)]!r}:
    try:
        open(os.path.join(target, "pwned_by_student.txt"), "w").write("pwned")
    except OSError:
        pass
'''
    student("deletes_files", {"ch1_conversion.py": vandal + CH1, "ch2_activation.py": CH2}, "ok", full)
    # Tries to read and import the solutions and the hidden checks: the
    # functions that depend on them fail; its own loihi_rate counts.
    thief = f'''
import sys, os, importlib.util
def _steal(folder, name):
    path = os.path.join(folder, name)
    spec = importlib.util.spec_from_file_location("stolen", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
def flatten_images(images):
    return _steal({str(secrets["solutions"])!r}, "ch1_conversion.py").flatten_images(images)
def tile_over_time(images, n_steps):
    sys.path.insert(0, {str(secrets["solutions"])!r})
    import ch1_conversion
    return ch1_conversion.tile_over_time(images, n_steps)
'''
    student("reads_solutions", {"ch1_conversion.py": thief, "ch2_activation.py": CH2 + f'''
def _peek():
    return os.listdir({str(secrets["hidden"])!r})
import os
try:
    print("hidden checks:", _peek())
except OSError as error:
    print("no access:", error)
'''}, "ok", ch2_full)  # fmt: skip
    # Runs a classmate's (correct) file to answer ch1.
    classmate = str(root / "correct" / "ch1_conversion.py")
    student("copies_classmate", {"ch1_conversion.py": f'''
def _borrow(name):
    namespace = {{}}
    exec(open({classmate!r}).read(), namespace)
    return namespace[name]
def flatten_images(images):
    return _borrow("flatten_images")(images)
def tile_over_time(images, n_steps):
    return _borrow("tile_over_time")(images, n_steps)
''', "ch2_activation.py": CH2}, "ok", ch2_full)  # fmt: skip
    # Returns an object that claims equality with everything.
    student("liar", {"ch1_conversion.py": CH1.replace("def tile_over_time(images, n_steps):",
        "class _Liar(float):\n    def __eq__(self, other): return True\n\ndef tile_over_time(images, n_steps):\n    return _Liar(1)\n"),
        "ch2_activation.py": CH2}, "ok", dict(ch2_full, **{"ch1_conversion.flatten": 2}))  # fmt: skip
    # Leaves a process behind in a new session, writing into /tmp forever.
    student("leaves_process", {"ch1_conversion.py": f'''
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        while True:
            try:
                open({leftover_prefix(root)!r} + str(os.getpid()), "w").write("still here")
            except OSError:
                pass
            time.sleep(0.05)
    os._exit(0)
''' + CH1, "ch2_activation.py": CH2}, "ok", full)  # fmt: skip
    # A single file (not named for an exercise): graded against both.
    (root / "single_file.py").write_text(CH1 + CH2)
    expected["single_file"] = ("ok", dict(full), sum(full.values()))
    # A single notebook defining only the ch2 function: ch1 counts as missing.
    (root / "single_notebook.ipynb").write_text(notebook(CH2))
    expected["single_notebook"] = ("ok", dict(zero, **ch2_full), sum(ch2_full.values()))
    for name, (status, scores, total) in expected.items():
        assert math.isclose(total, sum(scores.values()))
    return expected
