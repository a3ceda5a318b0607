"""The exercises: generated from the solutions, stubbed, and complete.

``solutions/<id>.py`` is the one source; ``exercises/`` is what
``k2l make-exercises`` makes of it, and must be up to date. A generated
exercise keeps every prompt and signature, shows no line of a solution, and
opens both as a notebook and as a Python file with the same cells.
"""

import ast
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from k2l_course import cli
from k2l_course.exercises import checks
from k2l_course.exercises.generate import (
    STUB,
    ExerciseSourceError,
    exercise_files,
    format_cells,
    generate,
    parse_cells,
    solution_regions,
    stale_files,
    stub_source,
)

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = {exercise: checks.chapter(exercise)[0] + ".md" for exercise in checks.EXERCISES}


def test_exercises_folder_is_up_to_date():
    assert stale_files(ROOT) == [], "exercises/ is stale: run 'k2l make-exercises'"


def test_make_exercises_check_fails_on_a_stale_folder_and_regenerates_it(tmp_path, capsys):
    shutil.copytree(ROOT / "solutions", tmp_path / "solutions")
    assert cli.main(["make-exercises", "--root", str(tmp_path), "--check"]) == 1
    assert cli.main(["make-exercises", "--root", str(tmp_path)]) == 0
    assert cli.main(["make-exercises", "--root", str(tmp_path), "--check"]) == 0
    generated = tmp_path / "exercises" / "ch3_scaling.py"
    generated.write_text(generated.read_text() + "\n# a student's edit\n")
    assert cli.main(["make-exercises", "--root", str(tmp_path), "--check"]) == 1
    assert "ch3_scaling.py" in capsys.readouterr().err


def test_make_exercises_needs_a_checkout(tmp_path, capsys):
    assert cli.main(["make-exercises", "--root", str(tmp_path)]) == 2
    assert "no solutions/" in capsys.readouterr().err


@pytest.mark.parametrize("exercise", checks.EXERCISES)
def test_no_solution_line_leaks_into_the_exercise(exercise):
    source = (ROOT / "solutions" / f"{exercise}.py").read_text()
    generated = (ROOT / "exercises" / f"{exercise}.py").read_text()
    notebook = (ROOT / "exercises" / f"{exercise}.ipynb").read_text()
    secret = solution_regions(source)
    assert secret
    code_lines = {line.strip() for line in generated.split("\n")}
    for line in secret:
        assert line not in code_lines, line
    assert "BEGIN SOLUTION" not in generated + notebook and "END SOLUTION" not in generated + notebook


@pytest.mark.parametrize("exercise", checks.EXERCISES)
def test_every_graded_function_keeps_its_signature_and_becomes_a_stub(exercise):
    def functions(text):
        return {node.name: node for node in ast.parse(text).body if isinstance(node, ast.FunctionDef)}

    solved = functions((ROOT / "solutions" / f"{exercise}.py").read_text())
    stubbed = functions((ROOT / "exercises" / f"{exercise}.py").read_text())
    for one in checks.items(exercise):
        assert one.function in solved and one.function in stubbed
        assert ast.dump(solved[one.function].args) == ast.dump(stubbed[one.function].args)
        assert ast.get_docstring(solved[one.function]) == ast.get_docstring(stubbed[one.function])
        body = stubbed[one.function].body
        assert isinstance(body[-1], ast.Raise) and "NotImplementedError" in ast.unparse(body[-1])


@pytest.mark.parametrize("exercise", checks.EXERCISES)
def test_notebook_and_python_file_hold_the_same_cells(exercise):
    py_cells = parse_cells((ROOT / "exercises" / f"{exercise}.py").read_text())
    notebook = nbformat.read(ROOT / "exercises" / f"{exercise}.ipynb", as_version=4)
    nbformat.validate(notebook)
    assert [(c.kind, c.source) for c in py_cells] == [(c.cell_type, c.source) for c in notebook.cells]
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    assert notebook.metadata.kernelspec.name == "python3"


