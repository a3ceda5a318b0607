"""The test's stand-in for ``google.colab``, the package Colab's kernel imports at start-up.

Not Colab: only what ``tests/test_colab.py`` needs to run the exercise
notebooks as Colab would, i.e. the module's presence (how the notebooks tell
they run on Colab) and :mod:`google.colab._message`'s ``get_ipynb`` request
(how the checking cell gets the notebook). ``google`` has no ``__init__.py``:
it stays a namespace package, as in Colab's runtime, so other ``google.*``
distributions still import.
"""
