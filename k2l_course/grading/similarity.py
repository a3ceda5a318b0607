"""Similarity flags: pairs of submissions far more alike than the class's usual spread.

The method is MOSS's (Schleimer, Wilkerson and Aiken, "Winnowing: local
algorithms for document fingerprinting", SIGMOD 2003), through copydetect:

1. **Normalise.** Each graded file (the one that counted for an exercise)
   is tokenised with pygments and normalised the way copydetect's
   ``filter_code`` does (:func:`normalise` gives the same text; it only
   keeps one lexer and classifies each token type once, 1.5x faster): every
   name becomes ``V`` (so renamed variables match), function names ``F``,
   strings ``S``; comments, whitespace and layout are dropped. A notebook
   contributes its code cells.
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
6. **Candidates, not all pairs.** An inverted index maps each fingerprint
   to the files that hold it. Two files are candidates when they share a
   fingerprint held by at most ``COMMON_FILES`` files; fingerprints held by
   more (what the class writes alike, boilerplate left from the stub) make
   no candidates, as MOSS ignores passages found in more than ``-m``
   documents. Files with the same bytes are candidates among themselves
   however many they are (a copy handed round). Only candidates get the
   exact score of step 5 (over all their fingerprints, common ones
   included), so a synthetic class of 10,000 scores about 46,000 pairs,
   not 50 million (``benchmarks/similarity.py``). A pair that shares only
   common fingerprints is not flagged even if it would score above
   ``MIN_SCORE``: on the planted class of ``tests/test_similarity.py`` the
   flags are those of scoring every pair; on the synthetic classes of
   ``benchmarks/synthetic_class.py`` the pairs scoring every pair adds are
   a cluster of files equal to the reference solution in everything
   graded (the natural answer, written alike by many).
7. **Against the class.** Per exercise, each candidate's score is set
   against the distribution of the pairs' scores: robust z = (score -
   median) / (1.4826 MAD, at least ``MIN_SCALE``) and the percentile. The
   distribution is that of all pairs when a class has at most
   ``EXACT_PAIRS`` pairs, else of a uniform random sample of
   ``SAMPLE_PAIRS`` pairs (fixed seed, so the same report on every run). A
   pair is flagged when z >= ``Z_FLAG`` and the score >= ``MIN_SCORE``.

Fingerprints are computed once per file content: :class:`FingerprintStore`
keeps them (before the starter code is removed) in
``OUT/similarity/fingerprints.sqlite``, keyed by the SHA-256 of the file's
bytes and by the method (``K``, ``WINDOW``, the normaliser's version), so a
rerun or a class that grows fingerprints only new or changed files. After
each pass the store keeps only the rows of the files that pass read (a
resubmitted or removed file's rows, and another method's, are dropped), so it
never outgrows the class.

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
import hashlib
import io
import os
import re
import sqlite3
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
#: A fingerprint held by more files than this makes no candidate pairs (MOSS's ``-m``; 10 missed 9 of 200 planted pairs at 10,000 students).
COMMON_FILES = 20
#: A class with at most this many pairs per exercise has its score distribution taken over all pairs...
EXACT_PAIRS = 200_000
#: ...a larger one over a uniform random sample of this many pairs.
SAMPLE_PAIRS = 200_000
#: Seed of that sample.
SAMPLE_SEED = 20261207
#: Version of the normalisation and hashing (part of the fingerprint store's key: bump on any change).
FINGERPRINT_VERSION = 1
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
    pairs: dict  # exercise -> number of pairs of students with enough own code (all considered)
    scores: dict  # exercise -> {(a, b): score} of the pairs scored exactly (the candidates)
    method: str
    flagged_pairs: list = field(default_factory=list)  # [((a, b), [Flag, ...])], strongest pair first
    fingerprinted: dict = field(default_factory=dict)  # exercise -> files fingerprinted now (others: from the store)
    distribution: dict = field(default_factory=dict)  # exercise -> (median, scale, number of pairs it is made of)


def read_bytes(path):
    """The bytes of a submission file (b'' when unreadable or larger than ``MAX_FILE_BYTES``)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError:
        return b""
    return b"" if len(data) > MAX_FILE_BYTES else data


