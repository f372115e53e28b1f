"""Registry records: the parsed forms of ``model.json`` and ``version.json`` and the results the
registry returns. Loading checks shape and format version and turns anything wrong into a
``RegistryError`` that names the file.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from modelpack.errors import ExitCode, RegistryError
from modelpack.names import Stage, StageSet
from modelpack.registry import documents
from modelpack.registry._io import corrupt
from modelpack.registry.layout import FORMAT_VERSION, migrate


@dataclass(frozen=True)
class ModelState:
    """The mutable state of one registered model (``model.json``).

    ``revision`` grows by one with every change, which is how a crash recovery tells whether
    the change it was journaling reached the disk.
    """

    name: str
    created: str
    updated: str
    revision: int = 0
    description: str | None = None
    stages: dict[int, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    deleted: dict[int, str] = field(default_factory=dict)
    # Changed after registration (set_tags / set_description); version.json keeps what was
    # recorded at registration, these win over it.
    tags: dict[int, dict[str, str]] = field(default_factory=dict)
    descriptions: dict[int, str | None] = field(default_factory=dict)
    # The generation of the registry's stage declaration these stage names belong to
    # (``names.StageSet``); 0, MLflow's four, is not written.
    stages_generation: int = 0
    # The model's own tags (MLflow's registered-model tags), set with set_tags(version=None).
    model_tags: dict[str, str] = field(default_factory=dict)
    # When the whole model was deleted (delete_model) or renamed away (rename): the name is then
    # a tombstone, hidden from ``list``, its history kept. Registering a deleted name again
    # revives it (numbering continues); a renamed name refuses writes and names the new one.
    removed: str | None = None
    renamed_to: str | None = None
    # A name reserved by a rename in a bucket that has not published it yet (its placeholder
    # ``model.json``): it takes no register or edit until the rename is finished.
    renaming_from: str | None = None

    @property
    def is_removed(self) -> bool:
        return self.removed is not None

    def stage_of(self, version: int) -> str:
        return self.stages.get(version, Stage.NONE.value)

    def current_facts(self, version: int, facts: dict[str, Any]) -> dict[str, Any]:
        """A version's facts with the tags and description changed since registration."""
        if version not in self.tags and version not in self.descriptions:
            return facts
        out = dict(facts)
        if version in self.tags:
            out["tags"] = dict(self.tags[version])
        if version in self.descriptions:
            out["description"] = self.descriptions[version]
        return out

    def aliases_of(self, version: int) -> list[str]:
        return sorted(alias for alias, v in self.aliases.items() if v == version)

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "created": self.created,
            "updated": self.updated,
            "revision": self.revision,
            "description": self.description,
            "stages": {str(v): s for v, s in sorted(self.stages.items())},
            "aliases": dict(sorted(self.aliases.items())),
            "deleted": {str(v): t for v, t in sorted(self.deleted.items())},
            "tags": {str(v): dict(sorted(t.items())) for v, t in sorted(self.tags.items())},
            "descriptions": {str(v): d for v, d in sorted(self.descriptions.items())},
            **({"stages_generation": self.stages_generation} if self.stages_generation else {}),
            # Written only when used, so a registry that never uses them reads in an older modelpack.
            **({"model_tags": dict(sorted(self.model_tags.items()))} if self.model_tags else {}),
            **({"removed": self.removed} if self.removed is not None else {}),
            **({"renamed_to": self.renamed_to} if self.renamed_to is not None else {}),
            **({"renaming_from": self.renaming_from} if self.renaming_from is not None else {}),
        }

    def changed(self, *, updated: str, **changes: Any) -> ModelState:
        return replace(self, updated=updated, revision=self.revision + 1, **changes)


def load_model_state(raw: dict[str, Any], *, path: Path, home: Path) -> ModelState:
    """``model.json`` as a ``ModelState``, its shape checked (``documents``).

    Raises:
        RegistryError: a missing or malformed key, or a newer format (names the file).
    """
    try:
        raw = migrate(raw, what="model.json")
        documents.check("model.json", raw)
        return ModelState(
            name=raw["name"],
            created=raw["created"],
            updated=raw["updated"],
            revision=raw["revision"],
            description=raw["description"],
            stages={int(v): s for v, s in raw["stages"].items()},
            aliases=dict(raw["aliases"]),
            deleted={int(v): t for v, t in raw["deleted"].items()},
            tags={int(v): dict(t) for v, t in raw.get("tags", {}).items()},
            descriptions={int(v): d for v, d in raw.get("descriptions", {}).items()},
            stages_generation=int(raw.get("stages_generation", 0)),
            model_tags=dict(raw.get("model_tags") or {}),
            removed=raw.get("removed"),
            renamed_to=raw.get("renamed_to"),
            renaming_from=raw.get("renaming_from"),
        )
    except ValueError as exc:
        raise corrupt(path, home, str(exc)) from exc


