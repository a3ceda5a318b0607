"""Similarity flags: pairs of submissions far more alike than the class's usual spread.

The method is MOSS's (Schleimer, Wilkerson and Aiken, "Winnowing: local
algorithms for document fingerprinting", SIGMOD 2003), through copydetect:

1. **Normalise.** Each graded file (the one that counted for an exercise)
   is tokenised by copydetect with pygments: every name becomes ``V`` (so
   renamed variables match), function names ``F``, strings ``S``; comments,
   whitespace and layout are dropped. A notebook contributes its code cells.
2. **Function order.** The file is cut at its top-level statements
   (``def``, ``class``, decorators, any line at column 0) and each piece is
   fingerprinted on its own, so no fingerprint spans two functions and a
   file's fingerprints do not depend on their order.
3. **Starter code removed.** Every k-gram of the exercise's starter file
   (``exercises/<exercise>.py``), normalised the same way, is discarded.
4. **Winnow.** copydetect's winnowing keeps, in each window of ``WINDOW``
   k-grams of ``K`` characters, the smallest hash: any match of at least
   ``K + WINDOW - 1`` normalised characters is guaranteed to be seen.
5. **Score.** Two students' fingerprint sets of one exercise are compared
   by weighted containment: the share of the smaller set's weight that the
   other set holds, each fingerprint weighing its squared IDF (log of the
   class size over the number of files that hold it). A fingerprint that
   half the class shares (the natural way to write a short function) weighs
   little, one that only these two share weighs much; code added around a
   copy (own helpers, extra checks) does not hide it.
6. **Against the class.** Per exercise, each pair's score is set against
   the distribution of all pairs' scores: robust z = (score - median) /
   (1.4826 MAD, at least ``MIN_SCALE``) and the percentile. A pair is flagged
   when z >= ``Z_FLAG`` and the score >= ``MIN_SCORE``.

The report shows the flagged pairs with the matching regions side by side
(copydetect's ``compare_files`` on the original text). Flags are evidence
for a person to look at, never a finding.

Student files are untrusted: read with a size bound, decoded with
replacement, never executed and never parsed as Python (tokenising is
pygments' regular-expression lexer); a notebook's JSON is read by the same
bounded reader as the sandbox's child.
"""

from __future__ import annotations

import functools
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import k2l_course
from k2l_course.grading.sandbox.submission import read_units

#: Characters of normalised code per k-gram (copydetect's noise threshold).
K = 20
#: Winnowing window (copydetect: guarantee threshold - noise threshold + 1).
WINDOW = 5
#: Flag when the robust z-score is at least this...
Z_FLAG = 5.0
#: ...and the similarity (weighted containment) at least this.
MIN_SCORE = 0.8
#: The smallest spread a z-score is measured in (scores are in [0, 1]).
MIN_SCALE = 0.05
#: Fewer fingerprints than this (after the starter code is removed): too little own code to compare.
MIN_FINGERPRINTS = 8
#: Largest file read (bytes).
MAX_FILE_BYTES = 2 * 2**20
#: Flagged pairs of students shown in the report (each with all its flagged exercises).
MAX_FLAGS = 30
#: Characters of a file shown side by side.
MAX_SHOWN_CHARS = 20000

_TOP_LEVEL = re.compile(r"^(?=\S)(?!#)", re.MULTILINE)


@dataclass
class Flag:
    """One flagged pair on one exercise."""

    a: str
    b: str
    exercise: str
    score: float
    z: float
    percentile: float
    median: float
    file_a: str = ""
    file_b: str = ""
    regions_a: list = field(default_factory=list)  # [(text, highlighted)]
    regions_b: list = field(default_factory=list)


@dataclass
class Findings:
    """The similarity analysis of a class."""

    flags: list  # every flagged pair, strongest first (the first MAX_FLAGS with their regions)
    pairs: dict  # exercise -> number of pairs compared
    scores: dict  # exercise -> {(a, b): score} (for measurements)
    method: str
    flagged_pairs: list = field(default_factory=list)  # [((a, b), [Flag, ...])], strongest pair first


def read_code(path):
    """The code of a submission file as text ('' when unreadable), never executed."""

    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError:
        return ""
    if len(data) > MAX_FILE_BYTES:
        return ""
    text = data.decode("utf-8", errors="replace")
    try:
        units = read_units(str(path), text)
    except (ValueError, RecursionError, MemoryError):
        return ""
    return "\n".join(unit.source for unit in units)


def _filtered(code):
    from copydetect.utils import filter_code

    filtered, _ = filter_code(code, "x.py", language="python")
    return filtered


