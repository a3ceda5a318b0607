"""Which file counts for which exercise: the one rule of ``k2l check`` and ``k2l grade``.

The rule
--------
A submission is a folder, or a single ``.py`` / ``.ipynb`` file.

1. In a folder, only the files at its top level count. (A folder that holds
   nothing but one folder, as zips often do, is looked into instead, up to
   three levels.)
2. ``<exercise>.ipynb`` or ``<exercise>.py`` is the work for that exercise.
   When both exist, the more recently modified counts (the notebook when
   they were modified at the same time).
3. Another ``.py`` / ``.ipynb`` at the top level counts for an exercise that
   has no file named for it when it defines one of that exercise's graded
   functions; when several do, the most recently modified counts.
4. A single-file submission counts for the exercise it is named after, else
   for every exercise whose graded functions it defines.

Everything else is skipped, and listed with the reason (in the report of
``k2l check``, a student's feedback and the batch summary of ``k2l grade``):
hidden entries (``.name``), folders, symbolic links, archives (unpack them
first), other kinds of files, files larger than
:data:`~k2l_course.grading.sandbox.MAX_SUBMISSION_BYTES`, and the copies that lost to
another file under rules 2 and 3.

Files are never parsed or run here: which functions a file defines is asked
of the sandbox (:func:`defined_functions`). Names are file-system names:
they may be any bytes, and are shown with :func:`display_name`.
"""

from __future__ import annotations

import hashlib
import os
import stat
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from k2l_course.grading import sandbox
from k2l_course.grading.sandbox import MAX_SUBMISSION_BYTES

SUFFIXES = (".ipynb", ".py")
#: The rule, as ``k2l check --help`` and ``k2l grade --help`` show it.
RULE = """\
which file counts for an exercise (k2l check and k2l grade apply the same rule):
  - a submission is a folder, or a single .py / .ipynb file;
  - in a folder, only files at its top level count (a folder holding nothing but
    one folder, as zips often do, is looked into instead);
  - <exercise>.ipynb or <exercise>.py is the work for that exercise; if both
    exist, the more recently modified counts (the notebook on a tie);
  - another .py / .ipynb at the top counts for an exercise without a file of
    its own when it defines that exercise's graded functions (the newest, if
    several do); a single-file submission counts for the exercise it is named
    after, else for every exercise whose functions it defines;
  - everything else is skipped and listed with the reason: hidden entries,
    folders, symbolic links, archives, other files, files over 20 MB, and the
    copies that lost to another file."""
ARCHIVES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar")
#: How many wrapper folders (a folder holding only one folder) are looked into.
MAX_WRAPPERS = 3
#: Most files not named for an exercise that are looked at, per submission.
MAX_OTHERS = 12


def max_bytes():
    """The largest file a submission may hold (the sandbox's limit, one place)."""

    return MAX_SUBMISSION_BYTES


# --- names -----------------------------------------------------------------------------------


def display_name(name):
    """A file-system name as readable, valid UTF-8 text.

    Bytes that are not UTF-8 are shown as ``\\xNN`` and unprintable
    characters (newlines, controls, lone surrogates) as Python escapes, so
    the text can go into any file, CSV cell or terminal.
    """
    text = os.fsencode(name).decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def safe_text(text):
    """``text`` with anything that cannot be written as UTF-8 escaped (lone surrogates)."""
    text = str(text)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def safe_key(name):
    """A unique, reversible, portable file name for a student id (any bytes).

    Letters, digits and ``-_.+@,=`` are kept; every other byte becomes
    ``%XX`` (``urllib.parse.unquote_to_bytes`` reverses it). Ids whose key
    would be too long for a file name end in a digest instead (unique, not
    reversible; the record keeps the id).
    """
    raw = os.fsencode(name)
    key = urllib.parse.quote(raw, safe="-_.+@,=")
    if key.startswith("."):
        key = "%2E" + key[1:]
    if len(key) > 200:
        key = key[:160] + "~" + hashlib.sha256(raw).hexdigest()[:32]
    return key


