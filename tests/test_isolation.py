"""Hostile submissions against the sandbox: forged frames, memory escapes, other checkouts, reference code,
forbidden names, hidden inputs. Each test asserts only on its own sandbox, uids, files and processes."""

import json
import os
import secrets
import shutil
import tempfile
import textwrap
from pathlib import Path

import pytest

from k2l_course.grading.sandbox import Call, Sandbox, defined_functions

ROOT = os.geteuid() == 0

FRAME = """
import json, os, struct
def frame(kind, payload):
    return struct.pack(">cI", kind, len(payload)) + payload
def outcome(header):
    head = json.dumps(dict(header, blobs=[])).encode() if isinstance(header, dict) else header
    return struct.pack(">I", len(head)) + head
"""


@pytest.fixture(scope="module")
def box():
    with Sandbox(jobs=2) as sandbox:
        yield sandbox


def run(box, tmp_path, source, *calls, name="work.py", **options):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    calls = [c if isinstance(c, Call) else Call(c[0], c[1]) for c in calls]
    return box.run(path, calls, **options)


# --- the result channel ------------------------------------------------------------------


@pytest.mark.parametrize(
    "forged",
    [
        b'{"call": 0, "ok": true, "error": null, "blobs": [], "tree": [1.0, NaN]}',
        b'{"call": 0, "ok": true, "error": null, "blobs": [], "tree": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",
        b'{"call": 0, "ok": true, "error": null, "blobs": [], "tree": {"__complex__": [{"__bigint__": "'
        + b"9" * 400 + b'"}, 0.0]}}',
        b'{"call": 0, "ok": true, "error": null, "blobs": [], "tree": ' + b"9" * 400 + b"}",
        b'{"call": 0, "ok": true, "error": null, "blobs": [16], "tree": {"__ndarray__": 0}}',
    ],
    ids=["nan", "deep", "complex-bigint", "bigint", "bad-array"],
)
def test_forged_result_frames_cost_only_that_call(box, tmp_path, forged):
    result = run(box, tmp_path, FRAME + f"""
def f():
    os.write(3, frame(b"D", struct.pack(">I", {len(forged)}) + {forged!r} + b"x" * 16))
    return 1
def g():
    return 2
""", ("f", {}), ("g", {}))
    assert not result.outcomes[0].ok and "cannot be graded" in result.outcomes[0].error
    assert result.outcomes[1].value == 2


def test_forged_frames_cannot_claim_other_calls_statuses_or_notes(box, tmp_path):
    result = run(box, tmp_path, FRAME + """
def f():
    os.write(3, frame(b"D", outcome({"call": 1, "ok": True, "error": None, "tree": 99})))  # another call
    os.write(3, frame(b"L", b'{"problems": ["forged"], "fatal": "forged"}'))  # out of turn
    os.write(3, frame(b"S", b'{"call": 5}'))
    os.write(3, frame(b"L", b"[" * 100000))
    return 1
def g():
    return 2
""", ("f", {}), ("g", {}))
    assert [o.value for o in result.outcomes] == [None, 2] or [o.value for o in result.outcomes] == [1, 2]
    assert result.outcomes[1].value == 2 and "forged" not in " ".join(result.notes)


def test_awkward_output_and_messages_come_back_as_valid_text(box, tmp_path):
    result = run(box, tmp_path, """
import os, sys
def f():
    os.write(1, b"\\xff\\xfe not utf-8 \\xed\\xa0\\x80\\n")
    print("y" * 5_000_000)
    raise ValueError("\\ud800 lone surrogate")
""", ("f", {}), output_limit=4096)
    assert result.status == "ok"
    for text in [result.output, result.outcomes[0].error, *result.notes]:
        text.encode("utf-8")  # no lone surrogates: safe to write anywhere
    assert len(result.output) < 5000 and "more bytes of output not shown" in result.output


# --- files the sandbox reads and parses -------------------------------------------------


def test_an_invalid_notebook_is_unreadable_not_a_crash(box, tmp_path):
    path = tmp_path / "work.ipynb"
    path.write_bytes(b'{"cells": [' * 100_000)
    result = box.run(path, [Call("f", {})])
    assert result.status == "unreadable" and "not valid JSON" in result.outcomes[0].error
    assert defined_functions(path) == frozenset()


