"""``k2l serve``: the built site with live code on the reader's own Jupyter kernel.

The security of the Jupyter server it starts (127.0.0.1 only, a token, the
site's origin only) is checked with plain HTTP requests; the live-code control
is checked in the real browser (Debian's Chromium, as in ``test_site.py``,
whose built site these tests reuse: ``K2L_SITE_DIR`` or ``k2l book``).
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_site import CHAPTERS, CHROMIUM_ARGS, _chromium_or_skip, axe_violations, blocking, site  # noqa: F401  (site: a fixture)

from k2l_course.site import serve

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = "02-activation"
#: The cell of chapter 2 that compares the rate formula with nengo-loihi, and its output.
COMPARISON_CELL = "formula = rates.loihi_relu_rate(x_relu, dt=0.001)"
COMPARISON_OUTPUT = re.compile(r"largest difference from nengo-loihi: (\S+) Hz")
OTHER_ORIGIN = "http://evil.example"
#: Generous: the first run executes the chapter's earlier cells (importing TensorFlow
#: and nengo) on a shared, loaded machine.
RUN_TIMEOUT_MS = 600_000


# -- without a server ------------------------------------------------------------


def test_serve_without_a_built_site_says_how_to_build_it(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "k2l_course.cli", "serve", "--site", str(tmp_path), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "k2l book" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_memory_sizes_are_read_in_decimal_units():
    assert serve.parse_size("4GB") == serve.parse_size("4G") == serve.DEFAULT_MEMORY == 4 * 10**9
    assert serve.parse_size("1.5 GB") == 1_500_000_000
    assert serve.parse_size("512MB") == 512 * 10**6
    assert serve.parse_size("1000") == 1000
    for wrong in ("", "GB", "four GB", "4 parsecs"):
        with pytest.raises(ValueError):
            serve.parse_size(wrong)


def test_the_jupyter_server_keeps_kernels_ready_within_the_memory_budget():
    cmd = serve.jupyter_command(
        8888, "http://127.0.0.1:8000", "/course/book", site="/course/_build/html", chapters=["02-activation"], memory=10**9
    )
    assert "--ServerApp.kernel_manager_class=k2l_course.site.kernel_pool.ChapterKernelManager" in cmd
    assert "--ChapterKernelManager.memory_budget=1000000000" in cmd
    assert "--ChapterKernelManager.chapters=02-activation" in cmd
    assert "--ChapterKernelManager.site_dir=/course/_build/html" in cmd
    no_pool = serve.jupyter_command(8888, "http://127.0.0.1:8000", "/course/book")
    assert not any(arg.startswith("--ChapterKernelManager.chapters") for arg in no_pool)
    assert "--ChapterKernelManager.memory_budget=4000000000" in no_pool


def test_a_chapter_not_yet_measured_is_estimated_at_the_median_of_the_measured_chapters():
    from k2l_course.site.kernel_pool import DEFAULT_KERNEL_BYTES, ChapterKernelManager

    pool = ChapterKernelManager()
    assert pool._estimate("index") == DEFAULT_KERNEL_BYTES, "nothing measured yet"
    pool._cost.update({"01-conversion": 910 * 10**6, "02-activation": 410 * 10**6, "03-scaling": 560 * 10**6})
    assert pool._estimate("index") == 560 * 10**6
    assert pool._estimate("01-conversion") == 910 * 10**6, "a measured chapter costs what it measured"


def test_a_chapter_whose_kernel_a_page_took_is_measured_afresh_when_next_prepared():
    import asyncio

    from k2l_course.site.kernel_pool import ChapterKernelManager

    pool = ChapterKernelManager()
    pool._cost.update({"02-activation": 410 * 10**6, "03-scaling": 560 * 10**6, "04-training": 1150 * 10**6})
    pool._ready["04-training"] = "its-kernel"
    assert asyncio.run(pool.start_kernel(path="04-training.ipynb")) == "its-kernel"
    assert pool._estimate("04-training") == 485 * 10**6, "the median of the others, not its first (cold-cache) cost"
    pool._ready["02-activation"] = "another"
    asyncio.run(pool.start_kernel(path="02-activation.ipynb"))
    assert pool._estimate("02-activation") == 410 * 10**6, "a chapter cheaper than the others keeps its own cost"


def test_the_jupyter_server_is_local_allows_only_the_sites_origin_and_gets_no_token_on_its_command_line():
    cmd = serve.jupyter_command(8888, "http://127.0.0.1:8000", "/course/book")
    assert "--ServerApp.ip=127.0.0.1" in cmd
    assert "--ServerApp.allow_origin=http://127.0.0.1:8000" in cmd
    assert not any("token" in arg.lower() for arg in cmd), "other users can read a command line"
    assert not any(arg.startswith("--ServerApp.allow_origin_pat") for arg in cmd)
    assert "--ServerApp.terminals_enabled=False" in cmd


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="Linux's socket table")
def test_the_owner_of_a_local_connection_is_found():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()) as client:
            client_port = client.getsockname()[1]
            assert serve.peer_uid(client_port, listener.getsockname()[1]) == os.getuid()
    assert serve.peer_uid(1, 2) is None


# -- k2l serve, running ---------------------------------------------------------


def start_serve(site_dir, *options, port=0):
    """Start ``k2l serve`` (on a free port, or ``port``); returns (process, site origin)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "k2l_course.cli", "serve", "--site", str(site_dir), "--port", str(port), *options],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = re.search(r"serving the course at (http://127\.0\.0\.1:\d+)/", line)
        if match:
            # the kernel pool's messages, as they come (the pipe kept drained)
            process.k2l_lines = [earlier for earlier in lines if "k2l:" in earlier]
            threading.Thread(target=_keep_lines, args=(process,), daemon=True).start()
            return process, match.group(1)
    process.kill()
    pytest.fail("k2l serve did not start:\n" + "".join(lines))


