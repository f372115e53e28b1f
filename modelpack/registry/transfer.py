"""Moving versions between registries: ``copy`` (registry to registry, local or ``s3://``),
``export`` (a version, or a model folder, to one archive file) and ``import`` (that file into a
registry), on either store through the operations both share.

What a moved version records (docs/REGISTRY.md, "Moving models between registries"):

* ``source``: the exact version it came from, qualified by its registry, ``<registry>#models:/
  NAME/N`` (``s3://team/reg#models:/churn/4``, ``/srv/registry#models:/churn/4``), never the
  stage or alias it was named by; for an exported model folder, the folder's path.
* ``origin`` (in ``version.json``, immutable): the first registration of this content, where it
  is (``uri``, qualified as above), ``created``, ``user``, ``host`` and the ``source`` it was
  registered from. A copy of a copy keeps the first origin.
* the version's current ``description`` and ``tags`` (as changed since its registration).
* ``provenance``: the source version record's, unchanged (what its ``register`` was given, the
  MLflow run, ``registered_from``); the archive carries it in its document (format 2).

Registration is idempotent as ``register`` is: content the destination already holds under the
name returns that version (exit 0) and records nothing new.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelpack import __version__, contents
from modelpack.digest import MANIFEST_FILE
from modelpack.errors import InvalidModelError, UsageError
from modelpack.registry.archive import (
    ARCHIVE_KIND,
    MODEL_PREFIX,
    Member,
    format_for,
    is_gzip_name,
    read_archive,
    write_archive,
)
from modelpack.registry.changes import check_register_args
from modelpack.registry.records import RegisterResult, VersionRecord
from modelpack.uri import is_model_uri

if TYPE_CHECKING:
    from modelpack.registry import AnyRegistry

_SHA256_RE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class TransferResult:
    """A version ``copy`` or ``import`` registered (or found already there) in ``home``."""

    version: VersionRecord
    already_registered: bool
    home: str
    source: str
    archive: str | None = None
    archive_sha256: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = {**self.version.to_dict(), "already_registered": self.already_registered, "home": self.home}
        if self.archive is not None:
            data.update(archive=self.archive, archive_sha256=self.archive_sha256)
        return data


@dataclass(frozen=True)
class ExportResult:
    """The archive ``export`` wrote."""

    output: Path
    sha256: str
    bytes: int
    compressed: bool
    name: str | None
    version: int | None
    source: str
    digest: str
    file_count: int
    warnings: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        what = f"{self.name} v{self.version}" if self.name else self.source
        return f"<ExportResult {what} -> {self.output} ({self.bytes} bytes, sha256 {self.sha256[:12]}…)>"

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": str(self.output),
            "sha256": self.sha256,
            "bytes": self.bytes,
            "compressed": self.compressed,
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "digest": self.digest,
            "file_count": self.file_count,
        }


def qualified_uri(registry: AnyRegistry, record: VersionRecord) -> str:
    """``<registry>#models:/NAME/N``: the exact version, wherever it is read from."""
    return f"{registry.home}#{record.uri}"


def provenance(registry: AnyRegistry, record: VersionRecord) -> tuple[str, dict[str, str]]:
    """The ``source`` and ``origin`` a version moved out of ``registry`` records."""
    source = qualified_uri(registry, record)
    inherited = record.facts.get("origin")
    if isinstance(inherited, dict):
        return source, {str(k): str(v) for k, v in inherited.items()}
    origin = {
        "uri": source,
        "created": record.created,
        "user": str(record.facts.get("user") or ""),
        "host": str(record.facts.get("host") or ""),
        "source": record.source,
    }
    return source, origin


def _checked_manifest(folder: Path, record: VersionRecord) -> bytes:
    """The version's manifest bytes, held to what the registry recorded (its files are then
    held to the manifest as they are read)."""
    from modelpack.package.manifest import read_manifest

    data = contents.read_bytes(folder, MANIFEST_FILE, key="the manifest")
    manifest = read_manifest(folder)
    recorded = record.facts.get("manifest_sha256")
    if manifest is None or hashlib.sha256(data).hexdigest() != recorded or manifest.digest != record.digest:
        raise InvalidModelError(
            f"stored version {record.name} v{record.version} does not match what the registry recorded "
            f"({MANIFEST_FILE} differs); nothing was moved",
            hint="run 'modelpack doctor' on the registry",
            path=str(folder),
        )
    return data


def _source_record(registry: AnyRegistry, uri: str, what: str) -> VersionRecord:
    if not is_model_uri(uri):
        raise UsageError(
            f"{what} must be a models:/ URI, not {uri!r}",
            hint="e.g. models:/churn/4, models:/churn/Production or models:/churn@champion",
        )
    return registry.resolve(uri)


def copy_version(
    registry: AnyRegistry,
    uri: str,
    destination: AnyRegistry,
    *,
    name: str | None = None,
    alias: str | None = None,
) -> TransferResult:
    """Register the version ``uri`` names in ``registry`` into ``destination``.

    The files, current description and tags are copied; the new version records the exact
    source version (qualified by its registry) and the content's first registration (``origin``).

    Raises:
        UsageError: ``uri`` is not a ``models:/`` URI, or a bad name or alias (exit 2).
        NotFoundError: no such model, version, stage or alias (exit 4).
        InvalidModelError: the stored files do not match what the source registry recorded (exit 3).
    """
    record = _source_record(registry, uri, "SOURCE")
    target = name or record.name
    check_register_args(target, None, alias, None)
    folder = registry.checkout(record)
    _checked_manifest(folder, record)
    source, origin = provenance(registry, record)
    result: RegisterResult = destination.register(
        folder,
        name=target,
        description=record.facts.get("description"),
        tags=dict(record.facts.get("tags") or {}),
        alias=alias,
        source=source,
        origin=origin,
        provenance=record.facts.get("provenance"),
    )
    return TransferResult(
        version=result.version,
        already_registered=result.already_registered,
        home=str(destination.home),
        source=source,
        warnings=list(result.warnings),
    )