#: When, by whom and from where a version was registered, and what content it holds: the facts
#: ``list models:/NAME/N`` shows.
REGISTRATION_FACTS = ("created", "user", "host", "source", "digest", "size")


def check_version_facts(raw: dict[str, Any], *, path: Path, home: Path) -> dict[str, Any]:
    """``version.json``, its shape checked (``documents``).

    Raises:
        RegistryError: a missing or malformed key, or a newer format (names the file).
    """
    try:
        raw = migrate(raw, what="version.json")
        documents.check("version.json", raw)
    except ValueError as exc:
        raise corrupt(path, home, str(exc)) from exc
    return raw


@dataclass(frozen=True)
class VersionRecord:
    """One version as readers see it: immutable facts plus current stage and aliases."""

    name: str
    version: int
    stage: str
    aliases: tuple[str, ...]
    facts: dict[str, Any]
    local_path: Path
    path: str
    deleted: bool = False

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @property
    def digest(self) -> str:
        return str(self.facts["digest"])

    @property
    def created(self) -> str:
        return str(self.facts["created"])

    @property
    def source(self) -> str:
        return str(self.facts["source"])

    @property
    def size(self) -> int:
        return int(self.facts["size"])

    @property
    def provenance(self) -> dict[str, Any]:
        """Where the version came from (``modelpack.provenance.record``); {} when not recorded."""
        value = self.facts.get("provenance")
        return dict(value) if isinstance(value, dict) else {}

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.facts.items() if k != "format_version"}
        data.update(
            name=self.name,
            version=self.version,
            stage=self.stage,
            aliases=list(self.aliases),
            uri=self.uri,
            path=self.path,
            local_path=str(self.local_path),
            deleted=self.deleted,
        )
        return data


@dataclass(frozen=True)
class ModelSummary:
    """One registered model in ``list``: its latest version, stages and aliases."""

    name: str
    created: str
    updated: str
    latest_version: int | None
    version_count: int
    stages: dict[str, list[int]]
    aliases: dict[str, int]
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "created": self.created,
            "updated": self.updated,
            "latest_version": self.latest_version,
            "version_count": self.version_count,
            "stages": self.stages,
            "aliases": self.aliases,
            "description": self.description,
            "tags": self.tags,
        }


@dataclass(frozen=True)
class RegisterResult:
    version: VersionRecord
    already_registered: bool
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**self.version.to_dict(), "already_registered": self.already_registered}


@dataclass(frozen=True)
class GateCheck:
    """One comparison made by ``promote --require-compatible``.

    ``target`` is what callers use (a stage, or ``alias NAME``); ``against`` the version it
    resolves to now, or None when nothing is there yet (nothing to compare, so it passes).
    """

    target: str
    against: int | None
    breaking: list[str] = field(default_factory=list)
    forced: bool = False

    @property
    def is_alias(self) -> bool:
        return self.target.startswith("alias ")

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "against": self.against,
            "compatible": not self.breaking,
            "breaking": self.breaking,
            "forced": self.forced,
        }


@dataclass(frozen=True, kw_only=True)
class PromotionFacts:
    """What a promotion changed, beside the version it promoted (shared by the store's result
    and the Python API's)."""

    previous_stage: str
    archived: list[int]
    alias_set: str | None = None
    alias_moved_from: int | None = None
    alias_removed: str | None = None
    changed: bool = True  # False: it was already so (no event recorded)


@dataclass(frozen=True, kw_only=True)
class PromoteResult(PromotionFacts):
    version: VersionRecord
    # None: the gate was not asked for (no --require-compatible, or nothing it applies to).
    compatibility: list[GateCheck] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.version.to_dict(),
            "previous_stage": self.previous_stage,
            "archived": self.archived,
            "alias_set": self.alias_set,
            "alias_moved_from": self.alias_moved_from,
            "alias_removed": self.alias_removed,
            "changed": self.changed,
            "compatibility": None
            if self.compatibility is None
            else [c.to_dict() for c in self.compatibility],
        }


@dataclass(frozen=True)
class DeleteResult:
    name: str
    version: int
    stage: str
    removed_aliases: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "stage": self.stage,
            "removed_aliases": self.removed_aliases,
            "deleted": True,
        }


@dataclass(frozen=True)
class ModelDeleteResult:
    """``delete NAME``: the whole model. Its history stays; ``gc`` frees its files."""

    name: str
    versions: list[int]
    removed_aliases: list[str]
    stages: dict[str, list[int]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "versions": self.versions,
            "removed_aliases": self.removed_aliases,
            "stages": self.stages,
            "deleted": True,
        }


