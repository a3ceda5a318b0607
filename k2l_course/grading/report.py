"""``k2l report``: the class report of a graded output, one self-contained HTML page.

::

    k2l report OUT_DIR [--submissions DIR] [--book-url URL]

``k2l grade`` writes ``OUT_DIR/report.html`` at the end of every run;
``k2l report`` rebuilds it from an existing output (the ``record.json`` of
every student, ``grading.json`` when present). The page shows

* the score distribution (a histogram) and the seed of the graded cases;
* per exercise and per item: mean points and PASS / PART / FAIL counts;
* per item, the hints the class received most often, with counts (the
  class's misconceptions), each linked to the section of the book that
  teaches the point (:mod:`k2l_course.exercises.checks.sections`);
* the statuses other than ``ok`` (timeouts, crashes, grader errors, no
  submission ...) with the students concerned, and the slowest submissions;
* similarity flags (:mod:`k2l_course.grading.similarity`) when the submissions are
  at hand: every flagged pair, the strongest with the matching regions side
  by side. They are evidence for a person to look at, never a verdict.
  Fingerprints are kept in ``OUT_DIR/similarity/`` so a rebuild (or a
  class that grows) fingerprints only new or changed files;
* the full table, one row per student (status, total, seconds, points per
  exercise), as ``OUT_DIR/report.csv`` next to the page and linked from it,
  so the page stays small for a class of 10,000 (about 0.2 MB) while the
  summaries, the flags and the students with a status other than ``ok``
  are in the page in full.

The page loads nothing: plots are PNG images inside the page (``data:``
URIs) with alt text, the style is inline, and a Content-Security-Policy
forbids every other source. Everything taken from the output (student ids,
hints, code) is untrusted text and escaped by the template engine (jinja2).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import os
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

import k2l_course
from k2l_course.exercises.checks.sections import anchor, section_of
from k2l_course.files import write_atomic
from k2l_course.grading.outputs import spreadsheet_cell
from k2l_course.grading.similarity import MAX_FLAGS

#: Largest record.json read (a record is a few kB; anything bigger is not ours).
MAX_RECORD_BYTES = 4 * 2**20
#: Hints listed per item.
TOP_HINTS = 5
#: Characters of a hint shown (hints are one or two sentences).
MAX_HINT_CHARS = 400
#: Submissions listed as the slowest.
SLOWEST = 10
REPORT_NAME = "report.html"
#: The full table (one row per student), written next to the page.
TABLE_NAME = "report.csv"
#: Where the similarity fingerprints are kept, under the output folder.
FINGERPRINT_STORE = Path("similarity") / "fingerprints.sqlite"


class ReportError(Exception):
    """A problem with the report's inputs (reported, non-zero exit)."""


# --- reading an output --------------------------------------------------------------


@dataclass
class GradedClass:
    """What the report is made from: the records of an output folder."""

    records: list
    seed: object = None
    problems: list = field(default_factory=list)  # records that could not be read
    submissions: str = None  # the submissions folder, when grading.json names it


def _read_json(path, limit):
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"larger than {limit} bytes")
    return json.loads(data.decode("utf-8", errors="replace"))


def _valid_record(record):
    if not isinstance(record, dict) or not isinstance(record.get("items"), list):
        return False
    if not isinstance(record.get("student"), str) or not isinstance(record.get("status"), str):
        return False
    for entry in record["items"]:
        if not isinstance(entry, dict):
            return False
        for key, kind in (("exercise", str), ("name", str), ("points", (int, float)), ("score", (int, float))):
            if not isinstance(entry.get(key), kind):
                return False
    return True


