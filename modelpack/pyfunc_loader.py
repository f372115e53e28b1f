"""The ``loader_module`` every MLmodel with the generic ``modelpack`` flavor names.

Folders packed by any release name this import path, so it stays importable for good; the
implementation lives in ``modelpack.package.pyfunc``.
"""

from __future__ import annotations

from modelpack.package.pyfunc import _load_pyfunc

__all__ = ["_load_pyfunc"]