def test_cells_tagged_k2l_check_are_never_run(box, tmp_path):
    cells = [("def f():\n    return 1\n", []), ("raise RuntimeError('the check cell ran')\n", ["k2l-check"])]
    notebook = {"cells": [{"cell_type": "code", "source": src, "metadata": {"tags": tags}, "outputs": []}
                          for src, tags in cells], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}  # fmt: skip
    path = tmp_path / "work.ipynb"
    path.write_text(json.dumps(notebook))
    result = box.run(path, [Call("f", {})])
    assert result.status == "ok" and result.outcomes[0].value == 1 and result.notes == []


def test_parsing_a_hostile_file_happens_elsewhere_and_gives_names_or_nothing(tmp_path):
    good = tmp_path / "good.py"
    good.write_text("def a():\n    pass\nasync def b():\n    pass\nclass C:\n    pass\n")
    assert defined_functions(good) == {"a", "b"}
    deep = tmp_path / "deep.py"
    deep.write_text("x = " + "(" * 200_000 + ")" * 200_000 + "\ndef a():\n    pass\n")
    assert defined_functions(deep) == frozenset()  # (the parser's process gave up; ours did not)
    link = tmp_path / "link.py"
    link.symlink_to(good)
    assert defined_functions(link) == frozenset()


# --- reference code and forbidden names -----------------------------------------------------


def test_the_course_library_and_solutions_cannot_be_imported(box, tmp_path):
    result = run(box, tmp_path, """
import importlib, sys
def attempt(name):
    try:
        importlib.import_module(name)
        return "imported"
    except ImportError as error:
        return str(error)
def after_meta_path_games(name):
    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__module__ != "k2l_course.grading.sandbox.guard"]
    return attempt(name)
""", *[("attempt", {"name": n}) for n in ("k2l_course", "k2l_course.pipeline.rates", "k2l_course.exercises.checks", "solutions")],
        ("after_meta_path_games", {"name": "k2l_course.exercises.checks.ch2_activation"}))  # fmt: skip
    values = [o.value for o in result.outcomes]
    assert all(v.startswith("refused: k2l_course") for v in values[:3]) and values[3].startswith("refused: solutions")
    if ROOT:  # the files are not in the view either
        assert values[4] != "imported"


@pytest.mark.parametrize("route", [
    "from statistics import median\n    return median([1, 2, 3])",
    "import statistics as s\n    return s.median([1, 2, 3])",
    "return getattr(__import__('statistics'), 'median')([1, 2, 3])",
    "import importlib\n    return importlib.import_module('statistics').median([1, 2, 3])",
    "import sys, statistics\n    return sys.modules['statistics'].median([1, 2, 3])",
    "import gc\n    gc.unfreeze()\n    found = [o for o in gc.get_objects() if getattr(o, '__qualname__', '') == 'median'"
    " and getattr(o, '__module__', '') == 'statistics']\n    return [f([1, 2, 3]) for f in found]",
    "import csv\n    return 1",
    "import importlib\n    return importlib.import_module('csv').reader",
])  # fmt: skip
def test_forbidden_names_are_refused_however_reached(box, tmp_path, route):
    forbidden = {"statistics.median": "compute it yourself", "csv": "no parsing library here"}
    result = run(box, tmp_path, f"def f():\n    {route}\n", ("f", {}), forbidden=forbidden)
    outcome = result.outcomes[0]
    if "gc" in route and outcome.ok:  # the original was nowhere left to find
        assert outcome.value == [] and result.notes == []
        return
    assert not outcome.ok and outcome.error.startswith("refused: "), outcome
    assert ("compute it yourself" in outcome.error) or ("no parsing library" in outcome.error)
    assert sum(note.startswith("refused: ") for note in result.notes) == 1


@pytest.mark.parametrize("route", [
    "return importlib.import_module(NAME).colored('x', 'red')",
    "exec(f'from {NAME} import colored as g', globals())\n    return g('x', 'red')",
    "importlib.import_module(NAME)\n    return sys.modules[NAME].colored('x', 'red')",
    "importlib.import_module(NAME)\n    import gc\n    found = [o for o in gc.get_objects() if getattr(o, '__qualname__', '') == 'colored']"
    "\n    return [g('x', 'red') for g in found]",
    "return LOADED.colored('x', 'red')",
])  # fmt: skip
def test_forbidden_names_of_a_package_the_server_has_not_imported_are_refused_once_the_code_imports_it(box, tmp_path,
                                                                                                        route):  # fmt: skip
    """The server imports no package just to refuse a name in it: the child refuses it when it imports the package."""
    source = "import importlib, sys\nNAME = 'term' + 'color'  # (no import the server could see)\n"
    if "LOADED" in route:
        source += "LOADED = importlib.import_module(NAME)  # while the file loads\n"
    result = run(box, tmp_path, source + f"def f():\n    {route}\n", ("f", {}),
                 forbidden={"termcolor.colored": "colour it yourself"})  # fmt: skip
    outcome = result.outcomes[0]
    assert not outcome.ok and outcome.error.startswith("refused: termcolor.colored (colour it yourself)"), outcome
    assert result.notes == ["refused: termcolor.colored (colour it yourself)"]
    assert "termcolor" not in box.server_modules()


