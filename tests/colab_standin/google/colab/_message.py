"""The test's stand-in for Colab's frontend: the ``get_ipynb`` request, and nothing else.

On Colab, ``blocking_request(request_type, request="", timeout_sec=5,
parent=None)`` sends a ``colab_request`` to the browser and waits for its
reply; asked ``"get_ipynb"``, the browser answers ``{"ipynb": <the notebook as
nbformat JSON>}`` (cell sources as lists of lines, as in a file). There is no
browser in the test: the test saves each notebook before executing it, at the
path in ``K2L_COLAB_STANDIN_NOTEBOOK``, and this returns that file as saved.
Any other request fails loudly, so the course cannot come to rely on another
part of Colab's messaging without this test noticing.
"""

import json
import os


def blocking_request(request_type, request="", timeout_sec=5, parent=None):
    """Answer ``get_ipynb`` with the saved notebook, as Colab's frontend does."""
    if request_type != "get_ipynb":
        raise NotImplementedError(f"the test's Colab stand-in answers only get_ipynb, not {request_type!r}")
    with open(os.environ["K2L_COLAB_STANDIN_NOTEBOOK"], encoding="utf-8") as handle:
        return {"ipynb": json.load(handle)}
