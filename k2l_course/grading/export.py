"""``k2l export``: a graded output as a gradebook file an LMS imports.

::

    k2l export OUT_DIR --format canvas|moodle|csv [--roster ROSTER.csv]
               [--id-column NAME] [--output FILE]

One column per exercise (its points), from the students' records.

``canvas``
    Canvas's gradebook import ("Import grades in the Gradebook"): the
    columns of Canvas's own gradebook export, ``Student, ID, SIS User ID,
    SIS Login ID, Section``, then one column per assignment, and a second
    row ``Points Possible`` giving each assignment's points. Canvas matches a
    row to a student by ``ID``, ``SIS User ID`` or ``SIS Login ID``; a column
    whose name is not an existing assignment creates one. Give the
    gradebook you exported from Canvas as ``--roster``: its identifying
    columns are copied, so every row matches. Without a roster the k2l
    student id (the submission's folder name) goes in ``SIS Login ID``.
``moodle``
    Moodle's CSV grade import: a header row, one row per student, an
    identifying column that the import maps to a user field ("Map from" the
    column, "Map to" ``useridnumber``, ``useremail`` or ``username``) and one
    column per grade item (mapped in the import's preview). With
    ``--roster`` (e.g. Moodle's own "Export to plain text file"), the user
    columns of Moodle's export that it has (``First name``, ``Last name``,
    ``ID number``, ``Institution``, ``Department``, ``Email address``,
    ``Username``) are copied; without one the k2l id is written as
    ``ID number``.
``csv``
    A plain table: ``student``, the roster's columns, the exercises,
    ``total``, ``max``, ``status``.

Matching: a roster is any CSV with a header; the column holding the k2l ids
is the one given with ``--id-column``, or else the one that matches the most
graded students. The command lists roster students with no graded
submission (their cells are left empty, which both LMSs read as "no
change") and graded students missing from the roster (left out: an LMS
cannot import them).
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path

from k2l_course.files import write_atomic
from k2l_course.grading.report import ReportError, load_output

FORMATS = ("canvas", "moodle", "csv")
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_COLUMNS = ["First name", "Last name", "ID number", "Institution", "Department", "Email address", "Username"]
#: Largest roster read.
MAX_ROSTER_BYTES = 32 * 2**20
#: Prefix of the assignment columns (an exercise id alone could clash with an LMS's own columns).
COLUMN_PREFIX = "k2l "


class ExportError(Exception):
    """A problem with the export's inputs (reported, non-zero exit)."""


@dataclass
class Export:
    """An export's text and what matching found."""

    text: str
    exported: int
    no_submission: list = field(default_factory=list)  # roster ids without a graded submission
    not_on_roster: list = field(default_factory=list)  # graded ids the roster lacks
    id_column: str = None


