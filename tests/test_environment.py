"""The locked environment: every package imports, the pins hold, pip agrees."""

import importlib
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

#: Every top-level module the course, the book and the tests import.
MODULES = [
    "tensorflow", "keras", "numpy", "scipy", "nengo", "nengo_dl", "nengo_loihi", "nengo_extras",
    "matplotlib", "tqdm", "nbformat", "mnist", "sphinx", "myst_nb", "myst_parser", "sphinx_book_theme",
    "sphinx_copybutton", "sphinx_design", "jupyter_cache", "ipykernel", "IPython", "pytest", "playwright",
    "jupyterlab", "jupyter_server.serverapp",
    # typing_extensions.TypeAliasType users: these crash on the wrong typing-extensions.
    "IPython.core.completer", "IPython.core.guarded_eval", "myst_nb.sphinx_ext",
]


def test_python_is_311():
    """The full course runs on 3.11 (the package itself, its student half, on 3.11 and later)."""
    assert sys.version_info[:2] == (3, 11)
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"


@pytest.mark.parametrize("module", MODULES)
def test_module_imports(module):
    import k2l_course.quiet  # noqa: F401  (quiet TensorFlow first)

    importlib.import_module(module)


def exact_pins():
    """The exact pins of the full course (base dependencies and the ``book`` extra) on this machine."""
    from packaging.requirements import Requirement

    project = PYPROJECT["project"]
    pins = {}
    for line in project["dependencies"] + project["optional-dependencies"]["book"]:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        specifiers = list(requirement.specifier)
        if len(specifiers) == 1 and specifiers[0].operator == "==":
            pins[requirement.name] = specifiers[0].version
    return pins


def test_the_frozen_stack_is_pinned():
    pins = exact_pins()
    for name in ("tensorflow", "keras", "numpy", "nengo", "nengo-dl", "nengo-loihi", "nengo-extras"):
        assert name in pins, f"{name} must be pinned exactly in pyproject.toml"
    assert pins["numpy"] == "1.24.3" and pins["tensorflow"] == "2.12.1"


@pytest.mark.parametrize("name,version", sorted(exact_pins().items()))
def test_installed_versions_match_the_pins(name, version):
    assert importlib.metadata.version(name) == version


def test_lock_holds_every_pin_with_hashes():
    lock = (ROOT / "requirements" / "lock.txt").read_text()
    for name, version in exact_pins().items():
        assert re.search(rf"^{re.escape(name)}=={re.escape(version)} \\$", lock, re.M | re.I), name
    assert "--hash=sha256:" in lock


def test_typing_extensions_conflict_is_solved_on_purpose():
    # TensorFlow 2.12 wants typing-extensions < 4.6; IPython is capped below 8.23.
    assert importlib.metadata.version("typing-extensions").startswith("4.5")
    assert "typing-extensions<4.6" in PYPROJECT["tool"]["uv"]["constraint-dependencies"]


def test_pip_check_passes():
    result = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_nengo_pytest_plugin_is_disabled():
    assert "-p no:nengo" in PYPROJECT["tool"]["pytest"]["ini_options"]["addopts"]


def test_bootstrap_refuses_other_pythons_in_one_sentence(tmp_path):
    # Run the bootstrap's version gate as if on Python 3.12.
    source = (ROOT / "bootstrap.py").read_text()
    gate = source[: source.index("import hashlib")]

    def gate_on(version, job):
        code = f"import sys\nsys.version_info = {version!r}\n" + gate.replace("import sys\n", "", 1)
        return subprocess.run([sys.executable, "-c", code + f"\nrequire_python({job!r})\n"], capture_output=True,
                              text=True)  # fmt: skip

    result = gate_on((3, 12, 0), "test")
    assert result.returncode != 0
    message = result.stderr.strip()
    assert message.count("\n") == 0 and "Python 3.11" in message and "3.12" in message
    # The student environment is claimed on 3.11 to 3.14 only.
    assert gate_on((3, 13, 0), "student").returncode == 0
    refused = gate_on((3, 15, 0), "student")
    assert refused.returncode != 0 and refused.stderr.strip().count("\n") == 0 and "3.15" in refused.stderr
