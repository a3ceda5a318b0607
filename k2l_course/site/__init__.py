"""The course website: its build, its figures and its live code.

``book`` builds the MyST book with Sphinx; ``plots`` draws the chapters'
figures; ``serve``, ``serve_identity`` and ``live_assets`` run the pages'
code on a local Jupyter kernel.
"""