@pytest.mark.parametrize("exercise", checks.EXERCISES)
def test_exercise_introduces_itself_links_its_chapter_and_lists_its_points(exercise):
    cells = parse_cells((ROOT / "exercises" / f"{exercise}.py").read_text())
    intro, grading = cells[0], cells[1]
    assert intro.kind == "markdown" and intro.source.startswith("# Exercise")
    link = re.search(r"\]\(\.\./book/([\w-]+\.md)\)", intro.source)
    assert link and link.group(1) == CHAPTERS[exercise]
    assert (ROOT / "book" / CHAPTERS[exercise]).is_file()
    assert f"k2l check {exercise}" in intro.source
    for one in checks.items(exercise):
        assert f"| `{one.function}` | {one.points:g} |" in grading.source
        assert any(f"`{one.function}`" in c.source for c in cells[2:] if c.kind == "markdown")  # its prompt
    assert f"**{checks.total_points(exercise):g}**" in grading.source


@pytest.mark.parametrize("exercise", checks.EXERCISES)
def test_try_it_cells_are_skipped_by_the_checker(exercise):
    # Code that calls the student's functions must sit under the main guard, so
    # that loading the file in the sandbox only defines functions.
    for cell in parse_cells((ROOT / "solutions" / f"{exercise}.py").read_text()):
        if cell.kind != "code":
            continue
        for node in ast.parse(cell.source).body:
            assert isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.If)), ast.unparse(node)[:80]
            if isinstance(node, ast.If):
                assert ast.unparse(node.test) == "__name__ == '__main__'"


def test_percent_format_round_trips():
    text = (ROOT / "exercises" / "ch2_activation.py").read_text()
    assert format_cells(parse_cells(text)) == text


def test_generation_is_deterministic():
    assert generate(ROOT) == generate(ROOT)
    readme = generate(ROOT)["README.md"]
    assert f"**{checks.ASSIGNMENT_TOTAL:g}**" in readme


GOOD = """# %% [markdown]
# # Exercise

# %%
def f(x):
    \"\"\"Doc.\"\"\"
    # BEGIN SOLUTION
    return x + 1
    # END SOLUTION
"""


def test_a_solution_region_becomes_a_stub_with_the_prompt_kept():
    stubbed = stub_source(GOOD)
    assert "return x + 1" not in stubbed
    assert "    " + STUB.format(function="f") in stubbed
    assert '"""Doc."""' in stubbed
    namespace = {}
    exec(stubbed.split("# %%\n", 1)[1], namespace)
    with pytest.raises(NotImplementedError):
        namespace["f"](1)


@pytest.mark.parametrize(
    "bad, message",
    [
        (GOOD.replace("    # END SOLUTION\n", ""), "never closed"),
        (GOOD.replace("    # BEGIN SOLUTION\n", ""), "without"),
        (GOOD.replace("    return x + 1\n", "    # BEGIN SOLUTION\n"), "inside the region"),
        (GOOD.replace("    # END SOLUTION", "# END SOLUTION"), "indentation"),
        ("# %%\n# BEGIN SOLUTION\nx = 1\n# END SOLUTION\n", "inside a function"),
        (GOOD.replace("    return x + 1\n", ""), "empty"),
    ],
)
def test_malformed_solution_regions_are_refused(bad, message):
    with pytest.raises(ExerciseSourceError, match=message):
        stub_source(bad, "sol.py")


def test_malformed_cells_are_refused():
    with pytest.raises(ExerciseSourceError, match="unknown cell option 'foo'"):
        parse_cells('# %% tags=["a"] foo=1\nx = 1\n')
    with pytest.raises(ExerciseSourceError, match="ch9_x.py"):
        parse_cells("# %% tags=[1]\nx = 1\n", "ch9_x.py")


def test_a_solution_must_open_with_its_markdown_introduction(tmp_path):
    solution = tmp_path / "ch9_x.py"
    solution.write_text("x = 1\n" + GOOD)  # code before the first cell marker is a code cell
    with pytest.raises(ExerciseSourceError, match="first cell should be the exercise's markdown introduction"):
        exercise_files(solution, "ch9_x")


def test_notebook_json_is_stable_text():
    text = (ROOT / "exercises" / "ch1_conversion.ipynb").read_text()
    ids = [cell["id"] for cell in json.loads(text)["cells"]]
    assert ids == [f"ch1_conversion-{i:02d}" for i in range(len(ids))]


@pytest.mark.parametrize("exercise", checks.EXERCISES)
def test_solution_runs_top_to_bottom_like_a_notebook(exercise, capsys):
    # What a student sees once every function is written: each try-it cell runs.
    import runpy

    runpy.run_path(str(ROOT / "solutions" / f"{exercise}.py"), run_name="__main__")
    assert capsys.readouterr().out.strip()