# --- which functions a file defines -----------------------------------------------------------


def defined_functions(path):
    """Top-level function names a student's file defines (empty when it cannot be parsed).

    Asked of the sandbox (:func:`k2l_course.grading.sandbox.defined_functions`): the
    file is parsed in a child process with a memory and time limit, never in
    this one.
    """

    return frozenset(sandbox.defined_functions(path))


# --- the plan ------------------------------------------------------------------------------------


@dataclass
class Skipped:
    """An entry of a submission that does not count, and why."""

    name: str  # as shown (relative to the submission, escaped)
    reason: str

    def __str__(self):
        return f"{self.name}: {self.reason}"


@dataclass
class Plan:
    """What counts in one submission.

    Attributes
    ----------
    runs : dict of Path -> list of str
        Each file that counts and the exercises it counts for (course order).
    names : dict of Path -> str
        How each file is shown (relative to the submission).
    notes : list of str
        Why a file was chosen when there was a choice.
    skipped : list of Skipped
    """

    runs: dict = field(default_factory=dict)
    names: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    skipped: list = field(default_factory=list)

    def chosen(self):
        """``{exercise: file}``."""
        return {exercise: path for path, exercises in self.runs.items() for exercise in exercises}


@dataclass
class Listing:
    """A submission's entries, sorted into kinds (no file is opened).

    Attributes
    ----------
    root : Path
        Where the work is (inside any wrapper folders).
    named : dict of str -> list of Path
        Files named for each exercise.
    others : list of Path
        Other ``.py`` / ``.ipynb`` files.
    skipped : list of Skipped
    notes : list of str
    single : bool
        A single-file submission.
    """

    root: Path
    named: dict = field(default_factory=dict)
    others: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    single: bool = False

    def candidates(self):
        return [p for paths in self.named.values() for p in paths] + list(self.others)


def _stem(name):
    return name.rsplit(".", 1)[0]


def _kind(info):
    if stat.S_ISLNK(info.st_mode):
        return "a symbolic link"
    if stat.S_ISDIR(info.st_mode):
        return "a folder"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    return None


def _file_reason(name, info):
    """Why a regular file at the top of a submission cannot count, or None."""
    lower = name.lower()
    if lower.endswith(ARCHIVES):
        return "an archive: unpack it into the submission instead"
    if not lower.endswith(SUFFIXES) or not name.endswith(SUFFIXES):
        return "not a .py or .ipynb file"
    if info.st_size > max_bytes():
        return f"larger than {max_bytes() >> 20} MB"
    return None


def list_submission(path, exercises):
    """Sort the entries of a submission (folder or single file) without opening any file.

    Parameters
    ----------
    path : path-like
        A student's folder or single file.
    exercises : sequence of str

    Returns
    -------
    Listing
    """
    path = Path(path)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        listing = Listing(path.parent, single=True)
        name = path.name
        reason = _kind(info) or _file_reason(name, info)
        if reason:
            listing.skipped.append(Skipped(display_name(name), reason))
        elif _stem(name) in exercises:
            listing.named[_stem(name)] = [path]
        else:
            listing.others.append(path)
        return listing
    root, prefix, notes = path, "", []
    for _ in range(MAX_WRAPPERS):
        entries = [e for e in _scan(root) if not _ignored(e.name)]
        if len(entries) == 1 and entries[0].is_dir(follow_symlinks=False):
            prefix += entries[0].name + "/"
            root = Path(entries[0].path)
            notes.append(f"the work was found in the folder {display_name(prefix.rstrip('/'))}")
            continue
        break
    listing = Listing(root, notes=notes)
    for entry in _scan(root):
        name = entry.name
        shown = display_name(prefix + name)
        if name.startswith("."):
            listing.skipped.append(Skipped(shown, "a hidden entry"))
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError as error:
            listing.skipped.append(Skipped(shown, f"cannot be read ({error.strerror})"))
            continue
        kind = _kind(info)
        if kind == "a folder":
            listing.skipped.append(Skipped(shown, "a folder: only files at the top of the submission count"))
            continue
        reason = kind or _file_reason(name, info)
        if reason:
            listing.skipped.append(Skipped(shown, reason))
        elif _stem(name) in exercises:
            listing.named.setdefault(_stem(name), []).append(Path(entry.path))
        else:
            listing.others.append(Path(entry.path))
    return listing


