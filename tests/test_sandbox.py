"""The sandbox runs untrusted student code in an isolated child and returns data only."""

import json
import os
import textwrap
import threading

import numpy as np
import pytest

from k2l_course.grading.sandbox import Call, Sandbox, SandboxError, isolation, wire

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="privilege separation is only possible when the grader is root")


@pytest.fixture(scope="module")
def world():
    """A world-readable folder (so only the sandbox, not folder modes, keeps students out)."""
    import shutil
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp(prefix="k2l-test-world-"))
    path.chmod(0o755)
    (path / "secret").mkdir()
    (path / "secret" / "answers.py").write_text("ANSWER = 42\n")
    (path / "secret").chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def sandbox(world):
    with Sandbox(jobs=2, secret=[world / "secret"], hide=[world / "hidden-too"]) as box:
        yield box


def write(folder, name, source):
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


def run(sandbox, tmp_path, source, *calls, name="work.py", **limits):
    path = write(tmp_path, name, source)
    return sandbox.run(path, [Call(function, kwargs) for function, kwargs in calls], **limits)


# --- data only ---------------------------------------------------------------------------


def test_values_come_back_as_the_same_plain_data(sandbox, tmp_path):
    result = run(sandbox, tmp_path, """
        import numpy as np
        def values(x):
            return {"array": x * 2, "tuple": (1, 2.5, "s", None, True), "scalar": np.float32(1.5),
                    "nan": float("nan"), "big": 2**70, 3: [np.int64(7)], "complex": 1 + 2j}
    """, ("values", {"x": np.arange(6, dtype=np.int16).reshape(2, 3)}))
    assert result.status == "ok"
    value = result.outcomes[0].value
    assert value["array"].dtype == np.int16 and value["array"].tolist() == [[0, 2, 4], [6, 8, 10]]
    assert value["tuple"] == (1, 2.5, "s", None, True)
    assert type(value["scalar"]) is np.float32 and value["scalar"] == 1.5
    assert np.isnan(value["nan"]) and value["big"] == 2**70 and value["complex"] == 1 + 2j
    assert type(value[3][0]) is np.int64


@pytest.mark.parametrize(
    "body, message",
    [
        ("class Liar(float):\n    def __eq__(self, other): return True\nreturn Liar(1)", "unsupported type Liar"),
        ("return np.array([object()], dtype=object)", "array of Python objects"),
        ("return lambda: 1", "unsupported type function"),
        ("x = []\nx.append(x)\nreturn x", "contains itself"),
        ("return b'bytes'", "unsupported type bytes"),
    ],
)
def test_anything_but_plain_data_is_refused(sandbox, tmp_path, body, message):
    source = "import numpy as np\ndef f():\n" + textwrap.indent(body, "    ") + "\n"
    result = run(sandbox, tmp_path, source, ("f", {}))
    assert result.status == "ok"
    assert not result.outcomes[0].ok and message in result.outcomes[0].error


def test_decoding_refuses_malformed_and_pickled_data():
    import io
    import pickle

    with pytest.raises(ValueError):
        wire.decode({"__ndarray__": 0}, [pickle.dumps([1, 2])])
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError):
        wire.decode({"__ndarray__": 0}, [buffer.getvalue()])
    with pytest.raises(ValueError):
        wire.decode({"__mystery__": 1}, [])


def test_a_raising_function_costs_its_call_only(sandbox, tmp_path):
    result = run(sandbox, tmp_path, """
        def bad(x):
            return 1 / x
        def good(x):
            return x + 1
    """, ("bad", {"x": 0}), ("good", {"x": 1}), ("missing", {}))
    assert result.status == "ok"
    assert "ZeroDivisionError" in result.outcomes[0].error and "line 3 (bad)" in result.outcomes[0].error
    assert result.outcomes[1].value == 2
    assert "does not define a function named missing" in result.outcomes[2].error


def test_imports_the_server_makes_for_a_submission_are_harmless(sandbox, tmp_path):
    from k2l_course.grading.sandbox import server

    text = "import antigravity, this\nfrom unittest import __main__\nimport idlelib.idle, numpy.linalg, json\n"
    assert server.mentioned_modules(text) >= {"antigravity", "unittest.__main__", "idlelib.idle", "numpy.linalg"}
    result = run(sandbox, tmp_path, "def f():\n    return 1\n" + text, ("f", {}))
    assert result.outcomes[0].value == 1
    modules = set(sandbox.server_modules())
    assert not modules & {"antigravity", "this", "idlelib", "webbrowser"}


def test_each_call_gets_its_own_copy_of_the_arguments(sandbox, tmp_path):
    array = np.zeros(3)
    result = run(sandbox, tmp_path, """
        def poke(a):
            a[0] = 99
            return a
    """, ("poke", {"a": array}), ("poke", {"a": array}))
    assert result.outcomes[1].value[1] == 0 and array[0] == 0


