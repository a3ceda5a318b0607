"""A class of submissions for the course's real exercises, with the grade each must get.

Built from the course's own material, so every expected score comes from one
place: ``solutions/`` (full marks), ``exercises/`` (the untouched stubs: 0),
``tests/wrong_answers/`` (each file's ``EXPECTED`` scores) and the checks'
``points``. Bad behaviour is grafted onto correct solutions, so what it
costs is exactly the items it breaks.

Used by ``tests/test_grading.py`` (a small class) and
``benchmarks/grading.py`` (a class of 50).
"""

from __future__ import annotations

import ast
from pathlib import Path

from k2l_course.exercises import checks

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = ROOT / "solutions"
EXERCISES_DIR = ROOT / "exercises"
WRONG_ANSWERS = ROOT / "tests" / "wrong_answers"


def points(exercise=None, hidden_dir=None):
    """``{item id: points}`` (of one exercise, if given)."""
    return {item.id + (" (hidden)" if item.hidden else ""): float(item.points)
            for item in checks.items(exercise, hidden_dir)}  # fmt: skip


def wrong_answer_expected(path):
    """The ``EXPECTED`` scores a wrong answer declares, as ``{item name: score}``."""
    tree = ast.parse(Path(path).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "EXPECTED" for t in node.targets):
            return ast.literal_eval(node.value)
    raise ValueError(f"{path} declares no EXPECTED")


def _label(exercise, name, hidden=False):
    return f"{exercise}.{name}" + (" (hidden)" if hidden else "")


class ClassBuilder:
    """Writes students into a folder and records the grade each must get."""

    def __init__(self, root, hidden_dir=None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.hidden_dir = hidden_dir
        self.full = points(hidden_dir=hidden_dir)
        self.expected = {}

    def _zero(self):
        return {key: 0.0 for key in self.full}

    def student(self, name, files, status, scores):
        """Add a folder student; ``scores`` overrides the zero default per item label."""
        folder = self.root / name
        folder.mkdir()
        for filename, text in files.items():
            (folder / filename).write_text(text)
        result = dict(self._zero(), **scores)
        self.expected[name] = (status, result, sum(result.values()))

    def full_of(self, *exercises):
        return {key: value for key, value in self.full.items() if key.split(".")[0] in exercises}

    def correct(self, name):
        files = {f"{e}.py": (SOLUTIONS / f"{e}.py").read_text() for e in checks.EXERCISES}
        self.student(name, files, "ok", dict(self.full))

    def untouched(self, name):
        files = {f"{e}.ipynb": (EXERCISES_DIR / f"{e}.ipynb").read_text() for e in checks.EXERCISES}
        self.student(name, files, "ok", {})

    def wrong(self, name, wrong_answer, status="ok"):
        """One exercise, its solution with a typical mistake appended (a later def wins)."""
        path = WRONG_ANSWERS / wrong_answer
        exercise = path.name.split("__")[0]
        text = (SOLUTIONS / f"{exercise}.py").read_text() + "\n\n" + path.read_text()
        scores = self.full_of(exercise)
        for item_name, score in wrong_answer_expected(path).items():
            scores[_label(exercise, item_name)] = float(score)
        self.student(name, {f"{exercise}.py": text}, status, scores)

    def grafted(self, name, exercise, code, status, lost=(), where="end"):
        """The solution of ``exercise`` with ``code`` added; ``lost`` items score 0."""
        solution = (SOLUTIONS / f"{exercise}.py").read_text()
        text = code + "\n" + solution if where == "start" else solution + "\n\n" + code
        scores = self.full_of(exercise)
        for item_name in lost:
            for key in list(scores):
                if key.split(" ")[0] == f"{exercise}.{item_name}":
                    scores[key] = 0.0
        self.student(name, {f"{exercise}.py": text}, status, scores)


def function_of(exercise, item_name):
    return next(item.function for item in checks.items(exercise) if item.name == item_name)


def build(root, secrets, hidden_dir=None):
    """The test class: correct, untouched, typical mistakes and every kind of bad behaviour.

    Parameters
    ----------
    root : path-like
        Where to write it.
    hidden_dir : path-like, optional
        Hidden checks in use (their points count).
    secrets : dict, optional
        ``solutions``: the folder a thief tries to import from and a vandal
        to delete (give a world-readable copy, kept from students by the
        sandbox: never the real one).

    Returns
    -------
    dict
        student -> (status, {item label: score}, total)
    """
    b = ClassBuilder(root, hidden_dir)
    b.correct("correct")
    b.untouched("untouched")
    b.wrong("mistake_floor", "ch2_activation__floor.py")
    b.wrong("mistake_equals_everything", "ch4_training__equals_everything.py")
    b.wrong("mistake_hangs", "ch2_activation__hangs.py", status="timeout")
    b.wrong("mistake_raises", "ch2_activation__raises.py")
    rate = function_of("ch2_activation", "loihi_rate_formula")
    spikes = function_of("ch2_activation", "loihi_spike_train")
    b.grafted("syntax_error", "ch3_scaling", "def broken(:\n    pass\n", "syntax-error",
              lost=[i.name for i in checks.items("ch3_scaling")])  # fmt: skip
    b.grafted("loops_while_loading", "ch3_scaling", "while True:\n    pass\n", "timeout",
              lost=[i.name for i in checks.items("ch3_scaling")])  # fmt: skip
    b.grafted("memory_hog", "ch2_activation",
              f"import numpy as np\n_{rate} = {rate}\ndef {rate}(*args, **kwargs):\n"
              "    hog = np.empty(2**36, dtype=np.uint8)\n    return hog\n",
              "memory", lost=["loihi_rate_formula"])  # fmt: skip
    b.grafted("exits", "ch2_activation", f"import os\ndef {spikes}(*args, **kwargs):\n    os._exit(0)\n",
              "crashed", lost=["loihi_spike_train"])  # fmt: skip
    b.grafted("kills_its_group", "ch2_activation",
              f"import os, signal\ndef {rate}(*args, **kwargs):\n    os.killpg(0, signal.SIGKILL)\n",
              "crashed", lost=["loihi_rate_formula"])  # fmt: skip
    b.grafted("prints_megabytes", "ch4_training", "print('spam' * 2_000_000)\n", "ok")
    b.grafted("deletes_files", "ch1_conversion",
              "import shutil, os\nfor target in " + repr([str(secrets["solutions"]), str(b.root)]) + ":\n"
              "    shutil.rmtree(target, ignore_errors=True)\n"
              "try:\n    open(" + repr(str(ROOT / "k2l_course" / "pwned_by_student.py")) + ", 'w').write('x')\n"
              "except OSError:\n    pass\n", "ok", where="start")  # fmt: skip
    b.grafted("reads_solutions", "ch2_activation",
              f"import sys\ndef {rate}(current, dt=0.001):\n    sys.path.insert(0, {str(secrets['solutions'])!r})\n"
              f"    import ch2_activation\n    return ch2_activation.{rate}(current, dt)\n",
              "ok", lost=["loihi_rate_formula"])  # fmt: skip
    return b.expected