def test_a_forbidden_method_is_refused_on_the_class_and_on_its_instances(box, tmp_path):
    source = ("import fractions\n"
              "def f():\n    return str(fractions.Fraction(1, 3).limit_denominator(2))\n"
              "def g():\n    return str(fractions.Fraction.limit_denominator(fractions.Fraction(1, 3), 2))\n")  # fmt: skip
    result = run(box, tmp_path, source, ("f", {}), ("g", {}),
                 forbidden={"fractions.Fraction.limit_denominator": "round it yourself"})  # fmt: skip
    for outcome in result.outcomes:
        assert not outcome.ok and outcome.error.startswith("refused: fractions.Fraction.limit_denominator"), outcome


def test_code_that_takes_the_import_hook_away_meets_the_refusals_at_its_first_call(box, tmp_path):
    source = (
        "import importlib, sys\n"
        "sys.meta_path[:] = [f for f in sys.meta_path if 'sandbox' not in type(f).__module__]  # the guard's hooks gone\n"
        "HELD = importlib.import_module('term' + 'color').colored\n"
        "def f():\n    return HELD('x', 'red')\n"
        "def g():\n    return sys.modules['termcolor'].colored('x', 'red')\n"
    )
    result = run(box, tmp_path, source, ("f", {}), ("g", {}), forbidden={"termcolor.colored": "colour it yourself"})
    for outcome in result.outcomes:
        assert not outcome.ok and outcome.error.startswith("refused: termcolor.colored (colour it yourself)"), outcome


@pytest.mark.slow
def test_the_exercises_forbidden_names_are_refused_when_the_code_imports_nengo_loihi_itself(tmp_path):
    """The server stays NumPy-only for the exercises' forbidden names; a run-time import of nengo-loihi meets them."""
    from k2l_course.exercises import checks

    source = """
import importlib
import numpy as np
def refusals():
    loihi = importlib.import_module("nengo_" + "loihi")
    attempts = {
        "Simulator": lambda: loihi.Simulator(None),
        "neurons.loihi_rates": lambda: importlib.import_module("nengo_loihi.neurons").loihi_rates(None, None, None),
        "config.BlockShape": lambda: loihi.config.BlockShape((1,), (1,)),
        "LoihiSpikingRectifiedLinear.step": lambda: loihi.neurons.LoihiSpikingRectifiedLinear().step(
            0.001, np.ones(1), np.zeros(1), np.zeros(1)),
    }
    said = {}
    for name, attempt in attempts.items():
        try:
            attempt()
            said[name] = "ran"
        except ImportError as error:
            said[name] = str(error)
    return said
def allowed():
    return type(importlib.import_module("nengo_" + "loihi").LoihiLIF()).__name__
"""
    with Sandbox(jobs=1) as sandbox:
        result = run(sandbox, tmp_path, source, ("refusals", {}), ("allowed", {}), forbidden=checks.forbidden(),
                     timeout=600, call_timeout=300, memory_mb=4096)  # fmt: skip
        loaded = set(sandbox.server_modules())
    said = result.outcomes[0].value
    assert result.outcomes[0].ok, result.outcomes[0]
    assert said["Simulator"].startswith("refused: nengo_loihi.Simulator")
    assert said["neurons.loihi_rates"].startswith("refused: nengo_loihi.neurons.loihi_rates")
    assert said["config.BlockShape"].startswith("refused: nengo_loihi.config.BlockShape")
    assert said["LoihiSpikingRectifiedLinear.step"].startswith(
        "refused: nengo_loihi.neurons.LoihiSpikingRectifiedLinear.step")
    assert result.outcomes[1].value == "LoihiLIF"  # the rest of nengo-loihi works
    assert not loaded & {"nengo_loihi", "nengo_dl", "tensorflow"}