def _pieces(code):
    """The top-level pieces of a file: each starts at a line at column 0 (a decorator joins its definition)."""
    starts = [m.start() for m in _TOP_LEVEL.finditer(code)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    pieces, pending = [], ""
    for begin, end in zip(starts, starts[1:] + [len(code)]):
        part = code[begin:end]
        if part.startswith("@"):
            pending += part
            continue
        pieces.append(pending + part)
        pending = ""
    if pending:
        pieces.append(pending)
    return pieces


def hashed_kgrams(text, k=K):
    """A stable 64-bit hash of every k-gram of ``text`` (numpy array).

    copydetect hashes k-grams with Python's ``hash()``, which changes from
    one process to the next; this polynomial hash gives the same
    fingerprints, hence the same report, on every run.
    """
    import numpy as np

    codes = np.frombuffer(text.encode("utf-32-le", errors="replace"), dtype=np.uint32).astype(np.uint64)
    if len(codes) < k:
        return np.zeros(0, dtype=np.int64)
    powers = np.power(np.uint64(1_000_003), np.arange(k - 1, -1, -1, dtype=np.uint64))
    windows = np.lib.stride_tricks.sliding_window_view(codes, k)
    with np.errstate(over="ignore"):
        return (windows * powers).sum(axis=1, dtype=np.uint64).view(np.int64)


def all_kgrams(code):
    """Every k-gram hash of normalised ``code`` (for the starter code)."""
    hashes = set()
    for piece in _pieces(code):
        filtered = _filtered(piece)
        if len(filtered) >= K:
            hashes.update(int(h) for h in hashed_kgrams(filtered, K))
    return hashes


def fingerprints(code, boilerplate=frozenset()):
    """The winnowed fingerprints of ``code``, order-independent, starter code removed."""
    from copydetect.utils import winnow

    prints = set()
    for piece in _pieces(code):
        filtered = _filtered(piece)
        if len(filtered) < K:
            continue
        hashes, _ = winnow(hashed_kgrams(filtered, K), WINDOW)
        prints.update(int(h) for h in hashes)
    return prints - boilerplate


def starter_code(exercise):
    """The starter file of ``exercise`` (``exercises/<exercise>.py``; '' when there is none)."""
    try:
        return (k2l_course.ROOT / "exercises" / f"{exercise}.py").read_text()
    except OSError:
        return ""


@functools.lru_cache(maxsize=None)
def starter_boilerplate(exercise):
    """The k-grams of the starter file of ``exercise`` (empty when there is none)."""
    return frozenset(all_kgrams(starter_code(exercise)))


@functools.lru_cache(maxsize=None)
def _starter_copydetect_hashes(starter):
    """The starter's k-grams as copydetect hashes them (for the side-by-side view)."""
    from copydetect.detector import CodeFingerprint

    return frozenset(CodeFingerprint("starter.py", K, 1, fp=io.StringIO(starter)).hashes) if starter else frozenset()


def scores(prints):
    """Pairwise weighted containment of fingerprint sets (see the module's step 5).

    Parameters
    ----------
    prints : dict
        student -> set of fingerprints.

    Returns
    -------
    dict
        ``(a, b) -> score`` for a < b, every pair of students given.
    """
    import numpy as np
    from scipy import sparse

    students = sorted(prints)
    index, rows, cols = {}, [], []
    for r, student in enumerate(students):
        for h in prints[student]:
            cols.append(index.setdefault(h, len(index)))
            rows.append(r)
    n = len(students)
    if n < 2:
        return {}
    matrix = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, max(1, len(index))))
    df = np.asarray(matrix.sum(axis=0)).ravel()
    idf = np.log((n + 1) / (df + 1)) + 1e-9
    weighted = matrix.multiply(idf[None, :]).tocsr()
    mass = np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel()
    dots = (weighted @ weighted.T).toarray()
    rows, cols = np.triu_indices(n, k=1)
    smaller = np.minimum(mass[rows], mass[cols])
    values = np.divide(dots[rows, cols], smaller, out=np.zeros(len(rows)), where=smaller > 0)
    values = np.clip(np.round(values, 9), 0.0, 1.0)  # identical sets give exactly 1 (ties rank as ties)
    return {(students[i], students[j]): float(v) for i, j, v in zip(rows.tolist(), cols.tolist(), values.tolist())}


def robust_z(values):
    """``(median, scale)`` of a score distribution (1.4826 MAD, at least MIN_SCALE)."""
    import numpy as np

    values = np.asarray(values, dtype=float)
    median = float(np.median(values))
    mad = float(np.median(np.abs(values - median)))
    return median, max(1.4826 * mad, MIN_SCALE)


def _regions(code, slices):
    """``[(text, highlighted)]`` of ``code`` with the matching slices marked."""
    parts, position = [], 0
    for start, end in sorted(zip(slices[0].tolist(), slices[1].tolist())) if len(slices) and len(slices[0]) else []:
        start, end = max(int(start), position), int(end)
        if start > position:
            parts.append((code[position:start], False))
        if end > start:
            parts.append((code[start:end], True))
            position = end
    parts.append((code[position:], False))
    return [(text, marked) for text, marked in parts if text]


