"""``S3Registry``: the registry in an S3-compatible bucket, correct with many writers and no locks.

The commit protocol (docs/REGISTRY.md has the whole argument), keys relative to the home's prefix::

    registry.json                              created once, after the store proved it enforces
                                               conditional writes; records the If-Match form
    blobs/sha256/<ab>/<hex>                    file contents, stored once (create-only PUT)
    models/<name>/versions/<N:010>.json        version N's immutable record; its create-only PUT
                                               *is* the claim of number N and the commit of the version
    models/<name>/model.json                   the mutable state (stages, aliases, deletions, tags)
                                               plus the highest version folded in and the events
                                               of its own revision; replaced by compare-and-swap
    models/<name>/events/<revision:010>.json   the events of each revision, immutable
    models/<name>/digests/<hex>.json           content digest -> a version holding it

* A version's files are uploaded before its record, so a record that exists is a whole version.
  Numbers are claimed upward from the highest one ``model.json`` knows: each lost race costs one
  412 and the next number, so N racing writers get N distinct, gap-free numbers.
* Every change to ``model.json`` is read, computed (``changes``), and written with ``If-Match``
  of the ETag read; a lost race re-reads and recomputes, with jittered backoff, so no promotion
  overwrites another.
* The events of revision R travel inside ``model.json`` and are then written create-only as
  ``events/R``. Whoever writes revision R+1 first makes sure ``events/R`` exists, so a writer
  killed between the two steps loses no history.
* A crash leaves at most blobs nobody references (``gc`` removes them after a grace period), a
  version whose ``registered`` event is missing (``doctor --repair`` writes it from the record),
  or events not yet copied out of ``model.json`` (the next writer or ``doctor`` copies them).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from hashlib import sha256
from pathlib import Path
from typing import Any, Final, TypeVar, cast

from modelpack import _json
from modelpack.config import ENV_HOME, S3Home, resolve_cache
from modelpack.digest import MANIFEST_FILE
from modelpack.errors import ConflictError, InvalidModelError, ModelpackError, NotFoundError, RegistryError
from modelpack.names import DEFAULT_STAGES, Stage, StageSet, declare_stages, validate_name
from modelpack.package.manifest import IntegrityReport, Manifest
from modelpack.progress import SILENT, Reporter
from modelpack.registry import documents
from modelpack.registry.cache import ContentCache, home_id
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
    registered_versions,
    renamed_event,
    revived,
    undeclared_problem,
    undeclared_stages,
    used_stages,
    version_facts,
)
from modelpack.registry.events import Actor, utc_now
from modelpack.registry.faults import NO_FAULTS, Faults
from modelpack.registry.layout import (
    FORMAT_VERSION,
    REGISTRY_KIND,
    STAGES_FORMAT_VERSION,
    digest_hex,
    migrate,
    migrate_registry_file,
)
from modelpack.registry.objects import ObjectInfo, S3Objects, backoff
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
)
from modelpack.uri import ModelUri, is_model_uri, parse_model_uri

T = TypeVar("T")


class _Reserved(Exception):
    """A register met a name reserved by an unfinished rename: it waits and retries."""


#: How many times a register waits for a rename that reserved its name (about 15 seconds).
RESERVED_WAITS: Final = 30

_UNREAD: Final = object()
#: Compare-and-swap attempts on one model's state before giving up (exit 5).
CAS_ATTEMPTS: Final = 60
#: A stored blob a register reuses is first refreshed (its LastModified) if older than this, so
#: ``gc`` never takes it for garbage (its grace period must be longer; see ``bucket_care``).
REFRESH_AGE: Final = 3600.0
_PARALLEL: Final = 16


def version_key(name: str, version: int) -> str:
    return f"models/{name}/versions/{version:010d}.json"


def model_key(name: str) -> str:
    return f"models/{name}/model.json"


def events_key(name: str, revision: int) -> str:
    return f"models/{name}/events/{revision:010d}.json"


def digest_key(name: str, digest: str) -> str:
    return f"models/{name}/digests/{digest_hex(digest)}.json"


def blob_key(sha: str) -> str:
    return f"blobs/sha256/{sha[:2]}/{sha}"


def _dumps(document: Any) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


@dataclass(frozen=True)
class Head:
    """``model.json`` in a bucket: the state, the highest version folded in, the last events."""

    state: ModelState
    latest: int
    revision_events: list[dict[str, Any]]
    etag: str
    # The state as stored, in the stage names of the generation it records (``state`` is
    # translated into the registry's current stages).
    stored: ModelState | None = None
    # A renamed-away model's tombstone: NEW's state, latest and events until NEW is published.
    moved: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "state": self.state.to_json(),
            "latest": self.latest,
            "events": {"revision": self.state.revision, "events": self.revision_events},
        }


@dataclass(frozen=True)
class Change:
    """What one compare-and-swap writes: the new state, its new ``latest`` and its events."""

    state: ModelState
    latest: int
    events: list[dict[str, Any]]
    moved: dict[str, Any] | None = None


class S3Registry:
    """A model registry in an S3-compatible bucket; the same operations as ``FileRegistry``.

    Args:
        home: the ``s3://bucket/prefix`` location.
        cache: where files read from the bucket are kept (``MODELPACK_CACHE``).
        faults: crash points for the crash tests (see ``faults``).
        reporter: progress for uploads and downloads.
    """

    def __init__(
        self,
        home: S3Home,
        *,
        cache: Path | None = None,
        faults: Faults | None = None,
        reporter: Reporter = SILENT,
    ) -> None:
        self.home = home
        self.objects = S3Objects(home)
        self.cache = ContentCache(cache or resolve_cache(), reporter=reporter)
        self._faults = faults or NO_FAULTS
        self._reporter = reporter
        self._registry_doc: dict[str, Any] | None = None
        self._facts_cache: dict[tuple[str, int], dict[str, Any]] = {}
        self._actor: Actor | None = None

    @property
    def actor(self) -> Actor:
        if self._actor is None:
            self._actor = Actor.current()
        return self._actor

    # ------------------------------------------------------------------ documents

    def _read_json(self, key: str) -> tuple[dict[str, Any], str] | None:
        stored = self.objects.get(key)
        if stored is None:
            return None
        try:
            raw = _json.loads(stored.data.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise self._corrupt(key, f"not valid JSON ({exc})") from None
        if not isinstance(raw, dict):
            raise self._corrupt(key, "not a JSON object")
        return raw, stored.etag

    def _corrupt(self, key: str, why: str) -> RegistryError:
        return RegistryError(
            f"registry metadata {self.home.key(key)} in s3://{self.home.bucket} is corrupt: {why}",
            hint="run 'modelpack doctor' to see what is damaged",
        )

    def _check_registry(self, *, create: bool) -> None:
        """Read ``registry.json``; with ``create``, make the registry (after probing the store).

        Raises:
            NotFoundError: no registry at the home and ``create`` is off (exit 4).
            RegistryError: the store ignores conditional writes, or the file is corrupt.
        """
        if self._registry_doc is not None:
            return
        found = self._read_json("registry.json")
        if found is None:
            if not create:
                raise NotFoundError(
                    f"no registry at {self.home}: the bucket holds no registry.json there",
                    hint=f"check --home or {ENV_HOME}; 'modelpack register' creates a registry",
                    path=str(self.home),
                )
            store = self.objects.probe_conditional_writes()
            doc = {
                "format_version": FORMAT_VERSION,
                "kind": REGISTRY_KIND,
                "created": utc_now(),
                "store": store,
            }
            if self.objects.create("registry.json", _dumps(doc)) is None:
                self._registry_doc = None
                return self._check_registry(create=False)  # another writer created it first
            self._registry_doc = doc
            return
        raw, _ = found
        try:
            documents.check("registry.json", migrate_registry_file(raw, what="registry.json"))
        except ValueError as exc:
            raise self._corrupt("registry.json", str(exc)) from exc
        form = (raw.get("store") or {}).get("if_match")
        if form in {"quoted", "bare"}:
            self.objects.if_match_form = form
        self._registry_doc = raw

    def _head_or_none(self, name: str) -> Head | None:
        found = self._read_json(model_key(name))
        if found is None:
            return None
        raw, etag = found
        key = model_key(name)
        try:
            documents.check("bucket model.json", raw)
            state_raw = migrate(raw["state"], what=key)
            documents.check("model.json", state_raw)
        except ValueError as exc:
            raise self._corrupt(key, str(exc)) from exc
        stored = load_model_state(state_raw, path=Path(key), home=Path())
        if stored.name != name:
            raise self._corrupt(key, f"it describes model {stored.name!r}")
        if stored.stages_generation > self.stages.generation:
            self._registry_doc = None  # redeclared since this command read registry.json
        state = current_state(stored, self.stages)
        problem = undeclared_problem(state, self.stages)
        if problem is not None:
            raise self._corrupt(key, problem)
        pending = raw["events"]
        moved = raw.get("moved")
        return Head(state, int(raw["latest"]), list(pending.get("events") or []), etag, stored, moved)

    @property
    def stages(self) -> StageSet:
        """The registry's stages (its ``registry.json``, read once; MLflow's four by default)."""
        if self._registry_doc is None:
            try:
                self._check_registry(create=False)
            except NotFoundError:
                return DEFAULT_STAGES
        return StageSet.from_json((self._registry_doc or {}).get("stages"))

    def _head(self, name: str) -> Head:
        validate_name(name)
        self._check_registry(create=False)
        head = self._head_or_none(name)
        if head is None:
            raise self._unknown_model(name)
        return head

    def state(self, name: str) -> ModelState:
        return self._head(name).state

    def _unknown_model(self, name: str) -> NotFoundError:
        names = self.model_names()
        where = f"models: {listing(names)}" if names else f"the registry at {self.home} is empty"
        return NotFoundError(f"no model named {name!r}; {where}")

    def model_names(self) -> list[str]:
        """Names of every registered model, sorted."""
        self._check_registry(create=False)
        names = []
        for folder in self.objects.list_folders("models/"):
            with contextlib.suppress(ModelpackError):
                validate_name(folder)
                names.append(folder)
        return sorted(names)

    def _facts(self, name: str, version: int) -> dict[str, Any] | None:
        cached = self._facts_cache.get((name, version))
        if cached is not None:
            return cached
        key = version_key(name, version)
        found = self._read_json(key)
        if found is None:
            return None
        raw, _ = found
        try:
            facts = check_version_facts(raw, path=Path(key), home=Path())
        except RegistryError:
            raise self._corrupt(key, documents.describe(documents.problems("version.json", raw))) from None
        if facts["name"] != name or facts["version"] != version:
            raise self._corrupt(key, f"it describes {facts['name']} v{facts['version']}")
        self._facts_cache[(name, version)] = facts
        return facts

    def _latest(self, name: str, head: Head) -> int:
        """The highest claimed version: ``latest`` plus any claimed but not yet folded in."""
        return head.latest + len(self._claimed_beyond(name, head.latest))

    def _claimed_beyond(self, name: str, latest: int) -> list[int]:
        """Versions claimed above ``latest`` (numbers are gap-free: probe upward until one is free)."""
        claimed = []
        while self.objects.head(version_key(name, latest + 1)) is not None:
            latest += 1
            claimed.append(latest)
        return claimed

    def _live_numbers(self, name: str, head: Head) -> list[int]:
        return [v for v in range(1, self._latest(name, head) + 1) if v not in head.state.deleted]

    def _record(self, name: str, version: int, state: ModelState, facts: dict[str, Any]) -> VersionRecord:
        return VersionRecord(
            name=name,
            version=version,
            stage=state.stage_of(version),
            aliases=tuple(state.aliases_of(version)),
            facts=state.current_facts(version, facts),
            local_path=self._checkout_dir(name, version, str(facts["digest"])),
            path=self.home.key(version_key(name, version)),
            deleted=version in state.deleted,
        )

    def _get(self, name: str, version: int, head: Head) -> VersionRecord:
        if version not in head.state.deleted and version >= 1:
            facts = self._facts(name, version)
            if facts is not None:
                return self._record(name, version, head.state, facts)
        raise missing_version(name, version, head.state, self._live_numbers(name, head))

    def get_version(self, name: str, version: int) -> VersionRecord:
        return self._get(name, version, self._head(name))

    def _parallel(self, fn: Callable[[int], T], items: list[int]) -> list[T]:
        if len(items) <= 1:
            return [fn(i) for i in items]
        with ThreadPoolExecutor(_PARALLEL) as pool:
            return list(pool.map(fn, items))

    def list_versions(self, name: str, *, include_deleted: bool = False) -> list[VersionRecord]:
        head = self._head(name)
        numbers = [
            v
            for v in range(1, self._latest(name, head) + 1)
            if include_deleted or v not in head.state.deleted
        ]

        def one(v: int) -> VersionRecord:
            facts = self._facts(name, v)
            if facts is None:
                raise self._corrupt(version_key(name, v), "the record is missing")
            return self._record(name, v, head.state, facts)

        return self._parallel(one, numbers)

    def summary(self, name: str) -> ModelSummary:
        head = self._head(name)
        return self._summary(name, head)

    def _summary(self, name: str, head: Head) -> ModelSummary:
        state = head.state
        latest = self._latest(name, head)
        live_count = latest - sum(1 for v in state.deleted if v <= latest)
        latest_live = next((v for v in range(latest, 0, -1) if v not in state.deleted), None)
        stages: dict[str, list[int]] = {}
        for version, stage in sorted(state.stages.items()):
            if version not in state.deleted:
                stages.setdefault(stage, []).append(version)
        updated = state.updated
        if latest_live is not None and latest_live > head.latest:
            facts = self._facts(name, latest_live)
            if facts is not None:
                updated = max(updated, str(facts["created"]))
        return ModelSummary(
            name=name,
            created=state.created,
            updated=updated,
            latest_version=latest_live,
            version_count=live_count,
            stages=stages,
            aliases=dict(sorted(state.aliases.items())),
            description=state.description,
            tags=dict(state.model_tags),
        )

    def list_models(self) -> list[ModelSummary]:
        names = self.model_names()
        heads = self._parallel(lambda i: self._head_or_none(names[i]), list(range(len(names))))
        # A model whose first registration never committed has records but no model.json yet.
        return [
            self._summary(name, head)
            for name, head in zip(names, heads, strict=True)
            if head is not None and not head.state.is_removed
        ]

    def resolve(self, uri: str | ModelUri) -> VersionRecord:
        parsed = uri if isinstance(uri, ModelUri) else parse_model_uri(uri)
        head = self._head(parsed.name)
        version = pick_version(parsed, head.state, lambda: self._live_numbers(parsed.name, head), self.stages)
        return self._get(parsed.name, version, head)

    def history(self, name: str, *, version: int | None = None) -> list[dict[str, Any]]:
        """The committed events of ``name``, oldest first (optionally of one version only)."""
        head = self._head(name)
        keys = [info.key for info in self.objects.list(f"models/{name}/events/")]
        batches = self._parallel(lambda i: self._event_batch(keys[i]), list(range(len(keys))))
        by_revision = dict(batches)
        by_revision.setdefault(head.state.revision, head.revision_events)
        events = [e for revision in sorted(by_revision) for e in by_revision[revision]]
        if version is not None:
            events = [e for e in events if e.get("version") == version]
        return events

    def _event_batch(self, key: str) -> tuple[int, list[dict[str, Any]]]:
        found = self._read_json(key)
        if found is None:
            return 0, []
        raw, _ = found
        try:
            documents.check("event batch", raw)
        except ValueError as exc:
            raise self._corrupt(key, str(exc)) from exc
        return int(raw["revision"]), list(raw["events"])

    # ------------------------------------------------------------------ files

    def _checkout_dir(self, name: str, version: int, digest: str) -> Path:
        endpoint = str(self.objects.client.meta.endpoint_url)
        return self.cache.version_dir(
            home_id(endpoint, self.home.bucket, self.home.prefix), name, version, digest
        )

    def _fetch(self, sha: str, _size: int, dest: Path, progress: Callable[[int], None]) -> None:
        """Download blob ``sha`` to ``dest``; its stored size decides one GET or parallel ranges."""
        info = self.objects.head(blob_key(sha))
        if info is None:
            raise InvalidModelError(
                f"the registry at {self.home} is missing the stored file {blob_key(sha)}",
                hint="run 'modelpack doctor' on the registry",
            )
        self.objects.download(blob_key(sha), dest, info.size, progress=progress)

    def _stored_manifest(self, record: VersionRecord) -> Manifest:
        """A version's manifest from its blob (cached and verified), its entries' paths checked."""
        manifest_sha = str(record.facts["manifest_sha256"])
        where = f"{record.uri} ({MANIFEST_FILE})"
        self.cache.ensure({manifest_sha: (0, where)}, self._fetch)
        return self.cache.manifest(manifest_sha, where)

    def checkout(self, record: VersionRecord) -> Path:
        """The version's MLmodel folder in the local cache, downloaded and verified as needed.

        Raises:
            InvalidModelError: a stored file does not match its digest (exit 3, naming it).
        """
        manifest = self._stored_manifest(record)
        if manifest.digest != record.digest:
            raise InvalidModelError(
                f"{record.uri}: the stored manifest does not match the digest the registry recorded",
                hint="run 'modelpack doctor' on the registry",
            )
        self.cache.ensure(
            {e.sha256: (e.size, f"{record.uri}: {e.path}") for e in manifest.files}, self._fetch
        )
        return self.cache.assemble(record.local_path, manifest, str(record.facts["manifest_sha256"]))

    def _mlmodel(self, record: VersionRecord) -> Any:
        """A stored version's parsed MLmodel, fetching only that file (the gate reads no model)."""
        import tempfile

        from modelpack.package.mlmodel import read_mlmodel

        manifest = self._stored_manifest(record)
        entry = next((e for e in manifest.files if e.path == "MLmodel"), None)
        if entry is None:
            raise InvalidModelError(f"{record.uri} has no MLmodel file", hint="run 'modelpack doctor'")
        self.cache.ensure({entry.sha256: (entry.size, f"{record.uri}: MLmodel")}, self._fetch)
        with tempfile.TemporaryDirectory(prefix="modelpack-mlmodel-") as tmp:
            ContentCache.link(self.cache.blob(entry.sha256), Path(tmp) / "MLmodel")
            return read_mlmodel(Path(tmp))

    def verify_version(self, name: str, version: int) -> IntegrityReport:
        """Check a version's stored files exist with the recorded sizes (HEAD each, no download)."""
        return self._verify(self.get_version(name, version))

    def _verify(self, record: VersionRecord) -> IntegrityReport:
        report = IntegrityReport()
        manifest = self._stored_manifest(record)
        if manifest.digest != record.digest:
            report.changed.append(MANIFEST_FILE)

        def check(i: int) -> None:
            entry = manifest.files[i]
            info = self.objects.head(blob_key(entry.sha256))
            if info is None:
                report.missing.append(entry.path)
            elif info.size != entry.size:
                report.changed.append(entry.path)

        self._parallel(check, list(range(len(manifest.files))))
        return report

    # ------------------------------------------------------------------ the commit loop

    def _commit(
        self,
        name: str,
        plan: Callable[[Head | None], tuple[Change | None, T]],
        op: str,
        *,
        first: Head | None | object = _UNREAD,
    ) -> T:
        """Read ``model.json``, compute a change with ``plan``, write it if nothing changed since.

        ``plan`` is called again after every lost race, on the fresh state; it returns the
        change (None: nothing to write) and the operation's result. ``first`` is a state the
        caller has just read, tried first instead of reading it again.
        """
        for attempt in range(CAS_ATTEMPTS):
            head = self._head_or_none(name) if attempt or first is _UNREAD else cast(Head | None, first)
            change, result = plan(head)
            if change is None:
                return result
            if head is not None and head.stored is not None:
                # The first change to a model a redeclaration has not rewritten records the
                # renames it makes (see set_stages).
                remap = plan_remap(name, head.stored, self.stages, self.actor, utc_now())
                if remap is not None and remap[1]:
                    change = replace(change, events=[*remap[1], *change.events])
            if head is not None and head.revision_events:
                # Whoever writes revision R+1 makes sure R's events are out of model.json first.
                self._flush_events(name, head.state.revision, head.revision_events)
            document = {
                "format_version": FORMAT_VERSION,
                "state": change.state.to_json(),
                "latest": change.latest,
                "events": {"revision": change.state.revision, "events": change.events},
            }
            moved = change.moved if change.moved is not None else head.moved if head is not None else None
            if moved is not None:
                document["moved"] = moved
            self._faults.point(f"{op}.planned")
            data = _dumps(document)
            written = (
                self.objects.create(model_key(name), data)
                if head is None
                else self.objects.replace(model_key(name), data, head.etag)
            )
            if written is not None:
                self._faults.point(f"{op}.committed")
                with contextlib.suppress(ModelpackError):
                    self._flush_events(name, change.state.revision, change.events)
                return result
            backoff(attempt)
        raise ConflictError(
            f"model {name!r} kept changing under this {op} ({CAS_ATTEMPTS} attempts); nothing was changed",
            hint="try again",
        )

    def _flush_events(self, name: str, revision: int, events: list[dict[str, Any]]) -> None:
        batch = {"format_version": FORMAT_VERSION, "name": name, "revision": revision, "events": events}
        self.objects.create(events_key(name, revision), _dumps(batch))

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
        """Upload a model folder (or another registered version) as the next version of ``name``.

        Same contract as ``FileRegistry.register``; ``source`` overrides the recorded source
        and ``origin`` records the content's first registration (``copy`` and ``import``
        record where the version really came from); ``provenance`` is merged over the
        package's own into the version record.
        """
        from modelpack.registry.source import examine, integrity_failure

        clean_tags = check_register_args(name, tags, alias, description)
        text = str(target)
        if is_model_uri(text):
            resolved = self.resolve(text)
            folder = self.checkout(resolved)
            where = resolved.uri
        else:
            folder = Path(text)
            where = str(folder.resolve())
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
        self._check_registry(create=True)
        self._faults.point("register.start")
        report = self._upload(src.folder, manifest)
        if not report.ok:
            raise integrity_failure(src.folder, report)
        manifest_bytes = _dumps(manifest.to_dict())
        manifest_sha = sha256(manifest_bytes).hexdigest()
        facts["manifest_sha256"] = manifest_sha
        # Create-only: a manifest already stored (the same files registered before) is kept,
        # refreshed when old so gc takes it for young, like every reused blob.
        manifest_key, stamp = blob_key(manifest_sha), {"sha256": manifest_sha}
        stored = self.objects.create(manifest_key, manifest_bytes, metadata=stamp)
        if stored is None and not self._reuse(manifest_key, self.objects.head(manifest_key), manifest_sha):
            self.objects.create(manifest_key, manifest_bytes, metadata=stamp)  # removed meanwhile
        self._faults.point("register.staged")
        head = self._head_or_none(name)
        refuse_renamed_register(name, head.state if head is not None else None)
        if not allow_duplicate and (head is None or not head.state.is_removed):
            existing = self._existing(name, str(facts["digest"]), head)
            if existing is not None:
                if head is None or existing.version > head.latest:
                    self._fold_in(name, existing.version, existing.facts)
                return RegisterResult(
                    version=self._alias_existing(name, existing, alias),
                    already_registered=True,
                    warnings=list(src.warnings),
                )
        version = self._claim(name, facts, head.latest if head is not None else 0)
        self._faults.point("register.claimed")
        self._index_digest(name, str(facts["digest"]), version)
        state = self._fold_in(name, version, facts, alias=alias, always=True, first=head)
        return RegisterResult(
            version=self._record(name, version, state, facts),
            already_registered=False,
            warnings=list(src.warnings),
        )

    def _fold_in(
        self,
        name: str,
        version: int,
        facts: dict[str, Any],
        *,
        alias: str | None = None,
        always: bool = False,
        first: Head | None | object = _UNREAD,
    ) -> ModelState:
        """Record a claimed version in ``model.json``: ``latest``, its ``registered`` event, the alias.

        ``always`` for the writer that just claimed it; otherwise only a version above ``latest``
        (claimed by a writer that died before this step) is folded in.
        """

        def plan(head: Head | None) -> tuple[Change | None, ModelState]:
            if head is not None and head.state.renaming_from is not None:
                raise _Reserved()
            if head is not None and head.state.renamed_to is not None:
                raise self._renamed_under(name, version, head)
            if not always and head is not None and version <= head.latest:
                return None, head.state
            if always and head is not None and version <= head.latest:
                self._own_claim(name, version, facts)  # folded in meanwhile, or taken by a rename
            now = str(facts["created"])
            # Another writer's version is recorded as theirs: who and when its record says.
            actor = self.actor if always else Actor(str(facts["user"]), str(facts["host"]), 0)
            events = [registered_event(name, actor, now, facts)]
            if head is not None and version in registered_versions(head.revision_events):
                # Folded in meanwhile by 'doctor --repair' or a re-run register: record it once.
                events = []
            if head is None:
                state = new_model_state(name, now, version, alias)
                latest = version
                previous = None
            else:
                previous = head.state.aliases.get(alias) if alias else None
                aliases = {**head.state.aliases, alias: version} if alias else head.state.aliases
                state = head.state.changed(updated=now, aliases=aliases, **revived(head.state, version))
                latest = max(head.latest, version)
            if alias is not None:
                events.append(alias_set_event(name, self.actor, now, version, alias, previous))
            if not events:  # folded in meanwhile, with its event, and no alias to set
                return None, head.state if head is not None else state
            return Change(state, latest, events), state

        for attempt in range(RESERVED_WAITS):
            try:
                return self._commit(name, plan, "register", first=first)
            except _Reserved:
                first = _UNREAD
                time.sleep(0.1 + 0.1 * min(attempt, 9))
        raise ConflictError(
            f"model {name!r} is being created by a rename that has not finished; "
            f"{name} v{version} was not registered",
            hint="finish the rename (run it again, or 'modelpack doctor --repair'), then register again",
        )

    def _renamed_under(self, name: str, version: int, head: Head) -> ConflictError:
        """A register whose claim on ``name`` meets the tombstone of a rename: loud, never silent."""
        new = head.state.renamed_to
        if version <= head.latest:
            return ConflictError(
                f"model {name!r} was renamed to {new!r} while this register ran; "
                f"its version moved with it and is {new} v{version}",
                hint=f"use models:/{new}/{version}; register under {new!r} from now on",
            )
        return ConflictError(
            f"model {name!r} was renamed to {new!r} while this register ran; "
            f"{name} v{version} was claimed too late to move and is not registered",
            hint=f"register under {new!r} ('modelpack doctor' reports the left-over claim)",
        )

    def _own_claim(self, name: str, version: int, facts: dict[str, Any]) -> None:
        """The record of ``version`` is still this register's claim (a rename copying its
        records onto a name reserved for it replaces claims made there meanwhile)."""
        self._facts_cache.pop((name, version), None)
        stored = self._facts(name, version)
        if stored is None or (stored["digest"], stored["created"]) != (facts["digest"], facts["created"]):
            raise ConflictError(
                f"{name} v{version} was taken by a rename onto {name!r} while this register ran; "
                "not registered",
                hint=f"register again: it gets the next number of {name!r}",
            )

    def _upload(self, folder: Path, manifest: Any) -> IntegrityReport:
        """Store each file's content once; an existing blob is reused after its size is confirmed."""
        import threading

        report = IntegrityReport()
        total = manifest.total_size
        done = 0
        lock = threading.Lock()

        def progress(n: int) -> None:
            nonlocal done
            with lock:
                done += n
                self._reporter.advance("uploading model files", done, total)

        def one(i: int) -> None:
            entry = manifest.files[i]
            key = blob_key(entry.sha256)
            info = self.objects.head(key)
            if info is not None and info.size == entry.size:
                stated = (info.metadata or {}).get("sha256")
                if stated in (None, entry.sha256) and self._reuse(key, info, entry.sha256):
                    progress(entry.size)
                    return
            actual = self.objects.upload(key, folder / entry.path, entry.sha256, progress=progress)
            if actual != entry.sha256:
                with lock:
                    report.changed.append(entry.path)
            else:
                self._faults.point("register.blob_written")

        self._parallel(one, list(range(len(manifest.files))))
        report.changed.sort()
        return report

    def _reuse(self, key: str, info: ObjectInfo | None, sha: str) -> bool:
        """Whether the stored blob ``info`` can serve this version (False: upload it).

        ``gc`` removes unreferenced blobs older than its grace period; a blob this register is
        about to reference again is refreshed first if it is older than ``REFRESH_AGE``, so it
        stays younger than any grace period longer than that (the default is a day).
        """
        if info is None:
            return False
        if time.time() - info.modified < REFRESH_AGE:
            return True
        return self.objects.touch(key, {"sha256": sha})

    def _existing(self, name: str, digest: str, head: Head | None) -> VersionRecord | None:
        """A live version of ``name`` already holding ``digest``, if any.

        The digest index answers for every version whose writer got past indexing; versions
        claimed but not yet folded into ``model.json`` (a writer killed right after its claim)
        are few and read one by one, so re-running an interrupted register finds its version.
        """
        state = head.state if head is not None else ModelState(name=name, created="", updated="")
        found = self._read_json(digest_key(name, digest))
        candidates = []
        if found is not None and isinstance(found[0].get("version"), int):
            candidates.append(int(found[0]["version"]))
        candidates += self._claimed_beyond(name, head.latest if head is not None else 0)
        for version in candidates:
            if version in state.deleted:
                continue
            facts = self._facts(name, version)
            if facts is not None and facts["digest"] == digest:
                return self._record(name, version, state, facts)
        return None

    def _alias_existing(self, name: str, record: VersionRecord, alias: str | None) -> VersionRecord:
        if alias is None or alias in record.aliases:
            return record
        return self.promote(name, record.version, alias=alias).version

    def _claim(self, name: str, facts: dict[str, Any], latest: int) -> int:
        """Claim the next free version number above ``latest`` with a create-only PUT of its record."""
        version = latest + 1
        while True:
            facts.update(version=version, created=utc_now())
            if self.objects.create(version_key(name, version), _dumps(facts)) is not None:
                self._facts_cache[(name, version)] = dict(facts)
                return version
            version += 1

    def _index_digest(self, name: str, digest: str, version: int) -> None:
        """Point the digest index at ``version``, unless it points at a live version already."""
        entry = _dumps({"format_version": FORMAT_VERSION, "digest": digest, "version": version})
        key = digest_key(name, digest)
        if self.objects.create(key, entry) is None:
            found = self._read_json(key)
            head = self._head_or_none(name)
            deleted = head.state.deleted if head is not None else {}
            if found is not None and found[0].get("version") in deleted:
                self.objects.replace(key, entry, found[1])

    # ------------------------------------------------------------------ promote, tags, delete

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
        target_stage = check_promote_args(name, stage, alias, remove_alias, self.stages)
        first = self._head(name)
        if first.state.renamed_to is not None or first.state.renaming_from is not None:
            refuse_removed(name, first.state)  # names the new name
        record = self._get(name, version, first)
        if target_stage is not None or alias is not None:
            refuse_damaged(name, version, self._verify(record), self.home.key(version_key(name, version)))
        self._faults.point("promote.verified")
        mlmodels: dict[int, Any] = {}

        def mlmodel_of(v: int) -> Any:
            if v not in mlmodels:
                mlmodels[v] = self._mlmodel(self._get(name, v, self._head(name)))
            return mlmodels[v]

        def plan(head: Head | None) -> tuple[Change | None, PromoteResult]:
            if head is None:
                raise self._unknown_model(name)
            state = head.state
            if state.renamed_to is not None:
                refuse_removed(name, state)
            if version in state.deleted:
                raise NotFoundError(f"model {name!r} has no version {version} (deleted meanwhile)")
            # Checked again on every attempt: the stages may have been redeclared meanwhile.
            stages = self.stages
            target = check_promote_args(name, target_stage, alias, remove_alias, stages)
            gated = gated_stage(target, stages)
            checks: list[GateCheck] | None = None
            if require_compatible and (gated is not None or alias is not None):
                checks = compatibility_gate(
                    name, version, state, mlmodel_of, stage=gated, alias=alias, force=force
                )
            change = plan_promote(
                name,
                version,
                state,
                self.actor,
                utc_now(),
                stage=target,
                archive_existing=archive_existing,
                alias=alias,
                remove_alias=remove_alias,
                checks=checks,
                stages=stages,
            )
            final = change.new_state or state
            facts = self._facts(name, version) or {}
            result = PromoteResult(
                version=self._record(name, version, final, facts),
                previous_stage=change.previous_stage,
                archived=change.archived,
                alias_set=alias,
                alias_moved_from=change.moved_from,
                alias_removed=remove_alias if change.new_state is not None else None,
                changed=change.new_state is not None,
            )
            if checks is not None:
                result = replace(result, compatibility=checks)
            if change.new_state is None:
                return None, result
            return Change(change.new_state, head.latest, change.events), result

        return self._commit(name, plan, "promote", first=first)

    def set_tags(
        self, name: str, version: int | None, tags: Mapping[str, str | None], *, replace: bool = False
    ) -> VersionRecord | ModelState:
        changes = check_tag_changes(name, tags)
        if version is not None:
            self.get_version(name, version)

        def plan(head: Head | None) -> tuple[Change | None, VersionRecord | ModelState]:
            if head is None:
                raise self._unknown_model(name)
            refuse_removed(name, head.state)
            current = None if version is None else self._get(name, version, head)
            before = dict(head.state.model_tags if current is None else current.facts.get("tags") or {})
            planned = plan_tags(
                name, version, head.state, self.actor, utc_now(), before, changes, replace=replace
            )
            if planned is None:
                return None, head.state if current is None else current
            new_state, event = planned
            if version is None:
                return Change(new_state, head.latest, [event]), new_state
            facts = self._facts(name, version) or {}
            return Change(new_state, head.latest, [event]), self._record(name, version, new_state, facts)

        return self._commit(name, plan, "set_tags")

    def set_description(
        self, name: str, description: str | None, *, version: int | None = None
    ) -> ModelState:
        check_description(name, description)
        if version is not None:
            self.get_version(name, version)
        else:
            self.state(name)

        def plan(head: Head | None) -> tuple[Change | None, ModelState]:
            if head is None:
                raise self._unknown_model(name)
            refuse_removed(name, head.state)
            current = (
                head.state.description
                if version is None
                else self._get(name, version, head).facts.get("description")
            )
            planned = plan_description(name, version, head.state, self.actor, utc_now(), description, current)
            if planned is None:
                return None, head.state
            new_state, event = planned
            return Change(new_state, head.latest, [event]), new_state

        return self._commit(name, plan, "set_description")

    def delete(self, name: str, version: int, *, force: bool = False) -> DeleteResult:
        """Delete a version: it leaves every listing, its number is never reused, ``gc`` frees its files."""
        self.get_version(name, version)

        def plan(head: Head | None) -> tuple[Change, DeleteResult]:
            if head is None:
                raise self._unknown_model(name)
            record = self._get(name, version, head)
            self._faults.point("delete.locked")
            new_state, event = plan_delete(
                name,
                version,
                head.state,
                self.actor,
                utc_now(),
                digest=record.digest,
                force=force,
                stages=self.stages,
            )
            result = DeleteResult(
                name=name,
                version=version,
                stage=head.state.stage_of(version),
                removed_aliases=head.state.aliases_of(version),
            )
            return Change(new_state, head.latest, [event]), result

        return self._commit(name, plan, "delete")

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

        Same contract as ``FileRegistry.set_stages``. With no lock to hold: every model left
        behind by an earlier redeclaration is rewritten first (each a compare-and-swap), the
        stages in use are checked, ``registry.json`` is replaced by compare-and-swap with the
        new declaration (its generation and renames), then each model is rewritten with a
        ``stage_changed`` event per version moved. Until a model is rewritten, readers
        translate its names (it records the generation it was written in); the first writer
        of such a model records the renames, so a crash anywhere loses no event.

        Raises:
            InvalidNameError: a bad stage name or mapping (exit 2).
            ConflictError: a stage holding versions is neither kept nor mapped (exit 5), or
                ``registry.json`` kept changing.
        """
        declared = declare_stages(names, archive=archive, active=active)
        self._check_registry(create=True)
        for attempt in range(CAS_ATTEMPTS):
            found = self._read_json("registry.json")
            if found is None:
                raise NotFoundError(f"no registry at {self.home}: registry.json is gone")
            raw, etag = found
            self._registry_doc = raw
            current = self.stages
            model_names = self.model_names()
            heads = [self._finish_remap(n) for n in model_names]
            states = [h.state for h in heads if h is not None]
            planned = plan_stages(current, declared, mapping or {}, used_stages(states))
            if planned is None:
                return StagesResult(current, changed=False, warnings=undeclared_stages(states, current))
            doc = {**raw, "format_version": STAGES_FORMAT_VERSION, "stages": planned.to_json()}
            if self.objects.replace("registry.json", _dumps(doc), etag) is None:
                backoff(attempt)
                continue
            self._registry_doc = doc
            self._faults.point("set_stages.declared")
            after = [h for h in (self._finish_remap(n) for n in model_names) if h is not None]
            return StagesResult(
                planned,
                changed=True,
                moved=moved_versions(states, planned),
                warnings=undeclared_stages([h.state for h in after], planned),
            )
        raise ConflictError(
            f"the registry's registry.json kept changing ({CAS_ATTEMPTS} attempts); nothing was changed",
            hint="try again",
        )

    def _finish_remap(self, name: str) -> Head | None:
        """Rewrite ``name`` into the registry's current stages if it is not yet; its head."""

        def plan(head: Head | None) -> tuple[Change | None, Head | None]:
            if head is None or head.stored is None:
                return None, head
            if plan_remap(name, head.stored, self.stages, self.actor, utc_now()) is None:
                return None, head
            # _commit adds the stage_changed events of the renames.
            return Change(head.state.changed(updated=utc_now()), head.latest, []), head

        head = self._commit(name, plan, "set_stages")
        if (
            head is not None
            and head.stored is not None
            and head.stored.stages_generation != self.stages.generation
        ):
            self._faults.point("set_stages.remapped")
        return head

    def delete_model(self, name: str, *, force: bool = False) -> ModelDeleteResult:
        """Delete a whole model in one compare-and-swap of ``model.json`` (see ``FileRegistry``).

        The versions ``model.json`` has folded in are deleted; a register racing with it (its
        number claimed, not yet folded in) folds in after the swap and so revives the name with
        its version live: a racing register is never lost.
        """
        refuse_removed(name, self._head(name).state)

        def plan(head: Head | None) -> tuple[Change, ModelDeleteResult]:
            if head is None:
                raise self._unknown_model(name)
            self._faults.point("delete_model.locked")
            live = [v for v in range(1, head.latest + 1) if v not in head.state.deleted]
            digests = {}
            for v in live:
                facts = self._facts(name, v)
                if facts is None:
                    raise self._corrupt(version_key(name, v), "the record is missing")
                digests[v] = str(facts["digest"])
            new_state, event = plan_delete_model(
                name, live, digests, head.state, self.actor, utc_now(), force=force, stages=self.stages
            )
            stages: dict[str, list[int]] = {}
            for v, stage in sorted(head.state.stages.items()):
                if v in live:
                    stages.setdefault(stage, []).append(v)
            result = ModelDeleteResult(
                name=name, versions=live, removed_aliases=list(event["removed_aliases"]), stages=stages
            )
            return Change(new_state, head.latest, [event]), result

        return self._commit(name, plan, "delete_model")

    def rename(self, old: str, new: str) -> RenameResult:
        """Rename model ``old`` to ``new`` in the bucket (see docs/REGISTRY.md, renaming).

        1. ``new``'s ``model.json`` is created create-only as a placeholder naming ``old``
           (``renaming_from``): no register or rename can take the name meanwhile.
        2. One compare-and-swap turns ``old``'s ``model.json`` into a tombstone naming ``new``
           (``renamed_to``), carrying ``new``'s final state, ``latest`` and events (``moved``);
           versions claimed on ``old`` and not yet folded in are folded in and move too. The
           commit point: a register on ``old`` that folds in later fails loudly.
        3. Version records (with the name ``new``), event batches and the digest index are
           copied under ``new``, create-only (a claim made on the reserved name meanwhile is
           replaced; its register fails). Blobs are shared: no bytes are copied.
        4. ``new``'s ``model.json`` replaces the placeholder by compare-and-swap.

        A crash before step 2 leaves the placeholder (nothing visible); after it, the tombstone
        says what is left to do. Running the same rename again, or ``doctor --repair``,
        finishes either.

        Raises:
            UsageError: the same name twice (exit 2).
            NotFoundError: no model ``old``, or it was deleted or renamed already (exit 4).
            ConflictError: ``new`` exists, also as a deleted or renamed-away name (exit 5).
        """
        check_rename_args(old, new)
        head = self._head(old)
        if head.state.renamed_to == new and head.moved is not None:
            published = self._head_or_none(new)
            if published is None or published.state.renaming_from == old:
                return self._finish_rename(old, new, head)  # a re-run of a rename cut short
            if published.revision_events and published.state.revision == head.moved.get("state", {}).get(
                "revision"
            ):
                with contextlib.suppress(ModelpackError):  # cut short right after publishing
                    self._flush_events(new, published.state.revision, published.revision_events)
        refuse_removed(old, head.state)
        self._reserve(old, new, head.state.created)

        def plan(head: Head | None) -> tuple[Change | None, Head | None]:
            if head is None:
                raise self._unknown_model(old)
            if head.state.renamed_to == new and head.moved is not None:
                return None, head
            refuse_removed(old, head.state)
            now = utc_now()
            claimed = self._claimed_beyond(old, head.latest)
            latest = head.latest + len(claimed)
            known = registered_versions(head.revision_events)
            folded = []
            for v in claimed:
                facts = self._facts(old, v)
                if facts is not None and v not in known:
                    who = Actor(str(facts["user"]), str(facts["host"]), 0)
                    folded.append(registered_event(old, who, str(facts["created"]), facts))
            numbers = range(1, latest + 1)
            final = replace(head.state, name=new, updated=now, revision=head.state.revision + 1)
            tombstone = head.state.changed(
                updated=now,
                stages={},
                aliases={},
                deleted={**head.state.deleted, **{v: now for v in numbers if v not in head.state.deleted}},
                tags={},
                descriptions={},
                model_tags={},
                removed=now,
                renamed_to=new,
            )
            moved = {
                "state": final.to_json(),
                "latest": latest,
                "events": [*folded, renamed_event(new, self.actor, now, old, new)],
            }
            events = [*folded, renamed_event(old, self.actor, now, old, new)]
            return Change(tombstone, latest, events, moved=moved), None

        try:
            done = self._commit(old, plan, "rename")
        except ModelpackError:
            self._release(old, new)
            raise
        return self._finish_rename(old, new, done or self._head(old))

    def _release(self, old: str, new: str) -> None:
        """Remove ``new``'s placeholder after a rename refused at its commit (``old`` was
        deleted or renamed meanwhile, or kept changing), unless ``old`` names ``new`` by now."""
        with contextlib.suppress(ModelpackError):
            head = self._head_or_none(old)
            if head is not None and head.state.renamed_to == new:
                return
            placeholder = self._head_or_none(new)
            if placeholder is not None and placeholder.state.renaming_from == old:
                self.objects.delete(model_key(new))

    def _reserve(self, old: str, new: str, created: str) -> None:
        """Create ``new``'s placeholder ``model.json`` (create-only), or find this rename's own.

        Raises:
            ConflictError: ``new`` exists, existed, holds records, or another rename reserved it.
        """
        for _ in range(2):
            head = self._head_or_none(new)
            if head is not None:
                if head.state.renaming_from == old:
                    return  # this rename's, from a run cut short
                raise name_taken(new, head.state)
            if any(True for _ in self.objects.list(f"models/{new}/")):
                raise ConflictError(
                    f"model {new!r} has records in the bucket but no model.json; not renamed",
                    hint="run 'modelpack doctor'",
                )
            now = utc_now()
            state = ModelState(
                name=new, created=created, updated=now, revision=0, removed=now, renaming_from=old
            )
            document = {
                "format_version": FORMAT_VERSION,
                "state": state.to_json(),
                "latest": 0,
                "events": {"revision": 0, "events": []},
            }
            if self.objects.create(model_key(new), _dumps(document)) is not None:
                self._faults.point("rename.reserved")
                return
        raise ConflictError(f"model {new!r} kept changing under this rename; not renamed", hint="try again")

    def _finish_rename(self, old: str, new: str, tomb: Head) -> RenameResult:
        """Copy ``old``'s records, events and index under ``new`` and publish ``new`` (steps 3-4)."""
        moved = tomb.moved
        if moved is None:
            raise self._corrupt(model_key(old), "a renamed-away model.json without 'moved'")
        try:
            final = load_model_state(moved["state"], path=Path(model_key(old)), home=Path())
            latest = int(moved["latest"])
            events = list(moved["events"])
        except (KeyError, TypeError, ValueError):
            raise self._corrupt(model_key(old), "its 'moved' is malformed") from None
        live = [v for v in range(1, latest + 1) if v not in final.deleted]
        with contextlib.suppress(ModelpackError):
            self._flush_events(old, tomb.state.revision, tomb.revision_events)  # cut short before
        head = self._head_or_none(new)
        if head is not None and head.state.renaming_from is None:
            if head.state.created != final.created:
                raise name_taken(new, head.state)
            return RenameResult(old=old, new=new, versions=live)  # published already
        if head is None:
            self._reserve(old, new, final.created)
            head = self._head_or_none(new)
        if head is None or head.state.renaming_from != old:
            raise name_taken(new, head.state) if head is not None else self._unknown_model(new)

        def copy_version(v: int) -> None:
            facts = self._facts(old, v)
            if facts is None:
                raise self._corrupt(version_key(old, v), "the record is missing")
            self._put_copy(version_key(new, v), {**facts, "name": new})
            self._faults.point("rename.version_copied")

        self._parallel(copy_version, list(range(1, latest + 1)))
        for info in self.objects.list(f"models/{old}/events/"):
            stem = info.key.rsplit("/", 1)[-1].removesuffix(".json")
            if stem.isdigit() and int(stem) < final.revision:
                found = self._read_json(events_key(old, int(stem)))
                if found is not None:
                    self._put_copy(events_key(new, int(stem)), {**found[0], "name": new})
                    self._faults.point("rename.events_copied")
        for info in self.objects.list(f"models/{old}/digests/"):
            rel = info.key.rsplit("/", 1)[-1]
            found = self._read_json(f"models/{old}/digests/{rel}")
            if found is not None and found[0].get("version") in live:
                self._put_copy(f"models/{new}/digests/{rel}", found[0])
                self._faults.point("rename.indexed")
        document = {
            "format_version": FORMAT_VERSION,
            "state": final.to_json(),
            "latest": latest,
            "events": {"revision": final.revision, "events": events},
        }
        if self.objects.replace(model_key(new), _dumps(document), head.etag) is None:
            return self._finish_rename(old, new, tomb)  # finished meanwhile by another run
        self._faults.point("rename.published")
        with contextlib.suppress(ModelpackError):
            self._flush_events(new, final.revision, events)
        return RenameResult(old=old, new=new, versions=live)

    def _put_copy(self, key: str, document: dict[str, Any]) -> None:
        """Create ``key`` holding ``document``; one holding something else is replaced (a claim
        made on a name reserved by a rename: its register fails, see ``_own_claim``)."""
        data = _dumps(document)
        for attempt in range(CAS_ATTEMPTS):
            if self.objects.create(key, data) is not None:
                return
            found = self._read_json(key)
            if found is None:
                continue
            if found[0] == document or self.objects.replace(key, data, found[1]) is not None:
                return
            backoff(attempt)
        raise ConflictError(f"{key} kept changing under this rename", hint="run the rename again")

    # ------------------------------------------------------------------ maintenance helpers

    def iter_version_facts(self, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
        """Every version record of ``name`` in the bucket, by listing (doctor and gc)."""
        for info in self.objects.list(f"models/{name}/versions/"):
            stem = info.key.rsplit("/", 1)[-1].removesuffix(".json")
            if stem.isdigit():
                facts = self._facts(name, int(stem))
                if facts is not None:
                    yield int(stem), facts
