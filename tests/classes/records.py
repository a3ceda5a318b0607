"""A graded class written straight as ``k2l grade`` output records, with its known numbers.

The class report (``k2l report``) reads only the output folder, so its tests
and its timing need no grading: :func:`write_class` writes
``students/<id>/record.json`` for ``n`` students whose scores, hints,
statuses and times follow a rule, and returns what the report must say
(worked out from the rule, not from the records).

Used by ``tests/test_report.py`` and ``benchmarks/report.py`` (500 students).
"""

from __future__ import annotations

import json
from pathlib import Path

#: (exercise, name, points) of the generated items.
ITEMS = [
    ("ch1_conversion", "prepare_images", 2.0),
    ("ch1_conversion", "last_step_accuracy", 2.0),
    ("ch2_activation", "loihi_rate_formula", 3.0),
    ("ch2_activation", "loihi_spike_train", 3.0),
]
#: The hints of a lost item: ``HINTS[j][k]`` goes to student i when i % 3 == k (see :func:`outcome`).
HINTS = [
    [f"{name}: mistake A <b>&amp;", f"{name}: mistake B", f"{name}: mistake C"] for _, name, _ in ITEMS
]
#: Statuses by student index (others are ok).
STATUS_EVERY = {7: "timeout", 11: "crashed", 13: "grader-error"}
SEED = 123456789


def outcome(i, j):
    """(score, message) of student ``i`` on item ``j``: full when (i + j) % 4 == 0, half when 1, else 0."""
    points = ITEMS[j][2]
    kind = (i + j) % 4
    if kind == 0:
        return points, "correct"
    hint = HINTS[j][i % 3]
    return (points / 2 if kind == 1 else 0.0), hint


def status(i):
    for every, name in STATUS_EVERY.items():
        if i % every == every - 1:
            return name
    return "ok"


def student_id(i):
    return f"s{i:04d}"


def record(i):
    entries = []
    for j, (exercise, name, points) in enumerate(ITEMS):
        score, message = outcome(i, j)
        entries.append({"exercise": exercise, "name": name, "points": points, "score": score, "message": message,
                        "hidden": False, "file": f"{exercise}.py", "attempted": True})  # fmt: skip
    return {
        "version": 1,
        "student": student_id(i),
        "fingerprint": f"f{i}",
        "seed": SEED,
        "notes": [],
        "files": {f"{e}.py": {"status": status(i), "output": "", "notes": []} for e, _, _ in ITEMS[::2]},
        "items": entries,
        "chosen": {e: f"{e}.py" for e, _, _ in ITEMS[::2]},
        "total": sum(e["score"] for e in entries),
        "max": sum(e["points"] for e in entries),
        "status": status(i),
        "seconds": round(0.5 + (i * 37 % 101) / 10, 3),
    }


def write_class(out, n):
    """Write ``n`` students' records under ``out``; return the numbers the report must show."""
    out = Path(out)
    for i in range(n):
        folder = out / "students" / student_id(i)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "record.json").write_text(json.dumps(record(i)))
    (out / "grading.json").write_text(json.dumps({"seed": SEED}))
    return expected(n)


def expected(n):
    """What the report of :func:`write_class` must say, counted from the rule."""
    items = {}
    for j, (exercise, name, points) in enumerate(ITEMS):
        kinds = [(i + j) % 4 for i in range(n)]
        hints = {}
        for i in range(n):
            if kinds[i] != 0:
                hints[HINTS[j][i % 3]] = hints.get(HINTS[j][i % 3], 0) + 1
        items[f"{exercise}.{name}"] = {
            "PASS": kinds.count(0),
            "PART": kinds.count(1),
            "FAIL": kinds.count(2) + kinds.count(3),
            "mean": (kinds.count(0) * points + kinds.count(1) * points / 2) / n,
            "hints": hints,
        }
    statuses = {}
    for i in range(n):
        if status(i) != "ok":
            statuses.setdefault(status(i), []).append(student_id(i))
    seconds = sorted(((student_id(i), round(0.5 + (i * 37 % 101) / 10, 3)) for i in range(n)),
                     key=lambda p: (-p[1], p[0]))  # fmt: skip
    totals = [sum(outcome(i, j)[0] for j in range(len(ITEMS))) for i in range(n)]
    return {"items": items, "statuses": statuses, "slowest": seconds[:10], "totals": totals, "seed": SEED}
