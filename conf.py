"""Sphinx configuration of the k2l book.

Build it with ``k2l book`` (see ``k2l_course/site/book.py``), which runs::

    python -m sphinx -b html -c . book _build/html -W --keep-going

The configuration sits at the repository root, the sources in ``book/``.
Every chapter is a MyST notebook that myst-nb executes at build time
(jupyter-cache "cache" mode: an unchanged chapter is not executed again).
Nothing but the pinned npm packages of the pages' live-code script
(``live/``, see ``k2l_course/site/live_assets.py``) is fetched at build time, and the
pages load no script, style or font from another site.
"""

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from k2l_course import __version__  # noqa: E402
from k2l_course.exercises.colab import published_repository  # noqa: E402
from k2l_course.site.book import execution_cache_path  # noqa: E402

# -- Project -----------------------------------------------------------------

project = "Keras to Loihi"
author = "the k2l course authors"
copyright = "the k2l course authors; text and code MIT, see the README for the stack's licences"
release = version = __version__
language = "en"

#: Where the course's repository is published, e.g. https://github.com/ORG/k2l: the
#: one place that decides whether the pages offer the repository, edit and Binder
#: buttons. Unset (the default), the site offers none of them, because none could
#: work. Only used to build links; nothing is fetched from it.
#: The repository and branch (K2L_REPOSITORY_BRANCH, default main) are read in
#: one place, k2l_course.exercises.colab, which k2l make-exercises uses too.
repository = published_repository()
repository_url = repository.url if repository else ""
repository_branch = repository.branch if repository else "main"

extensions = [
    "myst_nb",  # MyST markdown and executable notebooks, glue
    "sphinx_design",  # dropdowns (hints), cards
    "sphinx_copybutton",  # a copy button on every code block
]

root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints", "jupyter_execute"]
# Sphinx would otherwise put a line number into the permalink of every cell.
numfig = False

# -- MyST --------------------------------------------------------------------

myst_enable_extensions = ["colon_fence", "deflist", "substitution"]
myst_heading_anchors = 3

# -- Execution (myst-nb) -----------------------------------------------------

nb_execution_mode = "cache"
# jupyter-cache keys a notebook on its code cells only. The chapters' outputs
# also depend on k2l_course and on the locked environment, so the cache lives
# under a directory named by a hash of those (k2l_course.site.book): a change there
# re-executes every chapter instead of publishing stale outputs. Changing this
# value also makes Sphinx re-read every page (its rebuild level is "env").
nb_execution_cache_path = str(execution_cache_path(ROOT))
# A failing cell fails the build (and its traceback goes to the log).
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_allow_errors = False
# Per cell, in seconds. In a cold build (empty caches, as on a fresh clone) a
# cell that needs a trained network or a chip run waits for the prefill that
# computes it beside the chapters (k2l_course.site.book), sharing the cores with
# it: up to about ten minutes here for the last trainings. Twenty minutes leaves
# headroom for a loaded machine, while a hung kernel (a deadlock in TensorFlow's
# thread pools, a dead worker process) still fails the build instead of stalling
# CI for its whole time limit. A chapter that knowingly needs longer says so in
# its own front matter (``mystnb: execution_timeout:``): chapter 5 waits for
# the chip runs over the whole test set.
nb_execution_timeout = 1200
# Chapters run with their own directory (book/) as working directory.
nb_execution_in_temp = False
# Anything a chapter writes to stderr (a stack warning, a tqdm bar) is a
# warning, hence an error in the strict build: pages stay free of log noise.
nb_output_stderr = "warn"
nb_merge_streams = True
# No ipywidgets on the pages: don't add require.js and the widget manager from a CDN.
nb_ipywidgets_js = {}
# Markdown produced by a cell (the results tables) is parsed as MyST, which has tables.
nb_render_markdown_format = "myst"

# -- HTML --------------------------------------------------------------------

html_theme = "sphinx_book_theme"
html_title = "Keras to Loihi"
html_static_path = ["book/_static"]
# Two of the PyData theme's components, changed for accessibility (see each file).
templates_path = ["book/_templates"]
html_css_files = ["k2l.css"]
html_last_updated_fmt = ""
html_copy_source = True  # the ".md" download
html_show_sourcelink = True
html_theme_options = {
    "use_download_button": True,  # .md source and the executed .ipynb
    "use_fullscreen_button": True,
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "show_toc_level": 2,
    # The PyData theme would otherwise add an icon link row pointing at nothing.
    "icon_links": [],
}
if repository_url:
    html_theme_options |= {
        "repository_url": repository_url,
        "repository_branch": repository_branch,
        "path_to_docs": "book",
        "use_repository_button": True,
        "use_edit_page_button": True,
        "launch_buttons": {
            # Binder builds binder/ (Python 3.11, the locked set, jupytext) and opens
            # the chapter's .md as a notebook in JupyterLab. No Colab button for the
            # chapters: its Python (3.13) has no TensorFlow 2.12; each chapter's exercise
            # gets its own Colab link (link_exercises_to_colab, below). Links only: the
            # build contacts no service.
            "binderhub_url": "https://mybinder.org",
            "notebook_interface": "jupyterlab",
        },
    }

# Follow the reader's light/dark setting (with no mode the PyData theme logs a
# console error on a reader's first visit).
html_context = {"default_mode": "auto"}

# sphinx-copybutton: copy only the code of a prompt-style block, not the prompt.
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True


# -- Live code and the executed notebooks ----------------------------------------


def publish_executed_notebook(app, pagename, templatename, context, doctree):
    """Offer every chapter's executed notebook as ``_sources/<page>.ipynb``.

    sphinx-book-theme copies it only when launch buttons are configured; the
    download button and the live-code control need it in every build.
    """
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if app.builder.format != "html" or "kernelspec" not in app.env.metadata.get(pagename, {}) or not executed.exists():
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def link_exercises_to_colab(app, doctree, docname):
    """Beside every download link of an exercise notebook, its "open in Colab" link.

    Only when the course's repository is published on GitHub (Colab opens
    only those); the link opens ``exercises/<id>.ipynb`` of the published
    branch (k2l_course.exercises.colab), whose first code cell installs the
    course's package there. A chapter's text needs nothing for it.
    """
    from docutils import nodes
    from sphinx import addnodes

    if repository is None:
        return
    for node in list(doctree.findall(addnodes.download_reference)):
        target = Path(node.get("reftarget", ""))
        if target.suffix != ".ipynb" or target.parent.name != "exercises" or not (ROOT / "exercises" / target.name).is_file():
            continue
        url = repository.colab_url(target.stem)
        if url is not None:
            link = nodes.reference("", "open in Colab", refuri=url, classes=["k2l-colab"])
            node.parent.insert(node.parent.index(node) + 1, [nodes.Text(", "), link])


def setup(app):
    from k2l_course.site import accessibility, live_assets

    app.connect("html-page-context", accessibility.name_toggles_by_their_text)
    # The "Live code" control (k2l serve), bundled from live/ with npm at build time.
    app.connect("builder-inited", live_assets.setup_build)
    app.connect("html-page-context", publish_executed_notebook, priority=400)
    app.connect("doctree-resolved", link_exercises_to_colab)