def _keep_lines(process):
    for line in process.stdout:
        if "k2l:" in line:
            process.k2l_lines.append(line)


def wait_for_line(process, text, deadline):
    """Wait (until ``deadline``, a monotonic time) for a new pool message holding ``text``; True when it came."""
    seen = getattr(process, "k2l_seen", 0)
    while time.monotonic() < deadline:
        lines = process.k2l_lines[seen:]
        for i, line in enumerate(lines):
            if text in line:
                process.k2l_seen = seen + i + 1
                return True
        time.sleep(0.2)
    pytest.fail(f"k2l serve never said {text!r}:\n" + "".join(process.k2l_lines))


def request(url, method="GET", headers=None):
    """(status, headers, body) of one HTTP request, without following redirects."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    connection.request(method, path, headers=headers or {})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, response.headers, body


@pytest.fixture(scope="module")
def live(site):  # noqa: F811
    """A running ``k2l serve`` of the built site: (origin, its /k2l-live.json, process).

    It prepares a kernel in advance for chapter 2 only (the others start a
    kernel when asked), to keep the tests' load small.
    """
    process, origin = start_serve(site, "--warm", CHAPTER)
    status, _, body = request(origin + "/k2l-live.json")
    assert status == 200
    yield origin, json.loads(body), process
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)  # its own session: k2l serve and its Jupyter server
    process.wait(60)


@pytest.mark.slow
def test_the_jupyter_server_refuses_requests_without_the_token(live):
    origin, config, _ = live
    status, _, _ = request(config["baseUrl"] + "api/kernels", headers={"Origin": origin})
    assert status == 403
    status, _, _ = request(config["baseUrl"] + "api/kernels", headers={"Authorization": "token wrong"})
    assert status == 403


@pytest.mark.slow
def test_the_jupyter_server_refuses_other_origins_and_allows_the_sites(live):
    origin, config, _ = live
    auth = {"Authorization": f"token {config['token']}"}
    status, headers, _ = request(config["baseUrl"] + "api/kernels", headers={**auth, "Origin": OTHER_ORIGIN})
    assert status in (403, 404), f"a request from {OTHER_ORIGIN} got HTTP {status}"
    assert headers.get("Access-Control-Allow-Origin") in (None, origin)
    # the browser's preflight for another origin is not granted either
    status, headers, _ = request(
        config["baseUrl"] + "api/kernels",
        method="OPTIONS",
        headers={"Origin": OTHER_ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert headers.get("Access-Control-Allow-Origin") != OTHER_ORIGIN
    status, headers, body = request(config["baseUrl"] + "api/kernels", headers={**auth, "Origin": origin})
    assert status == 200 and isinstance(json.loads(body), list)
    assert headers.get("Access-Control-Allow-Origin") == origin


@pytest.mark.slow
def test_the_site_answers_only_under_its_own_address(live):
    origin, config, _ = live
    port = origin.rsplit(":", 1)[1]
    status, _, _ = request(origin + "/k2l-live.json", headers={"Host": f"evil.example:{port}"})
    assert status == 403, "a page that rebinds its DNS name to 127.0.0.1 could read the token"
    status, headers, _ = request(origin + "/index.html", headers={"Host": f"localhost:{port}"})
    assert status == 307 and headers["Location"] == origin + "/index.html"
    assert config["baseUrl"].startswith("http://127.0.0.1:") and config["token"]


@pytest.mark.slow
@pytest.mark.root
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="Linux's socket table")
def test_another_user_on_this_machine_cannot_read_the_token(live):
    if os.geteuid() != 0:
        pytest.skip("needs root to act as another user")
    origin, _, _ = live
    code = (
        "import urllib.request, urllib.error, sys\n"
        "try:\n"
        f"    urllib.request.urlopen('{origin}/k2l-live.json', timeout=60); print('read')\n"
        "except urllib.error.HTTPError as e:\n"
        "    print(e.code)\n"
    )
    result = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-I", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.strip() == "403", result.stdout + result.stderr
    assert request(origin + "/k2l-live.json")[0] == 200, "its own user still reads it"


@pytest.mark.slow
def test_stopping_k2l_serve_stops_its_jupyter_server(site):  # noqa: F811
    process, origin = start_serve(site)
    config = json.loads(request(origin + "/k2l-live.json")[2])
    assert request(config["baseUrl"] + "api")[0] == 200
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0
    with pytest.raises(OSError):
        request(config["baseUrl"] + "api")


# -- the kernel pool (on a small site of its own) -------------------------------------


@pytest.fixture()
def small_site(tmp_path):
    """A built site's shape with one chapter of three cells (the pool runs the site's notebooks)."""
    import nbformat

    (tmp_path / "index.html").write_text("<!doctype html><title>a site</title>")
    (tmp_path / "_sources").mkdir()
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# a chapter"),
        nbformat.v4.new_code_cell("import os\nanswer = 41"),
        nbformat.v4.new_code_cell("answer += 1"),
        nbformat.v4.new_code_cell("print(answer, os.getcwd())"),
    ]
    nbformat.write(notebook, tmp_path / "_sources" / "07-small.ipynb")
    return tmp_path


def api(config, path, body=None, method="GET"):
    """(status, JSON answer) of a request to the Jupyter server, with the token."""
    from urllib.parse import urlsplit

    parts = urlsplit(config["baseUrl"])
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    headers = {"Authorization": f"token {config['token']}", "Content-Type": "application/json"}
    connection.request(method, "/" + path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = connection.getresponse()
    answer = json.loads(response.read() or b"null")
    connection.close()
    return response.status, answer


def execute(config, kernel_id, code):
    """Run code on a kernel through the Jupyter server's websocket (as the page does); what it printed."""
    import asyncio
    import uuid

    from tornado.websocket import websocket_connect

    async def run():
        url = config["wsUrl"] + f"api/kernels/{kernel_id}/channels?token={config['token']}"
        ws = await websocket_connect(url)
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "msg_type": "execute_request", "username": "", "session": msg_id, "version": "5.3"}
        content = {"code": code, "silent": False, "store_history": False, "user_expressions": {}, "allow_stdin": False}
        message = {"header": header, "parent_header": {}, "metadata": {}, "channel": "shell", "content": content}
        await ws.write_message(json.dumps(message))
        text = ""
        while True:
            msg = json.loads(await asyncio.wait_for(ws.read_message(), 120))
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                text += msg["content"]["text"]
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                ws.close()
                return text

    return asyncio.run(run())