def code_of(name, data):
    """The code in a submission file's bytes (a notebook's code cells), as text; never executed."""
    text = data.decode("utf-8", errors="replace")
    try:
        units = read_units(str(name), text)
    except (ValueError, RecursionError, MemoryError):
        return ""
    return "\n".join(unit.source for unit in units)


def read_code(path):
    """The code of a submission file as text ('' when unreadable), never executed."""
    data = read_bytes(path)
    return code_of(path, data) if data else ""


@functools.lru_cache(maxsize=None)
def _lexer():
    from pygments import lexers

    return lexers.get_lexer_by_name("python")


@functools.lru_cache(maxsize=None)
def _kind(ttype):
    """What copydetect's ``filter_code`` writes for a token type: a letter, '' (dropped), None (the text), or "string"."""
    from pygments import token

    if ttype in {token.Name, token.Name.Variable, token.Name.Attribute}:
        return "V"
    if ttype in token.Name.Function:
        return "F"
    if ttype in token.Name.Class:
        return "O"
    if ttype == token.Comment.Preproc or ttype == token.Comment.Hashbang:
        return "P"
    if ttype in token.Text or ttype in token.Comment:
        return ""
    if ttype in token.Literal.String:
        return "string"
    return None


def normalise(code):
    """``code`` normalised as copydetect's ``filter_code(code, language="python")`` does (its first result).

    The same text, token by token; one lexer is kept and each token type is
    classified once instead of on every token.
    """
    out = []
    for ttype, text in _lexer().get_tokens(code):
        kind = _kind(ttype)
        if kind is None:
            out.append(text)
        elif kind == "string":
            out.append('"' if text in ("'", '"') else "S")
        else:
            out.append(kind)
    return "".join(out)


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
        filtered = normalise(piece)
        if len(filtered) >= K:
            hashes.update(int(h) for h in hashed_kgrams(filtered, K))
    return hashes


def raw_fingerprints(code):
    """The winnowed fingerprints of ``code``, order-independent, as a sorted int64 array (starter code kept)."""
    import numpy as np
    from copydetect.utils import winnow

    found = [np.zeros(0, dtype=np.int64)]
    for piece in _pieces(code):
        filtered = normalise(piece)
        if len(filtered) < K:
            continue
        hashes, _ = winnow(hashed_kgrams(filtered, K), WINDOW)
        found.append(np.asarray(hashes, dtype=np.int64))
    return np.unique(np.concatenate(found))


def fingerprints(code, boilerplate=frozenset()):
    """The winnowed fingerprints of ``code``, order-independent, starter code removed."""
    return {int(h) for h in raw_fingerprints(code).tolist()} - boilerplate


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


def method_key():
    """What the stored fingerprints depend on (the store's key besides the file's digest)."""
    import copydetect
    import pygments

    return (f"v{FINGERPRINT_VERSION} k{K} w{WINDOW} pygments {pygments.__version__} "
            f"copydetect {getattr(copydetect, '__version__', '?')}")  # fmt: skip


def file_digest(name, data):
    """The store's key of a file: SHA-256 of its kind (``.py`` / ``.ipynb``) and bytes."""
    return hashlib.sha256(Path(str(name)).suffix.lower().encode() + b"\0" + data).hexdigest()


