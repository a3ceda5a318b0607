"""A synthetic class of N students, with the ground truth of its planted copies written beside it.

Usage::

    .venv/bin/python benchmarks/synthetic_class.py OUT_DIR --students 10000 [--exercise ch2_activation ...] [--seed 0]

writes ``OUT_DIR/<student>/<exercise>.py`` and ``OUT_DIR/truth.json``.

Every file comes from the course's own material and the two generators of
``tests/classes`` (nothing is copied from them):

* **own work** (the rest of the class): a correct file written the
  student's own way (:func:`copies.own_file`: one of several genuinely
  different implementations of each function, own names, checks, style and
  experiments);
* **wrong answers** (``WRONG``): own work with one of the exercise's typical
  mistakes from ``tests/wrong_answers/`` appended (a later ``def`` wins, as
  :class:`course.ClassBuilder` grafts them);
* **equivalent answers** (``EQUIVALENT``): the same with an answer that is
  written differently but right (``tests/wrong_answers/*__equivalent_*``);
* **stubs** (``STUBS``): the untouched starter file ``exercises/<e>.py``;
* **the reference solution** (``REFERENCE`` students, a handful whatever N):
  ``solutions/<e>.py`` verbatim, as when a solution leaks; their pairs are
  listed apart in the truth (a reader should look at them, they are not
  planted copies);
* **planted copies** (``COPIES`` of the class, and as many ``ONE_EXERCISE``
  copiers of a single exercise when there are several exercises): a
  classmate's own work, disguised in one of :data:`HOWS`: verbatim, only the
  comments changed, identifiers renamed, functions reordered, layout
  changed, all of these, or all plus helper code of the copier's own
  (:func:`copies.disguise`).

``truth.json`` holds ``kinds`` (student -> kind), ``planted`` (``[a, b,
[exercise, ...], how]`` with a < b), ``reference`` (the students who
submitted the solution) and the parameters.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "classes"))

import copies  # noqa: E402
import course  # noqa: E402

#: Shares of the class (the rest is own work).
WRONG = 0.10
EQUIVALENT = 0.05
STUBS = 0.05
COPIES = 0.02
ONE_EXERCISE = 0.01
#: Students who submit the reference solution verbatim (at most; fewer in a class under 100).
REFERENCE = 3
#: The disguises of a planted copy, in turn.
HOWS = ["verbatim", "comments", "renamed", "reordered", "relaid", "all", "padded"]


def wrong_answers(exercise, equivalent):
    """The files of ``tests/wrong_answers`` for ``exercise``: the equivalent answers or the mistakes."""
    found = sorted(course.WRONG_ANSWERS.glob(f"{exercise}__*.py"))
    return [p for p in found if ("__equivalent_" in p.name) == equivalent]


def disguised(text, how, rng):
    """A copy of ``text`` disguised the ``how`` way (see :data:`HOWS`)."""
    if how == "verbatim":
        return text
    if how == "comments":
        return copies.rewrite_comments(text, rng)
    return copies.disguise(text, how, rng, set(copies.VARIANTS))


def make_class(root, n_students, exercises=None, seed=0):
    """Write a class of ``n_students`` under ``root`` and its ``truth.json``; return the truth.

    Parameters
    ----------
    root : path-like
    n_students : int
    exercises : list of str, optional
        Default: every exercise with a starter file (``copies.EXERCISES``).
    seed : int

    Returns
    -------
    dict
        What ``truth.json`` holds.
    """
    rng = random.Random(seed)
    root = Path(root)
    exercises = list(exercises or copies.EXERCISES)
    n_reference = min(REFERENCE, n_students // 100)
    counts = {
        "reference": n_reference,
        "stub": round(STUBS * n_students),
        "wrong": round(WRONG * n_students),
        "equivalent": round(EQUIVALENT * n_students),
        "copy": max(1, round(COPIES * n_students)),
        "copy_one": round(ONE_EXERCISE * n_students) if len(exercises) > 1 else 0,
    }
    counts["own"] = n_students - sum(counts.values())
    if counts["own"] < counts["copy"] + counts["copy_one"]:
        raise ValueError(f"a class of {n_students} is too small for its planted copies")
    kinds = [kind for kind, count in counts.items() for _ in range(count)]
    ids = [f"st{i:05d}" for i in range(n_students)]
    rng.shuffle(kinds)
    kind_of = dict(zip(ids, kinds))
    work = {}
    by_kind = {}
    for student in ids:
        by_kind.setdefault(kind_of[student], []).append(student)
    for student in by_kind.get("own", []):
        work[student] = {e: copies.own_file(e, rng) for e in exercises}
    for kind in ("wrong", "equivalent"):
        for student in by_kind.get(kind, []):
            files = {e: copies.own_file(e, rng) for e in exercises}
            exercise = rng.choice(exercises)
            answers = wrong_answers(exercise, equivalent=kind == "equivalent") or wrong_answers(exercise, False)
            files[exercise] += "\n\n" + rng.choice(answers).read_text()
            work[student] = files
    for student in by_kind.get("stub", []):
        work[student] = {e: (course.EXERCISES_DIR / f"{e}.py").read_text() for e in exercises}
    for student in by_kind.get("reference", []):
        work[student] = {e: (course.SOLUTIONS / f"{e}.py").read_text() for e in exercises}
    sources = list(by_kind["own"])
    rng.shuffle(sources)
    planted = []
    for k, student in enumerate(by_kind.get("copy", [])):
        source, how = sources[k % len(sources)], HOWS[k % len(HOWS)]
        work[student] = {e: disguised(t, how, rng) for e, t in work[source].items()}
        planted.append([*sorted((source, student)), list(exercises), how])
    offset = len(by_kind.get("copy", []))
    for k, student in enumerate(by_kind.get("copy_one", [])):
        source, how = sources[(offset + k) % len(sources)], HOWS[k % len(HOWS)]
        exercise = exercises[k % len(exercises)]
        files = {e: copies.own_file(e, rng) for e in exercises}
        files[exercise] = disguised(work[source][exercise], how, rng)
        work[student] = files
        planted.append([*sorted((source, student)), [exercise], how])
    for student in ids:
        folder = root / student
        folder.mkdir(parents=True)
        for exercise, text in work[student].items():
            (folder / f"{exercise}.py").write_text(text)
    truth = {
        "students": n_students,
        "exercises": exercises,
        "seed": seed,
        "counts": counts,
        "kinds": kind_of,
        "planted": planted,
        "reference": sorted(by_kind.get("reference", [])),
    }
    (root / "truth.json").write_text(json.dumps(truth, indent=1))
    return truth


def planted_flags(truth):
    """The set of planted ``((a, b), exercise)`` of a truth."""
    return {((a, b), e) for a, b, exercises, _ in truth["planted"] for e in exercises}


def reference_flags(truth):
    """The ``((a, b), exercise)`` between students who submitted the reference solution."""
    ref = truth["reference"]
    return {((a, b), e) for a in ref for b in ref if a < b for e in truth["exercises"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the folder to write (must not exist)")
    parser.add_argument("--students", type=int, default=500)
    parser.add_argument("--exercise", action="append", help="an exercise (repeat; default: all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if Path(args.out).exists():
        parser.error(f"{args.out} exists")
    truth = make_class(args.out, args.students, args.exercise, args.seed)
    print(f"wrote {args.students} students to {args.out}: {truth['counts']}; "
          f"{len(truth['planted'])} planted pairs in truth.json")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