@pytest.mark.slow
def test_a_page_gets_a_kernel_on_which_its_chapter_has_run_and_the_pool_prepares_another(small_site):
    process, origin = start_serve(small_site)
    try:
        config = json.loads(request(origin + "/k2l-live.json")[2])
        deadline = time.monotonic() + 300
        while not wait_for_line(process, "pool settled", deadline):
            pass
        assert api(config, "api/kernels") == (200, []), "prepared kernels are not the readers' kernels"
        status, model = api(config, "api/kernels", {"name": "python3", "path": "07-small.ipynb"}, "POST")
        assert status == 201 and model["k2l_cells_run"] == 3
        printed = execute(config, model["id"], "print(answer, os.getcwd())")
        assert printed.split() == ["42", str(ROOT / "book")], "the cells ran once, in the chapter's folder"
        assert [k["id"] for k in api(config, "api/kernels")[1]] == [model["id"]]
        while not wait_for_line(process, "a page got chapter 07-small", deadline):
            pass
        while not wait_for_line(process, "pool settled", deadline):
            pass  # prepared again
        status, second = api(config, "api/kernels", {"name": "python3", "path": "07-small.ipynb"}, "POST")
        assert status == 201 and second["k2l_cells_run"] == 3 and second["id"] != model["id"]
        # a page of another chapter gets a new kernel, on which nothing has run
        status, other = api(config, "api/kernels", {"name": "python3", "path": "08-other.ipynb"}, "POST")
        assert status == 201 and other["k2l_cells_run"] == 0
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(60)


