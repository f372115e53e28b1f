"""``FileRegistry``: versions, stages, aliases and history of models under one registry root.

Concurrency rules (see docs/REGISTRY.md for the whole argument):

* Every writer holds the registry lock *shared* for its whole operation; ``gc`` and
  ``doctor --repair`` hold it *exclusive*, so they never see another writer's half-built files.
* Changes to one model's metadata happen under that model's exclusive lock, with an intent
  journal so that a writer killed at any instant is finished or undone by the next one.
* A version appears by one ``rename`` of a fully built, fsynced folder; mutable state
  (stages, aliases, deletions) is one ``model.json`` replaced atomically. Readers take no lock
  and see either the old or the new state, never a mixture.
* Slow work (hashing and copying files) happens before the model lock is taken, so concurrent
  registrations of one model wait for each other only for a few small metadata writes.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from modelpack._fs import fsync_path, make_parents
from modelpack.config import ENV_HOME
from modelpack.digest import MANIFEST_FILE
from modelpack.errors import (
    ConflictError,
    InputFileError,
    InvalidModelError,
    ModelpackError,
    NotFoundError,
    RegistryError,
    UsageError,
)
from modelpack.names import (
    DEFAULT_STAGES,
    Stage,
    StageSet,
    declare_stages,
    validate_name,
)
from modelpack.package.manifest import IntegrityReport, read_manifest, verify_folder
from modelpack.progress import SILENT, Reporter
from modelpack.registry import documents, index, journal, lock
from modelpack.registry import events as ev
from modelpack.registry._io import (
    atomic_write_json,
    corrupt,
    dumps,
    file_size,
    read_json,
    write_file,
)
from modelpack.registry.blobs import BLOB_MODE, BlobIngest
from modelpack.registry.changes import (
    alias_set_event,
    check_description,
    check_promote_args,
    check_register_args,
    check_rename_args,
    check_tag_changes,
    compatibility_gate,
    current_state,
    gated_stage,
    listing,
    missing_version,
    moved_versions,
    name_taken,
    new_model_state,
    pick_version,
    plan_delete,
    plan_delete_model,
    plan_description,
    plan_promote,
    plan_remap,
    plan_stages,
    plan_tags,
    refuse_damaged,
    refuse_removed,
    refuse_renamed_register,
    registered_event,
    renamed_event,
    revived,
    undeclared_problem,
    used_stages,
    version_facts,
)
from modelpack.registry.events import Actor, utc_now
from modelpack.registry.faults import NO_FAULTS, Faults
from modelpack.registry.journal import Journal
from modelpack.registry.layout import (
    FORMAT_VERSION,
    MODEL_DIR,
    REGISTRY_KIND,
    STAGES_FORMAT_VERSION,
    Layout,
    digest_hex,
    migrate_registry_file,
)
from modelpack.registry.records import (
    DeleteResult,
    GateCheck,
    ModelDeleteResult,
    ModelState,
    ModelSummary,
    PromoteResult,
    RegisterResult,
    RenameResult,
    StagesResult,
    VersionRecord,
    check_version_facts,
    load_model_state,
    registry_error,
)
from modelpack.uri import ModelUri, is_model_uri, parse_model_uri


class FileRegistry:
    """A model registry stored in plain files under ``home``.

    Args:
        home: the registry root (``MODELPACK_HOME``); created on the first write.
        lock_timeout: seconds to wait for a lock before failing with ConflictError.
        durable: fsync data and metadata before each commit. Turning it off is only for
            bulk-loading throwaway registries (benchmarks): a power cut may then lose data.
        faults: crash points for the crash tests (see ``faults``).
        reporter: progress sink for hashing and copying large files.
    """

    def __init__(
        self,
        home: Path,
        *,
        lock_timeout: float = lock.DEFAULT_TIMEOUT,
        durable: bool = True,
        faults: Faults | None = None,
        reporter: Reporter = SILENT,
    ) -> None:
        self.home = Path(home).absolute()
        self.layout = Layout(self.home)
        self.lock_timeout = lock_timeout
        self.durable = durable
        self._faults = faults or NO_FAULTS
        self._reporter = reporter
        self._format_checked = False
        self._stages: StageSet | None = None
        self._actor: Actor | None = None

    # ------------------------------------------------------------------ basics

    @property
    def actor(self) -> Actor:
        if self._actor is None:
            self._actor = Actor.current()
        return self._actor

    def _check_format(self) -> None:
        if self._format_checked:
            return
        path = self.layout.registry_file
        try:
            raw = read_json(path, home=self.home)
        except FileNotFoundError:
            return
        try:
            documents.check("registry.json", migrate_registry_file(raw, what=str(path)))
        except ValueError as exc:
            raise corrupt(path, self.home, str(exc)) from exc
        self._stages = StageSet.from_json(raw.get("stages"))
        self._format_checked = True

    @property
    def stages(self) -> StageSet:
        """The registry's stages (``registry.json``, read once; MLflow's four by default)."""
        self._check_format()
        return self._stages or DEFAULT_STAGES

    def _require_registry(self) -> None:
        """Readers refuse a home that holds no registry, so a typo in --home is not "empty".

        Only ``register`` creates a registry; every other operation needs one to exist.

        Raises:
            NotFoundError: neither the registry file nor the models folder exists (exit 4).
        """
        self._check_format()
        if self._format_checked or self.layout.models.is_dir():
            return
        where = "does not exist" if not self.home.exists() else "holds no registry"
        raise NotFoundError(
            f"no registry at {self.home}: the folder {where}",
            hint=f"check --home or {ENV_HOME}; 'modelpack register' creates a registry",
            path=str(self.home),
        )

    def _ensure_home(self) -> None:
        """Create the registry's folders and ``registry.json`` where missing.

        Raises:
            RegistryError: they cannot be created (disk full, permissions); the folders this
                call made are removed again, so a failed first write leaves no half registry.
        """
        self._check_format()
        created: list[Path] = []
        try:
            for folder in (self.layout.locks, self.layout.tmp, self.layout.models, self.layout.blobs):
                make_parents(folder, created)
            if not self.layout.registry_file.is_file():
                atomic_write_json(
                    self.layout.registry_file,
                    {"format_version": FORMAT_VERSION, "kind": REGISTRY_KIND, "created": utc_now()},
                    durable=self.durable,
                )
        except OSError as exc:
            for folder in reversed(created):
                with contextlib.suppress(OSError):
                    folder.rmdir()
            raise registry_error(f"cannot create the registry at {self.home}", exc) from exc

    @contextlib.contextmanager
    def _registry_lock(self, *, exclusive: bool = False) -> Iterator[None]:
        with lock.locked(
            self.layout.global_lock,
            shared=not exclusive,
            timeout=self.lock_timeout,
            what="the registry",
        ):
            # Read again on first use: set_stages holds this lock exclusively to change them.
            self._format_checked = False
            self._stages = None
            yield

    @contextlib.contextmanager
    def _model_lock(self, name: str) -> Iterator[list[str]]:
        """Hold ``name``'s lock; first finish or undo whatever a dead writer left half-done."""
        with lock.locked(self.layout.model_lock(name), timeout=self.lock_timeout, what=f"model {name!r}"):
            notes: list[str] = []
            if self.layout.model(name).is_dir():
                note = journal.recover(self.layout, name, durable=self.durable)
                if note:
                    notes.append(note)
                self._finish_remap(name, notes)
            yield notes

    def _finish_remap(self, name: str, notes: list[str]) -> None:
        """Rewrite ``name``'s stage names into the registry's current stages if a
        ``set_stages`` did not get to it (it died, or this is its own pass). Caller holds the
        model lock and the registry lock."""
        if self.stages.generation == 0:
            return  # never redeclared: nothing to rename, and no extra read
        raw = self._raw_state_or_none(name)
        if raw is None:
            return
        planned = plan_remap(name, raw, self.stages, self.actor, utc_now())
        if planned is None:
            return
        new_state, new_events = planned
        self._commit_state(name, 0, "set_stages", raw, new_state, new_events, notes=notes)
        self._faults.point("set_stages.remapped")
        if new_events:
            notes.append(
                f"renamed the stages of {name} to the registry's generation {self.stages.generation}"
            )

    @contextlib.contextmanager
    def _workspace(self) -> Iterator[Path]:
        """A private staging folder under ``tmp/``, marked live by a held lock file."""
        token = f"{os.getpid()}-{secrets.token_hex(4)}"
        lock_path = self.layout.tmp / f"{token}.lock"
        fd = lock.acquire(lock_path, timeout=self.lock_timeout)
        folder = self.layout.tmp / token
        try:
            folder.mkdir()
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            with contextlib.suppress(OSError):
                lock_path.unlink()
            lock.release(fd)

    @contextlib.contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        """Turn OS errors (disk full, permissions, read-only filesystem) into one-line errors."""
        try:
            yield
        except ModelpackError:
            raise
        except OSError as exc:
            filename = str(exc.filename or "")
            if filename and not filename.startswith(str(self.home)):
                raise InputFileError(f"cannot read {filename}: {exc.strerror or exc}", path=filename) from exc
            raise registry_error(f"cannot {doing}", exc, self.home) from exc

    # ------------------------------------------------------------------ reading

    def model_names(self) -> list[str]:
        """Names of every registered model, sorted."""
        self._check_format()
        try:
            entries = [e.name for e in os.scandir(self.layout.models)]
        except FileNotFoundError:
            return []
        names = []
        for entry in entries:
            if entry.startswith("."):
                continue
            with contextlib.suppress(UsageError):
                validate_name(entry)
                if self.layout.model_file(entry).is_file():
                    names.append(entry)
        return sorted(names)

    def _unknown_model(self, name: str) -> NotFoundError:
        names = self.model_names()
        where = f"models: {listing(names)}" if names else f"the registry at {self.home} is empty"
        return NotFoundError(f"no model named {name!r}; {where}")

    def _state_or_none(self, name: str) -> ModelState | None:
        raw = self._raw_state_or_none(name)
        if raw is None:
            return None
        if raw.stages_generation > self.stages.generation:
            # Redeclared since this command read registry.json (readers take no lock).
            self._format_checked = False
            self._stages = None
        state = current_state(raw, self.stages)
        problem = undeclared_problem(state, self.stages)
        if problem is not None:
            raise corrupt(self.layout.model_file(name), self.home, problem)
        return state

    def _raw_state_or_none(self, name: str) -> ModelState | None:
        """``model.json`` as stored (its stage names of the generation it records)."""
        path = self.layout.model_file(name)
        try:
            raw = read_json(path, home=self.home)
        except FileNotFoundError:
            return None
        state = load_model_state(raw, path=path, home=self.home)
        if state.name != name:
            raise ConflictError(
                f"model folder {name!r} belongs to model {state.name!r}",
                hint="names that differ only in case share a folder on case-insensitive filesystems",
                path=str(path),
            )
        return state

    def state(self, name: str) -> ModelState:
        """The mutable state (stages, aliases, deletions) of model ``name``.

        Raises:
            NotFoundError: no such model (the message lists the models that exist).
            RegistryError: ``model.json`` is corrupt.
        """
        validate_name(name)
        self._require_registry()
        state = self._state_or_none(name)
        if state is None:
            raise self._unknown_model(name)
        return state

    def _facts(self, name: str, version: int) -> dict[str, Any]:
        path = self.layout.version_file(name, version)
        raw = read_json(path, home=self.home)
        facts = check_version_facts(raw, path=path, home=self.home)
        if facts["name"] != name or facts["version"] != version:
            raise corrupt(path, self.home, f"it describes {facts['name']} v{facts['version']}")
        return facts

    def _record(self, name: str, version: int, state: ModelState, facts: dict[str, Any]) -> VersionRecord:
        local = self.layout.version_model(name, version)
        return VersionRecord(
            name=name,
            version=version,
            stage=state.stage_of(version),
            aliases=tuple(state.aliases_of(version)),
            facts=state.current_facts(version, facts),
            local_path=local,
            path=self.layout.relative(local),
            deleted=version in state.deleted,
        )

    def _live_numbers(self, name: str, state: ModelState) -> list[int]:
        return [v for v in index.version_numbers(self.layout, name) if v not in state.deleted]

    def get_version(self, name: str, version: int) -> VersionRecord:
        """One live version of ``name``.

        Raises:
            NotFoundError: no such model or version (the message lists the versions).
        """
        return self._get(name, version, self.state(name))

    def _get(self, name: str, version: int, state: ModelState) -> VersionRecord:
        if version not in state.deleted:
            try:
                return self._record(name, version, state, self._facts(name, version))
            except FileNotFoundError:
                pass
        raise missing_version(name, version, state, self._live_numbers(name, state))

    def list_versions(self, name: str, *, include_deleted: bool = False) -> list[VersionRecord]:
        """Every version of ``name``, ascending (deleted ones only when asked)."""
        state = self.state(name)
        records = []
        for version in index.version_numbers(self.layout, name):
            if version in state.deleted and not include_deleted:
                continue
            try:
                facts = self._facts(name, version)
            except FileNotFoundError:
                raise corrupt(
                    self.layout.version_file(name, version), self.home, "the file is missing"
                ) from None
            records.append(self._record(name, version, state, facts))
        return records

    def summary(self, name: str) -> ModelSummary:
        return self._summary(name, self.state(name))

    def _summary(self, name: str, state: ModelState) -> ModelSummary:
        live = self._live_numbers(name, state)
        stages: dict[str, list[int]] = {}
        for version, stage in sorted(state.stages.items()):
            if version not in state.deleted:
                stages.setdefault(stage, []).append(version)
        updated = state.updated
        if live:
            with contextlib.suppress(FileNotFoundError, RegistryError):
                updated = max(updated, str(self._facts(name, live[-1])["created"]))
        return ModelSummary(
            name=name,
            created=state.created,
            updated=updated,
            latest_version=live[-1] if live else None,
            version_count=len(live),
            stages=stages,
            aliases=dict(sorted(state.aliases.items())),
            description=state.description,
            tags=dict(state.model_tags),
        )

    def list_models(self) -> list[ModelSummary]:
        """Every model with its latest version, stages and aliases (not deleted or renamed ones)."""
        self._require_registry()
        states = [self.state(name) for name in self.model_names()]
        return [self._summary(state.name, state) for state in states if not state.is_removed]

    def resolve(self, uri: str | ModelUri) -> VersionRecord:
        """The version a ``models:/`` URI names (MLflow's resolution rules).

        Raises:
            UsageError: malformed URI (exit 2).
            NotFoundError: unknown name, version, stage or alias; the message names what exists.
        """
        parsed = uri if isinstance(uri, ModelUri) else parse_model_uri(uri)
        state = self.state(parsed.name)
        version = pick_version(parsed, state, lambda: self._live_numbers(parsed.name, state), self.stages)
        return self._get(parsed.name, version, state)

    def history(self, name: str, *, version: int | None = None) -> list[dict[str, Any]]:
        """The committed events of ``name``, oldest first (optionally of one version only)."""
        self.state(name)
        path = self.layout.events(name)
        # Read the log before the journal: an event appended after our journal check belongs
        # to an operation whose journal we would then have seen.
        data_log = ev.read(path)
        pending = journal.read(self.layout, name)
        if pending is not None and not journal.committed(self.layout, pending):
            data_log = ev.read(path, limit_bytes=pending.log_size)
        events = data_log.events
        if version is not None:
            events = [e for e in events if e.get("version") == version]
        return events

    def checkout(self, record: VersionRecord) -> Path:
        """The version's MLmodel folder: here, where it is stored."""
        return record.local_path

    def verify_version(self, name: str, version: int) -> IntegrityReport:
        """Re-hash a stored version's files against its manifest and recorded digest."""
        record = self.get_version(name, version)
        folder = record.local_path
        manifest_path = folder / MANIFEST_FILE
        try:
            manifest = read_manifest(folder)
        except InvalidModelError:
            manifest = None
        report = IntegrityReport()
        if manifest is None:
            report.missing.append(MANIFEST_FILE)
            return report
        from modelpack.registry.blobs import hash_file

        if hash_file(manifest_path) != record.facts.get("manifest_sha256") or (
            manifest.digest != record.digest
        ):
            report.changed.append(MANIFEST_FILE)
        checked = verify_folder(folder, manifest)
        report.changed.extend(checked.changed)
        report.missing.extend(checked.missing)
        report.extra.extend(checked.extra)
        report.escaping_links.extend(checked.escaping_links)
        return report

    # ------------------------------------------------------------------ register

    def register(
        self,
        target: str | Path,
        *,
        name: str,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        alias: str | None = None,
        allow_duplicate: bool = False,
        source: str | None = None,
        origin: Mapping[str, str] | None = None,
        provenance: Mapping[str, Any] | None = None,
    ) -> RegisterResult:
        """Store a model folder (or another registered version) as the next version of ``name``.

        The folder's structure and integrity manifest are checked (nothing is unpickled), its
        files are copied into the blob store once, and the version number is claimed under the
        model lock. Content identical to a live version of ``name`` returns that version instead
        of minting a new one, unless ``allow_duplicate``.

        Args:
            target: a model folder or a ``models:/`` URI.
            name: the model name (see ``names.NAME_RE``).
            description: free text stored with the version.
            tags: ``KEY=VALUE`` facts stored with the version.
            alias: point this alias at the new (or existing) version.
            allow_duplicate: mint a new version even for content already registered.
            source: record this as the version's source instead of the folder or URI it was
                read from (``copy`` and ``import`` record the exact version it came from).
            origin: the first registration of this content, recorded with the version
                (``copy`` and ``import``; see ``registry.transfer``).
            provenance: what the caller knows of where the model came from beyond its MLmodel
                (metrics, params, training data, ``registered_from``), merged over the
                package's own provenance into the version record (``provenance.record``).

        Returns:
            The version, and whether it already existed.

        Raises:
            InvalidNameError: bad name, alias or tag (exit 2).
            NotFoundError: the folder or URI does not exist (exit 4).
            InvalidModelError: no MLmodel, or the files do not match the manifest (exit 3).
            ConflictError: a lock was not free in time (exit 5).
            RegistryError: the registry could not be written (disk full, permissions); it is
                left as it was.
        """
        from modelpack.registry.source import examine, integrity_failure

        clean_tags = check_register_args(name, tags, alias, description)
        text = str(target)
        if is_model_uri(text):
            resolved = self.resolve(text)
            folder = resolved.local_path
            # The version a stage, alias or "latest" named now: those move, the version does not.
            where = resolved.uri
        else:
            folder = Path(text)
            where = str(folder.resolve())
        with self._guard(f"read {folder}"):
            src = examine(folder)
        manifest = src.manifest
        facts = version_facts(
            name,
            self.actor,
            source or where,
            src,
            description,
            clean_tags,
            origin=origin,
            provenance=provenance,
        )
        self._ensure_home()
        with self._guard(f"register {name}"), self._registry_lock(), self._workspace() as work:
            self._faults.point("register.start")
            staged = work / "version"
            model_dir = staged / MODEL_DIR
            model_dir.mkdir(parents=True)
            ingest = BlobIngest(
                layout=self.layout,
                work=work,
                durable=self.durable,
                faults=self._faults,
                reporter=self._reporter,
                total_bytes=manifest.total_size,
            )
            try:
                report = IntegrityReport()
                for entry in manifest.files:
                    actual = ingest.store(src.folder / entry.path, entry.sha256, model_dir / entry.path)
                    if actual != entry.sha256:
                        report.changed.append(entry.path)
                if not report.ok:
                    raise integrity_failure(src.folder, report)
                manifest_bytes = dumps(manifest.to_dict())
                write_file(model_dir / MANIFEST_FILE, manifest_bytes, durable=self.durable, mode=BLOB_MODE)
                from hashlib import sha256

                facts["manifest_sha256"] = sha256(manifest_bytes).hexdigest()
                ingest.sync()
                self._faults.point("register.staged")
                record, existed, notes = self._commit_register(
                    name, staged, work, facts, alias, allow_duplicate=allow_duplicate
                )
            except BaseException:
                # Drop every staged link first, so discard() sees which new blobs nobody uses.
                for child in list(work.iterdir()):
                    journal.remove_tree(child)
                ingest.discard()
                raise
            if existed:
                shutil.rmtree(staged, ignore_errors=True)
                ingest.discard()
        warnings = [*src.warnings, *notes]
        return RegisterResult(version=record, already_registered=existed, warnings=warnings)

    def _commit_register(
        self,
        name: str,
        staged: Path,
        work: Path,
        facts: dict[str, Any],
        alias: str | None,
        *,
        allow_duplicate: bool,
    ) -> tuple[VersionRecord, bool, list[str]]:
        """Claim the next version number and make the staged folder that version."""
        with self._model_lock(name) as notes:
            self._faults.point("register.locked")
            state = self._state_or_none(name)
            if state is None:
                if self.layout.model(name).exists():
                    raise corrupt(self.layout.model_file(name), self.home, "the file is missing")
                return self._create_model(name, staged, work, facts, alias), False, notes
            refuse_renamed_register(name, state)
            if not allow_duplicate and not state.is_removed:
                existing = index.lookup(self.layout, name, str(facts["digest"]), state.deleted)
                if existing is not None:
                    if alias is not None and state.aliases.get(alias) != existing:
                        self._change_state(
                            name, existing, state, stage=None, archive_existing=False, alias=alias
                        )
                        state = self.state(name)
                    record = self._record(name, existing, state, self._facts(name, existing))
                    return record, True, notes
            numbers = index.version_numbers(self.layout, name)
            version = (numbers[-1] if numbers else 0) + 1
            now = utc_now()
            facts.update(version=version, created=now)
            write_file(staged / "version.json", dumps(facts), durable=self.durable)
            self._sync_tree(staged)
            new_events = [registered_event(name, self.actor, now, facts)]
            new_state: ModelState | None = None
            if state.is_removed:
                new_state = state.changed(updated=now, **revived(state, version))
            if alias is not None:
                new_state = state.changed(
                    updated=now, aliases={**state.aliases, alias: version}, **revived(state, version)
                )
                new_events.append(
                    alias_set_event(name, self.actor, now, version, alias, state.aliases.get(alias))
                )
            target = self.layout.version(name, version)
            pending = Journal(
                op="register",
                name=name,
                version=version,
                log_size=file_size(self.layout.events(name)),
                commit_path=self.layout.relative(target),
                state=new_state.to_json() if new_state else None,
                digest=str(facts["digest"]),
                rollback_remove=(self.layout.relative(staged),),
            )
            journal.write(self.layout, pending, durable=self.durable)
            self._faults.point("register.journaled")
            try:
                ev.append(self.layout.events(name), new_events, durable=self.durable)
                self._faults.point("register.event_written")
                os.rename(staged, target)
                if self.durable:
                    fsync_path(target.parent)
            except BaseException:
                with contextlib.suppress(OSError):
                    if not target.exists():
                        journal.rollback(self.layout, pending, durable=self.durable)
                raise
            self._faults.point("register.committed")
            self._finish(pending, notes)
            final = new_state or state
            return self._record(name, version, final, facts), False, notes

    def _create_model(
        self, name: str, staged: Path, work: Path, facts: dict[str, Any], alias: str | None
    ) -> VersionRecord:
        """The first version: build the whole model folder in staging and rename it into place."""
        now = utc_now()
        facts.update(version=1, created=now)
        write_file(staged / "version.json", dumps(facts), durable=self.durable)
        root = work / "model-root"
        (root / "versions").mkdir(parents=True)
        os.rename(staged, root / "versions" / "1")
        state = new_model_state(name, now, 1, alias)
        write_file(root / "model.json", dumps(state.to_json()), durable=self.durable)
        new_events = [registered_event(name, self.actor, now, facts)]
        if alias:
            new_events.append(alias_set_event(name, self.actor, now, 1, alias, None))
        write_file(root / "events.jsonl", ev.encode(new_events), durable=self.durable)
        (root / "digests").mkdir()
        digest = str(facts["digest"])
        write_file(
            root / "digests" / f"{digest_hex(digest)}.json",
            dumps({"format_version": FORMAT_VERSION, "digest": digest, "version": 1}),
            durable=self.durable,
        )
        self._sync_tree(root)
        self._faults.point("register.event_written")
        os.rename(root, self.layout.model(name))
        if self.durable:
            fsync_path(self.layout.models)
        self._faults.point("register.committed")
        return self._record(name, 1, state, facts)

    def _sync_tree(self, root: Path) -> None:
        """fsync every folder of a staged tree so the entries survive a power cut after rename."""
        if not self.durable:
            return
        for dirpath, _dirnames, _files in os.walk(root):
            fsync_path(Path(dirpath))

    def _finish(self, pending: Journal, notes: list[str]) -> None:
        """Roll a committed operation forward; on failure leave the journal for the next writer."""
        try:
            journal.finish(self.layout, pending, durable=self.durable, faults=self._faults)
        except OSError as exc:
            notes.append(
                f"the change is committed but tidying up failed ({exc.strerror or exc}); "
                "the next write or 'modelpack doctor --repair' completes it"
            )

    # ------------------------------------------------------------------ promote / aliases

    def promote(
        self,
        name: str,
        version: int,
        *,
        stage: str | Stage | None = None,
        archive_existing: bool = True,
        alias: str | None = None,
        remove_alias: str | None = None,
        require_compatible: bool = False,
        force: bool = False,
    ) -> PromoteResult:
        """Move a version to a stage and/or set or remove an alias.

        With ``require_compatible``, a version whose signature would break the callers of the
        version now in the target stage, or now under the alias being set, is refused
        (``modelpack.schema.compat`` rules); ``force`` promotes it anyway and the event log records that
        it was forced and what breaks. A stage or alias with no version yet has nothing to
        compare against and passes; the result says so.

        The stored version's integrity is re-verified first. By default the versions that held
        the target stage (Staging or Production) move to Archived; ``archive_existing=False``
        keeps them (MLflow's default). Promoting to where a version already is changes nothing
        and records no event.

        Raises:
            InvalidNameError: bad stage or alias (exit 2).
            NotFoundError: no such model, version, or alias to remove (exit 4).
            InvalidModelError: the stored files fail their integrity check (exit 3).
            ConflictError: the alias to remove points at another version, or lock timeout.
            IncompatibleSignatureError: ``require_compatible`` and the signature breaks (exit 3).
        """
        target_stage = check_promote_args(name, stage, alias, remove_alias, self.stages)
        try:
            self.get_version(name, version)
        except NotFoundError:
            if self.layout.model_file(name).is_file():
                refuse_removed(name, replace(self.state(name), removed=None))  # renamed: name it
            raise
        if target_stage is not None or alias is not None:
            refuse_damaged(
                name, version, self.verify_version(name, version), self.layout.version_model(name, version)
            )
        self._faults.point("promote.verified")
        self._ensure_home()
        with self._guard(f"promote {name} v{version}"), self._registry_lock(), self._model_lock(name):
            self._faults.point("promote.locked")
            # The stages read again under the lock: the name given is checked against them.
            stages = self.stages
            target_stage = check_promote_args(name, stage, alias, remove_alias, stages)
            state = self.state(name)
            if version in state.deleted or not self.layout.version_file(name, version).is_file():
                raise NotFoundError(f"model {name!r} has no version {version} (deleted meanwhile)")
            checks: list[GateCheck] | None = None
            gated = gated_stage(target_stage, stages)
            if require_compatible and (gated is not None or alias is not None):
                from modelpack.package.mlmodel import read_mlmodel

                checks = compatibility_gate(
                    name,
                    version,
                    state,
                    lambda v: read_mlmodel(self.layout.version_model(name, v)),
                    stage=gated,
                    alias=alias,
                    force=force,
                )
            result = self._change_state(
                name,
                version,
                state,
                stage=target_stage,
                archive_existing=archive_existing,
                alias=alias,
                remove_alias=remove_alias,
                checks=checks,
            )
            return result if checks is None else replace(result, compatibility=checks)

    def _change_state(
        self,
        name: str,
        version: int,
        state: ModelState,
        *,
        stage: str | None,
        archive_existing: bool,
        alias: str | None,
        remove_alias: str | None = None,
        checks: list[GateCheck] | None = None,
    ) -> PromoteResult:
        """Compute and commit a stage/alias change. Caller holds the model lock."""
        change = plan_promote(
            name,
            version,
            state,
            self.actor,
            utc_now(),
            stage=stage,
            archive_existing=archive_existing,
            alias=alias,
            remove_alias=remove_alias,
            checks=checks,
            stages=self.stages,
        )
        if change.new_state is not None:
            self._commit_state(name, version, "promote", state, change.new_state, change.events)
        final = change.new_state or state
        return PromoteResult(
            version=self._record(name, version, final, self._facts(name, version)),
            previous_stage=change.previous_stage,
            archived=change.archived,
            alias_set=alias,
            alias_moved_from=change.moved_from,
            alias_removed=remove_alias if change.new_state is not None else None,
            changed=change.new_state is not None,
        )

    def _commit_state(
        self,
        name: str,
        version: int,
        op: str,
        state: ModelState,
        new_state: ModelState,
        new_events: list[dict[str, Any]],
        *,
        digest: str | None = None,
        forward_remove: tuple[str, ...] = (),
        notes: list[str] | None = None,
    ) -> None:
        """Journal, log and commit a new ``model.json``. Caller holds the model lock."""
        pending = Journal(
            op=op,
            name=name,
            version=version,
            log_size=file_size(self.layout.events(name)),
            commit_revision=new_state.revision,
            state=new_state.to_json(),
            digest=digest,
            forward_remove=forward_remove,
        )
        journal.write(self.layout, pending, durable=self.durable)
        self._faults.point(f"{op}.journaled")
        try:
            ev.append(self.layout.events(name), new_events, durable=self.durable)
            self._faults.point(f"{op}.event_written")
            atomic_write_json(
                self.layout.model_file(name),
                new_state.to_json(),
                durable=self.durable,
                faults=self._faults,
                phase=f"{op}.state_tmp_written",
            )
        except BaseException:
            with contextlib.suppress(OSError, ModelpackError):
                if not journal.committed(self.layout, pending):
                    journal.rollback(self.layout, pending, durable=self.durable)
            raise
        self._faults.point(f"{op}.committed")
        self._finish(pending, notes if notes is not None else [])

    # ------------------------------------------------------------------ tags and descriptions

    def set_tags(
        self, name: str, version: int | None, tags: Mapping[str, str | None], *, replace: bool = False
    ) -> VersionRecord | ModelState:
        """Set (or with a None value remove) tags of a version, or of the model itself when
        ``version`` is None, recording a ``tags_set`` event.

        Registration's tags are kept in ``version.json``; later changes live in ``model.json``
        and win. ``replace`` drops every tag not given. Returns the version's record, or the
        model's state for the model's own tags.

        Raises:
            InvalidNameError: a bad tag key or value (exit 2).
            NotFoundError: no such model or version, or the model was deleted or renamed.
        """
        changes = check_tag_changes(name, tags)
        if version is not None:
            self.get_version(name, version)
        else:
            refuse_removed(name, self.state(name))
        self._ensure_home()
        with self._guard(f"tag {name}"), self._registry_lock(), self._model_lock(name) as notes:
            state = self.state(name)
            refuse_removed(name, state)
            current = None if version is None else self._get(name, version, state)
            before = dict(state.model_tags if current is None else current.facts.get("tags") or {})
            planned = plan_tags(name, version, state, self.actor, utc_now(), before, changes, replace=replace)
            if planned is None:
                return state if current is None else current
            new_state, event = planned
            self._commit_state(name, version or 0, "set_tags", state, new_state, [event], notes=notes)
            if version is None:
                return new_state
            return self._record(name, version, new_state, self._facts(name, version))

    def set_description(
        self, name: str, description: str | None, *, version: int | None = None
    ) -> ModelState:
        """Set the description of a model (``version`` None) or of one version.

        Records a ``description_set`` event. Returns the model's new state.

        Raises:
            UsageError: the description is too long.
            NotFoundError: no such model or version.
        """
        check_description(name, description)
        if version is not None:
            self.get_version(name, version)
        else:
            self.state(name)
        self._ensure_home()
        with self._guard(f"describe {name}"), self._registry_lock(), self._model_lock(name) as notes:
            state = self.state(name)
            refuse_removed(name, state)
            current = (
                state.description
                if version is None
                else self._get(name, version, state).facts.get("description")
            )
            planned = plan_description(name, version, state, self.actor, utc_now(), description, current)
            if planned is None:
                return state
            new_state, event = planned
            self._commit_state(
                name,
                version if version is not None else 0,
                "set_description",
                state,
                new_state,
                [event],
                notes=notes,
            )
            return new_state

    # ------------------------------------------------------------------ delete

    def delete(self, name: str, version: int, *, force: bool = False) -> DeleteResult:
        """Delete a version: its files go, its number is never reused, its aliases are removed.

        Raises:
            NotFoundError: no such model or version.
            ConflictError: the version is in Production or has aliases and ``force`` is off.
        """
        validate_name(name)
        self.get_version(name, version)
        self._ensure_home()
        with (
            self._guard(f"delete {name} v{version}"),
            self._registry_lock(),
            self._model_lock(name) as notes,
        ):
            self._faults.point("delete.locked")
            state = self.state(name)
            record = self.get_version(name, version)
            stage = state.stage_of(version)
            aliases = state.aliases_of(version)
            new_state, event = plan_delete(
                name,
                version,
                state,
                self.actor,
                utc_now(),
                digest=record.digest,
                force=force,
                stages=self.stages,
            )
            self._commit_state(
                name,
                version,
                "delete",
                state,
                new_state,
                [event],
                digest=record.digest,
                forward_remove=(self.layout.relative(self.layout.version_model(name, version)),),
                notes=notes,
            )
        return DeleteResult(name=name, version=version, stage=stage, removed_aliases=aliases)

    # ------------------------------------------------------------------ the registry's stages

    def set_stages(
        self,
        names: list[str],
        *,
        archive: str,
        active: list[str] | None = None,
        mapping: Mapping[str, str] | None = None,
    ) -> StagesResult:
        """Declare the registry's stages, moving the versions of renamed stages.

        Under the exclusive registry lock: finish any interrupted operation and any earlier
        redeclaration, check that every stage holding versions is kept or mapped, write the
        new declaration (with its generation and the renames) to ``registry.json`` in one
        atomic replace, then rewrite each model's stage names with a ``stage_changed`` event
        per version moved (each through the journal). A crash after the declaration leaves
        models readers translate; the next writer of such a model, ``doctor --repair`` or
        running the same ``set_stages`` again rewrites them.

        Args:
            names: the stages in order (``None`` always exists and is not declared).
            archive: the stage previous holders of an active stage move to.
            active: the single-holder, gated stages (default: every stage but the archive).
            mapping: current stage -> new stage (or ``None``) for stages that are not kept.

        Raises:
            InvalidNameError: a bad stage name or mapping (exit 2).
            ConflictError: a stage holding versions is neither kept nor mapped (exit 5), or
                the lock was not free in time.
        """
        declared = declare_stages(names, archive=archive, active=active)
        self._ensure_home()
        with self._guard("set the registry's stages"), self._registry_lock(exclusive=True):
            warnings = self.recover_all()
            current = self.stages
            for name in self.model_names():
                with self._model_lock(name) as notes:
                    warnings += notes
            states = [s for s in (self._state_or_none(n) for n in self.model_names()) if s is not None]
            planned = plan_stages(current, declared, mapping or {}, used_stages(states))
            if planned is None:
                return StagesResult(current, changed=False, warnings=warnings)
            raw = read_json(self.layout.registry_file, home=self.home)
            atomic_write_json(
                self.layout.registry_file,
                {**raw, "format_version": STAGES_FORMAT_VERSION, "stages": planned.to_json()},
                durable=self.durable,
            )
            self._stages = planned
            self._faults.point("set_stages.declared")
            for name in self.model_names():
                with self._model_lock(name):
                    pass  # taking the lock rewrites the model (_finish_remap)
        return StagesResult(planned, changed=True, moved=moved_versions(states, planned), warnings=warnings)

    def delete_model(self, name: str, *, force: bool = False) -> ModelDeleteResult:
        """Delete a whole model: every live version's files and every stage and alias go.

        The name stays as a tombstone: ``list`` hides it, ``history`` shows its events ending
        in ``model_deleted``, ``gc`` frees the files, and registering the name again continues
        its version numbers (a number never names two contents).

        Raises:
            NotFoundError: no such model, or it was already deleted or renamed.
            ConflictError: a version is in Production or has an alias and ``force`` is off.
        """
        refuse_removed(name, self.state(name))
        self._ensure_home()
        with self._guard(f"delete {name}"), self._registry_lock(), self._model_lock(name) as notes:
            self._faults.point("delete_model.locked")
            state = self.state(name)
            live = self._live_numbers(name, state)
            digests = {v: str(self._facts(name, v)["digest"]) for v in live}
            new_state, event = plan_delete_model(
                name, live, digests, state, self.actor, utc_now(), force=force, stages=self.stages
            )
            removes = [self.layout.relative(self.layout.version_model(name, v)) for v in live]
            removes.append(self.layout.relative(self.layout.digests(name)))
            self._commit_state(
                name,
                0,
                "delete_model",
                state,
                new_state,
                [event],
                forward_remove=tuple(removes),
                notes=notes,
            )
        return ModelDeleteResult(
            name=name,
            versions=live,
            removed_aliases=list(event["removed_aliases"]),
            stages={
                s: [int(v) for v, t in event["stages"].items() if t == s]
                for s in sorted(set(event["stages"].values()))
            },
        )

    def rename(self, old: str, new: str) -> RenameResult:
        """Rename model ``old`` to ``new``: its versions, stages, aliases, tags and history move.

        Under the exclusive registry lock (no writer runs meanwhile). A copy of ``old``'s folder
        is built under ``new``'s name in staging (version records rewritten with the new name,
        files hard-linked, the log extended with a ``renamed`` event); ``old``'s journal records
        the step, then one rename puts ``new`` in place (the commit), then ``old`` becomes a
        tombstone that names ``new`` and its files go. A crash before the commit is rolled
        back, after it finished, by the next writer of ``old`` or ``doctor --repair``.

        Raises:
            UsageError: the same name twice (exit 2).
            NotFoundError: no model ``old``, or it was deleted or renamed already (exit 4).
            ConflictError: ``new`` exists, also as a deleted or renamed-away name (exit 5).
        """
        check_rename_args(old, new)
        refuse_removed(old, self.state(old))
        self._ensure_home()
        with (
            self._guard(f"rename {old} to {new}"),
            self._registry_lock(exclusive=True),
            self._model_lock(old) as notes,
            self._model_lock(new),
            self._workspace() as work,
        ):
            state = self.state(old)
            refuse_removed(old, state)
            taken = self._state_or_none(new)
            if taken is not None:
                raise name_taken(new, taken)
            if self.layout.model(new).exists():
                raise ConflictError(
                    f"a folder for model {new!r} exists; not renamed", hint="run 'modelpack doctor'"
                )
            now = utc_now()
            numbers = index.version_numbers(self.layout, old)
            root = work / "model-root"
            self._copy_as(old, new, numbers, state, root)
            events = ev.read(self.layout.events(old)).events
            new_events = [*events, renamed_event(new, self.actor, now, old, new)]
            write_file(root / "events.jsonl", ev.encode(new_events), durable=self.durable)
            new_state = replace(state, name=new, updated=now, revision=state.revision + 1)
            write_file(root / "model.json", dumps(new_state.to_json()), durable=self.durable)
            self._sync_tree(root)
            self._faults.point("rename.staged")
            tombstone = state.changed(
                updated=now,
                stages={},
                aliases={},
                deleted={**state.deleted, **{v: now for v in numbers if v not in state.deleted}},
                tags={},
                descriptions={},
                model_tags={},
                removed=now,
                renamed_to=new,
            )
            target = self.layout.model(new)
            live = [v for v in numbers if v not in state.deleted]
            pending = Journal(
                op="rename",
                name=old,
                version=0,
                log_size=file_size(self.layout.events(old)),
                commit_path=self.layout.relative(target),
                state=tombstone.to_json(),
                rollback_remove=(self.layout.relative(root),),
                forward_remove=(
                    *(self.layout.relative(self.layout.version_model(old, v)) for v in live),
                    self.layout.relative(self.layout.digests(old)),
                ),
            )
            journal.write(self.layout, pending, durable=self.durable)
            self._faults.point("rename.journaled")
            try:
                ev.append(
                    self.layout.events(old),
                    [renamed_event(old, self.actor, now, old, new)],
                    durable=self.durable,
                )
                self._faults.point("rename.event_written")
                os.rename(root, target)
                if self.durable:
                    fsync_path(self.layout.models)
            except BaseException:
                with contextlib.suppress(OSError):
                    if not target.exists():
                        journal.rollback(self.layout, pending, durable=self.durable)
                raise
            self._faults.point("rename.committed")
            self._finish(pending, notes)
        return RenameResult(old=old, new=new, versions=live)

    def _copy_as(self, old: str, new: str, numbers: list[int], state: ModelState, root: Path) -> None:
        """``old``'s versions under ``new``'s name in ``root``: records rewritten, files linked."""
        (root / "versions").mkdir(parents=True)
        for v in numbers:
            dest = root / "versions" / str(v)
            dest.mkdir()
            facts = dict(read_json(self.layout.version_file(old, v), home=self.home))
            facts["name"] = new
            write_file(dest / "version.json", dumps(facts), durable=self.durable)
            source = self.layout.version_model(old, v)
            if v in state.deleted or not source.is_dir():
                continue
            for dirpath, _dirs, files in os.walk(source):
                rel = Path(dirpath).relative_to(source)
                (dest / MODEL_DIR / rel).mkdir(parents=True, exist_ok=True)
                for file in files:
                    os.link(Path(dirpath) / file, dest / MODEL_DIR / rel / file)
        digests = self.layout.digests(old)
        if digests.is_dir():
            shutil.copytree(digests, root / "digests")

    # ------------------------------------------------------------------ maintenance

    def recover_all(self) -> list[str]:
        """Finish or undo every interrupted operation. Caller holds the registry lock exclusively."""
        notes = []
        for name in self.model_dirs():
            note = journal.recover(self.layout, name, durable=self.durable)
            if note:
                notes.append(note)
        return notes

    def model_dirs(self) -> list[str]:
        """Every folder under models/ with a valid name (including ones doctor must repair)."""
        try:
            entries = [e.name for e in os.scandir(self.layout.models)]
        except FileNotFoundError:
            return []
        out = []
        for entry in sorted(entries):
            with contextlib.suppress(UsageError):
                validate_name(entry)
                if (self.layout.models / entry).is_dir():
                    out.append(entry)
        return out