@pytest.mark.root
@pytest.mark.skipif(not ROOT, reason="needs root")
def test_solutions_of_any_checkout_cannot_be_read(box, tmp_path):
    """Decoy checkouts, world-readable, outside the course and in /tmp: the child sees none of them."""
    decoys = []
    for parent in ("/srv", "/tmp", "/home"):
        if os.path.isdir(parent):
            decoy = Path(tempfile.mkdtemp(prefix="k2l-decoy-", dir=parent))
            (decoy / "solutions").mkdir()
            (decoy / "solutions" / "ch1.py").write_text("def answer():\n    return 42\n")
            for path in (decoy, decoy / "solutions"):
                path.chmod(0o755)
            (decoy / "solutions" / "ch1.py").chmod(0o644)
            decoys.append(decoy)
    import k2l_course

    course = Path(k2l_course.__file__).resolve().parents[1]
    try:
        result = run(box, tmp_path, """
import os
def steal(path):
    try:
        scope = {}
        exec(open(path).read(), scope)
        return scope["answer"]()
    except Exception as error:
        return type(error).__name__
def listing(path):
    try:
        return sorted(os.listdir(path))
    except OSError as error:
        return type(error).__name__
""", *[("steal", {"path": str(d / "solutions" / "ch1.py")}) for d in decoys],
            ("steal", {"path": str(course / "solutions" / "ch1_conversion.py")}),
            ("listing", {"path": str(course)}), ("listing", {"path": "/"}),
            ("listing", {"path": os.path.dirname(k2l_course.__file__)}))  # fmt: skip
    finally:
        for decoy in decoys:
            shutil.rmtree(decoy, ignore_errors=True)
    values = [o.value for o in result.outcomes]
    assert all(v != 42 and isinstance(v, str) for v in values[: len(decoys) + 1]), values
    assert "solutions" not in values[-3] and "tests" not in values[-3]
    assert not {"home", "srv", "root", "run", "work", "mnt", "opt"} & set(values[-2]) - {"root", "work"}
    assert values[-1] in ([], "PermissionError", "FileNotFoundError")  # the package's sources: covered


# --- hidden calls -------------------------------------------------------------------------------


def test_hidden_inputs_never_reach_output_values_or_errors(box, tmp_path):
    secret = "HIDDEN-" + secrets.token_hex(8)
    result = run(box, tmp_path, """
import gc, sys
SEEN = []
found = [o for o in gc.get_objects() if isinstance(o, str) and o.startswith("HIDDEN-")]
print("at load:", found)
def f(x):
    SEEN.append(x)
    print("leak", x)
    sys.stderr.write(x)
    raise ValueError("leak " + x)
def g():
    return list(SEEN)
""", Call("f", {"x": secret}, hidden=True), Call("g", {}), Call("f", {"x": "visible"}))
    everything = json.dumps([result.output, result.notes, [(o.error, repr(o.value)) for o in result.outcomes]])
    assert secret not in everything
    assert result.outcomes[0].error == "raised ValueError"
    assert result.outcomes[1].value == []  # visible calls run before any hidden one
    assert "leak visible" in result.outcomes[2].error


# --- memory: one limit on everything, and nothing outlives the run -------------------------


@pytest.mark.root
@pytest.mark.skipif(not ROOT, reason="needs root (memory cgroup)")
@pytest.mark.parametrize("how", ["memfd", "sysv", "posix-shm", "tmpfs"])
def test_memory_beyond_the_limit_is_refused_whatever_holds_it(box, tmp_path, how):
    from k2l_course.grading.sandbox import isolation

    if isolation.own_memory_cgroup() is None:  # (a property of the machine, not of the sandbox)
        pytest.skip("no writable memory cgroup here")
    # Each piece stays under the file-size limit and unmapped (no address space used): only a
    # memory cgroup sees them all. 12 x 50 MB = 600 MB against a limit of 200 MB.
    hog = {
        "memfd": "fd = os.memfd_create(f'hog{i}')\n        os.write(fd, chunk)\n        kept.append(fd)",
        "sysv": "ident = libc.shmget(0, len(chunk), 0o1600)\n        address = libc.shmat(ident, None, 0)\n"
                "        ctypes.memmove(address, chunk, len(chunk))\n        libc.shmdt(ctypes.c_void_p(address))",
        "posix-shm": "fd = os.open(f'/dev/shm/k2l-hog{i}', os.O_CREAT | os.O_RDWR)\n        os.write(fd, chunk)",
        "tmpfs": "fd = os.open(f'/tmp/k2l-hog{i}', os.O_CREAT | os.O_RDWR)\n        os.write(fd, chunk)",
    }[how]  # fmt: skip
    result = run(box, tmp_path, f"""
import ctypes, os
chunk = b"x" * (50 << 20)
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
kept = []
def hog():
    for i in range(12):
        {hog}
    return "held"
def small():
    return 1
""", ("hog", {}), ("small", {}), memory_mb=200)
    assert result.status == "memory" and result.outcomes[0].value != "held", result
    assert result.outcomes[1].value == 1