@pytest.mark.slow
def test_no_kernel_is_prepared_or_started_beyond_the_memory_budget(small_site):
    process, origin = start_serve(small_site, "--memory", "0.2GB")
    try:
        config = json.loads(request(origin + "/k2l-live.json")[2])
        deadline = time.monotonic() + 300
        while not wait_for_line(process, "pool settled", deadline):
            pass
        assert "ready for 0 chapters" in process.k2l_lines[-1]
        status, answer = api(config, "api/kernels", {"name": "python3", "path": "07-small.ipynb"}, "POST")
        assert status == 503 and "--memory" in answer["message"]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(60)


# -- the live-code control, in the browser ------------------------------------------


@pytest.fixture(scope="module")
def browser():
    executable = _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def open_chapter(browser, origin, offsite, chapter=CHAPTER):
    context = browser.new_context()
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def route(r):
        if r.request.url.startswith("http://127.0.0.1:") or r.request.url.startswith("ws://127.0.0.1:"):
            r.continue_()
        else:
            offsite.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(f"{origin}/{chapter}.html", wait_until="load")
    return context, page, errors


def switch_live_code_on_and_run_the_comparison(page):
    """Press the control, run the comparison cell.

    Returns (seconds to the first live output, seconds to the comparison's output, its cell).
    """
    start = time.perf_counter()
    page.locator("button.k2l-live-control").click()
    page.wait_for_selector("body.k2l-live-on", timeout=RUN_TIMEOUT_MS)
    editor = page.locator("textarea.k2l-live-editor").filter(has_text=COMPARISON_CELL)
    assert editor.count() == 1
    cell = page.locator("div.cell").filter(has=editor)
    cell.locator("button.k2l-live-run").click()
    page.locator(".k2l-live-output > *").first.wait_for(timeout=RUN_TIMEOUT_MS)  # an earlier cell's, first
    first = time.perf_counter() - start
    output = cell.locator(".k2l-live-output")
    output.filter(has_text="largest difference from nengo-loihi").wait_for(timeout=RUN_TIMEOUT_MS)
    return first, time.perf_counter() - start, cell


