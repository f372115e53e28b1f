"""The per-model digest index: ``digests/<hex>.json`` names a live version holding that content.

It lets ``register`` answer "is this content already a version of this model?" with one file
read, however many versions the model has. It is derived data: every entry is checked against
the version it points to before being trusted, and ``doctor --repair`` rebuilds it from the
version folders.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from typing import Any

from modelpack.errors import RegistryError
from modelpack.registry import documents
from modelpack.registry._io import atomic_write_json, read_json
from modelpack.registry.layout import FORMAT_VERSION, Layout


def lookup(layout: Layout, name: str, digest: str, deleted: Mapping[int, Any]) -> int | None:
    """The live version of ``name`` whose content digest is ``digest``, or None."""
    entry = layout.digest_entry(name, digest)
    try:
        raw = read_json(entry, home=layout.home)
    except (FileNotFoundError, RegistryError):
        return None
    if documents.problems("digest entry", raw) or raw["digest"] != digest or raw["version"] in deleted:
        return _scan(layout, name, digest, deleted)
    version = int(raw["version"])
    facts = _facts(layout, name, version)
    if facts is None or facts.get("digest") != digest:
        return _scan(layout, name, digest, deleted)
    return version


def _facts(layout: Layout, name: str, version: int) -> dict[str, Any] | None:
    try:
        return read_json(layout.version_file(name, version), home=layout.home)
    except (FileNotFoundError, RegistryError):
        return None


def _scan(layout: Layout, name: str, digest: str, deleted: Mapping[int, Any]) -> int | None:
    # Only reached when an entry is stale (its version was deleted): rare, so a scan is fine.
    for version in version_numbers(layout, name):
        if version in deleted:
            continue
        facts = _facts(layout, name, version)
        if facts is not None and facts.get("digest") == digest:
            return version
    return None


def record(
    layout: Layout, name: str, digest: str, version: int, deleted: Mapping[int, Any], *, durable: bool
) -> None:
    """Point the entry for ``digest`` at ``version`` unless it already names a live version."""
    existing = _entry_version(layout, name, digest)
    if existing is not None and existing != version and existing not in deleted:
        facts = _facts(layout, name, existing)
        if facts is not None and facts.get("digest") == digest:
            return
    write(layout, name, digest, version, durable=durable)


def _entry_version(layout: Layout, name: str, digest: str) -> int | None:
    try:
        raw = read_json(layout.digest_entry(name, digest), home=layout.home)
    except (FileNotFoundError, RegistryError):
        return None
    value = raw.get("version")
    return value if isinstance(value, int) else None


def write(layout: Layout, name: str, digest: str, version: int, *, durable: bool) -> None:
    folder = layout.digests(name)
    folder.mkdir(exist_ok=True)
    atomic_write_json(
        layout.digest_entry(name, digest),
        {"format_version": FORMAT_VERSION, "digest": digest, "version": version},
        durable=durable,
    )


def forget(layout: Layout, name: str, digest: str, deleted: Mapping[int, Any], *, durable: bool) -> None:
    """After a delete: re-point the entry at another live version with that content, or drop it."""
    other = _scan(layout, name, digest, deleted)
    if other is None:
        with contextlib.suppress(FileNotFoundError):
            layout.digest_entry(name, digest).unlink()
    else:
        write(layout, name, digest, other, durable=durable)


def version_numbers(layout: Layout, name: str) -> list[int]:
    """Every version folder of ``name`` (deleted ones included), ascending."""
    try:
        entries = [e.name for e in os.scandir(layout.versions(name))]
    except FileNotFoundError:
        return []
    return sorted(int(t) for t in entries if t.isascii() and t.isdigit() and not t.startswith("0"))