@pytest.mark.root
@pytest.mark.skipif(not ROOT, reason="needs root")
def test_nothing_the_child_creates_outlives_it_on_the_host(box, tmp_path):
    token = secrets.token_hex(8)
    result = run(box, tmp_path, f"""
import ctypes, os
def leave():
    libc = ctypes.CDLL(None, use_errno=True)
    ident = libc.shmget(0x4B324C00 + {int(token[:4], 16)}, 1 << 20, 0o1666)
    made = []
    for path in ("/dev/shm/k2l-{token}", "/run/lock/k2l-{token}", "/tmp/k2l-{token}", "/var/tmp/k2l-{token}"):
        try:
            open(path, "w").write("left behind")
            made.append(path)
        except OSError:
            pass
    return [ident, made, os.getuid()]
""", ("leave", {}))
    ident, made, uid = result.outcomes[0].value
    assert ident >= 0  # the segment was made (in the run's own IPC namespace)
    for path in ("/dev/shm", "/run/lock", "/tmp", "/var/tmp"):
        assert not os.path.exists(f"{path}/k2l-{token}")
    with open("/proc/sysvipc/shm") as table:
        keys = [int(line.split()[0]) for line in table.read().splitlines()[1:]]
    assert 0x4B324C00 + int(token[:4], 16) not in keys


# --- the parent, its fds and its /proc --------------------------------------------------------------


@pytest.mark.root
@pytest.mark.skipif(not ROOT, reason="needs root")
def test_student_code_cannot_touch_its_supervisor_or_the_grader(box, tmp_path):
    result = run(box, tmp_path, """
import os, signal
def attack():
    done = []
    for pid in (os.getppid(), 1):
        for sig in (signal.SIGKILL, signal.SIGSTOP):
            try:
                os.kill(pid, sig)
                done.append(f"signalled {pid}")
            except OSError:
                pass
    try:
        os.kill(-1, signal.SIGKILL)  # every process of its uid: only itself and its own children
    except OSError:
        pass
    for what in (f"/proc/{os.getppid()}/mem", f"/proc/{os.getppid()}/environ"):
        try:
            open(what, "rb").read(16)
            done.append(f"read {what}")
        except OSError:
            pass
    opened = []
    for fd in range(5, 256):
        try:
            os.fstat(fd)
            opened.append(fd)
        except OSError:
            pass
    return [done, opened, os.getpid() < 100]
def fine():
    return "fine"
""", ("attack", {}), ("fine", {}))
    assert result.outcomes[-1].value == "fine"
    if result.outcomes[0].ok:
        done, opened, _ = result.outcomes[0].value
        assert done == [] and opened == []
    grader_pid = os.getpid()
    assert os.path.exists(f"/proc/{grader_pid}")


@pytest.mark.root
@pytest.mark.skipif(not ROOT, reason="needs root")
def test_an_environment_under_tmp_stays_importable_after_a_large_notebook_output(tmp_path):
    """Paths of the allow-list under /tmp are bound back into each run's private /tmp."""
    env = Path(tempfile.mkdtemp(prefix="k2l-env-", dir="/tmp"))
    try:
        (env / "k2l_fake_pkg").mkdir()
        (env / "k2l_fake_pkg" / "special.py").write_text("def value():\n    return 'imported'\n")
        for path in (env, env / "k2l_fake_pkg"):
            path.chmod(0o755)
        (env / "k2l_fake_pkg" / "special.py").chmod(0o644)
        picture = {"output_type": "display_data", "data": {"image/png": "A" * (3 << 20)}, "metadata": {}}
        cells = [
            {"cell_type": "code", "source": "x = 1", "metadata": {}, "outputs": [picture]},
            {"cell_type": "code", "metadata": {}, "outputs": [],
             "source": f"import sys\nsys.path.insert(0, {str(env)!r})\nimport k2l_fake_pkg.special\n"
                       "def f():\n    return k2l_fake_pkg.special.value()\n"},
        ]  # fmt: skip
        path = tmp_path / "work.ipynb"
        path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
        with Sandbox(allow=[env]) as sandbox:
            result = sandbox.run(path, [Call("f", {})])
    finally:
        shutil.rmtree(env, ignore_errors=True)
    assert result.outcomes[0].value == "imported", result


