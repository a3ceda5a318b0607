"""What ``k2l grade`` writes into ``OUT_DIR``: the gradebook, each student's feedback, Gradescope results and record.

One place for each format, whatever graded the students (this machine or a
Dask cluster: :mod:`k2l_course.grading.grade`): the records come in, the
files go out. The layout of ``OUT_DIR`` is described in
:mod:`k2l_course.grading.grade`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import statistics
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from k2l_course import __version__
from k2l_course.files import write_atomic
from k2l_course.grading import planning
from k2l_course.grading.assignment import RECORD_VERSION, GradingError
from k2l_course.grading.records import STATUS_ORDER, _clean


def _number(value):
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def item_label(entry):
    """Column/test name of an item: its id ``exercise.name`` (``(hidden)`` appended)."""
    return f"{entry['exercise']}.{entry['name']}" + (" (hidden)" if entry["hidden"] else "")


STATUS_MEANING = {
    "timeout": "it ran out of time",
    "memory": "it ran out of memory",
    "crashed": "it ended abruptly",
    "unreadable": "the file could not be read as a notebook or Python file",
    "syntax-error": "it has a syntax error",
    "no-submission": "nothing was found to grade",
    "grader-error": "the grader failed on it (not your fault; your instructor has the details)",
}


def feedback_text(record):
    """The readable feedback of one student."""
    lines = [
        f"k2l grade: feedback for {record['student']}",
        f"Total: {_number(record['total'])} / {_number(record['max'])} points (status: {record['status']})",
        "",
    ]
    by_exercise = {}
    for entry in record["items"]:
        by_exercise.setdefault(entry["exercise"], []).append(entry)
    for exercise, entries in by_exercise.items():
        got = sum(entry["score"] for entry in entries)
        of = sum(entry["points"] for entry in entries)
        source = record.get("chosen", {}).get(exercise)
        lines.append(f"{exercise}: {_number(got)} / {_number(of)}" + (f"  (graded file: {source})" if source else ""))
        for entry in entries:
            mark = "pass" if entry["score"] >= entry["points"] else ("part" if entry["score"] > 0 else "FAIL")
            hidden = " (hidden check)" if entry["hidden"] else ""
            lines.append(f"  [{mark}] {entry['name']}{hidden}: {_number(entry['score'])} / {_number(entry['points'])}")
            if entry["message"]:
                lines.extend(f"         {line}" for line in entry["message"].splitlines())
        lines.append("")
    for name, info in record.get("files", {}).items():
        if info["status"] != "ok" or info["notes"]:
            meaning = STATUS_MEANING.get(info["status"])
            lines.append(f"{name}: {info['status']}" + (f" ({meaning})" if meaning else ""))
            lines.extend(f"  - {note}" for note in info["notes"])
    if record.get("skipped"):
        lines.append("Not graded (skipped):")
        lines.extend(f"  - {entry['name']}: {entry['reason']}" for entry in record["skipped"])
    for note in record.get("notes", []):
        lines.append(f"Note: {note}")
    outputs = [(name, info["output"]) for name, info in record.get("files", {}).items() if info["output"].strip()]
    for name, output in outputs:
        lines += ["", f"What {name} printed (last 4000 characters at most):", output.rstrip()]
    return planning.safe_text("\n".join(lines).rstrip() + "\n")


def gradescope_results(record):
    """The Gradescope ``results.json`` content of one student (a dict)."""
    tests = []
    for number, entry in enumerate(record["items"], start=1):
        tests.append(
            {
                "name": item_label(entry),
                "number": str(number),
                "score": entry["score"],
                "max_score": entry["points"],
                "status": "passed" if entry["score"] >= entry["points"] else "failed",
                "output": entry["message"],
                "visibility": "hidden" if entry["hidden"] else "visible",
            }
        )
    summary = f"Status: {record['status']}."
    notes = list(record.get("notes", []))
    for name, info in record.get("files", {}).items():
        notes += [f"{name}: {note}" for note in info["notes"]]
    notes += [f"not graded: {entry['name']}: {entry['reason']}" for entry in record.get("skipped", [])]
    if notes:
        summary += "\n" + "\n".join(f"- {note}" for note in notes)
    for name, info in record.get("files", {}).items():
        if info["output"].strip():
            summary += f"\n\nWhat {name} printed (at most its last 4000 characters):\n{info['output'].rstrip()}"
    return _clean({
        "score": record["total"],
        "execution_time": record.get("seconds", 0),
        "output": summary,
        "stdout_visibility": "hidden",
        "tests": tests,
    })  # fmt: skip


def gradebook_csv(records, assignment):
    """The gradebook (CSV text): one row per record, columns per item."""
    columns = [item_label({"exercise": i.exercise, "name": i.name, "hidden": i.hidden}) for i in assignment.items]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", "status", *columns, "total", "max"])
    for record in records:
        scores = {item_label(entry): entry["score"] for entry in record["items"]}
        writer.writerow(
            [
                spreadsheet_cell(record["student"]),
                record["status"],
                *(_number(scores.get(column, 0.0)) for column in columns),
                _number(record["total"]),
                _number(record["max"]),
            ]
        )
    return buffer.getvalue()


def spreadsheet_cell(text):
    """A spreadsheet cell that cannot be taken for a formula (the gradebook's and the class report's CSV)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _student_dir(out_dir, key):
    return Path(out_dir) / "students" / key