# --- limits ------------------------------------------------------------------------------


def test_a_hanging_call_costs_only_itself_even_if_it_ignores_the_alarm(sandbox, tmp_path):
    result = run(sandbox, tmp_path, """
        def polite():
            while True:
                pass
        def stubborn():
            while True:
                try:
                    while True:
                        pass
                except BaseException:
                    pass
        def fine():
            return "fine"
    """, ("polite", {}), ("stubborn", {}), ("fine", {}), call_timeout=0.5, timeout=20)
    assert result.status == "timeout"
    assert [o.ok for o in result.outcomes] == [False, False, True]
    assert "did not finish within 0.5 s" in result.outcomes[0].error
    assert "did not finish within 0.5 s" in result.outcomes[1].error
    assert result.outcomes[2].value == "fine"


def test_a_file_that_never_finishes_loading_times_out(sandbox, tmp_path):
    result = run(sandbox, tmp_path, "while True:\n    pass\ndef f():\n    return 1\n", ("f", {}), timeout=1.5)
    assert result.status == "timeout"
    assert "loading the file took longer than the time limit of 1.5 s" in result.outcomes[0].error


def test_running_out_of_memory_is_reported(sandbox, tmp_path):
    result = run(sandbox, tmp_path, """
        import numpy as np
        def hog():
            return np.empty(300 * 2**20, dtype=np.uint8)  # over the limit: fails without touching memory
        def small():
            return 1
    """, ("hog", {}), ("small", {}), memory_mb=256)
    assert result.status == "memory"
    assert result.outcomes[0].error == "ran out of memory" and result.outcomes[1].value == 1


def test_exiting_costs_the_call_and_later_calls_still_run(sandbox, tmp_path):
    result = run(sandbox, tmp_path, """
        import os, sys, signal
        def hard_exit():
            os._exit(3)
        def soft_exit():
            sys.exit(1)
        def kill_group():
            os.killpg(0, signal.SIGKILL)
        def fine():
            return 5
    """, ("hard_exit", {}), ("soft_exit", {}), ("kill_group", {}), ("fine", {}))
    assert result.status == "crashed"
    assert "exited with status 3 during this call" in result.outcomes[0].error
    assert "called exit (1)" in result.outcomes[1].error
    assert "killed by SIGKILL during this call" in result.outcomes[2].error
    assert result.outcomes[3].value == 5


def test_exit_while_loading_keeps_what_was_defined(sandbox, tmp_path):
    result = run(sandbox, tmp_path, "def f():\n    return 1\nimport sys\nsys.exit(0)\ndef g():\n    return 2\n",
                 ("f", {}), ("g", {}))  # fmt: skip
    assert result.status == "ok"
    assert result.outcomes[0].value == 1 and "does not define a function named g" in result.outcomes[1].error
    assert any("called exit" in note for note in result.notes)


def test_a_failing_top_level_statement_costs_only_itself(sandbox, tmp_path):
    result = run(sandbox, tmp_path, "print(undefined_name)\ndef f():\n    return 1\n", ("f", {}))
    assert result.status == "ok" and result.outcomes[0].value == 1
    assert result.notes == ["line 1: NameError: name 'undefined_name' is not defined"]


def test_printed_output_is_captured_and_capped(sandbox, tmp_path):
    result = run(sandbox, tmp_path, "print('start')\ndef f():\n    print('x' * 3_000_000)\n    return 1\n",
                 ("f", {}), output_limit=1000)  # fmt: skip
    assert result.status == "ok" and result.outcomes[0].value == 1
    assert result.output.startswith("start\nxxx") and "more bytes of output not shown" in result.output
    assert len(result.output) < 1100


def test_sending_back_too_much_data_is_refused(sandbox, tmp_path, monkeypatch):
    from k2l_course.grading.sandbox import server

    result = run(sandbox, tmp_path, "import numpy as np\ndef f():\n    return np.zeros(40 * 2**20)\n", ("f", {}))
    assert result.status == "crashed"
    assert f"more than {server.RESULT_MB} MB" in result.outcomes[0].error


# --- files -------------------------------------------------------------------------------


def test_a_syntax_error_is_reported_with_its_line(sandbox, tmp_path):
    result = run(sandbox, tmp_path, "def f():\n    return 1\ndef g(:\n", ("f", {}))
    assert result.status == "syntax-error"
    assert "syntax error (line 3)" in result.outcomes[0].error