def side_by_side(code_a, code_b, starter):
    """The matching regions of two files, as copydetect finds them (starter code left out)."""
    import numpy as np
    from copydetect.detector import CodeFingerprint, compare_files

    code_a, code_b = code_a[:MAX_SHOWN_CHARS], code_b[:MAX_SHOWN_CHARS]
    boilerplate = _starter_copydetect_hashes(starter)
    boilerplate = np.array(sorted(boilerplate), dtype=np.int64) if boilerplate else []
    one = CodeFingerprint("a.py", K, WINDOW, boilerplate=boilerplate, fp=io.StringIO(code_a))
    two = CodeFingerprint("b.py", K, WINDOW, boilerplate=boilerplate, fp=io.StringIO(code_b))
    _, _, (slices_a, slices_b) = compare_files(one, two)
    return _regions(code_a, slices_a), _regions(code_b, slices_b)


def _file_fingerprints(job):
    path, boilerplate = job
    return fingerprints(read_code(path), boilerplate)


def _map(function, jobs):
    """``[function(job) ...]``, on every core when there are many jobs (tokenising is the slow part)."""
    workers = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1, 8)
    if workers < 2 or len(jobs) < 64:
        return [function(job) for job in jobs]
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(workers) as pool:  # no fork of a grader that holds TensorFlow
        return pool.map(function, jobs, chunksize=16)


def analyse_files(files, progress=False):
    """Score and flag the pairs of a class.

    Parameters
    ----------
    files : dict
        exercise -> {student: path of the file that counted}.

    Returns
    -------
    Findings
    """
    import numpy as np

    flags, pairs, all_scores = [], {}, {}
    for exercise, by_student in files.items():
        boilerplate = starter_boilerplate(exercise)
        students = list(by_student)
        found = _map(_file_fingerprints, [(by_student[s], boilerplate) for s in students])
        prints = {s: p for s, p in zip(students, found) if len(p) >= MIN_FINGERPRINTS}
        exercise_scores = scores(prints)
        all_scores[exercise] = exercise_scores
        pairs[exercise] = len(exercise_scores)
        if len(exercise_scores) < 3:
            continue
        values = np.fromiter(exercise_scores.values(), dtype=float)
        median, scale = robust_z(values)
        ordered = np.sort(values)
        for (a, b), score in exercise_scores.items():
            z = (score - median) / scale
            if z >= Z_FLAG and score >= MIN_SCORE:
                percentile = float(np.searchsorted(ordered, score, side="right") / len(ordered) * 100)
                flags.append(Flag(a, b, exercise, score, z, percentile, median,
                                  Path(by_student[a]).name, Path(by_student[b]).name))  # fmt: skip
    flags.sort(key=lambda f: (-f.z, f.exercise, f.a, f.b))
    by_pair = {}
    for flag in flags:
        by_pair.setdefault((flag.a, flag.b), []).append(flag)
    flagged_pairs = list(by_pair.items())
    for flag in (f for _, pair_flags in flagged_pairs[:MAX_FLAGS] for f in pair_flags):
        files_of = files[flag.exercise]
        try:
            flag.regions_a, flag.regions_b = side_by_side(
                read_code(files_of[flag.a]), read_code(files_of[flag.b]), starter_code(flag.exercise)
            )
        except Exception:  # the view is a convenience; the flag stands without it
            flag.regions_a = [(read_code(files_of[flag.a])[:MAX_SHOWN_CHARS], False)]
            flag.regions_b = [(read_code(files_of[flag.b])[:MAX_SHOWN_CHARS], False)]
    method = (
        f"Compared {sum(pairs.values())} pairs of graded files (per exercise) with copydetect's winnowing "
        f"(MOSS's method; k = {K} normalised characters, window {WINDOW}) after removing the starter code and "
        f"normalising names, comments, layout and function order; a score is the IDF-weighted share of the smaller "
        f"file's fingerprints found in the other. "
        f"A pair is flagged when its robust z-score against the class (median, 1.4826 MAD) is at least "
        f"{Z_FLAG:g} and its similarity at least {MIN_SCORE:g}."
    )
    return Findings(flags, pairs, all_scores, method, flagged_pairs)


def graded_files(records, submissions):
    """exercise -> {student: path} of the files that counted, from the records."""
    submissions = Path(submissions)
    files = {}
    for record in records:
        chosen = record.get("chosen") or {}
        if not isinstance(chosen, dict):
            continue
        student = record["student"]
        base = submissions / _folder_name(record)
        for exercise, name in chosen.items():
            if not isinstance(name, str) or not isinstance(exercise, str):
                continue
            path = base / name if base.is_dir() else base.parent / name
            try:
                if submissions.resolve() not in path.resolve().parents:
                    continue
            except (OSError, RuntimeError):
                continue
            if path.is_file() and not path.is_symlink():
                files.setdefault(exercise, {})[student] = path
    return files


def _folder_name(record):
    """The submission's file-system name: from the record's ``key`` (reversible %XX quoting) when it has one."""
    import os
    import urllib.parse

    key = record.get("key")
    if isinstance(key, str) and "~" not in key:
        return os.fsdecode(urllib.parse.unquote_to_bytes(key))
    return record["student"]


def analyse(records, submissions):
    """The similarity findings of a graded class (see :func:`analyse_files`)."""
    return analyse_files(graded_files(records, submissions))
