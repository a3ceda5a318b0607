"""The class report (``k2l report``) says exactly what a graded class did, safely, offline.

The class is written straight as ``k2l grade`` records by
``tests/classes/records.py``, whose scores, hints, statuses and times
follow a rule, so every number the report must show is known in advance.
"""

import json
import re
from pathlib import Path

import pytest

from k2l_course import cli
from k2l_course.exercises import checks
from k2l_course.exercises.checks import sections
from k2l_course.grading import report

# the generated classes, from tests/classes (pytest's pythonpath)
import records

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


N = 60


@pytest.fixture(scope="module")
def output(tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    expected = records.write_class(out, N)
    return out, expected


def _taught():
    """Every (page, heading) the items and exercises name."""
    places = {sections.section_of(item.exercise, item.name) for item in checks.items()}
    return places | {checks.chapter(exercise) for exercise in checks.EXERCISES}


def test_every_item_is_linked_to_a_book_section_that_exists():
    assert all(item.section for item in checks.items()), "every graded item names the section that teaches it"
    for page, heading in _taught():
        source = ROOT / "book" / f"{page}.md"
        assert source.is_file(), source
        headings = [line.lstrip("#").strip() for line in source.read_text().splitlines() if re.match(r"#{1,3} ", line)]
        assert heading in headings, f"{page}.md has no heading {heading!r}"


def test_anchors_follow_myst_heading_slugs():
    from myst_parser.mdit_to_docutils.base import default_slugify

    for _, heading in _taught():
        assert sections.anchor(heading) == default_slugify(heading)


def test_the_numbers_are_the_classs(output):
    out, expected = output
    summary = report.summarize(report.load_output(out))
    assert summary["n"] == N and summary["seed"] == records.SEED
    assert summary["totals"] == pytest.approx(expected["totals"])
    assert summary["mean"] == pytest.approx(sum(expected["totals"]) / N)
    assert summary["max"] == sum(points for *_, points in records.ITEMS)
    rows = {row["id"]: row for row in summary["items"]}
    assert list(rows) == [f"{e}.{n}" for e, n, _ in records.ITEMS]
    for item_id, want in expected["items"].items():
        row = rows[item_id]
        assert (row["PASS"], row["PART"], row["FAIL"]) == (want["PASS"], want["PART"], want["FAIL"])
        assert row["PASS"] + row["PART"] + row["FAIL"] == N
        assert row["mean"] == pytest.approx(want["mean"])
        assert dict(row["hints"]) == want["hints"]
        assert [count for _, count in row["hints"]] == sorted(want["hints"].values(), reverse=True)
        assert row["section"] == sections.section_of(*item_id.split("."))
    assert summary["statuses"] == expected["statuses"]
    assert "grader-error" in summary["statuses"] and "timeout" in summary["statuses"]
    assert summary["slowest"] == expected["slowest"]
    by_exercise = {row["exercise"]: row for row in summary["exercises"]}
    for exercise in {e for e, _, _ in records.ITEMS}:
        mine = [row["mean"] for item_id, row in rows.items() if item_id.startswith(exercise)]
        assert by_exercise[exercise]["mean"] == pytest.approx(sum(mine))


def test_untrusted_text_is_escaped_and_bad_records_are_listed_not_fatal(tmp_path):
    records.write_class(tmp_path, 4)
    evil = records.record(0)
    evil["student"] = "<script>alert(1)</script>\udcff"
    evil["items"][0]["score"] = 0.0
    evil["items"][0]["message"] = '<img src="http://example.com/x.png" onerror="alert(2)">'
    (tmp_path / "students" / "evil").mkdir()
    (tmp_path / "students" / "evil" / "record.json").write_text(json.dumps(evil))
    (tmp_path / "students" / "broken").mkdir()
    (tmp_path / "students" / "broken" / "record.json").write_bytes(b"{\xff" + b"[" * 100000)
    (tmp_path / "students" / "huge").mkdir()
    (tmp_path / "students" / "huge" / "record.json").write_bytes(b" " * (report.MAX_RECORD_BYTES + 1))
    assert cli.main(["report", str(tmp_path)]) == 0
    html = (tmp_path / "report.html").read_text()
    assert "<script>" not in html and "<img src=\"http" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=&#34;http://example.com/x.png&#34;" in html
    assert "broken: record.json unreadable" in html and "huge: record.json unreadable" in html


def test_report_command_refuses_a_folder_without_records(tmp_path, capsys):
    assert cli.main(["report", str(tmp_path)]) == 2
    assert "no graded students" in capsys.readouterr().err
    assert not (tmp_path / "report.html").exists()


@pytest.mark.slow
def test_the_report_opens_from_disk_in_a_browser_and_requests_nothing(output):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    out, expected = output
    path = report.write_report(out, book_url="https://book.example/k2l")
    requests = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--headless", "--no-sandbox", "--disable-gpu"])  # fmt: skip
        try:
            page = browser.new_page()
            page.on("request", lambda request: requests.append(request.url))
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => [e.alt, e.naturalWidth, e.complete, e.src.slice(0, 21)])"
            )
            seed = page.inner_text("#seed")
            timeout_row = page.inner_text("tr[data-status='timeout']")
            first_item = page.locator("tr[data-item='ch2_activation.loihi_rate_formula']")
            hints = first_item.locator(".hint").all_inner_texts()
            counts = first_item.locator(".count").all_inner_texts()
            link = first_item.locator("a.section").get_attribute("href")
            disclaimer = page.inner_text("#similarity-disclaimer")
        finally:
            browser.close()
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []
    assert len(images) == 2
    for alt, width, complete, src in images:
        assert complete and width > 100 and src == "data:image/png;base64" and len(alt) > 40
    assert seed == str(records.SEED)
    assert timeout_row.split("\t")[1].strip() == str(len(expected["statuses"]["timeout"]))
    want = expected["items"]["ch2_activation.loihi_rate_formula"]["hints"]
    assert dict(zip(hints, map(int, counts))) == want
    assert "mistake A <b>&amp;" in hints[0] + hints[1] + hints[2]  # shown as text, not markup
    assert link == "https://book.example/k2l/02-activation.html#one-spike-per-time-step"
    assert "evidence for a person to look at" in disclaimer


def test_a_large_class_gets_one_page_with_every_non_ok_student_and_the_full_table_as_csv_beside_it(tmp_path):
    import csv

    n = 400
    expected = records.write_class(tmp_path, n)
    path = report.write_report(tmp_path, similarity=False)
    html = path.read_text()
    assert list(tmp_path.glob("*.html")) == [path]
    assert 'href="report.csv"' in html and 'id="table-csv"' in html
    for status, who in expected["statuses"].items():  # the students with a status other than ok, in full
        row = re.search(rf'<tr data-status="{status}">(.*?)</tr>', html, re.S).group(1)
        assert all(student in row for student in who)
    rows = list(csv.DictReader((tmp_path / report.TABLE_NAME).open()))
    assert [row["student"] for row in rows] == sorted(records.student_id(i) for i in range(n))
    assert [float(row["total"]) for row in rows] == pytest.approx(expected["totals"], abs=0.005)
    assert {row["status"] for row in rows} == {"ok", *expected["statuses"]}
    assert len(html) < 200_000  # the page does not grow with a row per student
    assert not re.search(r"<script|src=\"(?!data:)", html)  # self-contained and script-free
