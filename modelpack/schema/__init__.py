"""Signatures and the data they describe, independent of any model folder.

``signature`` (the MLflow column/tensor/param types and their JSON), ``readers`` and ``writers``
(CSV, TSV, Parquet, JSON, JSONL, NPY, NPZ), ``infer`` (a signature from sample data),
``enforce`` (check and conform data against a signature, as MLflow does) and ``compat``
(whether a new signature breaks the callers of an old one).

May import: the standard library and the spine (``errors``, ``_fs``, ...). numpy, pandas and
pyarrow only inside the functions of ``readers``, ``writers``, ``infer`` and ``enforce``
(import them lazily from elsewhere: ruff bans them at module level).
"""
