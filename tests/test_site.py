"""The built website, opened in a real (headless) browser.

The site is built first with ``k2l book`` (strict: a warning or a failing
chapter fails the build). With warm caches that is Sphinx's incremental build
and takes seconds; on a fresh clone it executes every chapter. To test a site
built elsewhere, set ``K2L_SITE_DIR`` to its directory and nothing is built.

The browser is Debian's Chromium (``apt-get install chromium``), driven by
playwright-python; no browser is ever downloaded. Without it the tests skip,
except in CI (``CI`` set), where they fail.

Every page is served from 127.0.0.1 and every request to another host is
blocked and recorded: the site must work offline.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import pytest

from k2l_course.exercises import checks
from k2l_course.site import live_assets

#: Every test here needs the built book (a cold build takes many minutes): run with the slow tests.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Every chapter of the book, by page name (the sources in book/).
CHAPTERS = sorted(p.stem for p in BOOK.glob("*.md"))
#: A term that only chapter 2 explains, for the search test.
SEARCH_TERM = "plateaus"
SEARCH_PAGE = "02-activation"
#: The chapters with an exercise, and its name.
EXERCISES = {checks.chapter(exercise)[0]: exercise for exercise in checks.EXERCISES}


#: The impacts axe-core reports that fail the accessibility tests.
BLOCKING = ("serious", "critical")


def axe_violations(page):
    """axe-core's (WCAG 2.x A/AA and best-practice) violations on the page as it is now.

    axe-core comes from npm, pinned in ``live/package-lock.json`` like the
    live-code script's packages, and is injected into the page (never part of
    the site). Returns ``[(impact, rule id, [selectors of the first nodes])]``.
    """
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=str(live_assets.axe_script()))
    found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [(v["impact"], v["id"], [n["target"] for n in v["nodes"][:3]]) for v in found]


def blocking(violations):
    return [v for v in violations if v[0] in BLOCKING]


def _chromium_or_skip():
    if Path(CHROMIUM).exists():
        return CHROMIUM
    message = f"{CHROMIUM} not found: install Debian's browser with 'apt-get install chromium' to run the site tests"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must run them)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def site():
    """The directory of the built site."""
    given = os.environ.get("K2L_SITE_DIR")
    if given:
        path = Path(given)
        assert (path / "index.html").exists(), f"K2L_SITE_DIR={given} holds no built site"
        return path
    output = ROOT / "_build" / "html"
    result = subprocess.run(
        [sys.executable, "-m", "k2l_course.cli", "book", "--strict", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, "the book build failed:\n" + result.stdout[-4000:] + result.stderr[-8000:]
    return output


@pytest.fixture(scope="module")
def server(site):
    """An HTTP server for the site on 127.0.0.1; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    executable = _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


class PageVisit:
    """A page opened with its JavaScript errors and off-site requests recorded."""

    def __init__(self, browser, base, color_scheme="light"):
        self.context = browser.new_context(color_scheme=color_scheme)
        self.page = self.context.new_page()
        self.errors = []
        self.offsite = []
        self.base = base
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        self.page.on(
            "console", lambda msg: self.errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
        )
        self.page.route("**/*", self._route)

    def _route(self, route):
        url = route.request.url
        if url.startswith(self.base) or url.startswith("data:"):
            route.continue_()
        else:
            self.offsite.append(url)
            route.abort()

    def open(self, path):
        response = self.page.goto(self.base + path, wait_until="load")
        assert response is not None and response.status == 200, f"{path}: HTTP {response and response.status}"
        return self.page

    def close(self):
        if self.context is not None:
            self.context.close()
            self.context = None


@pytest.fixture()
def visit(browser, server):
    visits = []

    def open_page(path, color_scheme="light"):
        v = PageVisit(browser, server, color_scheme)
        visits.append(v)
        v.open(path)
        return v

    yield open_page
    for v in visits:
        v.close()


