"""A local, file-based model registry that is safe under concurrent writers and crashes.

``FileRegistry`` is the entry point; ``modelpack.target.resolve_target`` turns a command's TARGET
(a folder or a ``models:/`` URI) into a folder. Layout, format version and migration procedure:
``modelpack.registry.layout``. Stdlib only (plus PyYAML when registering, to read MLmodel).

Modules: ``store`` (``FileRegistry``: register, promote, delete, list, resolve) over ``layout``,
``blobs``, ``records``, ``events``, ``journal``, ``index`` and ``lock``; ``documents`` (the shape
of every registry document, one table for readers and doctor); ``source`` (examining a
folder before it is stored); ``doctor`` and ``gc`` use the store, the store never imports them.

May import: the spine, ``schema`` (the promotion gate compares signatures) and ``package``
(MLmodel, manifest, diff of signatures). Never ``serving``, ``api``, ``cli`` or ``render``.
"""

from __future__ import annotations

from modelpack.names import NAME_RE, InvalidNameError, Stage, parse_stage, validate_name
from modelpack.registry.records import (
    DeleteResult,
    GcResult,
    ModelState,
    ModelSummary,
    PromoteResult,
    RegisterResult,
    VersionRecord,
)
from modelpack.registry.store import FileRegistry

__all__ = [
    "NAME_RE",
    "DeleteResult",
    "FileRegistry",
    "GcResult",
    "InvalidNameError",
    "ModelState",
    "ModelSummary",
    "PromoteResult",
    "RegisterResult",
    "Stage",
    "VersionRecord",
    "parse_stage",
    "validate_name",
]
