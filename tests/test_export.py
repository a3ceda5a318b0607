"""``k2l export`` writes the files Canvas's and Moodle's gradebook imports take.

The samples below are written from the LMSs' documentation:

* Canvas, "How do I import grades in the Gradebook?" (Instructor Guide) and
  Ohio State's "Import a CSV File into Carmen Grades": the columns of
  Canvas's gradebook export, ``Student, ID, SIS User ID, SIS Login ID,
  Section``, then assignment columns; the row under the header starts with
  ``Points Possible``; a student is identified by ID, SIS User ID or SIS
  Login ID; a new column name creates an assignment.
* Moodle, "Grade import" (docs.moodle.org/en/Grade_import): the CSV
  import's format is that of the CSV export (``First name, Last name, ID
  number, Institution, Department, Email address``, then grade items); the
  import maps an identifying column ("Map from") to ``useridnumber`` /
  ``useremail`` / ``username`` ("Map to") and each other column to a grade item.
"""

import csv
import io

import pytest

from k2l_course import cli
from k2l_course.grading import export

# the generated classes, from tests/classes (pytest's pythonpath)
import records


#: A Canvas gradebook export (the roster an instructor downloads), as the guide shows it.
CANVAS_ROSTER = (
    "Student,ID,SIS User ID,SIS Login ID,Section,Quiz 1 (1001)\r\n"
    "    Points Possible,,,,,10\r\n"
    '"Doe, Jane",4101,900001,s0000,K2L 101,8\r\n'
    '"Roe, Rick",4102,900002,s0001,K2L 101,\r\n'
    '"Poe, Pat",4103,900003,s9999,K2L 101,7\r\n'
)

#: What Canvas's import takes for that roster and a class of s0000..s0002 (s0002 is not on the roster).
CANVAS_EXPECTED = (
    "Student,ID,SIS User ID,SIS Login ID,Section,k2l ch1_conversion,k2l ch2_activation\r\n"
    "Points Possible,,,,,4,6\r\n"
    '"Doe, Jane",4101,900001,s0000,K2L 101,3,0\r\n'
    '"Roe, Rick",4102,900002,s0001,K2L 101,1,3\r\n'
    '"Poe, Pat",4103,900003,s9999,K2L 101,,\r\n'
)

#: A Moodle "Export to plain text file" (CSV) of the same course.
MOODLE_ROSTER = (
    "First name,Last name,ID number,Institution,Department,Email address,Quiz 1 (Real)\n"
    "Jane,Doe,s0000,,,jane@uni.example,8.00\n"
    "Rick,Roe,s0001,,,rick@uni.example,-\n"
    "Pat,Poe,s9999,,,pat@uni.example,7.00\n"
)

MOODLE_EXPECTED = (
    "First name,Last name,ID number,Institution,Department,Email address,k2l ch1_conversion,k2l ch2_activation\r\n"
    "Jane,Doe,s0000,,,jane@uni.example,3,0\r\n"
    "Rick,Roe,s0001,,,rick@uni.example,1,3\r\n"
    "Pat,Poe,s9999,,,pat@uni.example,,\r\n"
)


@pytest.fixture
def output(tmp_path):
    out = tmp_path / "out"
    records.write_class(out, 3)
    return out


def test_canvas_export_matches_the_documented_import_format(output, tmp_path, capsys):
    roster = tmp_path / "canvas-roster.csv"
    roster.write_text(CANVAS_ROSTER, newline="")
    assert cli.main(["export", str(output), "--format", "canvas", "--roster", str(roster)]) == 0
    text = (output / "canvas-grades.csv").read_bytes().decode()
    assert text == CANVAS_EXPECTED
    said = capsys.readouterr().out
    assert "matched on roster column 'SIS Login ID'" in said
    assert "without a graded submission (1; cells left empty): s9999" in said
    assert "not on the roster (1; not exported): s0002" in said


def test_canvas_export_without_a_roster_identifies_students_by_sis_login_id(output):
    rows = list(csv.reader(io.StringIO(export.build(report_records(output), "canvas").text)))
    assert rows[0][:5] == export.CANVAS_COLUMNS and rows[1][0] == "Points Possible"
    assert [row[3] for row in rows[2:]] == ["s0000", "s0001", "s0002"]


def test_moodle_export_matches_the_documented_import_format(output, tmp_path, capsys):
    roster = tmp_path / "moodle-roster.csv"
    roster.write_text(MOODLE_ROSTER)
    assert cli.main(["export", str(output), "--format", "moodle", "--roster", str(roster)]) == 0
    assert (output / "moodle-grades.csv").read_bytes().decode() == MOODLE_EXPECTED
    said = capsys.readouterr().out
    assert "roster column 'ID number'" in said and "s9999" in said and "s0002" in said


def test_moodle_export_can_match_by_email(output, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("Email address,Name\ns0000,Jane\n")
    result = export.build(report_records(output), "moodle", export.read_roster(roster), "Email address")
    assert result.text.splitlines()[1] == "s0000,3,0"


def test_plain_csv_lists_everyone_with_totals(output):
    rows = list(csv.DictReader(io.StringIO(export.build(report_records(output), "csv").text)))
    assert [row["student"] for row in rows] == ["s0000", "s0001", "s0002"]
    assert rows[0]["total"] == "3" and rows[0]["max"] == "10" and rows[0]["status"] == "ok"


def test_cells_that_a_spreadsheet_would_run_are_neutralised(tmp_path):
    out = tmp_path / "out"
    records.write_class(out, 1)
    record_path = out / "students" / "s0000" / "record.json"
    record_path.write_text(record_path.read_text().replace('"student": "s0000"', '"student": "=HYPERLINK(1)"'))
    text = export.build(report_records(out), "csv").text
    assert "'=HYPERLINK(1)" in text


@pytest.mark.parametrize("content, message", [
    (b"\xff\xfe\x00bad", "is not UTF-8"),
    (b"", "is empty"),
    (b"a,b\n1,2\n", "no column of the roster holds"),
])  # fmt: skip
def test_bad_rosters_get_a_clear_error_and_nothing_is_written(output, tmp_path, capsys, content, message):
    roster = tmp_path / "roster.csv"
    roster.write_bytes(content)
    assert cli.main(["export", str(output), "--format", "canvas", "--roster", str(roster)]) == 2
    assert message in capsys.readouterr().err
    assert not (output / "canvas-grades.csv").exists()


def report_records(out):
    from k2l_course.grading.report import load_output

    return load_output(out).records
