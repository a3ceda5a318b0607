"""Fixes to the HTML of the book's pages that axe-core (the site tests) asks for.

The theme's own components are overridden in ``book/_templates/`` (the search
field and the colour-mode button); what myst-nb writes into a page's body is
fixed here, by ``conf.py``'s ``html-page-context`` hook.

This module imports no TensorFlow: ``conf.py`` imports it.
"""

from __future__ import annotations

#: myst-nb's toggle of a hidden cell's code: its accessible name ("Toggle hidden
#: content") does not contain its visible text ("Show code cell source"), which
#: WCAG 2.5.3 (label in name; axe-core's "label-content-name-mismatch") asks for.
#: Without the label, the visible text names it.
HIDDEN_CELL_TOGGLE = '<summary aria-label="Toggle hidden content">'


def name_toggles_by_their_text(app, pagename, templatename, context, doctree):
    """Sphinx ``html-page-context`` hook: drop the label of hidden cells' toggles."""
    body = context.get("body")
    if isinstance(body, str) and HIDDEN_CELL_TOGGLE in body:
        context["body"] = body.replace(HIDDEN_CELL_TOGGLE, "<summary>")