def test_the_book_has_every_chapter():
    expected = {"index", "01-conversion", "02-activation", "03-scaling", "04-training", "05-chip", "06-results"}
    assert expected <= set(CHAPTERS)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_renders_with_its_figures_and_no_errors(visit, chapter):
    v = visit(f"{chapter}.html")
    page = v.page
    page.wait_for_load_state("networkidle")
    title = page.locator("article h1").first.inner_text()
    assert title.strip(), f"{chapter}: no title"
    images = page.eval_on_selector_all(
        "article img", "els => els.map(e => ({src: e.getAttribute('src'), ok: e.complete && e.naturalWidth > 0, alt: e.alt}))"
    )
    broken = [img["src"] for img in images if not img["ok"]]
    assert not broken, f"{chapter}: images that did not load: {broken}"
    if chapter != "index":
        assert images, f"{chapter}: a chapter without a single figure"
    missing_alt = [img["src"] for img in images if not img["alt"].strip() or img["alt"].startswith("_images")]
    assert not missing_alt, f"{chapter}: figures without alt text: {missing_alt}"
    assert not v.errors, f"{chapter}: JavaScript errors: {v.errors}"
    assert not v.offsite, f"{chapter}: requests to other sites: {v.offsite}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_internal_links_resolve(visit, chapter, server):
    v = visit(f"{chapter}.html")
    hrefs = v.page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    internal = sorted({h for h in hrefs if h.startswith(server)})
    assert internal, f"{chapter}: no internal links at all"
    checked = {}
    for href in internal:
        url, fragment = urldefrag(href)
        if url not in checked:
            checked[url] = v.page.request.get(url)
        response = checked[url]
        assert response.status == 200, f"{chapter}: link {href} -> HTTP {response.status}"
        if fragment and url.endswith(".html"):
            body = response.text()
            assert f'id="{fragment}"' in body, f"{chapter}: link {href}: no element with id {fragment!r}"
    # the download buttons: the MyST source and the executed notebook
    for suffix in (".md", ".ipynb"):
        assert any(urlparse(h).path.endswith(f"/_sources/{chapter}{suffix}") for h in internal), (
            f"{chapter}: no {suffix} download link"
        )


def test_sidebar_has_a_page_per_chapter(visit):
    v = visit("index.html")
    links = v.page.eval_on_selector_all("nav.bd-links a.reference", "els => els.map(e => e.getAttribute('href'))")
    pages = {Path(urlparse(h).path).stem for h in links}
    assert set(CHAPTERS) - {"index"} <= pages, f"sidebar lists {sorted(pages)}"


def test_search_finds_a_term_from_chapter_2(visit):
    v = visit(f"search.html?q={SEARCH_TERM}")
    results = v.page.locator("#search-results ul.search li a")
    results.first.wait_for(timeout=15_000)
    targets = results.evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert any(SEARCH_PAGE in t for t in targets), f"search for {SEARCH_TERM!r} found {targets}"
    assert not v.errors, v.errors


#: What a configured build links to (any published repository would do).
PUBLISHED_REPOSITORY = "https://github.com/example-org/k2l"
#: Services whose buttons the pages must never show.
NEVER_LINKED = ("deepnote.com",)
#: Colab's Python (3.13) has no TensorFlow 2.12, so no chapter runs there: a page links
#: Colab only for its exercise's notebook (tests/test_colab.py).
COLAB_EXERCISE = re.compile(r"https://colab\.research\.google\.com/github/example-org/k2l/blob/main/exercises/ch\d_\w+\.ipynb")


def _header_links(page):
    return page.eval_on_selector_all(".article-header-buttons a[href], .header-article-items a[href]", "els => els.map(e => e.href)")


def test_without_a_published_repository_no_repository_edit_or_launch_button(visit):
    v = visit(f"{SEARCH_PAGE}.html")
    html = v.page.content()
    for marker in ("mybinder.org", "colab.research.google.com", "source-repository-button", "edit-button", "launch-buttons"):
        assert marker not in html, f"the default build offers {marker!r}, which cannot work"
    assert not [h for h in _header_links(v.page) if not h.startswith(v.base)], "a header link leaves the site"
    assert "btn-download-source-button" in html or "_sources/02-activation.md" in html


@pytest.fixture(scope="module")
def published_site(site):
    """The site built with K2L_REPOSITORY_URL set (reuses the executed chapters' cache)."""
    output = ROOT / "_build" / "published" / "html"
    result = subprocess.run(
        [sys.executable, "-m", "k2l_course.cli", "book", "--strict", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "K2L_REPOSITORY_URL": PUBLISHED_REPOSITORY, "K2L_REPOSITORY_BRANCH": "main"},
    )
    assert result.returncode == 0, "the build failed:\n" + result.stdout[-4000:] + result.stderr[-8000:]
    return output