def export_target(
    registry: AnyRegistry | None, target: str, output: Path, *, force: bool = False
) -> ExportResult:
    """Write ``target`` (a ``models:/`` URI of ``registry``, or a model folder) to one archive.

    Raises:
        NotFoundError: no such version or folder, or no folder for ``output`` (exit 4).
        InvalidModelError: the files do not match their manifest or the registry's record (exit 3).
        ConflictError: ``output`` exists and ``force`` is off (exit 5).
    """
    warnings: list[str] = []
    if is_model_uri(target):
        if registry is None:
            raise UsageError("exporting a models:/ URI needs a registry")
        record = registry.resolve(target)
        folder = registry.checkout(record)
        manifest_bytes = _checked_manifest(folder, record)
        from modelpack.package.manifest import read_manifest

        manifest = read_manifest(folder)
        assert manifest is not None
        source, origin = provenance(registry, record)
        facts = record.facts
        document: dict[str, Any] = {
            "name": record.name,
            "version": record.version,
            "registry": str(registry.home),
            "source": source,
            "created": record.created,
            "user": facts.get("user"),
            "host": facts.get("host"),
            "origin": origin,
            "description": facts.get("description"),
            "tags": dict(facts.get("tags") or {}),
        }
        if facts.get("provenance"):
            document["provenance"] = dict(facts["provenance"])
    else:
        from modelpack.registry.source import examine

        folder = Path(target)
        src = examine(folder)
        warnings.extend(src.warnings)
        manifest = src.manifest
        if (folder / MANIFEST_FILE).is_file():
            manifest_bytes = contents.read_bytes(folder, MANIFEST_FILE, key="the manifest")
        else:
            from modelpack.registry._io import dumps

            manifest_bytes = dumps(manifest.to_dict())  # the manifest the registry would store
        document = {
            "name": None,
            "version": None,
            "registry": None,
            "source": str(folder.resolve()),
            "created": None,
            "user": None,
            "host": None,
            "origin": None,
            "description": None,
            "tags": {},
        }
    manifest_sha = hashlib.sha256(manifest_bytes).hexdigest()
    members = [
        Member(MODEL_PREFIX + f.path, f.sha256, f.size, path=folder / f.path)
        for f in sorted(manifest.files, key=lambda f: f.path)
    ]
    members.append(
        Member(MODEL_PREFIX + MANIFEST_FILE, manifest_sha, len(manifest_bytes), data=manifest_bytes)
    )
    document.update(
        kind=ARCHIVE_KIND,
        format_version=format_for(document),
        modelpack_version=__version__,
        digest=manifest.digest,
        manifest_sha256=manifest_sha,
        members={m.name: {"sha256": m.sha256, "size": m.size} for m in members},
    )
    written = write_archive(output, document, members, force=force)
    return ExportResult(
        output=output,
        sha256=written.sha256,
        bytes=written.size,
        compressed=is_gzip_name(output),
        name=document["name"],
        version=document["version"],
        source=str(document["source"]),
        digest=manifest.digest,
        file_count=len(manifest.files),
        warnings=warnings,
    )


def import_archive(
    registry: AnyRegistry,
    archive: Path,
    *,
    name: str | None = None,
    alias: str | None = None,
    expect_sha256: str | None = None,
) -> TransferResult:
    """Verify every byte of ``archive``, then register its version into ``registry``.

    The new version gets the archive's description and tags, and records the source, origin
    and provenance the archive carries (an archive of format 1 carries no provenance: the
    version then records its package's own). Nothing reaches the registry unless the whole
    archive passed.

    Raises:
        UsageError: a bad name or alias, or no name for an exported folder (exit 2).
        NotFoundError: no such file (exit 4).
        ArchiveError: the archive was changed or damaged (exit 3, naming the member).
    """
    import tempfile

    if name is not None or alias is not None:
        check_register_args(name or "x", None, alias, None)
    if expect_sha256 is not None and not _SHA256_RE.fullmatch(expect_sha256.lower().removeprefix("sha256:")):
        raise UsageError(f"--sha256 must be 64 hex digits, not {expect_sha256!r}")
    with tempfile.TemporaryDirectory(prefix="modelpack-import-") as work:
        unpacked = read_archive(archive, Path(work), expect_sha256=expect_sha256)
        doc = unpacked.document
        target = name or doc["name"]
        if target is None:
            raise UsageError(
                f"{archive} holds an exported folder, which has no model name",
                hint="give one with --name",
            )
        result = registry.register(
            unpacked.folder,
            name=target,
            description=doc["description"],
            tags=doc["tags"],
            alias=alias,
            source=doc["source"],
            origin=doc["origin"],
            provenance=doc.get("provenance"),
        )
    return TransferResult(
        version=result.version,
        already_registered=result.already_registered,
        home=str(registry.home),
        source=str(doc["source"]),
        archive=str(archive),
        archive_sha256=unpacked.sha256,
        warnings=list(result.warnings),
    )
