"""The students' exercises and their checks.

``generate`` writes ``exercises/`` from ``solutions/``; ``checks`` holds the
registry of exercises and each one's graded items and judges;
``notebook_check`` is the checking cell at the end of every notebook.
"""