@pytest.mark.slow
@pytest.mark.parametrize("chapter", [c for c in CHAPTERS if c != "index"])
def test_with_a_published_repository_each_chapter_links_it_and_launches_itself_on_binder(published_site, chapter):
    import html as html_lib

    page = (published_site / f"{chapter}.html").read_text()
    hrefs = {html_lib.unescape(h) for h in re.findall(r'href="([^"]+)"', page)}
    source = f"book/{chapter}.md"
    assert (ROOT / source).is_file()
    # Binder: the repository's binder/ environment, JupyterLab opening the chapter
    # (binder/postBuild makes the notebook its default viewer; tests/test_binder.py)
    binder = f"https://mybinder.org/v2/gh/example-org/k2l/main?urlpath=lab/tree/{source}"
    assert binder in hrefs, f"{chapter}: no Binder link to {source}"
    assert PUBLISHED_REPOSITORY in hrefs, f"{chapter}: no repository button"
    assert f"{PUBLISHED_REPOSITORY}/edit/main/{source}" in hrefs, f"{chapter}: no edit button"
    for service in NEVER_LINKED:
        assert service not in page, f"{chapter} links {service}"
    external = {h for h in hrefs if h.startswith(("http://", "https://"))}
    colab = {h for h in external if "colab.research.google.com" in h}
    assert all(COLAB_EXERCISE.fullmatch(h) for h in colab), f"{chapter} opens more than its exercise in Colab: {colab}"
    allowed = {binder, PUBLISHED_REPOSITORY, f"{PUBLISHED_REPOSITORY}/edit/main/{source}"} | colab
    assert external - allowed <= _prose_links(chapter), f"{chapter}: unexpected external links {external - allowed}"


def _prose_links(chapter):
    """External links written in the chapter's own text (the reader follows those knowingly)."""
    text = (BOOK / f"{chapter}.md").read_text()
    return set(re.findall(r"https?://[^\s)>\]\"']+", text))


def test_code_cells_have_copy_buttons_that_copy_the_code(visit, server):
    v = visit(f"{SEARCH_PAGE}.html")
    v.page.wait_for_selector("button.copybtn", state="attached", timeout=10_000)
    assert v.page.locator("button.copybtn").count() >= 3
    v.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.rstrip("/"))
    cell = v.page.locator("div.cell_input").first
    cell.hover()
    cell.locator("button.copybtn").click()
    copied = v.page.evaluate("navigator.clipboard.readText()")
    assert copied.strip() and copied.strip() == cell.locator("pre").inner_text().strip()


def test_hints_are_dropdowns_closed_by_default(visit):
    v = visit(f"{SEARCH_PAGE}.html")
    dropdowns = v.page.locator("details.sd-dropdown")
    assert dropdowns.count() >= 1
    assert all(not d.get_attribute("open") for d in dropdowns.all())


def test_solutions_are_not_on_the_student_site(site):
    for page in site.glob("*.html"):
        assert "k2l-solution" not in page.read_text(), f"{page.name} shows a solution"


