"""``modelpack.Registry``: the model registry as a Python object, with plain typed results.

A thin layer over ``registry.store.FileRegistry``: the same checks, locks, events and errors as the
CLI (``ModelpackError`` subclasses with the CLI's exit codes), results as small dataclasses whose
``version`` is an ``int`` so one call's result feeds the next::

    reg = modelpack.Registry()
    mv = reg.register("out/churn", name="churn")
    reg.promote("churn", mv.version, stage="Production", alias="champion")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelpack import _html
from modelpack._html import one_line
from modelpack.registry.records import ModelState, ModelSummary, PromotionFacts

if TYPE_CHECKING:
    from modelpack.config import Home
    from modelpack.model import Model
    from modelpack.names import Stage, StageSet
    from modelpack.package.packer import PackResult
    from modelpack.registry import AnyRegistry
    from modelpack.registry.records import (
        ModelDeleteResult,
        RegisterResult,
        RenameResult,
        SetResult,
        StagesResult,
        VersionRecord,
    )
    from modelpack.registry.transfer import ExportResult


@dataclass(frozen=True)
class ModelVersion:
    """One registered version.

    Attributes:
        name: the model name.
        version: the version number.
        stage: ``None`` or one of the registry's stages (by default ``Staging``,
            ``Production`` or ``Archived``).
        aliases: the aliases pointing at this version.
        digest: the content digest (``sha256:...``) of the package.
        created: when it was registered (UTC, ISO 8601).
        user: who registered it.
        source: the folder or URI it was registered from.
        size: bytes of the package's files.
        description: the version's description.
        tags: the version's tags.
        signature: the package's signature in MLflow's list form, or None.
        path: the stored folder (an MLmodel folder MLflow can load).
        origin: for a copied or imported version, its content's first registration (``uri``,
            ``created``, ``user``, ``host``, ``source``); None otherwise.
        already_registered: ``register`` found this content already registered and minted no version.
        warnings: notes from the operation.
        provenance: where the version came from (git, CI run, training data, metrics, params,
            MLflow run, and ``registered_from``); {} when nothing was recorded.
    """

    name: str
    version: int
    stage: str
    aliases: tuple[str, ...]
    digest: str
    created: str
    user: str
    source: str
    size: int
    description: str | None
    tags: dict[str, str]
    signature: dict[str, Any] | None
    path: Path
    already_registered: bool = False
    warnings: list[str] = field(default_factory=list)
    origin: dict[str, str] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        """``models:/NAME/VERSION``."""
        return f"models:/{self.name}/{self.version}"

    def __repr__(self) -> str:
        extra = [self.stage] if self.stage != "None" else []
        extra += [f"@{a}" for a in self.aliases]
        shown = f" ({', '.join(extra)})" if extra else ""
        return one_line(f"<ModelVersion {self.name} v{self.version}{shown} {self.digest[:19]}…>")

    def _repr_html_(self) -> str:
        from modelpack.schema.signature import signature_html

        rows = [
            ("uri", self.uri),
            ("stage", self.stage),
            ("aliases", ", ".join(self.aliases) or "-"),
            ("digest", self.digest),
            ("created", f"{self.created} by {self.user}"),
            ("size", f"{self.size} bytes"),
            ("tags", ", ".join(f"{k}={v}" for k, v in self.tags.items()) or "-"),
            ("description", self.description or "-"),
        ]
        if self.provenance:
            from modelpack.provenance.record import lines

            rows += lines(self.provenance)
        parts = [_html.fields(rows), signature_html(self.signature)]
        return _html.page(parts, self.warnings)


@dataclass(frozen=True)
class RegisteredModel(ModelSummary):
    """One registered model: its latest version, stages, aliases, description and tags."""

    def __repr__(self) -> str:
        latest = f"v{self.latest_version}" if self.latest_version is not None else "no versions"
        stages = ", ".join(f"{s}: {', '.join(f'v{v}' for v in vs)}" for s, vs in self.stages.items())
        aliases = ", ".join(f"@{a}: v{v}" for a, v in self.aliases.items())
        extra = "; ".join(x for x in (stages, aliases) if x)
        return one_line(
            f"<RegisteredModel {self.name} {latest} ({self.version_count} versions{'; ' + extra if extra else ''})>"
        )

    def _repr_html_(self) -> str:

        rows = [
            ("name", self.name),
            ("latest version", self.latest_version),
            ("versions", self.version_count),
            ("description", self.description),
            ("created", self.created),
            ("updated", self.updated),
        ]
        parts = [_html.fields(rows)]
        if self.stages:
            stage_rows = [
                (stage, ", ".join(f"v{v}" for v in versions)) for stage, versions in self.stages.items()
            ]
            parts.append(_html.heading("stages") + _html.table(("stage", "versions"), stage_rows))
        if self.aliases:
            alias_rows = [(f"@{alias}", f"v{version}") for alias, version in self.aliases.items()]
            parts.append(_html.heading("aliases") + _html.table(("alias", "version"), alias_rows))
        return "".join(parts)


@dataclass(frozen=True, kw_only=True)
class Promotion(PromotionFacts):
    """What ``promote`` did.

    Attributes:
        version: the promoted version as it is now.
        previous_stage: its stage before.
        archived: versions moved to Archived because this one took their stage.
        alias_set / alias_moved_from / alias_removed: the alias changes made.
        changed: False when it was already there (no event recorded).
        compatibility: the signature gate's comparisons, when ``require_compatible`` ran it.
    """

    version: ModelVersion
    compatibility: list[dict[str, Any]] | None = None

    def __repr__(self) -> str:
        moved = f"{self.previous_stage} -> {self.version.stage}"
        alias = f", @{self.alias_set}" if self.alias_set else ""
        return one_line(
            f"<Promotion {self.version.name} v{self.version.version}: {moved}{alias}"
            f"{'' if self.changed else ' (unchanged)'}>"
        )


@dataclass(frozen=True)
class Deletion:
    """What ``delete`` removed."""

    name: str
    version: int
    stage: str
    removed_aliases: list[str]

    def __repr__(self) -> str:
        aliases = (
            f", removed {', '.join(f'@{a}' for a in self.removed_aliases)}" if self.removed_aliases else ""
        )
        stage = f" ({self.stage})" if self.stage != "None" else ""
        return one_line(f"<Deletion {self.name} v{self.version}{stage}{aliases}>")


@dataclass(frozen=True)
class Event:
    """One entry of a model's history (oldest first).

    Attributes:
        event: ``registered``, ``stage_changed``, ``alias_set``, ``alias_removed``, ``deleted``,
            ``tags_set`` or ``description_set``.
        name: the model.
        version: the version it concerns (None for a model-level change).
        time: when (UTC, ISO 8601).
        user: who.
        details: the rest of the event (e.g. ``to``/``from`` for a stage change).
    """

    event: str
    name: str
    version: int | None
    time: str
    user: str
    details: dict[str, Any]

    def __repr__(self) -> str:
        version = f" v{self.version}" if self.version is not None else ""
        return one_line(f"<Event {self.time} {self.event} {self.name}{version} by {self.user}>")


def _version(
    record: VersionRecord, *, existed: bool = False, warnings: list[str] | None = None
) -> ModelVersion:
    facts = record.facts
    signature = facts.get("signature")
    return ModelVersion(
        name=record.name,
        version=int(record.version),
        stage=record.stage,
        aliases=tuple(record.aliases),
        digest=record.digest,
        created=record.created,
        user=str(facts.get("user") or ""),
        source=record.source,
        size=record.size,
        description=None if facts.get("description") is None else str(facts["description"]),
        tags={str(k): str(v) for k, v in dict(facts.get("tags") or {}).items()},
        signature=signature if isinstance(signature, dict) else None,
        path=record.local_path,
        already_registered=existed,
        warnings=list(warnings or []),
        origin=dict(facts["origin"]) if isinstance(facts.get("origin"), dict) else None,
        provenance=record.provenance,
    )


_EVENT_KEYS = ("id", "event", "name", "version", "time", "user")


class Registry:
    """The model registry under ``home`` (``MODELPACK_HOME`` or ``~/.modelpack`` by default).

    Every method raises the CLI's errors: ``NotFoundError`` (exit 4) for an unknown model,
    version, stage or alias, ``InvalidNameError``/``UsageError`` (exit 2) for bad names,
    ``ConflictError`` (exit 5) for a lock timeout or a refused delete, ``InvalidModelError``
    (exit 3) for a package that fails its checks, ``IncompatibleSignatureError`` (exit 3) when
    the promotion gate refuses, ``RegistryError`` for a registry that cannot be read or written.
    """

    def __init__(self, home: str | Path | Home | None = None) -> None:
        from modelpack.config import resolve_home

        self.home = resolve_home(home)
        self._store: AnyRegistry | None = None

    @property
    def store(self) -> AnyRegistry:
        """The underlying store: a ``FileRegistry``, or an ``S3Registry`` for an ``s3://`` home."""
        if self._store is None:
            from modelpack.registry import open_registry

            self._store = open_registry(self.home)
        return self._store

    def __repr__(self) -> str:
        return f"Registry({str(self.home)!r})"

    def register(
        self,
        model: str | Path | PackResult | Model,
        name: str,
        *,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        alias: str | None = None,
        allow_duplicate: bool = False,
        tracking_uri: str | None = None,
        metrics: Mapping[str, float] | None = None,
        params: Mapping[str, str] | None = None,
        training_data: str | Path | None = None,
        provenance: bool = True,
    ) -> ModelVersion:
        """Store a packed folder (or another registered version, or a model logged in an MLflow
        run) as the next version of ``name``.

        Args:
            model: a model folder, a ``models:/`` URI, a ``runs:/RUN_ID/PATH`` URI, or what
                ``modelpack.pack`` returned (or a loaded ``Model``).
            name: the model name.
            description: free text stored with the version.
            tags: facts stored with the version.
            alias: point this alias at the version.
            allow_duplicate: mint a new version even for content already registered.
            tracking_uri: for a ``runs:/`` URI, the local MLflow tracking store (an ``mlruns``
                folder, ``file://`` or ``sqlite:///path.db``); ``MLFLOW_TRACKING_URI`` or
                MLflow's default when None. The run's id, experiment, params, latest metrics
                and git commit are recorded as the version's provenance.
            metrics: numbers recorded in the version's provenance (over the package's own).
            params: settings recorded in the version's provenance.
            training_data: a data file whose name, sha256, size and inferred schema are recorded.
            provenance: record ``registered_from``, the git commit and CI run of where this
                runs (the working directory's repository, CI's own variables); the package's
                own provenance (from ``pack``) is recorded either way.

        Returns:
            The ModelVersion; ``already_registered`` is true when the same content was there.
        """
        from modelpack.api import provenance_request
        from modelpack.provenance.record import for_register

        request = provenance_request(
            metrics=metrics, params=params, training_data=training_data, capture=provenance
        )
        given = for_register(request, Path.cwd())
        target = _folder_of(model)
        result = register_target(
            self.store,
            target,
            name=name,
            description=description,
            tags=dict(tags or {}),
            alias=alias,
            allow_duplicate=allow_duplicate,
            tracking_uri=tracking_uri,
            provenance=given,
        )
        return _version(result.version, existed=result.already_registered, warnings=result.warnings)

    def promote(
        self,
        name: str,
        version: int | ModelVersion,
        *,
        stage: str | Stage | None = None,
        alias: str | None = None,
        remove_alias: str | None = None,
        archive_existing: bool = True,
        require_compatible: bool = False,
        force: bool = False,
    ) -> Promotion:
        """Move a version to a stage and/or set or remove an alias (see ``modelpack promote``).

        Args:
            name: the model name.
            version: the version number (or a ModelVersion).
            stage: one of the registry's stages (``Registry.stages``; by default ``Staging``,
                ``Production``, ``Archived``) or ``None``, in any case.
            alias: point this alias at the version.
            remove_alias: remove this alias (it must point at the version).
            archive_existing: move the versions that held an active ``stage`` to the archive
                stage (Archived by default).
            require_compatible: refuse a signature that breaks the callers of the stage or alias.
            force: promote despite a breaking signature (recorded in the history).
        """
        number = _number(version)
        result = self.store.promote(
            name,
            number,
            stage=stage,
            alias=alias,
            remove_alias=remove_alias,
            archive_existing=archive_existing,
            require_compatible=require_compatible,
            force=force,
        )
        facts = {f.name: getattr(result, f.name) for f in fields(PromotionFacts)}
        gate = result.compatibility
        return Promotion(
            **facts,
            version=_version(result.version),
            compatibility=None if gate is None else [c.to_dict() for c in gate],
        )

    @property
    def stages(self) -> StageSet:
        """The registry's stages: ``all`` (``None`` first, then the declared ones in order),
        ``archive``, ``active``, ``protected``, ``generation``; MLflow's four by default."""
        return self.store.stages

    def set_stages(
        self,
        names: Iterable[str],
        *,
        archive: str,
        active: Iterable[str] | None = None,
        mapping: Mapping[str, str] | None = None,
    ) -> StagesResult:
        """Declare the registry's own stages (see ``modelpack stages set``).

        Args:
            names: the stages in order, e.g. ``["Prototype", "Testing", "Production", "Retired"]``
                (``None`` always exists and is not declared).
            archive: the stage previous holders of an active stage move to, e.g. ``"Retired"``.
            active: the single-holder, gated stages (default: every stage but the archive).
            mapping: a current stage -> a new one (or ``"None"``), for every stage that holds
                versions and is not kept, e.g. ``{"Staging": "Testing", "Archived": "Retired"}``.

        Returns:
            The new stages, whether they changed and which versions moved.

        Raises:
            InvalidNameError: a bad stage name or mapping (exit 2).
            ConflictError: a stage holding versions is neither kept nor mapped (exit 5).
        """
        return self.store.set_stages(
            list(names),
            archive=archive,
            active=None if active is None else list(active),
            mapping=dict(mapping or {}),
        )

    def get_version(self, name: str, version: int | ModelVersion) -> ModelVersion:
        """One live version."""
        return _version(self.store.get_version(name, _number(version)))

    def resolve(self, uri: str) -> ModelVersion:
        """The version a ``models:/`` URI names now (``/VERSION``, ``/STAGE``, ``/latest``, ``@ALIAS``)."""
        return _version(self.store.resolve(uri))

    def list_models(
        self,
        *,
        stage: str | Iterable[str] | None = None,
        alias: str | None = None,
        tags: Mapping[str, str | None] | None = None,
        since: str | None = None,
        search: str | None = None,
    ) -> list[RegisteredModel]:
        """Every registered model (deleted and renamed-away ones are not listed), optionally
        filtered as ``modelpack list`` filters (all given must match):

        Args:
            stage: a stage, or several (any of them), one of the model's live versions is in.
            alias: an alias the model has.
            tags: the model's own tags: ``{"team": "risk"}``, or ``{"team": None}`` for the key alone.
            since: changed since this ISO date/time or age (``"7d"``, ``"12h"``).
            search: text in the name or description, any case.
        """
        chosen = _filter(stage, alias, tags, since, search)
        return [RegisteredModel(**vars(s)) for s in chosen.models(self.store.list_models())]

    def list_versions(
        self,
        name: str,
        *,
        include_deleted: bool = False,
        stage: str | Iterable[str] | None = None,
        alias: str | None = None,
        tags: Mapping[str, str | None] | None = None,
        since: str | None = None,
        search: str | None = None,
    ) -> list[ModelVersion]:
        """The versions of ``name``, oldest first, optionally filtered (see ``list_models``;
        ``since`` is the registration time, ``search`` the version's description)."""
        chosen = _filter(stage, alias, tags, since, search)
        records = self.store.list_versions(name, include_deleted=include_deleted)
        return [_version(r) for r in chosen.versions(records)]

    def set(
        self,
        name: str,
        version: int | ModelVersion | None = None,
        *,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        remove_tags: Iterable[str] = (),
    ) -> SetResult:
        """Edit a version's (or with no ``version`` the model's own) description and tags, as
        ``modelpack set`` does; ``description=""`` clears it. Each change is an event; what is
        already so changes nothing (``changed`` False)."""
        from modelpack.registry.edits import apply_set

        return apply_set(
            self.store,
            name,
            None if version is None else _number(version),
            description=description or None,
            clear_description=description == "",
            tags=dict(tags or {}),
            remove_tags=list(remove_tags),
        )

    def rename(self, old: str, new: str) -> RenameResult:
        """Rename a model (local registries); ``new`` must never have existed (ConflictError)."""
        return self.store.rename(old, new)

    def delete_model(self, name: str, *, force: bool = False) -> ModelDeleteResult:
        """Delete a whole model; its history stays, registering the name again continues its
        numbers. Production or aliased versions need ``force``."""
        return self.store.delete_model(name, force=force)

    def history(self, name: str, *, version: int | ModelVersion | None = None) -> list[Event]:
        """The model's events, oldest first (optionally those of one version)."""
        events = []
        for raw in self.store.history(name, version=None if version is None else _number(version)):
            number = raw.get("version")
            events.append(
                Event(
                    event=str(raw.get("event")),
                    name=str(raw.get("name")),
                    version=number if isinstance(number, int) else None,
                    time=str(raw.get("time")),
                    user=str(raw.get("user")),
                    details={k: v for k, v in raw.items() if k not in _EVENT_KEYS},
                )
            )
        return events

    def delete(self, name: str, version: int | ModelVersion, *, force: bool = False) -> Deletion:
        """Delete a version (its number is never reused); Production or aliased ones need ``force``."""
        result = self.store.delete(name, _number(version), force=force)
        return Deletion(
            name=result.name,
            version=result.version,
            stage=result.stage,
            removed_aliases=list(result.removed_aliases),
        )

    def set_tags(
        self, name: str, version: int | ModelVersion, tags: Mapping[str, str | None], *, replace: bool = False
    ) -> ModelVersion:
        """Set tags on a version (a None value removes that tag; ``replace`` drops the others)."""
        record = self.store.set_tags(name, _number(version), tags, replace=replace)
        assert not isinstance(record, ModelState)
        return _version(record)

    def set_description(
        self, name: str, description: str | None, *, version: int | ModelVersion | None = None
    ) -> None:
        """Describe a model (``version`` None) or one version."""
        self.store.set_description(name, description, version=None if version is None else _number(version))

    def copy(
        self,
        uri: str,
        destination: str | Path | Registry,
        *,
        name: str | None = None,
        alias: str | None = None,
    ) -> ModelVersion:
        """Copy the version ``uri`` names into another registry (see ``modelpack copy``).

        Args:
            uri: a ``models:/`` URI in this registry.
            destination: the other registry: a folder, an ``s3://`` home, or a ``Registry``.
            name: register under this name (default: the source's).
            alias: point this alias at the copied version.

        Returns:
            The version in the destination; its ``source`` is the exact version copied,
            qualified by this registry (``<home>#models:/NAME/N``), and ``origin`` the content's
            first registration. ``already_registered`` when the destination held the content.
        """
        from modelpack.registry.transfer import copy_version

        target = destination if isinstance(destination, Registry) else Registry(destination)
        result = copy_version(self.store, uri, target.store, name=name, alias=alias)
        return _version(result.version, existed=result.already_registered, warnings=result.warnings)

    def export(self, target: str | Path, output: str | Path, *, force: bool = False) -> ExportResult:
        """Write a version (a ``models:/`` URI) or a model folder to one archive file.

        ``output`` ending in ``.tar.gz`` or ``.tgz`` is gzip-compressed. Returns the
        ``ExportResult`` (``output``, ``sha256`` of the file, ``bytes``, ``digest``, ...).
        """
        from modelpack.registry.transfer import export_target
        from modelpack.uri import is_model_uri

        text = str(target)
        store = self.store if is_model_uri(text) else None
        return export_target(store, text, Path(output), force=force)

    def import_archive(
        self,
        archive: str | Path,
        *,
        name: str | None = None,
        alias: str | None = None,
        sha256: str | None = None,
    ) -> ModelVersion:
        """Verify every byte of an export archive, then register its version here.

        Args:
            archive: the file ``export`` wrote.
            name: register under this name (default: the exported one; required for a folder).
            alias: point this alias at the imported version.
            sha256: refuse the file unless its sha256 is this (as ``export`` reported it).

        Raises:
            ArchiveError: the archive was changed or damaged (nothing was imported).
        """
        from modelpack.registry.transfer import import_archive

        result = import_archive(self.store, Path(archive), name=name, alias=alias, expect_sha256=sha256)
        return _version(result.version, existed=result.already_registered, warnings=result.warnings)

    def load_model(self, uri: str, *, trusted: Iterable[str] = (), method: str | None = None) -> Model:
        """``modelpack.load_model`` against this registry (``models:/...`` URIs)."""
        from modelpack.model import load_model

        return load_model(uri, home=self.home, trusted=trusted, method=method)