@pytest.mark.slow
def test_live_code_runs_chapter_2_on_the_readers_kernel(browser, live):
    origin, config, _ = live
    offsite = []
    context, page, errors = open_chapter(browser, origin, offsite)
    try:
        first_seconds, seconds, cell = switch_live_code_on_and_run_the_comparison(page)
        first_text = cell.locator(".k2l-live-output").inner_text()
        first = COMPARISON_OUTPUT.search(first_text)
        assert first, f"no comparison in the output: {first_text!r}"
        assert abs(float(first.group(1))) < 1e-9, "the formula differs from nengo-loihi's own rates"
        # the static output of the build is replaced by the live one
        assert not cell.locator(".cell_output").is_visible()

        # change a number, run again: the output changes
        editor = cell.locator("textarea.k2l-live-editor")
        editor.fill(editor.input_value().replace("dt=0.001", "dt=0.002"))
        cell.locator("button.k2l-live-run").click()
        page.wait_for_function(
            "([el, before]) => el.innerText.includes('largest difference') && el.innerText !== before",
            arg=[cell.locator(".k2l-live-output").element_handle(), first_text],
            timeout=RUN_TIMEOUT_MS,
        )
        second = COMPARISON_OUTPUT.search(cell.locator(".k2l-live-output").inner_text())
        assert float(second.group(1)) > 1.0, "a time step twice as long gives other rates"

        # the kernel came from k2l serve's pool: every cell of the chapter had run on it
        n_cells = page.evaluate("window.k2lLive.cells.length")
        assert page.evaluate("window.k2lLive.cellsRun") == n_cells
        assert page.evaluate("window.k2lLive.cells.every(c => c.executed)")
        # nothing failed; with the outputs shown, the page is still accessible
        assert not blocking(axe_violations(page)), axe_violations(page)
        assert not page.locator(".k2l-live-error").count(), page.locator(".k2l-live-error").first.inner_text()
        assert not errors, errors
        assert not offsite, f"requests to other sites: {offsite}"
        print(f"\nlive code: from the control, {first_seconds:.1f} s to the first output, {seconds:.1f} s to the comparison's")
    finally:
        context.close()


@pytest.mark.slow
def test_a_page_from_another_origin_can_read_neither_the_token_nor_the_kernels(browser, live, tmp_path):
    origin, config, _ = live
    (tmp_path / "index.html").write_text("<!doctype html><title>another site</title>")
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path), **k)  # noqa: E731
    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{other.server_address[1]}/index.html")
        results = page.evaluate(
            """async ([site, api, token]) => {
                const attempt = async (url, init) => {
                    try { const r = await fetch(url, init); return `HTTP ${r.status}: ${await r.text()}`; }
                    catch (e) { return 'refused'; }
                };
                return [
                    await attempt(site + '/k2l-live.json'),
                    await attempt(api + 'api/kernels', {headers: {Authorization: 'token ' + token}}),
                    await attempt(api + 'api/kernels', {method: 'POST', headers: {Authorization: 'token ' + token}}),
                ];
            }""",
            [origin, config["baseUrl"], config["token"]],
        )
        assert results == ["refused", "refused", "refused"], results
    finally:
        context.close()
        other.shutdown()
        other.server_close()


def switch_live_code_on(page):
    page.locator("button.k2l-live-control").click()
    page.wait_for_selector("body.k2l-live-on", timeout=RUN_TIMEOUT_MS)


def wait_for_status(page, text, timeout=RUN_TIMEOUT_MS):
    page.locator(".k2l-live-status").filter(has_text=text).wait_for(timeout=timeout)


def run_edited(cell, code):
    cell.locator("textarea.k2l-live-editor").fill(code)
    cell.locator("button.k2l-live-run").click()


