"""Signatures and the data they describe, independent of any model folder.

``signature`` (the MLflow column/tensor/param types and their JSON), ``readers`` and ``writers``
(CSV, TSV, Parquet, JSON, JSONL, NPY, NPZ), ``infer`` (a signature from sample data),
``enforce`` (check and conform data against a signature, as MLflow does) and ``compat``
(whether a new signature breaks the callers of an old one).

May import: the standard library and the spine (``errors``, ``_fs``, ...). numpy, pandas and
pyarrow only inside the functions of ``readers``, ``writers``, ``infer`` and ``enforce``
(import them lazily from elsewhere: ruff bans them at module level).
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelpack.schema.signature import Schema


class _CallableModule(types.ModuleType):
    """``modelpack.schema(data)`` infers a schema, while ``modelpack.schema`` stays this package.

    A function named ``schema`` on ``modelpack`` would be replaced by this subpackage the first
    time anything imports it, so the package itself answers the call.
    """

    def __call__(
        self, data: Any, *, data_format: str | None = None, sample_rows: int | None = None
    ) -> Schema:
        """Infer the schema ``pack`` would record for ``data`` (``modelpack.infer_schema``)."""
        from modelpack.schema.infer import infer_any

        return infer_any(data, fmt=data_format, sample_rows=sample_rows)


sys.modules[__name__].__class__ = _CallableModule