class FingerprintStore:
    """Fingerprints of file contents, kept between runs (``OUT/similarity/fingerprints.sqlite``).

    Parameters
    ----------
    path : path-like
        The SQLite file (created with its folder when missing).

    Notes
    -----
    A row is ``(method, digest, fingerprints)``: the fingerprints (before the
    starter code is removed, int64 little-endian) of the file whose bytes
    have that SHA-256, by the method :func:`method_key` names. A changed file
    has another digest, so it is fingerprinted again; another method never
    reads this one's rows. An unreadable store is replaced, never trusted.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.method = method_key()
        try:
            self._connection = self._open()
        except sqlite3.DatabaseError:
            self.path.unlink(missing_ok=True)
            self._connection = self._open()

    def _open(self):
        connection = sqlite3.connect(str(self.path))
        connection.execute("CREATE TABLE IF NOT EXISTS prints (method TEXT, digest TEXT, data BLOB, "
                           "PRIMARY KEY (method, digest))")  # fmt: skip
        connection.commit()
        return connection

    def get(self, digests):
        """``{digest: int64 array}`` of the given digests held by the store."""
        import numpy as np

        wanted, found = set(digests), {}
        rows = self._connection.execute("SELECT digest, data FROM prints WHERE method = ?", (self.method,))
        for digest, data in rows:
            if digest in wanted and isinstance(data, bytes) and len(data) % 8 == 0:
                found[digest] = np.frombuffer(data, dtype="<i8").astype(np.int64)
        return found

    def put(self, prints):
        """Keep ``{digest: int64 array}``."""
        import numpy as np

        self._connection.executemany(
            "INSERT OR REPLACE INTO prints VALUES (?, ?, ?)",
            [(self.method, d, np.asarray(p, dtype="<i8").tobytes()) for d, p in prints.items()],
        )
        self._connection.commit()

    def keep_only(self, digests):
        """Drop every row but this method's rows of ``digests`` (the files of the pass just made)."""
        connection = self._connection
        connection.execute("CREATE TEMP TABLE IF NOT EXISTS kept (digest TEXT PRIMARY KEY)")
        connection.execute("DELETE FROM kept")
        connection.executemany("INSERT OR IGNORE INTO kept VALUES (?)", [(d,) for d in digests])
        dropped = connection.execute(
            "DELETE FROM prints WHERE method != ? OR digest NOT IN (SELECT digest FROM kept)", (self.method,)
        ).rowcount
        connection.commit()
        if dropped:
            connection.execute("VACUUM")  # (the file shrinks with the class)
        return dropped

    def digests(self):
        """The digests this method's rows hold."""
        return {d for (d,) in self._connection.execute("SELECT digest FROM prints WHERE method = ?", (self.method,))}

    def close(self):
        self._connection.close()


def _fingerprint_job(job):
    name, data = job
    return raw_fingerprints(code_of(name, data)) if data else raw_fingerprints("")


def _map(function, jobs, progress=None):
    """``[function(job) ...]``, on every core when there are many jobs (tokenising is the slow part)."""
    workers = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1, 8)
    if workers < 2 or len(jobs) < 64:
        results = []
        for job in jobs:
            results.append(function(job))
            if progress is not None:
                progress.update(1)
        return results
    import multiprocessing

    results = []
    with multiprocessing.get_context("spawn").Pool(workers) as pool:  # no fork of a grader that holds TensorFlow
        for result in pool.imap(function, jobs, chunksize=32):
            results.append(result)
            if progress is not None:
                progress.update(1)
    return results


