"""The model registry, safe under concurrent writers and crashes, on a local disk or in a bucket.

``open_registry(home)`` is the entry point: a ``FileRegistry`` for a folder, an ``S3Registry``
(``remote``) for ``s3://BUCKET/PREFIX``; both decide every change through ``changes`` and differ
only in how they make it durable (locks and a journal; create-only writes and compare-and-swap).
``modelpack.target.resolve_target`` turns a command's TARGET (a folder or a ``models:/`` URI)
into a folder. Layout, format version and migration procedure: ``modelpack.registry.layout``.
Stdlib only for a local home (plus PyYAML when registering, to read MLmodel); botocore only for
a bucket (``objects``), whose reads are kept in a verified local ``cache``.

Modules: ``store`` (``FileRegistry``: register, promote, delete, list, resolve) over ``layout``,
``blobs``, ``records``, ``events``, ``journal``, ``index`` and ``lock``; ``documents`` (the shape
of every registry document, one table for readers and doctor); ``source`` (examining a
folder before it is stored); ``doctor`` and ``gc`` use the store, the store never imports them
(``bucket_care`` is both for a bucket);
``transfer`` (copy, export, import) works over either store through the operations they share,
and ``archive`` is the export file's format and its strict reader.

May import: the spine, ``schema`` (the promotion gate compares signatures) and ``package``
(MLmodel, manifest, diff of signatures). Never ``serving``, ``api``, ``cli`` or ``render``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Union

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

if TYPE_CHECKING:
    from modelpack.config import Home
    from modelpack.registry.remote import S3Registry

#: Either store: the same operations, the same results and errors.
AnyRegistry = Union[FileRegistry, "S3Registry"]


def open_registry(home: Home, **options: Any) -> AnyRegistry:
    """The registry at ``home``: a ``FileRegistry`` for a folder, an ``S3Registry`` for ``s3://``.

    ``options`` are the store's keyword arguments (``faults``, ``reporter``); boto3 is imported
    only for an ``s3://`` home.
    """
    from modelpack.config import S3Home

    if isinstance(home, S3Home):
        from modelpack.registry.remote import S3Registry

        return S3Registry(home, **options)
    return FileRegistry(home, **options)


__all__ = [
    "NAME_RE",
    "DeleteResult",
    "AnyRegistry",
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
    "open_registry",
    "validate_name",
]