def test_the_package_imports_without_posix_only_modules():
    import subprocess
    import sys

    code = ("import sys\nfor name in ('resource', 'fcntl', 'pwd', 'grp', 'termios', 'posix'):\n"
            "    sys.modules[name] = None\nimport k2l_course.grading.sandbox, k2l_course.grading.sandbox.wire, "
            "k2l_course.grading.sandbox.submission, k2l_course.grading.sandbox.guard\nprint('ok')\n")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "ok", done.stderr


def test_what_one_run_may_send_back_is_bounded_in_total(box, tmp_path):
    from k2l_course.grading.sandbox import wire

    third = wire.MAX_RESULT_BYTES // 3 + (1 << 20)
    result = run(box, tmp_path, f"""
import numpy as np
def f():
    return np.ones({third}, dtype=np.uint8)
""", ("f", {}), ("f", {}), ("f", {}))
    assert [o.ok for o in result.outcomes] == [True, True, False]
    assert "results in this run" in result.outcomes[2].error


def test_random_bytes_on_the_result_channel_never_stop_the_run(box, tmp_path):
    result = run(box, tmp_path, """
import os, random
def noise(seed):
    rng = random.Random(seed)
    for _ in range(50):
        os.write(3, bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))))
    return seed
def fine():
    return "fine"
""", *[("noise", {"seed": seed}) for seed in range(4)], ("fine", {}), timeout=600)
    assert result.status == "crashed" and result.outcomes[4].value == "fine"
    for outcome in result.outcomes[:4]:
        assert "malformed data on the sandbox's result channel" in outcome.error


def test_as_the_students_own_user_reference_code_and_forbidden_names_are_still_refused(tmp_path):
    path = tmp_path / "work.py"
    path.write_text("import importlib\ndef attempt(name):\n    try:\n        importlib.import_module(name)\n"
                    "        return 'imported'\n    except ImportError as error:\n        return str(error)\n")
    with Sandbox(separate_user=False) as sandbox:
        result = sandbox.run(path, [Call("attempt", {"name": "k2l_course.pipeline.rates"}), Call("attempt", {"name": "csv"})],
                             forbidden={"csv": "not here"})  # fmt: skip
    assert result.outcomes[0].value.startswith("refused: k2l_course")
    assert result.outcomes[1].value == "refused: csv (not here)"


@pytest.mark.root
@pytest.mark.skipif(not ROOT, reason="needs root")
def test_without_bubblewrap_the_per_run_walls_still_hold(tmp_path, monkeypatch):
    from k2l_course.grading.sandbox import isolation

    monkeypatch.setattr(isolation, "bwrap_command", lambda *args, **kwargs: None)
    path = tmp_path / "work.py"
    path.write_text("import os\ndef course(path):\n    try:\n        return sorted(os.listdir(path))\n"
                    "    except OSError as error:\n        return type(error).__name__\n")
    import k2l_course

    package = os.path.dirname(k2l_course.__file__)
    with Sandbox() as sandbox:
        assert not sandbox.info.get("allow_list") and "no bubblewrap" in sandbox.describe()
        result = sandbox.run(path, [Call("course", {"path": package})])
    assert result.outcomes[0].value in ([], "PermissionError", "FileNotFoundError")



@pytest.mark.skipif(not ROOT, reason="uids are claimed as root")
def test_claiming_the_sandbox_uids_looks_up_only_the_uids_it_needs(monkeypatch):
    """Starting a sandbox looks up a handful of uids in the user database, not thousands (1.3 s before)."""
    import pwd

    from k2l_course.grading.sandbox import isolation

    looked_up = []
    real = pwd.getpwuid

    def counting(uid):
        looked_up.append(uid)
        return real(uid)

    monkeypatch.setattr(pwd, "getpwuid", counting)
    ids, fds = isolation.claim_ids(2)
    for fd in fds:
        os.close(fd)
    assert len(ids) == 2 and all(uid >= isolation.DEFAULT_UID_BASE for uid in ids)
    assert len(looked_up) < 100