def test_notebooks_run_their_code_cells_with_magics_neutralized(sandbox, tmp_path):
    cells = [
        "%matplotlib inline\nimport numpy as np\nfiles = !ls\n",
        "%%bash\necho this is not python\n",
        "%%time\ndef f(x):\n    return np.asarray(x) * 2\n",
        "def broken(:\n",
        "def g():\n    return 'g'\n",
    ]
    notebook = {
        "cells": [{"cell_type": "markdown", "source": "# Title\n%not code"}]
        + [{"cell_type": "code", "source": cell.splitlines(True), "outputs": [], "metadata": {}} for cell in cells],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "work.ipynb"
    path.write_text(json.dumps(notebook))
    result = sandbox.run(path, [Call("f", {"x": [1, 2]}), Call("g", {})])
    assert result.outcomes[0].value.tolist() == [2, 4] and result.outcomes[1].value == "g"
    # The broken cell is the fifth on the screen (after the markdown title).
    assert result.status == "syntax-error" and result.notes == ["syntax error (cell 5, line 1): invalid syntax"]


def test_notebook_cells_are_named_as_jupyter_shows_them():
    from k2l_course.grading.sandbox.submission import read_units

    notebook = {
        "cells": [
            {"cell_type": "markdown", "source": "# Exercise", "metadata": {}},
            {"cell_type": "code", "source": "a = 1", "metadata": {}, "execution_count": 7, "outputs": []},
            {"cell_type": "raw", "source": "x", "metadata": {}},
            {"cell_type": "code", "source": "b = 2", "metadata": {}, "execution_count": None, "outputs": []},
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }  # fmt: skip
    assert [unit.label for unit in read_units("work.ipynb", json.dumps(notebook))] == ["cell 2, In [7]", "cell 4"]


@pytest.mark.parametrize("kind", ["missing", "symlink", "folder", "fifo"])
def test_something_that_is_not_a_file_is_no_submission(sandbox, tmp_path, kind):
    path = tmp_path / "work.py"
    if kind == "symlink":
        path.symlink_to("/etc/shadow" if ROOT else "/etc/passwd")
    elif kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    result = sandbox.run(path, [Call("f", {})])
    assert result.status == "no-submission" and result.outcomes[0].error.startswith("no submission")


# --- isolation -----------------------------------------------------------------------


@needs_root
def test_student_code_runs_as_an_unprivileged_user_without_the_graders_environment(sandbox, tmp_path):
    os.environ["K2L_TEST_SECRET_TOKEN"] = "do-not-leak"
    try:
        result = run(sandbox, tmp_path, """
            import os
            def who():
                environ = open("/proc/self/environ", "rb").read()
                try:
                    os.setuid(0)
                    regained = True
                except PermissionError:
                    regained = False
                return [os.getuid(), os.getgid(), list(os.getgroups()), regained,
                        "K2L_TEST_SECRET_TOKEN" in os.environ, b"do-not-leak" in environ]
        """, ("who", {}))
    finally:
        del os.environ["K2L_TEST_SECRET_TOKEN"]
    uid, gid, groups, regained, in_env, in_proc = result.outcomes[0].value
    assert uid != 0 and gid != 0 and groups == [] and not regained and not in_env and not in_proc


@needs_root
def test_student_code_cannot_read_secrets_nor_the_course_sources(sandbox, tmp_path, world):
    from k2l_course.grading.sandbox import default_hidden

    secret = str(world / "secret")
    result = run(sandbox, tmp_path, f"""
        import os, importlib.util, sys
        def read(path):
            try:
                return open(path).read()
            except OSError as error:
                return type(error).__name__
        def listing(path):
            try:
                return os.listdir(path)
            except OSError as error:
                return type(error).__name__
        def steal():
            sys.path.insert(0, {secret!r})
            try:
                import answers
                return answers.ANSWER
            except ImportError as error:
                return type(error).__name__
    """, ("read", {"path": f"{secret}/answers.py"}), ("listing", {"path": secret}), ("steal", {}),
        *[("listing", {"path": path}) for path in default_hidden()])  # fmt: skip
    values = [outcome.value for outcome in result.outcomes]
    assert values[0] in ("FileNotFoundError", "PermissionError")
    assert values[1] in ([], "PermissionError", "FileNotFoundError")
    assert values[2] == "ModuleNotFoundError"
    for listing in values[3:]:  # the checkout (solutions, tests, .git): at most the package and venv show
        # (FileNotFoundError: a checkout under /tmp is hidden by the child's private /tmp.)
        assert listing in ("PermissionError", "FileNotFoundError") or set(listing) <= {"k2l_course", ".venv"}


@needs_root
def test_student_code_cannot_write_outside_its_own_scratch_folder(sandbox, tmp_path, world):
    import k2l_course

    package = os.path.dirname(k2l_course.__file__)
    target = world / "grader-output"
    target.mkdir(exist_ok=True)
    target.chmod(0o755)
    result = run(sandbox, tmp_path, """
        import os
        def attempt(path):
            try:
                with open(path, "w") as handle:
                    handle.write("pwned")
                return "wrote"
            except OSError as error:
                return type(error).__name__
        def scratch():
            return attempt("notes.txt") + " " + os.getcwd()
    """, ("attempt", {"path": f"{package}/pwned.py"}), ("attempt", {"path": f"{target}/pwned.txt"}),
        ("scratch", {}))  # fmt: skip
    assert result.outcomes[0].value != "wrote" and result.outcomes[1].value != "wrote"
    assert not os.path.exists(f"{package}/pwned.py") and not (target / "pwned.txt").exists()
    assert result.outcomes[2].value.startswith("wrote /tmp/")


@needs_root
def test_everything_the_student_code_spawns_dies_with_it(sandbox, tmp_path):
    result = run(sandbox, tmp_path, """
        import os, time
        def escape():
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    while True:
                        time.sleep(0.05)
                os._exit(0)
            return os.getuid()
    """, ("escape", {}))
    uid = result.outcomes[0].value
    assert isinstance(uid, int) and uid != 0
    assert isolation.processes_of(uid) == []


@needs_root
def test_student_code_has_no_network_and_cannot_fork_bomb(sandbox, tmp_path):
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        result = run(sandbox, tmp_path, f"""
            import os, socket
            def connect():
                try:
                    socket.create_connection(("127.0.0.1", {listener.getsockname()[1]}), timeout=2).close()
                    return "connected"
                except OSError as error:
                    return type(error).__name__
            def bomb():
                children = 0
                try:
                    while True:
                        if os.fork() == 0:
                            import time
                            time.sleep(60)
                            os._exit(0)
                        children += 1
                except OSError as error:
                    return [children, type(error).__name__]
        """, ("connect", {}), ("bomb", {}))
    finally:
        listener.close()
    assert result.outcomes[0].value != "connected"
    children, error = result.outcomes[1].value
    assert children < 128 and error == "BlockingIOError"


@needs_root
def test_the_sandbox_refuses_to_run_when_permissions_expose_a_secret(world):
    with pytest.raises(SandboxError, match="student code could read " + str(world / "secret")):
        Sandbox(secret=[world / "secret"], namespaces=False, course_defaults=False).start()


@needs_root
def test_without_mount_namespaces_permissions_still_keep_secrets_out(tmp_path):
    secret = tmp_path / "hidden-checks"
    secret.mkdir()
    (secret / "extra.py").write_text("ITEMS = []\n")
    secret.chmod(0o700)
    path = write(tmp_path, "work.py", """
        import os
        def peek(path):
            try:
                return os.listdir(path)
            except OSError as error:
                return type(error).__name__
    """)
    with Sandbox(secret=[secret], namespaces=False, course_defaults=False) as box:
        assert box.info["namespaces"] is False
        result = box.run(path, [Call("peek", {"path": str(secret)})])
    assert result.outcomes[0].value == "PermissionError"


def test_runs_can_go_on_in_parallel(sandbox, tmp_path):
    path = write(tmp_path, "work.py", "import time\ndef slow(x):\n    time.sleep(0.3)\n    return x\n")
    results = {}

    def one(index):
        results[index] = sandbox.run(path, [Call("slow", {"x": index})])

    threads = [threading.Thread(target=one, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [results[index].outcomes[0].value for index in range(4)] == [0, 1, 2, 3]


def test_without_a_separate_user_limits_and_clean_up_still_hold(tmp_path):
    """What holds for a student running ``k2l check`` (not root): limits, clean-up, data only."""
    path = write(tmp_path, "work.py", """
        import os, time
        def escape():
            reader, writer = os.pipe()
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    os.write(writer, str(os.getpid()).encode())
                    while True:
                        time.sleep(0.05)
                os._exit(0)
            return int(os.read(reader, 20))
        def hang():
            while True:
                pass
        def fine():
            return os.getuid()
    """)
    with Sandbox(separate_user=False, course_defaults=False) as box:
        assert "not root" in box.describe()
        result = box.run(path, [Call("escape", {}), Call("hang", {}), Call("fine", {})], call_timeout=0.5)
    escaped = result.outcomes[0].value
    assert result.status == "timeout" and result.outcomes[2].value == os.getuid()
    assert not os.path.exists(f"/proc/{escaped}") or open(f"/proc/{escaped}/stat").read().split(") ")[1][0] == "Z"


def test_a_closed_sandbox_refuses_runs_instead_of_starting_a_new_server(tmp_path):
    """A grader thread that runs its next file after an interrupt closed the sandbox must not revive it."""
    box = Sandbox().start()
    first = box.process
    box.close()
    with pytest.raises(SandboxError, match="closed"):
        run(box, tmp_path, "def f():\n    return 1\n", ("f", {}))
    assert box.process is None and first.poll() is not None
    assert run(box.start(), tmp_path, "def f():\n    return 1\n", ("f", {})).outcomes[0].value == 1  # (started again)
    box.close()