@dataclass(frozen=True)
class RenameResult:
    """``rename OLD NEW``."""

    old: str
    new: str
    versions: list[int]

    def to_dict(self) -> dict[str, Any]:
        return {"old": self.old, "new": self.new, "name": self.new, "versions": self.versions}


@dataclass(frozen=True)
class SetResult:
    """``set NAME [VERSION]``: what changed (nothing: ``changed`` false, no event recorded)."""

    name: str
    version: int | None
    description: str | None
    tags: dict[str, str]
    changed: bool
    events: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "tags": self.tags,
            "changed": self.changed,
            "events": self.events,
        }


@dataclass(frozen=True)
class GcResult:
    removed_blobs: int
    freed_bytes: int
    kept_blobs: int
    removed_temp: int
    dry_run: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "removed_blobs": self.removed_blobs,
            "freed_bytes": self.freed_bytes,
            "kept_blobs": self.kept_blobs,
            "removed_temp": self.removed_temp,
            "dry_run": self.dry_run,
        }


#: Severities of a doctor's findings: an error is damage a reader can meet; a warning is not.
ERROR: Final = "error"
WARNING: Final = "warning"


@dataclass
class Finding:
    severity: str
    kind: str
    path: str
    message: str
    repaired: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "kind": self.kind,
            "path": self.path,
            "message": self.message,
            "repaired": self.repaired,
        }


@dataclass
class DoctorReport:
    home: str
    repair: bool
    findings: list[Finding] = field(default_factory=list)
    models: int = 0
    versions: int = 0
    files_checked: int = 0
    blobs_checked: int = 0
    bytes_hashed: int = 0

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR and not f.repaired]

    @property
    def exit_code(self) -> int:
        return int(ExitCode.VALIDATION_FAILED) if self.errors else 0

    @property
    def status(self) -> str:
        return "failed" if self.errors else "ok"

    @property
    def consistent(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "home": self.home,
            "repair": self.repair,
            "consistent": self.consistent,
            "errors": len(self.errors),
            "warnings": len([f for f in self.findings if f.severity == WARNING and not f.repaired]),
            "repaired": len([f for f in self.findings if f.repaired]),
            "models": self.models,
            "versions": self.versions,
            "files_checked": self.files_checked,
            "blobs_checked": self.blobs_checked,
            "bytes_hashed": self.bytes_hashed,
            "findings": [f.to_dict() for f in self.findings],
        }


#: OS errors that say the storage cannot take more writes: full, over quota, failing, read-only.
STORAGE_ERRNOS: Final = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG, errno.EROFS})


def is_storage_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS


def registry_error(message: str, exc: OSError, path: Path | None = None) -> RegistryError:
    """An OSError while writing (disk full, permissions, read-only fs) as a one-line error."""
    reason = exc.strerror or str(exc)
    where = f" ({exc.filename})" if exc.filename else ""
    return RegistryError(
        f"{message}: {reason}{where}; the registry was left unchanged",
        path=str(path or exc.filename or "") or None,
    )


@dataclass(frozen=True)
class ModelList:
    """``list`` without a name: every model."""

    models: list[ModelSummary]

    def rows(self) -> list[dict[str, Any]]:
        return [m.to_dict() for m in self.models]

    def to_dict(self) -> dict[str, Any]:
        return {"models": self.rows()}


@dataclass(frozen=True)
class VersionList:
    """``list NAME``: the versions of one model."""

    name: str
    versions: list[VersionRecord]

    def rows(self) -> list[dict[str, Any]]:
        return [v.to_dict() for v in self.versions]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "versions": self.rows()}


@dataclass(frozen=True)
class History:
    """``history NAME``: the model's committed events, oldest first."""

    name: str
    events: list[dict[str, Any]]

    def rows(self) -> list[dict[str, Any]]:
        return list(self.events)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "events": self.rows()}


@dataclass(frozen=True)
class StagesResult:
    """``set_stages``: the registry's stages now, whether they changed, what was rewritten."""

    stages: StageSet
    changed: bool
    moved: list[str] = field(default_factory=list)  # "name vN: Old -> New"
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**stages_to_dict(self.stages), "changed": self.changed, "moved": self.moved}


def stages_to_dict(stages: StageSet) -> dict[str, Any]:
    """The stages as ``modelpack stages --json`` shows them."""
    return {
        "stages": list(stages.all),
        "declared": list(stages.names),
        "archive": stages.archive,
        "active": list(stages.active),
        "protected": stages.protected,
        "generation": stages.generation,
        "renamed": dict(stages.renamed),
        "default": stages.is_default,
    }
