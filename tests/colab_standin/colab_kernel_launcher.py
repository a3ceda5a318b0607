"""The test's stand-in for Colab's kernel launcher: import ``google.colab``, then start ipykernel.

Colab's kernel imports ``google.colab`` when it starts, so the module is in
``sys.modules`` before the first cell runs; this does the same with the
stand-in package beside it, then runs an ordinary IPython kernel
(``python -m colab_kernel_launcher -f CONNECTION_FILE``).
"""

import google.colab  # noqa: F401  (what makes the kernel "Colab")
from ipykernel import kernelapp

if __name__ == "__main__":
    kernelapp.launch_new_instance()
