"""The on-disk layout of a registry and its format version.

::

    <home>/registry.json                      {"format_version": 1, "kind": "modelpack-registry"}
                                              (format 2 with "stages" once it declares its own)
    <home>/locks/registry.lock                shared by writers, exclusive for gc and repair
    <home>/locks/model-<name>.lock            exclusive while one model's metadata changes
    <home>/blobs/sha256/<ab>/<hex>            file contents, stored once, read-only (0444 less the umask)
    <home>/tmp/<op>/ and <home>/tmp/<op>.lock per-operation staging, same filesystem as the rest
    <home>/models/<name>/model.json           mutable state: stages, aliases, deleted versions
    <home>/models/<name>/events.jsonl         append-only event log, one JSON object per line
    <home>/models/<name>/journal.json         present only while an operation is in flight
    <home>/models/<name>/digests/<hex>.json   content digest -> first live version (derived)
    <home>/models/<name>/versions/<N>/version.json   immutable facts about version N
    <home>/models/<name>/versions/<N>/model/  the MLmodel folder, hard links into blobs/

Every JSON document carries ``format_version``. Readers accept any version up to
``FORMAT_VERSION`` and refuse newer ones with a clear error, so an old modelpack never
misreads a registry written by a newer one.

How to change the format:

1. Bump ``FORMAT_VERSION`` here and describe the change in docs/REGISTRY.md; the keys of every
   document are in ``documents.SHAPES`` (doctor reports a key it does not list as unknown).
2. Keep reading every older version: add a step to ``MIGRATIONS`` that upgrades the raw dict of
   the previous version in memory (``records.load_*`` apply them on every read).
3. Writers always write the current version. Files are rewritten lazily (a model's
   ``model.json`` on its next promote); ``version.json`` files are immutable and are only ever
   upgraded in memory, so a migration must never need information the old file lacks.
4. If a change cannot be done in memory (a new folder layout), ``modelpack doctor --repair``
   performs it under the exclusive registry lock, and ``registry.json`` records the new version
   only after every model has been converted.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

FORMAT_VERSION: Final = 1
REGISTRY_KIND: Final = "modelpack-registry"
#: ``registry.json`` of a registry that declares its own stages (``names.StageSet``) is format 2,
#: which a modelpack from before stages refuses ("upgrade modelpack") instead of promoting to
#: MLflow's stages in a registry that has others. Every other document, and ``registry.json`` of
#: a registry with MLflow's stages, stays at ``FORMAT_VERSION``.
STAGES_FORMAT_VERSION: Final = 2

#: Upgrade steps: ``MIGRATIONS[n]`` turns a format-n dict into a format-(n+1) dict.
MIGRATIONS: Final[dict[int, Callable[[dict[str, Any]], dict[str, Any]]]] = {}

REGISTRY_FILE: Final = "registry.json"
MODEL_FILE: Final = "model.json"
VERSION_FILE: Final = "version.json"
EVENTS_FILE: Final = "events.jsonl"
JOURNAL_FILE: Final = "journal.json"
MODEL_DIR: Final = "model"
TMP_SUFFIX: Final = ".tmp"


class Layout:
    """Path arithmetic for one registry root. Names must already be validated."""

    def __init__(self, home: Path) -> None:
        self.home = home

    @property
    def registry_file(self) -> Path:
        return self.home / REGISTRY_FILE

    @property
    def locks(self) -> Path:
        return self.home / "locks"

    @property
    def global_lock(self) -> Path:
        return self.locks / "registry.lock"

    def model_lock(self, name: str) -> Path:
        return self.locks / f"model-{name}.lock"

    @property
    def blobs(self) -> Path:
        return self.home / "blobs" / "sha256"

    def blob(self, sha256: str) -> Path:
        return self.blobs / sha256[:2] / sha256

    @property
    def tmp(self) -> Path:
        return self.home / "tmp"

    @property
    def models(self) -> Path:
        return self.home / "models"

    def model(self, name: str) -> Path:
        return self.models / name

    def model_file(self, name: str) -> Path:
        return self.model(name) / MODEL_FILE

    def events(self, name: str) -> Path:
        return self.model(name) / EVENTS_FILE

    def journal(self, name: str) -> Path:
        return self.model(name) / JOURNAL_FILE

    def digests(self, name: str) -> Path:
        return self.model(name) / "digests"

    def digest_entry(self, name: str, digest: str) -> Path:
        return self.digests(name) / f"{digest_hex(digest)}.json"

    def versions(self, name: str) -> Path:
        return self.model(name) / "versions"

    def version(self, name: str, version: int) -> Path:
        return self.versions(name) / str(version)

    def version_file(self, name: str, version: int) -> Path:
        return self.version(name, version) / VERSION_FILE

    def version_model(self, name: str, version: int) -> Path:
        return self.version(name, version) / MODEL_DIR

    def relative(self, path: Path) -> str:
        """POSIX path relative to the registry root (how JSON output shows paths)."""
        try:
            return path.relative_to(self.home).as_posix()
        except ValueError:
            return path.as_posix()


def digest_hex(digest: str) -> str:
    """``sha256:<hex>`` to ``<hex>`` (the folder digest form used by the manifest)."""
    return digest.split(":", 1)[1] if ":" in digest else digest


def migrate(raw: dict[str, Any], *, what: str) -> dict[str, Any]:
    """Apply ``MIGRATIONS`` until ``raw`` is at ``FORMAT_VERSION``.

    Raises:
        ValueError: a missing, malformed or newer format version (the caller names the file).
    """
    version = raw.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"{what} has no valid format_version")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{what} has format version {version}, newer than this modelpack reads ({FORMAT_VERSION});"
            " upgrade modelpack"
        )
    while version < FORMAT_VERSION:
        raw = MIGRATIONS[version](raw)
        version += 1
        raw["format_version"] = version
    return raw


def migrate_registry_file(raw: dict[str, Any], *, what: str) -> dict[str, Any]:
    """``migrate`` for ``registry.json``, which is format 2 exactly when it declares stages.

    Raises:
        ValueError: as ``migrate``; or format 2 without ``stages``.
    """
    if raw.get("format_version") == STAGES_FORMAT_VERSION:
        if "stages" not in raw:
            raise ValueError(f"{what} has format version {STAGES_FORMAT_VERSION} but declares no stages")
        return raw
    return migrate(raw, what=what)
