"""Where the book teaches the point of each graded item.

The class report (:mod:`k2l_course.grading.report`) links each item's most frequent
hints, the class's misconceptions, to the section of the chapter that
teaches what the item checks. Each item declares that section next to it
(``item(..., section=heading)``) and each exercise module its chapter
(``CHAPTER``); ``tests/test_report.py`` proves that every heading exists in
``book/``. :func:`section_of` finds an item's, :func:`anchor` gives a
heading's anchor on the built site (MyST's ``myst_heading_anchors``).
"""

from __future__ import annotations

import re
import unicodedata

from k2l_course.exercises import checks


def anchor(heading):
    """The anchor of a heading on the built site.

    The GitHub-style slug that MyST gives headings with
    ``myst_heading_anchors`` (lower case, punctuation other than ``-`` and
    ``_`` removed, spaces as ``-``).
    """
    text = unicodedata.normalize("NFKC", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def section_of(exercise, name):
    """``(page, heading)`` teaching an item: its own section, else its exercise's chapter; None if unknown."""

    if exercise not in checks.EXERCISES:
        return None
    page, title = checks.chapter(exercise)
    section = next((one.section for one in checks.items(exercise) if one.name == name), None)
    return page, section or title
