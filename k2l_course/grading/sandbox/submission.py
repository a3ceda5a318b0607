"""A student's file as Python code: ``.py`` as is, ``.ipynb`` code cells.

This runs inside the sandboxed child (the file is untrusted input). A notebook
is read with :mod:`json` (no nbformat validation, which a hand-edited notebook
may fail); each code cell becomes one unit. IPython-only syntax (``%magic``,
``!shell``, ``x = !cmd``, ``%%cell`` magics) is neutralized only where the
unit does not already compile as Python, so ordinary code is never rewritten:
line magics and shell lines become ``pass``, a cell magic of a non-Python
cell (``%%bash``, ``%%writefile`` ...) drops the cell, a cell magic that wraps
Python (``%%time``, ``%%capture`` ...) keeps its body. Cells tagged
:data:`CHECK_TAG` in their metadata (the notebook's own "check this
notebook" cell) are never run.

Pure Python, standard library only: the portable sandbox and the
parsing child of :func:`k2l_course.grading.sandbox.defined_functions` reuse it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

#: Tag (in a cell's ``metadata.tags``) of cells never run by the sandbox.
CHECK_TAG = "k2l-check"

#: Cell magics whose body is Python code (run it, without the magic).
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug", "python", "python3"}

_ASSIGN_MAGIC = re.compile(r"^(\s*)([A-Za-z_][\w\.\[\], ]*?)\s*=\s*[!%].*$")


@dataclass
class Unit:
    """One piece of code to compile and run: a whole ``.py`` or one cell."""

    #: Where it is, as Jupyter shows it: "cell 4" counts every cell from the top
    #: (markdown too), "cell 4, In [7]" adds the execution count beside it.
    #: "line" numbers are relative to this.
    label: str
    source: str


def read_units(path, text):
    """The code units of a submission.

    Parameters
    ----------
    path : str
        File name (only its suffix matters: ``.ipynb`` or anything else).
    text : str
        The file's content.

    Returns
    -------
    list of Unit

    Raises
    ------
    ValueError
        If a notebook is not valid notebook JSON.
    """
    if not str(path).endswith(".ipynb"):
        return [Unit("", text)]
    try:
        notebook = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise ValueError(f"the notebook is not valid JSON ({error})") from None
    if type(notebook) is not dict or type(notebook.get("cells")) is not list:
        raise ValueError("the notebook has no list of cells")
    units = []
    for number, cell in enumerate(notebook["cells"], start=1):  # every cell counts, as on the screen
        if type(cell) is not dict or cell.get("cell_type") != "code":
            continue
        metadata = cell.get("metadata")
        tags = metadata.get("tags") if type(metadata) is dict else None
        if type(tags) is list and CHECK_TAG in tags:
            continue
        source = cell.get("source", "")
        if type(source) is list:
            source = "".join(part for part in source if type(part) is str)
        if type(source) is not str:
            continue
        count = cell.get("execution_count")
        shown = f", In [{count}]" if type(count) is int else ""  # the number Jupyter shows beside it
        units.append(Unit(f"cell {number}{shown}", source))
    return units


def neutralize_magics(source):
    """Replace IPython-only syntax by plain Python with the same line numbers.

    Parameters
    ----------
    source : str
        A cell or file.

    Returns
    -------
    str or None
        The rewritten code, or None when the whole unit is a non-Python cell
        magic (``%%bash`` ...) and must be skipped.
    """
    lines = source.split("\n")
    first = lines[0].strip() if lines else ""
    if first.startswith("%%"):
        magic = first[2:].split(maxsplit=1)[0] if first[2:].strip() else ""
        if magic not in PYTHON_CELL_MAGICS:
            return None
        lines[0] = ""
    rewritten = []
    for line in lines:
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        if stripped.startswith(("%", "!")):
            rewritten.append(f"{indent}pass")
            continue
        match = _ASSIGN_MAGIC.match(line)
        if match:
            rewritten.append(f"{match.group(1)}{match.group(2)} = None")
            continue
        rewritten.append(line)
    return "\n".join(rewritten)


def top_level_functions(path, text):
    """Names of the top-level functions ``text`` defines (parsed, never run).

    Notebook code cells are parsed one by one; a cell (or file) that does not
    parse is skipped. Call only in a bounded process: parsing untrusted text
    can take much memory.

    Returns
    -------
    list of str
        Sorted names; empty when nothing parses (or the notebook is unreadable).
    """
    import ast

    try:
        units = read_units(str(path), text)
    except ValueError:
        return []
    names = set()
    for unit in units:
        for source in (unit.source, neutralize_magics(unit.source)):
            if source is None:
                continue
            try:
                tree = ast.parse(source)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                continue
            names.update(node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)))
            break
    return sorted(names)