class _Class:
    """The fingerprints of one exercise's files as an IDF-weighted sparse matrix (students x fingerprints)."""

    def __init__(self, students, prints):
        import numpy as np
        from scipy import sparse

        self.students = students
        n = len(students)
        lengths = np.array([len(p) for p in prints], dtype=np.int64)
        values = np.concatenate(prints) if prints else np.zeros(0, dtype=np.int64)
        self.hashes, columns = np.unique(values, return_inverse=True)
        rows = np.repeat(np.arange(n), lengths)
        self.binary = sparse.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(n, max(1, len(self.hashes))))
        self.binary.sort_indices()
        self.df = np.asarray(self.binary.sum(axis=0)).ravel()
        idf = np.log((n + 1) / (self.df + 1)) + 1e-9
        self.weighted = self.binary.multiply(idf[None, :]).tocsr()
        self.mass = np.asarray(self.weighted.multiply(self.weighted).sum(axis=1)).ravel()

    def scores(self, i, j, chunk=20000):
        """Weighted containment (step 5) of the pairs ``(i[k], j[k])`` of rows."""
        import numpy as np

        out = np.zeros(len(i))
        for start in range(0, len(i), chunk):
            a, b = i[start : start + chunk], j[start : start + chunk]
            dots = np.asarray(self.weighted[a].multiply(self.weighted[b]).sum(axis=1)).ravel()
            smaller = np.minimum(self.mass[a], self.mass[b])
            out[start : start + chunk] = np.divide(dots, smaller, out=np.zeros(len(a)), where=smaller > 0)
        return np.clip(np.round(out, 9), 0.0, 1.0)  # identical sets give exactly 1 (ties rank as ties)

    def all_pairs(self):
        import numpy as np

        return np.triu_indices(len(self.students), k=1)

    def candidates(self, common_files=COMMON_FILES, groups=()):
        """The pairs ``(i, j)``, i < j, that share a fingerprint held by 2 to ``common_files`` files.

        ``groups``: lists of rows that are candidates among themselves whatever their fingerprints
        (the files with the same bytes: a copy handed round more than ``common_files`` times).
        """
        import numpy as np
        from scipy import sparse

        rare = np.flatnonzero((self.df >= 2) & (self.df <= common_files))
        index = self.binary[:, rare].tocsc()  # the inverted index: fingerprint -> files
        shared = sparse.triu(index @ index.T, k=1).tocoo()
        rows, cols = [shared.row.astype(np.int64)], [shared.col.astype(np.int64)]
        for group in groups:
            if len(group) > 1:
                i, j = np.triu_indices(len(group), k=1)
                rows.append(np.asarray(group, dtype=np.int64)[i])
                cols.append(np.asarray(group, dtype=np.int64)[j])
        pairs = np.unique(np.stack([np.concatenate(rows), np.concatenate(cols)]), axis=1)
        return pairs[0], pairs[1]

    def distribution(self, rng_seed=SAMPLE_SEED):
        """The scores the candidates are set against: all pairs', or a uniform sample's (step 7)."""
        import numpy as np

        n = len(self.students)
        if n * (n - 1) // 2 <= EXACT_PAIRS:
            i, j = self.all_pairs()
        else:
            rng = np.random.default_rng(rng_seed)
            i = rng.integers(0, n, SAMPLE_PAIRS)
            j = (i + rng.integers(1, n, SAMPLE_PAIRS)) % n  # uniform over the other students
        return self.scores(i, j)