def _scan(folder):
    try:
        return sorted(os.scandir(folder), key=lambda entry: os.fsencode(entry.name))
    except OSError:
        return []


def _ignored(name):
    """Entries that do not stop a folder from being a wrapper (hidden, macOS zip metadata)."""
    return name.startswith(".") or name == "__MACOSX"


def _modified(path):
    try:
        return os.lstat(path).st_mtime_ns
    except OSError:
        return 0


def plan(listing, functions, exercise=None, defines=defined_functions):
    """Apply the rule (module doc) to a listing.

    Parameters
    ----------
    listing : Listing
    functions : dict of str -> set of str
        The graded functions of each exercise (course order).
    exercise : str, optional
        Only this exercise (``k2l check EXERCISE PATH``). A single file is
        then checked for it whatever its name.
    defines : callable
        ``defines(path) -> set of function names`` (the sandbox's parser).

    Returns
    -------
    Plan
    """
    exercises = [e for e in functions if exercise in (None, e)]
    result = Plan(notes=list(listing.notes), skipped=list(listing.skipped))

    def name(path):
        return display_name(os.path.relpath(path, listing.root)) if not listing.single else display_name(path.name)

    counts = {}
    if listing.single and exercise is not None and listing.candidates():
        counts[exercise] = listing.candidates()[0]
    for ex in exercises:
        if ex in counts:
            continue
        paths = listing.named.get(ex, [])
        if not paths:
            continue
        best = max(paths, key=lambda p: (_modified(p), p.suffix == ".ipynb"))
        counts[ex] = best
        for other in paths:
            if other == best:
                continue
            if _modified(other) == _modified(best):
                why = f"both {name(best)} and {name(other)} exist, modified at the same time: the notebook counts"
            else:
                why = f"{name(best)} is newer than {name(other)}, so it counts"
            result.skipped.append(Skipped(name(other), f"another copy of {ex}: {why}"))
            result.notes.append(f"{ex}: {why}")
    others = [p for p in listing.others if not (listing.single and exercise is not None)]
    looked, too_many = others[:MAX_OTHERS], others[MAX_OTHERS:]
    for path in too_many:
        result.skipped.append(Skipped(name(path), f"more than {MAX_OTHERS} other files: only the first {MAX_OTHERS} are looked at"))
    open_exercises = [ex for ex in exercises if ex not in counts]
    covering = {}
    for path in looked:
        names = set(defines(path)) if open_exercises else set()
        covering[path] = [ex for ex in open_exercises if names & set(functions[ex])]
    for ex in open_exercises:
        candidates = [p for p in looked if ex in covering[p]]
        if candidates:
            counts[ex] = max(candidates, key=lambda p: (_modified(p), [-b for b in os.fsencode(p.name)]))
            if len(candidates) > 1:
                result.notes.append(f"{ex}: {len(candidates)} files define its functions; the newest, {name(counts[ex])}, counts")
    used = set(counts.values())
    for path in looked:
        if path in used:
            continue
        if covering[path]:
            why = "other files that define the same functions are newer"
        elif listing.single or exercise is None:
            why = "defines none of the graded functions (or could not be parsed)"
        else:
            why = f"defines none of the graded functions of {exercise} (or could not be parsed)"
        if open_exercises or listing.single:
            result.skipped.append(Skipped(name(path), f"does not count: {why}"))
        else:
            result.skipped.append(Skipped(name(path), "does not count: every exercise has its own file"))
    for ex in functions:
        if ex in counts:
            result.runs.setdefault(counts[ex], []).append(ex)
    result.names = {path: name(path) for path in result.runs}
    return result