def load_output(out_dir):
    """Read every student's record (and the seed) of a ``k2l grade`` output.

    Parameters
    ----------
    out_dir : path-like
        The ``--out`` folder of ``k2l grade``.

    Returns
    -------
    GradedClass

    Raises
    ------
    ReportError
        If the folder holds no graded students.
    """
    out = Path(out_dir)
    students = out / "students"
    if not students.is_dir():
        raise ReportError(f"{out} holds no graded students (no students/ folder): run k2l grade first")
    records, problems = [], []
    for folder in sorted(students.iterdir(), key=lambda p: os.fsencode(p.name)):
        path = folder / "record.json"
        if not path.is_file():
            continue
        try:
            record = _read_json(path, MAX_RECORD_BYTES)
        except (OSError, ValueError, RecursionError) as error:
            problems.append(f"{_printable(folder.name)}: record.json unreadable ({type(error).__name__})")
            continue
        if not _valid_record(record):
            problems.append(f"{_printable(folder.name)}: record.json is not a k2l record")
            continue
        records.append(record)
    if not records and not problems:
        raise ReportError(f"{out} holds no graded students yet")
    seed, submissions = None, None
    try:
        meta = _read_json(out / "grading.json", 2**20)
        if isinstance(meta, dict):
            seed = meta.get("seed")
            submissions = meta.get("submissions") if isinstance(meta.get("submissions"), str) else None
    except (OSError, ValueError, RecursionError):
        pass
    if seed is None:
        seeds = {json.dumps(r.get("seed")) for r in records if r.get("seed") is not None}
        seed = json.loads(seeds.pop()) if len(seeds) == 1 else (sorted(seeds) if seeds else None)
    return GradedClass(records, seed, problems, submissions)


def _printable(text):
    """A name safe to show (lone surrogates from undecodable bytes replaced)."""
    return str(text).encode("utf-8", errors="replace").decode("utf-8")


# --- the numbers --------------------------------------------------------------------


def mark(entry):
    """PASS, PART or FAIL of one item entry (as in the feedback)."""
    if entry["score"] >= entry["points"]:
        return "PASS"
    return "PART" if entry["score"] > 0 else "FAIL"


def summarize(graded):
    """The report's numbers, as plain data (what the tests check).

    Returns
    -------
    dict
        ``n``, ``max``, ``totals`` (sorted by student), ``mean``, ``median``,
        ``sd``; ``exercises``: ``[{exercise, mean, max, n_full}]``;
        ``items``: ``[{id, exercise, name, hidden, points, mean, PASS, PART,
        FAIL, hints: [(hint, count)], section}]``; ``statuses``:
        ``{status: [student, ...]}`` for every status but ok; ``slowest``:
        ``[(student, seconds)]``; ``seed``; ``problems``.
    """

    records = sorted(graded.records, key=lambda r: r["student"])
    n = len(records)
    totals = [float(r.get("total", sum(e["score"] for e in r["items"]))) for r in records]
    maximum = max((float(r.get("max", sum(e["points"] for e in r["items"]))) for r in records), default=0.0)
    items, order = {}, []
    for record in records:
        for entry in record["items"]:
            hidden = bool(entry.get("hidden"))
            key = (entry["exercise"], entry["name"], hidden)
            if key not in items:
                order.append(key)
                items[key] = {
                    "id": f"{entry['exercise']}.{entry['name']}" + (" (hidden)" if hidden else ""),
                    "exercise": entry["exercise"],
                    "name": entry["name"],
                    "hidden": hidden,
                    "points": float(entry["points"]),
                    "scores": [],
                    "PASS": 0,
                    "PART": 0,
                    "FAIL": 0,
                    "hint_counts": {},
                }
            item = items[key]
            item["scores"].append(float(entry["score"]))
            item[mark(entry)] += 1
            message = entry.get("message")
            if mark(entry) != "PASS" and isinstance(message, str) and message.strip():
                hint = _printable(message.strip())[:MAX_HINT_CHARS]
                item["hint_counts"][hint] = item["hint_counts"].get(hint, 0) + 1
    item_rows = []
    for key in order:
        item = items[key]
        hints = sorted(item.pop("hint_counts").items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_HINTS]
        scores = item.pop("scores")
        item_rows.append(dict(item, mean=sum(scores) / len(scores), n=len(scores), hints=hints,
                              section=section_of(item["exercise"], item["name"])))  # fmt: skip
    exercises = {}
    for record in records:
        per = {}
        for entry in record["items"]:
            got, of = per.get(entry["exercise"], (0.0, 0.0))
            per[entry["exercise"]] = (got + float(entry["score"]), of + float(entry["points"]))
        for exercise, (got, of) in per.items():
            row = exercises.setdefault(exercise, {"exercise": exercise, "scores": [], "max": of, "n_full": 0})
            row["scores"].append(got)
            row["max"] = max(row["max"], of)
            row["n_full"] += got >= of
    exercise_rows = [
        {"exercise": e, "mean": sum(r["scores"]) / len(r["scores"]), "max": r["max"], "n_full": r["n_full"],
         "n": len(r["scores"])}
        for e, r in exercises.items()
    ]  # fmt: skip
    statuses = {}
    for record in records:
        if record["status"] != "ok":
            statuses.setdefault(record["status"], []).append(_printable(record["student"]))
    timed = [(_printable(r["student"]), float(r.get("seconds") or 0.0)) for r in records]
    slowest = sorted(timed, key=lambda pair: (-pair[1], pair[0]))[:SLOWEST]
    return {
        "n": n,
        "max": maximum,
        "totals": totals,
        "students": [_printable(r["student"]) for r in records],
        "mean": statistics.mean(totals) if totals else 0.0,
        "median": statistics.median(totals) if totals else 0.0,
        "sd": statistics.pstdev(totals) if len(totals) > 1 else 0.0,
        "exercises": exercise_rows,
        "items": item_rows,
        "statuses": dict(sorted(statuses.items())),
        "slowest": slowest,
        "seed": graded.seed,
        "problems": list(graded.problems),
    }


