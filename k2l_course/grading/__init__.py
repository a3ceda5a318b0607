"""Checking and grading submissions, and what instructors get out of it.

``planning`` decides what to run for each submission; ``runner`` runs an
exercise's items in the ``sandbox`` and judges them; ``check`` (``k2l check``)
and ``grade`` (``k2l grade``) are its two front ends; ``report``,
``similarity``, ``export`` and ``gradescope`` serve the instructor.
"""