def read_record(out_dir, key):
    """A student's saved record (by :attr:`Student.key`), or None."""
    try:
        return json.loads((_student_dir(out_dir, key) / "record.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def save_record(out_dir, record):
    """Write feedback, results.json, then the record (which marks 'done')."""
    folder = _student_dir(out_dir, record["key"])
    write_atomic(folder / "feedback.txt", feedback_text(record))
    write_atomic(folder / "results.json", json.dumps(gradescope_results(record), indent=2, ensure_ascii=False) + "\n")
    write_atomic(folder / "record.json", json.dumps(_clean(record), indent=1, ensure_ascii=False) + "\n")


class GraderLog:
    """``OUT/grader.log``: the grader's own problems, for the instructor (appended, UTF-8)."""

    def __init__(self, path):
        self.path = Path(path)
        self.lock = threading.Lock()
        self.count = 0

    def write(self, text):
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with self.lock:
            with open(self.path, "a", encoding="utf-8", errors="backslashreplace") as log:
                log.write(f"{stamp} {planning.safe_text(text).rstrip()}\n")

    def failed(self, student, error):
        self.count += 1
        reason = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        self.write(f"grader-error for student {student.name} (folder students/{student.key}):\n{reason}")




def read_batch(out_dir):
    """``OUT/grading.json`` of an earlier run (``{}`` if none)."""
    try:
        meta = json.loads((Path(out_dir) / "grading.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def batch_metadata(cases, limits):
    """What ``OUT/grading.json`` holds."""

    return {
        "seed": cases.seed,
        "limits": {"timeout": limits.timeout, "memory_mb": limits.memory_mb, "call_timeout": limits.call_timeout},
        "checks": cases.signature,
        "k2l_version": __version__,
        "record_version": RECORD_VERSION,
    }


def lock_out_dir(out_dir):
    """Refuse a second grader writing into the same folder at the same time."""
    import fcntl

    fd = os.open(Path(out_dir) / ".k2l-grade.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise GradingError(f"another k2l grade is writing into {out_dir}; wait for it to finish") from None
    return fd





@dataclass
class Summary:
    """What a batch did."""

    records: list
    graded: int  # graded in this run
    reused: int  # taken from a previous run
    missing: list  # students not finished (interrupted)
    seconds: float
    seed: object = None
    skipped: list = field(default_factory=list)  # entries of the submissions folder that are no student

    def counts(self):
        counts = {}
        for record in self.records:
            counts[record["status"]] = counts.get(record["status"], 0) + 1
        return counts

    def text(self, out_dir=None):
        """The end-of-run report."""
        totals = [record["total"] for record in self.records]
        maximum = max((record["max"] for record in self.records), default=0)
        counts = self.counts()
        failed = sum(n for status, n in counts.items() if status not in ("ok", "timeout"))
        lines = [
            f"Graded {len(self.records)} students in {self.seconds:.1f} s "
            f"({self.graded} now, {self.reused} kept from an earlier run).",
            f"  ok: {counts.get('ok', 0)}   timed out: {counts.get('timeout', 0)}   failed: {failed}"
            + (
                " (" + ", ".join(f"{s} {counts[s]}" for s in STATUS_ORDER if s in counts and s not in ("ok", "timeout")) + ")"
                if failed
                else ""
            ),
        ]
        if totals:
            spread = statistics.pstdev(totals) if len(totals) > 1 else 0.0
            lines.append(
                f"  score out of {_number(maximum)}: mean {statistics.mean(totals):.2f}, sd {spread:.2f}, "
                f"min {_number(min(totals))}, median {_number(statistics.median(totals))}, max {_number(max(totals))}"
            )
        if self.seed is not None:
            lines.append(f"  cases drawn from seed {self.seed} (--seed {self.seed} grades on the same cases again)")
        with_skipped = [record for record in self.records if record.get("skipped")]
        if with_skipped:
            entries = sum(len(record["skipped"]) for record in with_skipped)
            lines.append(f"  skipped entries: {entries} in {len(with_skipped)} submissions (listed in their feedback)")
        for entry in self.skipped:
            lines.append(f"  not a submission: {entry}")
        if counts.get("grader-error"):
            where = Path(out_dir) / "grader.log" if out_dir is not None else "grader.log"
            names = ", ".join(record["student"] for record in self.records if record["status"] == "grader-error")
            lines.append(f"  grader errors (reasons in {where}; a rerun grades them again): {names}")
        if self.missing:
            lines.append(f"  not graded yet (interrupted): {len(self.missing)}; run the same command again to finish")
        if out_dir is not None:
            lines.append(f"  gradebook: {Path(out_dir) / 'gradebook.csv'}")
        return planning.safe_text("\n".join(lines))