@pytest.mark.slow
def test_with_live_code_on_no_chapter_has_a_serious_accessibility_violation(browser, live):
    origin, _, _ = live
    found = {}
    for chapter in [c for c in CHAPTERS if c != "index"]:
        context, page, errors = open_chapter(browser, origin, [], chapter)
        try:
            switch_live_code_on(page)
            for scheme in ("light", "dark"):
                page.emulate_media(color_scheme=scheme)
                # the theme's script follows the reader's mode (data-theme), then its colours change
                # through CSS transitions: axe must see where they end
                page.wait_for_function(f"document.documentElement.dataset.theme === '{scheme}'")
                page.wait_for_function("!document.getAnimations().some((a) => a instanceof CSSTransition)")
                found[f"{chapter}, {scheme}"] = blocking(axe_violations(page))
            assert not errors, errors
            page.evaluate("window.k2lLive.kernel.shutdown()")
        finally:
            context.close()
    assert not any(found.values()), {k: v for k, v in found.items() if v}


@pytest.mark.slow
def test_a_kernel_that_dies_is_reported_and_run_starts_a_new_one(browser, live):
    origin, _, _ = live
    context, page, errors = open_chapter(browser, origin, [])
    try:
        switch_live_code_on(page)
        cell = page.locator("div.cell").filter(has=page.locator("textarea.k2l-live-editor").filter(has_text=COMPARISON_CELL))
        original = cell.locator("textarea.k2l-live-editor").input_value()
        run_edited(cell, "import os\nos._exit(1)  # as the kernel dies when it runs out of memory")
        wait_for_status(page, "Your kernel stopped")
        assert "Your kernel stopped" in cell.locator(".k2l-live-output").inner_text()
        assert not cell.locator("button.k2l-live-run").is_disabled()
        assert page.evaluate("window.k2lLive.cells.every(c => !c.executed)"), "the old kernel's state is gone"
        # Run again: a new kernel (the chapter's earlier cells run first, as needed) answers
        run_edited(cell, original)
        cell.locator(".k2l-live-output").filter(has_text="largest difference from nengo-loihi").wait_for(timeout=RUN_TIMEOUT_MS)
        wait_for_status(page, "done")
        assert not page.locator(".k2l-live-error").count()
        assert not errors, errors
    finally:
        context.close()


@pytest.mark.slow
def test_a_kernel_refused_for_memory_shows_the_servers_message_on_the_page(browser, site):  # noqa: F811
    process, origin = start_serve(site, "--memory", "0.2GB")  # less than any kernel: every page is refused
    context, page, errors = open_chapter(browser, origin, [])
    try:
        page.locator("button.k2l-live-control").click()
        status = page.locator(".k2l-live-status[data-kind=error]")
        status.wait_for(timeout=120_000)
        assert "memory budget" in status.inner_text() and "--memory" in status.inner_text(), status.inner_text()
        assert "Invalid response" not in status.inner_text() and "HTTP 503" not in status.inner_text()
        assert not errors, errors
    finally:
        context.close()
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(60)


@pytest.mark.slow
def test_a_stopped_k2l_serve_is_reported_and_run_works_again_after_a_restart(browser, site):  # noqa: F811
    port = serve.free_port()
    process, origin = start_serve(site, "--warm", port=port)
    context, page, errors = open_chapter(browser, origin, [])
    try:
        switch_live_code_on(page)
        cell = page.locator("div.cell").filter(has=page.locator("textarea.k2l-live-editor")).first
        run_edited(cell, "print(6 * 7)")
        cell.locator(".k2l-live-output").filter(has_text="42").wait_for(timeout=RUN_TIMEOUT_MS)
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(60)
        wait_for_status(page, "Lost the connection to k2l serve", timeout=60_000)
        # started again at the same address, Run works again, on a new kernel (new token, new port)
        process, _ = start_serve(site, "--warm", port=port)
        run_edited(cell, "print(6 * 8)")
        cell.locator(".k2l-live-output").filter(has_text="48").wait_for(timeout=RUN_TIMEOUT_MS)
        wait_for_status(page, "done")
        assert not errors, errors
    finally:
        context.close()
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(60)