def read_roster(path):
    """``(header, rows)`` of a roster CSV (UTF-8, a byte-order mark allowed)."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_ROSTER_BYTES + 1)
    except OSError as error:
        raise ExportError(f"--roster {path}: {error.strerror}") from None
    if len(data) > MAX_ROSTER_BYTES:
        raise ExportError(f"--roster {path} is larger than {MAX_ROSTER_BYTES // 2**20} MB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ExportError(f"--roster {path} is not UTF-8 text: save it as CSV UTF-8") from None
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as error:
        raise ExportError(f"--roster {path} is not a CSV file: {error}") from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise ExportError(f"--roster {path} is empty")
    header = [cell.strip() for cell in rows[0]]
    body = []
    for row in rows[1:]:
        if row and row[0].strip() == "Points Possible":  # a Canvas export's second row
            continue
        body.append({name: (row[k].strip() if k < len(row) else "") for k, name in enumerate(header)})
    return header, body


def _id_column(header, rows, ids, wanted=None):
    if wanted is not None:
        if wanted not in header:
            raise ExportError(f"--id-column {wanted!r} is not a column of the roster ({', '.join(header)})")
        return wanted
    best, best_hits = None, 0
    for name in header:
        hits = len({row[name] for row in rows} & ids)
        if hits > best_hits:
            best, best_hits = name, hits
    if best is None:
        raise ExportError("no column of the roster holds the graded students' ids; name it with --id-column")
    return best


def _number(value):
    text = f"{float(value):.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _cell(text):
    """A cell no spreadsheet takes for a formula."""
    text = str(text).encode("utf-8", errors="replace").decode("utf-8")
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def exercise_scores(record):
    """``{exercise: (score, points)}`` of one record."""
    scores = {}
    for entry in record["items"]:
        got, of = scores.get(entry["exercise"], (0.0, 0.0))
        scores[entry["exercise"]] = (got + float(entry["score"]), of + float(entry["points"]))
    return scores


def build(records, fmt, roster=None, id_column=None):
    """The export of ``records`` in format ``fmt``.

    Parameters
    ----------
    records : list of dict
        Students' records (:func:`k2l_course.grading.report.load_output`).
    fmt : {"canvas", "moodle", "csv"}
    roster : tuple, optional
        ``(header, rows)`` from :func:`read_roster`.
    id_column : str, optional
        The roster column holding the k2l ids (default: the best match).

    Returns
    -------
    Export
    """
    if fmt not in FORMATS:
        raise ExportError(f"--format must be one of {', '.join(FORMATS)}")
    by_id = {record["student"]: record for record in records}
    exercises, points = [], {}
    for record in records:
        for exercise, (_, of) in exercise_scores(record).items():
            if exercise not in points:
                exercises.append(exercise)
            points[exercise] = max(points.get(exercise, 0.0), of)
    columns = [COLUMN_PREFIX + exercise for exercise in exercises]
    if roster is not None:
        header, rows = roster
        column = _id_column(header, rows, set(by_id), id_column)
        people = [(row[column], row) for row in rows]
        on_roster = {row[column] for row in rows}
        not_on_roster = sorted(sid for sid in by_id if sid not in on_roster)
        no_submission = [sid for sid, _ in people if sid not in by_id]
    else:
        header, column = [], None
        people = [(sid, {}) for sid in sorted(by_id)]
        not_on_roster, no_submission = [], []

    def scores(sid):
        record = by_id.get(sid)
        if record is None:
            return [""] * len(exercises)
        got = exercise_scores(record)
        return [_number(got.get(exercise, (0.0, 0.0))[0]) for exercise in exercises]

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if fmt == "canvas":
        writer.writerow(CANVAS_COLUMNS + columns)
        writer.writerow(["Points Possible", "", "", "", ""] + [_number(points[e]) for e in exercises])
        for sid, row in people:
            if roster is not None:
                ident = [row.get(name, "") for name in CANVAS_COLUMNS]
                if not any(ident[1:4]):
                    ident[3] = sid
            else:
                ident = [sid, "", "", sid, ""]
            writer.writerow([_cell(x) for x in ident] + scores(sid))
    elif fmt == "moodle":
        kept = [name for name in MOODLE_COLUMNS if name in header] if roster is not None else []
        if column is not None and column not in kept:
            kept.append(column)
        if roster is None:
            kept = ["ID number"]
        writer.writerow(kept + columns)
        for sid, row in people:
            ident = [row.get(name, "") for name in kept] if roster is not None else [sid]
            writer.writerow([_cell(x) for x in ident] + scores(sid))
    else:
        extra = [name for name in header if name != column]
        writer.writerow(["student", *extra, *exercises, "total", "max", "status"])
        for sid, row in people:
            record = by_id.get(sid)
            tail = (["", "", "no graded submission"] if record is None else
                    [_number(record.get("total", 0)), _number(record.get("max", 0)), record["status"]])  # fmt: skip
            writer.writerow([_cell(sid), *(_cell(row.get(name, "")) for name in extra), *scores(sid), *tail])
    exported = sum(1 for sid, _ in people if sid in by_id)
    return Export(buffer.getvalue(), exported, no_submission, not_on_roster, column)


# --- the command --------------------------------------------------------------------


def add_arguments(parser):
    """Options of ``k2l export``."""
    parser.add_argument("out", metavar="OUT_DIR", help="the --out folder of k2l grade")
    parser.add_argument("--format", required=True, choices=FORMATS, help="canvas, moodle or csv")
    parser.add_argument("--roster", metavar="ROSTER.csv", help="the LMS's class list (e.g. its gradebook export)")
    parser.add_argument("--id-column", metavar="NAME", help="the roster column holding the k2l student ids")
    parser.add_argument("--output", metavar="FILE", help="where to write (default OUT_DIR/<format>-grades.csv)")


def run(args):
    """Run ``k2l export``; returns the exit status."""

    try:
        graded = load_output(args.out)
        roster = read_roster(args.roster) if args.roster else None
        result = build(graded.records, args.format, roster, args.id_column)
        output = Path(args.output) if args.output else Path(args.out) / f"{args.format}-grades.csv"
        if not output.parent.is_dir():
            raise ExportError(f"--output {output}: {output.parent} is not a folder")
        write_atomic(output, result.text)
    except (ExportError, ReportError) as error:
        print(f"k2l export: {error}", file=sys.stderr)
        return 2
    print(f"wrote {output}: {result.exported} students" + (f" (matched on roster column {result.id_column!r})"
                                                          if result.id_column else ""))  # fmt: skip
    for problem in graded.problems:
        print(f"  not exported: {problem}")
    if result.no_submission:
        print(f"  on the roster without a graded submission ({len(result.no_submission)}; cells left empty): "
              + ", ".join(result.no_submission))  # fmt: skip
    if result.not_on_roster:
        print(f"  graded but not on the roster ({len(result.not_on_roster)}; not exported): "
              + ", ".join(result.not_on_roster))  # fmt: skip
    return 0