def test_the_instructor_build_includes_each_chapters_solution():
    """``k2l book --solutions``: the same executed chapters, with the solutions shown."""
    output = ROOT / "_build" / "instructor" / "html"
    result = subprocess.run(
        [sys.executable, "-m", "k2l_course.cli", "book", "--solutions", "--strict", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, "the instructor build failed:\n" + result.stdout[-4000:] + result.stderr[-8000:]
    for chapter, exercise in EXERCISES.items():
        html = (output / f"{chapter}.html").read_text()
        solution = (ROOT / "solutions" / f"{exercise}.py").read_text()
        first_def = next(line for line in solution.splitlines() if line.startswith("def "))
        assert "k2l-solution" in html, f"{chapter}: no solution block in the instructor build"
        assert first_def.split("(")[0].split()[-1] in html, f"{chapter}: the solution's code is missing"


# -- the live-code control (k2l serve: tests/test_serve.py) --------------------------


def test_every_chapter_offers_live_code_and_loads_its_script_from_the_site(site):
    for chapter in CHAPTERS:
        page = (site / f"{chapter}.html").read_text()
        scripts = re.findall(r"<script[^>]*\bsrc=\"([^\"]+)\"", page)
        assert any(s.split("?")[0].endswith("_static/k2l-live.js") for s in scripts), f"{chapter}: no live-code script"
        offsite = [s for s in scripts if re.match(r"([a-z]+:)?//", s)]
        assert not offsite, f"{chapter} loads scripts from other sites: {offsite}"


def test_the_live_code_script_names_no_other_site(site):
    bundle = (site / "_static" / "k2l-live.js").read_text()
    assert not re.findall(r"(?:https?|wss?)://[\w.-]+", bundle), "the script would contact another site"


def test_without_k2l_serve_the_live_code_control_says_how_to_start_it(visit):
    v = visit(f"{SEARCH_PAGE}.html")
    v.page.locator("button.k2l-live-control").click()
    status = v.page.locator(".k2l-live-status")
    status.filter(has_text="k2l serve").wait_for(timeout=15_000)
    assert not v.page.locator("textarea.k2l-live-editor").count(), "cells became editable without a kernel"
    assert not v.offsite, v.offsite


# -- every other control of a chapter's header does what it says -------------------


def test_header_buttons_of_a_chapter_work(visit):
    """Download menu (notebook, source: test_internal_links_resolve; print), full screen,
    colour mode, search: each click has its effect and no error."""
    v = visit(f"{SEARCH_PAGE}.html")
    page = v.page
    page.wait_for_load_state("networkidle")
    # print to PDF: the download menu's third entry calls the browser's print dialog
    page.evaluate("window.print = () => { window.__k2lPrinted = true; }")
    page.locator(".article-header-buttons button.dropdown-toggle").first.click()
    page.locator("button.btn-download-pdf-button").click()
    assert page.evaluate("window.__k2lPrinted === true"), "print to PDF did not print"
    # full screen (headless Chromium may refuse the request itself; the button must not fail)
    page.evaluate(
        "document.documentElement.requestFullscreen = () => { window.__k2lFullscreen = true; return Promise.resolve(); }"
    )
    page.locator("button.btn-fullscreen-button").click()
    assert page.evaluate("window.__k2lFullscreen === true"), "the full-screen button asked for nothing"
    # colour mode: cycles auto -> light -> dark
    before = page.evaluate("document.documentElement.dataset.mode")
    page.locator("button.theme-switch-button:visible").first.click()
    assert page.evaluate("document.documentElement.dataset.mode") != before, "colour mode unchanged"
    # search: opens the search dialog, whose form goes to search.html (test_search_finds_a_term_from_chapter_2)
    page.locator("button.search-button__button:visible").first.click()
    dialog = page.locator("#pst-search-dialog")
    dialog.wait_for(state="visible", timeout=10_000)
    assert "search.html" in dialog.locator("form").get_attribute("action")
    page.keyboard.press("Escape")
    assert not v.errors, v.errors
    assert not v.offsite, v.offsite


# -- accessibility ---------------------------------------------------------------------

#: Every page of the site's top level: the chapters, search and the index.
PAGES = CHAPTERS + ["search", "genindex"]


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
def test_no_page_has_a_serious_accessibility_violation(visit, color_scheme):
    """axe-core on every page, in the reader's light and dark mode; on chapters also
    with the Live code control pressed (no k2l serve: its help; with it: test_serve.py)."""
    found = {}
    for name in PAGES:
        v = visit(f"{name}.html", color_scheme)
        v.page.wait_for_load_state("networkidle")
        assert v.page.evaluate("document.documentElement.dataset.theme") == color_scheme
        found[name] = blocking(axe_violations(v.page))
        if v.page.locator("button.k2l-live-control").count():
            v.page.locator("button.k2l-live-control").click()
            v.page.locator(".k2l-live-status").filter(has_text="k2l serve").wait_for(timeout=15_000)
            found[f"{name}, Live code pressed"] = blocking(axe_violations(v.page))
        v.close()
    assert not any(found.values()), {page: violations for page, violations in found.items() if violations}