def analyse_files(files, store=None, progress=False, pairs="index", common_files=COMMON_FILES):
    """Score and flag the pairs of a class.

    Parameters
    ----------
    files : dict
        exercise -> {student: path of the file that counted}.
    store : path-like or FingerprintStore, optional
        Where fingerprints are kept between runs (``OUT/similarity/fingerprints.sqlite``); none: computed afresh.
    progress : bool
        Show a progress bar while fingerprinting.
    pairs : {"index", "all"}
        Score the candidates of the inverted index (step 6), or every pair (as before it, for comparisons).
    common_files : int
        A fingerprint held by more files makes no candidates.

    Returns
    -------
    Findings
    """
    import numpy as np
    from tqdm import tqdm

    if pairs not in ("index", "all"):
        raise ValueError(f"pairs must be 'index' or 'all', not {pairs!r}")
    owned = store is not None and not isinstance(store, FingerprintStore)
    if owned:
        store = FingerprintStore(store)
    flags, n_pairs, all_scores, fingerprinted, distributions = [], {}, {}, {}, {}
    read = set()
    try:
        for exercise, by_student in files.items():
            boilerplate = np.array(sorted(starter_boilerplate(exercise)), dtype=np.int64)
            students = list(by_student)
            contents = {}
            digests = []
            for student in students:
                data = read_bytes(by_student[student])
                digest = file_digest(by_student[student], data)
                contents.setdefault(digest, (str(by_student[student]), data))
                digests.append(digest)
            read.update(contents)
            known = store.get(contents) if store is not None else {}
            missing = [d for d in contents if d not in known]
            bar = tqdm(total=len(missing), desc=f"fingerprints {exercise}", unit="file", disable=not progress or not missing,
                       leave=False)  # fmt: skip
            with bar:
                computed = dict(zip(missing, _map(_fingerprint_job, [contents[d] for d in missing], bar)))
            if store is not None and computed:
                store.put(computed)
            fingerprinted[exercise] = len(computed)
            known.update(computed)
            kept, prints = [], []
            digest_of = dict(zip(students, digests))
            for student, digest in zip(students, digests):
                own = np.setdiff1d(known[digest], boilerplate, assume_unique=True)
                if len(own) >= MIN_FINGERPRINTS:
                    kept.append(student)
                    prints.append(own)
            n = len(kept)
            n_pairs[exercise] = n * (n - 1) // 2
            all_scores[exercise] = {}
            if n_pairs[exercise] < 3:
                continue
            matrix = _Class(kept, prints)
            if pairs == "all":
                i, j = matrix.all_pairs()
            else:
                same = {}
                for row, student in enumerate(kept):
                    same.setdefault(digest_of[student], []).append(row)
                i, j = matrix.candidates(common_files, [g for g in same.values() if len(g) > 1])
            values = matrix.scores(i, j)
            all_scores[exercise] = {(kept[a], kept[b]): float(v) for a, b, v in zip(i.tolist(), j.tolist(), values.tolist())}
            reference = values if pairs == "all" else matrix.distribution()
            median, scale = robust_z(reference)
            distributions[exercise] = (median, scale, len(reference))
            ordered = np.sort(reference)
            for a, b, score in zip(i.tolist(), j.tolist(), values.tolist()):
                z = (score - median) / scale
                if z >= Z_FLAG and score >= MIN_SCORE:
                    percentile = float(np.searchsorted(ordered, score, side="right") / len(ordered) * 100)
                    flags.append(Flag(kept[a], kept[b], exercise, score, z, percentile, median,
                                      Path(by_student[kept[a]]).name, Path(by_student[kept[b]]).name))  # fmt: skip
        if store is not None:
            store.keep_only(read)
    finally:
        if owned:
            store.close()
    for flag in flags:  # each pair in name order, as the flags and the planted truth name it
        if flag.b < flag.a:
            flag.a, flag.b, flag.file_a, flag.file_b = flag.b, flag.a, flag.file_b, flag.file_a
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
    scored = sum(len(s) for s in all_scores.values())
    sampled = any(size != n_pairs[e] for e, (_, _, size) in distributions.items())
    method = (
        f"Scored {scored} of {sum(n_pairs.values())} pairs of graded files (per exercise) with copydetect's "
        f"winnowing (MOSS's method; k = {K} normalised characters, window {WINDOW}) after removing the starter code "
        f"and normalising names, comments, layout and function order; a score is the IDF-weighted share of the "
        f"smaller file's fingerprints found in the other. "
        + ("Every pair was scored. " if pairs == "all" else
           f"The pairs scored are those sharing a fingerprint that at most {common_files} files hold (code most of "
           f"the class writes alike makes no candidates, as in MOSS). ")
        + f"A pair is flagged when its robust z-score against the class (median, 1.4826 MAD"
        + (f" of a uniform sample of {SAMPLE_PAIRS} pairs" if sampled else " of all pairs")
        + f") is at least {Z_FLAG:g} and its similarity at least {MIN_SCORE:g}."
    )
    return Findings(flags, n_pairs, all_scores, method, flagged_pairs, fingerprinted, distributions)

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


def analyse(records, submissions, store=None, progress=False):
    """The similarity findings of a graded class (see :func:`analyse_files`; ``store``: where fingerprints are kept)."""
    return analyse_files(graded_files(records, submissions), store=store, progress=progress)
