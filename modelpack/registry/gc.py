"""Garbage collection: remove file contents no stored version uses any more.

A blob is kept while any version folder on disk lists it in its manifest; a version's files go
when the version is deleted, so its blobs become collectable. ``gc`` holds the registry lock
exclusively: every writer holds it shared for its whole operation, so no staged-but-uncommitted
files exist while gc decides what is unused, and everything left in ``tmp/`` is from dead
processes. It refuses to remove anything when a manifest cannot be read, since it could not
tell what that version uses.
"""

from __future__ import annotations

import contextlib
import os
import shutil

from modelpack.errors import InvalidModelError, RegistryError
from modelpack.package.manifest import read_manifest
from modelpack.registry import index, journal
from modelpack.registry.blobs import is_blob_name, iter_blobs
from modelpack.registry.records import GcResult
from modelpack.registry.store import FileRegistry


def referenced_blobs(registry: FileRegistry) -> set[str]:
    """sha256 of every file of every stored version folder.

    Raises:
        RegistryError: a version's manifest is missing or unreadable, so references are uncertain.
    """
    layout = registry.layout
    referenced: set[str] = set()
    for name in registry.model_dirs():
        for version in index.version_numbers(layout, name):
            folder = layout.version_model(name, version)
            if not folder.is_dir():
                continue
            try:
                manifest = read_manifest(folder)
            except InvalidModelError as exc:
                manifest = None
                why = exc.message
            else:
                why = "its manifest is missing"
            if manifest is None:
                raise RegistryError(
                    f"cannot tell which blobs {name} v{version} uses: {why}",
                    hint="run 'modelpack doctor'; gc removed nothing",
                    path=str(folder),
                )
            referenced.update(f.sha256 for f in manifest.files)
    return referenced


def collect_garbage(registry: FileRegistry, *, dry_run: bool = False) -> GcResult:
    """Remove unreferenced blobs and dead staging (or only count them with ``dry_run``).

    Holds the registry lock exclusively.
    """
    registry._require_registry()
    if not registry.home.is_dir():
        return GcResult(0, 0, 0, 0, dry_run)
    registry._ensure_home()
    layout = registry.layout
    faults = registry._faults
    removed = freed = kept = removed_temp = 0
    with registry._guard("collect garbage"), registry._registry_lock(exclusive=True):
        faults.point("gc.locked")
        if not dry_run:
            registry.recover_all()
        referenced = referenced_blobs(registry)
        for blob in iter_blobs(layout):
            if is_blob_name(blob.name) and blob.name in referenced:
                kept += 1
                continue
            with contextlib.suppress(FileNotFoundError):
                size = blob.lstat().st_size
                if not dry_run:
                    if blob.is_dir() and not blob.is_symlink():
                        shutil.rmtree(blob)
                    else:
                        blob.unlink()
                    faults.point("gc.blob_removed")
                removed += 1
                freed += size
        if not dry_run:
            for shard in layout.blobs.iterdir():
                with contextlib.suppress(OSError):
                    shard.rmdir()  # only succeeds when empty
        with contextlib.suppress(FileNotFoundError):
            for entry in [e.name for e in os.scandir(layout.tmp)]:
                removed_temp += 1
                if not dry_run:
                    journal.remove_tree(layout.tmp / entry)
    return GcResult(removed, freed, kept, removed_temp, dry_run)
