"""The IPython extension: ``%load_ext sandbox_kernel`` gives ``%%sandbox`` and its helpers.

``magics`` holds the magics, ``runner`` runs one cell so the host kernel stays in charge while the
sandbox works, ``report`` turns a result into what the host notebook shows.
"""

from sandbox_kernel.magic.magics import load_ipython_extension, unload_ipython_extension

__all__ = ["load_ipython_extension", "unload_ipython_extension"]
