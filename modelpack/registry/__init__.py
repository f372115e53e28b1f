"""A local, file-based model registry that is safe under concurrent writers and crashes.

``FileRegistry`` is the entry point; ``modelpack.target.resolve_target`` turns a command's TARGET
(a folder or a ``models:/`` URI) into a folder. Layout, format version and migration procedure:
``modelpack.registry.layout``. Stdlib only (plus PyYAML when registering, to read MLmodel).
"""

from __future__ import annotations

from modelpack.registry.names import NAME_RE, InvalidNameError, Stage, parse_stage, validate_name
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