def _filter(
    stage: str | Iterable[str] | None,
    alias: str | None,
    tags: Mapping[str, str | None] | None,
    since: str | None,
    search: str | None,
) -> Any:
    from modelpack.registry.filters import ListFilter, parse_since

    stages = (stage,) if isinstance(stage, str) else tuple(stage or ())
    return ListFilter(
        stages=stages,
        alias=alias,
        tags=dict(tags or {}),
        since=parse_since(since) if since is not None else None,
        text=search,
    )


def _number(version: object) -> int:
    """A version number from an int, a ModelVersion or a string of digits; anything else is a usage error."""
    if isinstance(version, ModelVersion):
        return version.version
    if isinstance(version, int) and not isinstance(version, bool):
        return version
    if isinstance(version, str) and version.strip().isdigit():
        return int(version)
    from modelpack.errors import UsageError

    shown = one_line(repr(version), 60)
    raise UsageError(
        f"a version is a number (or a ModelVersion), not {shown}",
        hint="use resolve('models:/NAME/STAGE') or resolve('models:/NAME@ALIAS') to find one by stage or alias",
    )


def register_target(
    store: AnyRegistry,
    target: str,
    *,
    name: str,
    tracking_uri: str | None = None,
    **options: Any,
) -> RegisterResult:
    """``store.register`` of a folder or ``models:/`` URI, or of the model a ``runs:/`` URI
    names in a local MLflow tracking store, with the run recorded as provenance
    (``modelpack register`` and ``Registry.register``).

    Raises:
        UsageError: ``tracking_uri`` for a target that is not a ``runs:/`` URI, a malformed
            ``runs:/`` URI or a remote tracking store (exit 2); and what ``locate_run_model``
            and ``register`` raise.
    """
    from dataclasses import replace

    from modelpack.mlflow_runs import is_runs_uri

    if not is_runs_uri(target):
        if tracking_uri is not None:
            from modelpack.errors import UsageError

            raise UsageError(f"a tracking URI applies to runs:/ URIs only, not to {target!r}")
        return store.register(target, name=name, **options)
    from modelpack.config import resolve_tracking_uri
    from modelpack.mlflow_runs import locate_run_model
    from modelpack.provenance.record import merge

    run = locate_run_model(target, resolve_tracking_uri(tracking_uri))
    # What the command was given (--metric, --param, registered_from) wins over the run's.
    provenance = merge(run.provenance, options.pop("provenance", None))
    result = store.register(run.folder, name=name, source=run.uri, provenance=provenance, **options)
    return replace(result, warnings=[*run.warnings, *result.warnings])


def _folder_of(model: Any) -> str:
    """The folder (or URI) to register from: a path, a URI, a PackResult or a loaded Model."""
    if isinstance(model, (str, Path)):
        return str(model)
    for attr in ("output", "path"):
        value = getattr(model, attr, None)
        if isinstance(value, (str, Path)):
            return str(value)
    from modelpack.errors import UsageError

    raise UsageError(
        f"cannot register a {type(model).__qualname__}: give a packed folder, a models:/ URI or what pack returned",
        hint="pack the model first: result = modelpack.pack(model, sample, 'out/model')",
    )