def table_csv(graded):
    """The full table (CSV text): one row per student, sorted, with status, total, max, seconds and points per exercise."""
    records = sorted(graded.records, key=lambda r: r["student"])
    exercises = list(dict.fromkeys(entry["exercise"] for record in records for entry in record["items"]))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", "status", "total", "max", "seconds", *exercises])
    for record in records:
        per = dict.fromkeys(exercises, 0.0)
        for entry in record["items"]:
            per[entry["exercise"]] += float(entry["score"])
        total = float(record.get("total", sum(per.values())))
        maximum = float(record.get("max", sum(float(e["points"]) for e in record["items"])))
        seconds = float(record.get("seconds") or 0.0)
        writer.writerow([spreadsheet_cell(_printable(record["student"])), spreadsheet_cell(record["status"]), _fmt(total), _fmt(maximum),
                         f"{seconds:.2f}", *(_fmt(per[e]) for e in exercises)])  # fmt: skip
    return buffer.getvalue()


# --- the plots ----------------------------------------------------------------------


def _png(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def histogram(totals, maximum):
    """The score histogram: ``(data URI, alt text)``."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 3.2))
    axes = figure.add_subplot()
    top = max(maximum, max(totals, default=0.0), 1.0)
    n_bins = int(min(30, max(5, math.ceil(top))))
    counts, edges, _ = axes.hist(totals, bins=n_bins, range=(0, top), color="#3572a5", edgecolor="white")
    axes.set_xlabel(f"total points (out of {_fmt(maximum)})")
    axes.set_ylabel("students")
    axes.set_title("Score distribution")
    peak = int(counts.argmax()) if len(counts) else 0
    alt = (
        f"Histogram of the total scores of {len(totals)} students, from 0 to {_fmt(top)} points in {n_bins} bins. "
        f"Mean {_fmt(statistics.mean(totals) if totals else 0)}, median "
        f"{_fmt(statistics.median(totals) if totals else 0)}; the fullest bin, "
        f"{_fmt(edges[peak])} to {_fmt(edges[peak + 1])} points, holds {int(counts[peak]) if len(counts) else 0} students."
    )
    return _png(figure), alt


def item_bars(item_rows):
    """PASS / PART / FAIL per item as stacked bars: ``(data URI, alt text)``."""
    from matplotlib.figure import Figure

    labels = [row["id"] for row in item_rows]
    figure = Figure(figsize=(7, 0.35 * len(labels) + 1.2))
    axes = figure.add_subplot()
    left = [0] * len(labels)
    for kind, color in (("PASS", "#2e7d32"), ("PART", "#f9a825"), ("FAIL", "#c62828")):
        values = [row[kind] for row in item_rows]
        axes.barh(labels, values, left=left, color=color, label=kind)
        left = [a + b for a, b in zip(left, values)]
    axes.invert_yaxis()
    axes.set_xlabel("students")
    axes.legend(loc="lower right", fontsize="small")
    axes.set_title("PASS / PART / FAIL per item")
    alt = "Stacked bars of PASS, PART and FAIL counts per item: " + "; ".join(
        f"{row['id']}: {row['PASS']} pass, {row['PART']} part, {row['FAIL']} fail" for row in item_rows
    )
    return _png(figure), alt


# --- the page -----------------------------------------------------------------------

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Class report: {{ s.n }} students</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 70rem; margin: 1rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; }
th, td { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { background: #fff8e1; border-left: 4px solid #f9a825; padding: .5rem 1rem; }
pre { margin: 0; white-space: pre-wrap; word-break: break-all; font-size: .8rem; }
mark { background: #ffe082; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
.pair > div { border: 1px solid #ccc; padding: .5rem; overflow: auto; max-height: 30rem; }
</style>
</head>
<body>
<h1>Class report</h1>
<p id="summary">{{ s.n }} students graded. Total out of {{ fmt(s.max) }}: mean {{ fmt(s.mean) }},
median {{ fmt(s.median) }}, standard deviation {{ fmt(s.sd) }}.
Seed of the graded cases: <code id="seed">{{ seed_text }}</code>.
The full table, one row per student: <a id="table-csv" href="{{ table_name }}" download>{{ table_name }}</a> (CSV, next to this page).</p>
{% if s.problems %}<p class="note">Records that could not be read (not counted):
{% for p in s.problems %}{{ p }}{% if not loop.last %}; {% endif %}{% endfor %}.</p>{% endif %}

<h2 id="distribution">Score distribution</h2>
<img id="histogram" src="{{ hist_src }}" alt="{{ hist_alt }}">

<h2 id="exercises">Per exercise</h2>
<table id="exercise-table">
<tr><th>exercise</th><th class="num">mean points</th><th class="num">of</th><th class="num">full marks</th></tr>
{% for e in s.exercises %}<tr><td>{{ e.exercise }}</td><td class="num">{{ fmt(e.mean) }}</td>
<td class="num">{{ fmt(e.max) }}</td><td class="num">{{ e.n_full }} / {{ e.n }}</td></tr>
{% endfor %}</table>

<h2 id="items">Per item, and the class's misconceptions</h2>
<img id="item-bars" src="{{ bars_src }}" alt="{{ bars_alt }}">
<p>The hints below are what the checks told the students who lost points, most frequent first,
with the number of students who received each; each item links to the section of the book that teaches its point.</p>
<table id="item-table">
<tr><th>item</th><th class="num">mean points</th><th class="num">of</th><th class="num">PASS</th>
<th class="num">PART</th><th class="num">FAIL</th><th>most frequent hints (students)</th><th>taught in</th></tr>
{% for i in s["items"] %}<tr data-item="{{ i.id }}"><td>{{ i.id }}</td><td class="num">{{ fmt(i.mean) }}</td>
<td class="num">{{ fmt(i.points) }}</td><td class="num">{{ i.PASS }}</td><td class="num">{{ i.PART }}</td>
<td class="num">{{ i.FAIL }}</td>
<td>{% if i.hints %}<ol class="hints">{% for hint, count in i.hints %}<li><span class="hint">{{ hint }}</span>
(<span class="count">{{ count }}</span>)</li>{% endfor %}</ol>{% else %}none{% endif %}</td>
<td>{% if i.link %}<a class="section" href="{{ i.link }}">{{ i.section_label }}</a>{% elif i.section_label %}{{ i.section_label }}{% endif %}</td></tr>
{% endfor %}</table>

<h2 id="statuses">Statuses</h2>
{% if s.statuses %}<table id="status-table"><tr><th>status</th><th class="num">students</th><th>who</th></tr>
{% for status, who in s.statuses.items() %}<tr data-status="{{ status }}"><td>{{ status }}</td><td class="num">{{ who|length }}</td>
<td>{{ who|join(", ") }}</td></tr>{% endfor %}</table>
{% else %}<p>Every submission ran to the end (status ok).</p>{% endif %}

<h2 id="slowest">Slowest submissions</h2>
<table id="slowest-table"><tr><th>student</th><th class="num">seconds</th></tr>
{% for who, seconds in s.slowest %}<tr><td>{{ who }}</td><td class="num">{{ "%.2f"|format(seconds) }}</td></tr>{% endfor %}
</table>

<h2 id="similarity">Similarity flags</h2>
<p class="note" id="similarity-disclaimer">These flags are evidence for a person to look at, not a finding of copying. Similar code can
have innocent causes (shared study, the same tutorial, a short exercise with one natural answer). Read the
matching regions, and talk to the students, before drawing any conclusion.</p>
{% if sim is none %}<p id="similarity-missing">{{ sim_missing }}</p>
{% else %}<p id="similarity-method">{{ sim.method }}</p>
{% if not sim.flags %}<p id="no-flags">No pair stands out from the class's usual spread.</p>
{% else %}<p id="flag-count">{{ sim.flagged_pairs|length }} pair(s) of students flagged, on {{ sim.flags|length }} exercise file(s){% if sim.flagged_pairs|length > max_flags %}; all are listed, the {{ max_flags }} strongest pairs are shown side by side{% endif %}.</p>
<table id="flag-table"><tr><th>pair</th><th>exercise</th><th class="num">similarity</th>
<th class="num">robust z</th><th class="num">percentile</th></tr>
{% for pair, pair_flags in sim.flagged_pairs %}{% set outer = loop %}{% for f in pair_flags %}<tr>
{% if loop.first %}<td rowspan="{{ pair_flags|length }}">{% if outer.index <= max_flags %}<a href="#pair-{{ outer.index }}">{{ pair[0] }} &amp; {{ pair[1] }}</a>{% else %}{{ pair[0] }} &amp; {{ pair[1] }}{% endif %}</td>{% endif %}
<td>{{ f.exercise }}</td><td class="num">{{ "%.2f"|format(f.score) }}</td><td class="num">{{ "%.1f"|format(f.z) }}</td>
<td class="num">{{ "%.2f"|format(f.percentile) }}</td></tr>{% endfor %}{% endfor %}</table>
{% for pair, pair_flags in sim.flagged_pairs[:max_flags] %}<h3 id="pair-{{ loop.index }}">{{ pair[0] }} &amp; {{ pair[1] }}</h3>
{% for f in pair_flags %}<h4>{{ f.exercise }}</h4>
<p>Similarity {{ "%.2f"|format(f.score) }} (class median {{ "%.2f"|format(f.median) }}, robust z {{ "%.1f"|format(f.z) }}).
Highlighted: the regions that match after names, comments, layout and function order are normalised
and the starter code is removed.</p>
<div class="pair"><div><strong>{{ f.a }}</strong> ({{ f.file_a }})<pre>{% for part, hl in f.regions_a %}{% if hl %}<mark>{{ part }}</mark>{% else %}{{ part }}{% endif %}{% endfor %}</pre></div>
<div><strong>{{ f.b }}</strong> ({{ f.file_b }})<pre>{% for part, hl in f.regions_b %}{% if hl %}<mark>{{ part }}</mark>{% else %}{{ part }}{% endif %}{% endfor %}</pre></div></div>
{% endfor %}{% endfor %}{% endif %}{% endif %}
</body>
</html>
"""


def _fmt(value):
    text = f"{float(value):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def default_book_url():
    """The built book of this checkout (``_build/html``) as a file URL, or None when not built."""
    site = k2l_course.ROOT / "_build" / "html"
    return site.as_uri() if (site / "index.html").is_file() else None


def render(summary, similarity=None, sim_missing=None, book_url=None):
    """The report page (HTML text).

    Parameters
    ----------
    summary : dict
        From :func:`summarize`.
    similarity : k2l_course.grading.similarity.Findings, optional
    sim_missing : str, optional
        Why there is no similarity section (shown instead).
    book_url : str, optional
        Base URL of the built book (links to the sections); without it the
        sections are named, not linked.
    """
    import jinja2

    items = []
    for row in summary["items"]:
        row = dict(row)
        section = row.get("section")
        row["section_label"] = f"{section[0]}: {section[1]}" if section else None
        row["link"] = f"{book_url.rstrip('/')}/{section[0]}.html#{anchor(section[1])}" if section and book_url else None
        items.append(row)
    shown = dict(summary, items=items)
    hist_src, hist_alt = histogram(summary["totals"], summary["max"])
    bars_src, bars_alt = item_bars(items) if items else ("", "no items")
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = environment.from_string(TEMPLATE)
    seed = summary["seed"]
    return template.render(
        s=shown,
        fmt=_fmt,
        seed_text="not recorded (an output of a grader without seeds)" if seed is None else json.dumps(seed),
        hist_src=hist_src,
        hist_alt=hist_alt,
        bars_src=bars_src,
        bars_alt=bars_alt,
        sim=similarity,
        sim_missing=sim_missing or "",
        max_flags=MAX_FLAGS,
        table_name=TABLE_NAME,
    )


def write_report(out_dir, submissions=None, book_url=None, similarity=True, progress=False):
    """Build ``OUT_DIR/report.html`` (and the full table ``OUT_DIR/report.csv``) from the output's records.

    Parameters
    ----------
    out_dir : path-like
    submissions : path-like, optional
        The submissions folder (for the similarity flags); default: the one
        ``grading.json`` names, if any.
    book_url : str, optional
        Base URL of the built book; default: this checkout's ``_build/html``.
    similarity : bool
        Compute the similarity flags (when the submissions are at hand).
    progress : bool
        Show a progress bar while fingerprinting files.

    Returns
    -------
    Path
        The report written.
    """
    graded = load_output(out_dir)
    summary = summarize(graded)
    findings, missing = None, None
    folder = submissions or graded.submissions
    if not similarity:
        missing = "Similarity was not computed for this report."
    elif folder is None or not Path(folder).is_dir():
        missing = ("The submissions folder was not given, so code similarity was not computed: "
                   "run k2l report OUT --submissions DIR.")  # fmt: skip
    else:
        from k2l_course.grading import similarity as similarity_module

        findings = similarity_module.analyse(graded.records, folder, store=Path(out_dir) / FINGERPRINT_STORE,
                                             progress=progress)  # fmt: skip
    html = render(summary, findings, missing, book_url if book_url is not None else default_book_url())
    write_atomic(Path(out_dir) / TABLE_NAME, table_csv(graded))
    path = Path(out_dir) / REPORT_NAME
    write_atomic(path, html.encode("utf-8", errors="replace").decode("utf-8"))
    return path


# --- the command --------------------------------------------------------------------


def add_arguments(parser):
    """Options of ``k2l report``."""
    parser.add_argument("out", metavar="OUT_DIR", help="the --out folder of k2l grade")
    parser.add_argument("--submissions", metavar="DIR", help="the submissions folder (for the similarity flags)")
    parser.add_argument("--book-url", metavar="URL", help="base URL of the built book (default: this checkout's _build/html)")
    parser.add_argument("--no-similarity", action="store_true", help="leave out the similarity flags")


def run(args):
    """Run ``k2l report``; returns the exit status."""
    if args.submissions and not Path(args.submissions).is_dir():
        print(f"k2l report: --submissions {args.submissions}: no such folder", file=sys.stderr)
        return 2
    try:
        path = write_report(args.out, args.submissions, args.book_url, similarity=not args.no_similarity,
                            progress=sys.stderr.isatty())  # fmt: skip
    except ReportError as error:
        print(f"k2l report: {error}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0
