"""``doctor`` and ``gc`` for a registry in a bucket (``remote.S3Registry``).

There are no locks in a bucket, so both run beside live writers and change nothing a writer
relies on without a condition: every repair of a model's state is a compare-and-swap through
``S3Registry._commit`` (computed again on the fresh state after a lost race), events are
written create-only, and ``gc`` only removes what is older than a grace period.

``run_bucket_doctor`` reads every document (``registry.json``, each model's ``model.json``,
version records, event batches, digest-index entries) against its shape (``documents``), checks
that the version numbers run 1..N without a hole, that every version has its ``registered``
event and every revision its events, that the state names only versions that exist, and reads
every stored blob of every live version once, hashing it. ``--repair`` folds in versions a
killed register claimed but never committed (writing their ``registered`` events from the
records), copies events still held in ``model.json`` out to their batch, drops stages and
aliases that point nowhere and fixes the digest index. Lost records, lost history and damaged
blobs stay errors: there is no second copy to take them from.

``collect_bucket_garbage`` removes blobs no live version references, ``.probe/`` scratch objects
and incomplete multipart uploads, each only once older than the grace period (a day by
default). A register uploads its blobs before its record exists, so a blob nobody references
yet may be one a register is about to claim: the grace period is what keeps it. The order is
what makes that hold without a lock: candidates (blobs older than the grace period) are listed
first, references are collected from every version record and manifest after that, and each
candidate is read again (HEAD) right before its removal and kept if it has become younger. A
register that reuses a stored blob refreshes it first when it is older than
``remote.REFRESH_AGE`` (an hour), so with a grace period longer than that plus the longest
register, gc never removes a blob a version needs. Shorter grace periods (``--grace 0``) are for
a registry nobody writes to meanwhile. If any live version's record or manifest cannot be read,
gc removes nothing, as on a local disk: it could not tell what that version uses.
"""

from __future__ import annotations

import contextlib
import functools
import re
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any, Final

from modelpack import _json
from modelpack.errors import InvalidModelError, ModelpackError, NotFoundError, RegistryError
from modelpack.names import DEFAULT_STAGES, NO_STAGE, Stage, validate_name
from modelpack.package.manifest import Manifest, parse_manifest
from modelpack.registry import documents
from modelpack.registry import events as ev
from modelpack.registry.cache import safe_relative
from modelpack.registry.changes import (
    compact_numbers,
    current_state,
    new_model_state,
    registered_event,
    registered_versions,
    undeclared_problem,
)
from modelpack.registry.layout import FORMAT_VERSION, migrate
from modelpack.registry.objects import ObjectInfo, S3Objects, Stored
from modelpack.registry.records import (
    ERROR,
    WARNING,
    DoctorReport,
    Finding,
    GcResult,
    ModelState,
    load_model_state,
)
from modelpack.registry.remote import (
    Change,
    Head,
    S3Registry,
    _dumps,
    blob_key,
    digest_key,
    events_key,
    model_key,
    version_key,
)

#: Default grace period of ``gc`` on a bucket: unreferenced blobs younger than this are kept.
DEFAULT_GRACE: Final = 24 * 3600.0
#: How long the doctor waits for a version claimed past ``latest`` to be folded in by its own
#: register before it takes the register for dead (``_BucketDoctor.settle``).
SETTLE: Final = 2.0
#: Parallel reads (manifests, event batches, blob hashes).
_WORKERS: Final = 8
_BLOB_KEY: Final = re.compile(r"blobs/sha256/([0-9a-f]{2})/([0-9a-f]{64})")
_NUMBERED: Final = re.compile(r"(\d{10})\.json")
_DIGEST_FILE: Final = re.compile(r"([0-9a-f]{64})\.json")
_REPAIR_REASON: Final = "doctor --repair"


def _parallel(fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(_WORKERS) as pool:
        return list(pool.map(fn, items))


def _parse(data: bytes) -> dict[str, Any]:
    """A stored JSON document. Raises ValueError naming what is wrong."""
    try:
        raw = _json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 ({exc.reason})") from None
    except ValueError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    return raw


def _fetch(objects: S3Objects, key: str) -> Stored | None | str:
    """A registry document: its bytes, None if there is none, or why it cannot be read (too large)."""
    try:
        return objects.get(key)
    except RegistryError as exc:
        # ``get`` refuses an oversized document in one error; any other is the store's.
        if "larger than a registry document" not in exc.message:
            raise
        return exc.message


def _numbered(infos: Iterable[ObjectInfo], folder: str) -> tuple[dict[int, ObjectInfo], list[ObjectInfo]]:
    """``<folder>/<N:010>.json`` objects by N, and the objects there with any other key."""
    found: dict[int, ObjectInfo] = {}
    strays: list[ObjectInfo] = []
    for info in infos:
        match = _NUMBERED.fullmatch(info.key.rsplit("/", 1)[-1])
        if match is None or int(match.group(1)) < 1 or not info.key.endswith(f"/{folder}/{match.group(0)}"):
            strays.append(info)
        else:
            found[int(match.group(1))] = info
    return found, strays


# ---------------------------------------------------------------------- the stored manifests


@dataclass
class _ManifestRead:
    """A live version's manifest as read from its blob: the manifest or why it is unusable."""

    manifest: Manifest | None = None
    problem: str | None = None
    kind: str = "corrupt_metadata"
    size: int = 0


def _read_manifest(registry: S3Registry, name: str, version: int, facts: dict[str, Any]) -> _ManifestRead:
    """The manifest blob the record names: present, hashing to its name, valid, the recorded digest."""
    sha = str(facts["manifest_sha256"])
    stored = _fetch(registry.objects, blob_key(sha))
    if isinstance(stored, str):
        return _ManifestRead(problem=f"the manifest of {name} v{version}: {stored}")
    if stored is None:
        return _ManifestRead(problem=f"the manifest of {name} v{version} is missing", kind="missing_files")
    actual = sha256(stored.data).hexdigest()
    if actual != sha:
        return _ManifestRead(
            problem=f"the stored manifest of {name} v{version} is damaged (its sha256 is {actual[:12]}...)",
            kind="digest_mismatch",
            size=len(stored.data),
        )
    try:
        manifest = parse_manifest(stored.data, f"the manifest of {name} v{version}")
    except InvalidModelError as exc:
        return _ManifestRead(problem=exc.message, size=len(stored.data))
    bad = [e.path for e in manifest.files if not safe_relative(e.path)]
    if bad:
        return _ManifestRead(
            problem=f"the manifest of {name} v{version} names {bad[0]!r}, which leaves the model folder",
            size=len(stored.data),
        )
    if manifest.digest != facts["digest"]:
        return _ManifestRead(
            problem=f"the manifest of {name} v{version} does not match the digest its record holds",
            kind="digest_mismatch",
            size=len(stored.data),
        )
    return _ManifestRead(manifest=manifest, size=len(stored.data))


# ---------------------------------------------------------------------- doctor


@dataclass
class _Model:
    """What the doctor read of one model."""

    name: str
    head: Head | None = None
    head_problem: str | None = None
    records: dict[int, ObjectInfo] = field(default_factory=dict)
    facts: dict[int, dict[str, Any]] = field(default_factory=dict)
    batches: dict[int, ObjectInfo] = field(default_factory=dict)
    digests: dict[str, ObjectInfo] = field(default_factory=dict)
    registered: set[int] = field(default_factory=set)


class _BucketDoctor:
    def __init__(self, registry: S3Registry, repair: bool) -> None:
        self.registry = registry
        self.objects = registry.objects
        self.repair = repair
        self.report = DoctorReport(home=str(registry.home), repair=repair)
        self.actor = ev.Actor.current()
        #: sha256 -> the stored blob, from one listing.
        self.blobs: dict[str, ObjectInfo] = {}
        #: sha256 -> the files of live versions that hold it: (model, version, path).
        self.users: dict[str, list[tuple[str, int, str]]] = {}
        self.referenced: set[str] = set()
        self.referenced_uncertain = False
        self.stages = DEFAULT_STAGES

    # -------------------------------------------------------------- findings

    def add(self, severity: str, kind: str, key: str, message: str) -> Finding:
        finding = Finding(severity, kind, key, message)
        self.report.findings.append(finding)
        return finding

    def fix(self, findings: list[Finding], action: Callable[[], object]) -> None:
        """Run one repair for ``findings``; they are repaired only if it worked."""
        if not self.repair or not findings:
            return
        try:
            action()
        except ModelpackError as exc:
            for finding in findings:
                finding.message += f" (repair failed: {exc.message})"
            return
        for finding in findings:
            finding.repaired = True

    # -------------------------------------------------------------- run

    def run(self) -> DoctorReport:
        self.check_registry_file()
        models = self.list_models()
        for info in self.objects.list("blobs/"):
            match = _BLOB_KEY.fullmatch(info.key)
            if match is None or match.group(1) != match.group(2)[:2]:
                self.add(WARNING, "unexpected_entry", info.key, "not a blob; left alone")
            else:
                self.blobs[match.group(2)] = info
        for info in self.objects.list(".probe/"):
            self.add(
                WARNING, "leftover_temp", info.key, "a store probe left by a killed process (gc removes it)"
            )
        if self.check_renames(models):
            models = self.list_models()  # the repairs wrote the new names' documents
        for name, infos in sorted(models.items()):
            self.check_model(name, infos)
        self.check_blobs()
        return self.report

    def check_renames(self, models: dict[str, list[ObjectInfo]]) -> bool:
        """A rename cut short leaves the new name's placeholder ``model.json`` (``renaming_from``);
        ``--repair`` finishes it as a re-run of the same rename would. True if one was finished."""
        finished = False
        for name in sorted(models):
            try:
                head = self.registry._head_or_none(name)
            except ModelpackError:
                continue  # check_model reports it
            if head is None or head.state.renaming_from is None:
                continue
            old = head.state.renaming_from
            finding = self.add(
                WARNING,
                "unfinished_rename",
                model_key(name),
                f"a rename of {old} to {name} was interrupted; {name} is reserved but not published; "
                "--repair finishes the rename",
            )
            self.fix([finding], functools.partial(self.registry.rename, old, name))
            finished = finished or finding.repaired
        return finished

    def check_registry_file(self) -> None:
        try:
            self.registry._check_registry(create=False)
        except NotFoundError:
            if next(iter(self.objects.list("models/")), None) is None:
                raise  # no registry here at all: exit 4, like every other command
            self.add(ERROR, "corrupt_metadata", "registry.json", "registry.json is missing")
            if self.repair:
                raise RegistryError(
                    f"registry.json is missing at {self.registry.home}; nothing was repaired",
                    hint="restore registry.json from a backup",
                ) from None
            return
        except RegistryError as exc:
            self.add(ERROR, "corrupt_metadata", "registry.json", exc.message)
            if self.repair:  # nothing is repaired in a registry of unknown format
                raise
            return
        self.stages = self.registry.stages
        unknown = documents.problems("registry.json", self.registry._registry_doc or {})
        if unknown:
            self.add(ERROR, "corrupt_metadata", "registry.json", documents.describe(unknown))

    def list_models(self) -> dict[str, list[ObjectInfo]]:
        models: dict[str, list[ObjectInfo]] = {}
        bad: set[str] = set()
        for info in self.objects.list("models/"):
            parts = info.key.split("/")
            if len(parts) < 3 or parts[1] in bad:
                if len(parts) < 3:
                    self.add(WARNING, "unexpected_entry", info.key, "not part of a model; left alone")
                continue
            try:
                validate_name(parts[1])
            except ModelpackError:
                bad.add(parts[1])
                self.add(WARNING, "unexpected_entry", f"models/{parts[1]}/", "not a model name; left alone")
                continue
            models.setdefault(parts[1], []).append(info)
        return models

    # -------------------------------------------------------------- one model

    def check_model(self, name: str, infos: list[ObjectInfo]) -> None:
        model = _Model(name)
        base = f"models/{name}/"
        versions, events, strays = [], [], []
        for info in infos:
            rel = info.key[len(base) :]
            if rel == "model.json":
                continue
            if rel.startswith("versions/"):
                versions.append(info)
            elif rel.startswith("events/"):
                events.append(info)
            elif rel.startswith("digests/") and _DIGEST_FILE.fullmatch(rel[len("digests/") :]):
                model.digests["sha256:" + rel[len("digests/") : -len(".json")]] = info
            else:
                strays.append(info)
        model.records, bad_versions = _numbered(versions, "versions")
        model.batches, bad_events = _numbered(events, "events")
        for info in [*strays, *bad_versions, *bad_events]:
            self.add(WARNING, "unexpected_entry", info.key, "not a registry document; left alone")
        self.load_head(model)
        if model.head is not None and model.head.state.renaming_from is not None:
            return  # an unfinished rename's placeholder: check_renames reported it
        self.load_records(model)
        self.check_events(model)
        self.check_numbers(model)
        self.check_registered(model)
        if model.head is None and model.head_problem is not None:
            self.load_head(model)  # created meanwhile, by its register or by --repair
        if model.head is None:
            if model.records:
                # Which versions are deleted is unknown: their blobs cannot be told orphans.
                self.referenced_uncertain = True
            return
        state = model.head.state
        self.report.models += 1
        self.check_state_refs(model)
        live = {v: f for v, f in model.facts.items() if v not in state.deleted}
        self.check_index(model, live)
        self.check_version_blobs(name, live)

    def load_head(self, model: _Model) -> None:
        key = model_key(model.name)
        stored = _fetch(self.objects, key)
        if stored is None:
            if model.records or model.batches:
                model.head_problem = "model.json is missing"
            return
        try:
            if isinstance(stored, str):
                raise ValueError(stored)
            raw = _parse(stored.data)
            found = documents.problems("bucket model.json", raw)
            if found:
                raise ValueError(documents.describe(found))
            state_raw = migrate(raw["state"], what=key)
            found = documents.problems("model.json", state_raw)
            if found:
                raise ValueError("state: " + documents.describe(found))
            loaded = load_model_state(state_raw, path=Path(key), home=Path())
            if loaded.name != model.name:
                raise ValueError(f"it describes model {loaded.name!r}")
            stages = self.stages
            if loaded.stages_generation > stages.generation:
                raise ValueError(
                    f"it records stages generation {loaded.stages_generation}; "
                    f"registry.json declares generation {stages.generation}"
                )
            state = current_state(loaded, stages)
            undeclared = undeclared_problem(state, stages)
            if undeclared is not None:
                raise ValueError(f"a version is in an undeclared stage: {undeclared}")
            pending = raw["events"]
            if pending.get("revision") != state.revision or not isinstance(pending.get("events"), list):
                raise ValueError(
                    f"'events' must hold the events of revision {state.revision} "
                    f"({{'revision': {state.revision}, 'events': [...]}})"
                )
            problem = self.event_problems(model.name, pending["events"])
            if problem:
                raise ValueError(f"events: {problem}")
        except (ValueError, RegistryError) as exc:
            why = exc.message if isinstance(exc, RegistryError) else str(exc)
            self.add(ERROR, "corrupt_metadata", key, f"{why}; not repaired (restore it from a backup)")
            return
        assert not isinstance(stored, str)
        model.head = Head(state, int(raw["latest"]), list(pending["events"]), stored.etag, loaded)
        if loaded.stages_generation < stages.generation and loaded.stages:
            finding = self.add(
                WARNING,
                "stages_not_renamed",
                key,
                f"written before the stages were redeclared (generation {loaded.stages_generation}, "
                f"now {stages.generation}); readers translate it, --repair or the model's next change "
                "rewrites it",
            )
            self.fix([finding], lambda: self.registry._finish_remap(model.name))

    def event_problems(self, name: str, events: list[Any], former: frozenset[str] = frozenset()) -> str:
        known = (NO_STAGE, *self.stages.known)
        found = []
        # A renamed model's history keeps the events recorded under its earlier names.
        names = {name, *former, *_former_names(name, events)}
        for i, event in enumerate(events):
            if not isinstance(event, dict):
                found.append(f"event {i + 1} is not an object")
                continue
            problems = documents.problems("event", event, stages=known)
            if event.get("name") not in names and not any(p.key == "name" for p in problems):
                problems.append(documents.Problem("name", "invalid", repr(name)))
            if problems:
                found.append(f"event {i + 1}: {documents.describe(problems)}")
        return "; ".join(found[:5]) + (f"; ... ({len(found) - 5} more)" if len(found) > 5 else "")

    def load_records(self, model: _Model) -> None:
        name = model.name
        numbers = sorted(model.records)
        stored = _parallel(lambda v: _fetch(self.objects, version_key(name, v)), numbers)
        for version, found in zip(numbers, stored, strict=True):
            key = version_key(name, version)
            if found is None:
                continue  # removed since the listing: check_numbers reports a hole
            try:
                if isinstance(found, str):
                    raise ValueError(found)
                raw = migrate(_parse(found.data), what=key)
            except ValueError as exc:
                self.add(ERROR, "corrupt_metadata", key, f"version record of {name} v{version}: {exc}")
                self.referenced_uncertain = True
                continue
            problems = documents.problems("version.json", raw)
            if problems:
                self.add(
                    ERROR,
                    "corrupt_metadata",
                    key,
                    f"version record of {name} v{version}: {documents.describe(problems)}",
                )
                if any(p.what != "unknown" for p in problems):
                    self.referenced_uncertain = True
                    continue
            if raw["name"] != name or raw["version"] != version:
                self.add(
                    ERROR,
                    "corrupt_metadata",
                    key,
                    f"the record of {name} v{version} describes {raw['name']} v{raw['version']}",
                )
                self.referenced_uncertain = True
                continue
            model.facts[version] = raw

    def check_events(self, model: _Model) -> None:
        """Every event batch well-formed, and the history of revisions 1..revision complete."""
        name = model.name
        revisions = sorted(model.batches)
        stored = _parallel(lambda r: _fetch(self.objects, events_key(name, r)), revisions)
        former = set(_former_names(name, model.head.revision_events if model.head is not None else []))
        for found in stored:
            with contextlib.suppress(ValueError, AttributeError, TypeError):
                if isinstance(found, Stored):
                    former.update(_former_names(name, _parse(found.data).get("events") or []))
        for revision, found in zip(revisions, stored, strict=True):
            key = events_key(name, revision)
            if found is None:
                continue
            try:
                if isinstance(found, str):
                    raise ValueError(found)
                raw = _parse(found.data)
                problems = documents.problems("event batch", raw)
                if problems:
                    raise ValueError(documents.describe(problems))
                if raw["name"] != name or raw["revision"] != revision:
                    raise ValueError(f"it holds the events of {raw['name']} revision {raw['revision']}")
                problem = self.event_problems(name, raw["events"], frozenset(former))
                if problem:
                    raise ValueError(problem)
            except ValueError as exc:
                self.add(ERROR, "corrupt_events", key, f"{exc}; {_HISTORY_NOT_REPAIRED}")
                continue
            model.registered.update(registered_versions(raw["events"]))
        head = model.head
        if head is None:
            return
        model.registered.update(registered_versions(head.revision_events))
        revision = head.state.revision
        written = set(model.batches)
        if revision not in written and self.objects.head(events_key(name, revision)) is None:
            finding = self.add(
                WARNING,
                "unflushed_events",
                events_key(name, revision),
                f"the events of revision {revision} of {name} are only in model.json so far "
                "(a writer stopped before copying them out); --repair writes them",
            )
            self.fix([finding], lambda: self.registry._flush_events(name, revision, head.revision_events))
        lost = [r for r in range(1, revision) if r not in written]
        # Batches written after the listing (a writer moved on meanwhile) are not lost.
        lost = [r for r in lost if self.objects.head(events_key(name, r)) is None]
        if lost:
            self.add(
                ERROR,
                "events_missing",
                f"models/{name}/events/",
                f"the events of revisions {compact_numbers(lost)} of {name} are lost; "
                f"{_HISTORY_NOT_REPAIRED}",
            )
        beyond = [r for r in written if r > revision]
        if beyond:
            self.add(
                WARNING,
                "unexpected_entry",
                f"models/{name}/events/",
                f"event batches of revisions {compact_numbers(beyond)} after the state's revision {revision}",
            )

    def check_numbers(self, model: _Model) -> None:
        """Version numbers run 1..max without a hole; ``latest`` is not past the records."""
        name = model.name
        highest = max(model.records, default=0)
        claimed = model.head.latest if model.head is not None else 0
        # Records claimed after the listing (a live register) are not holes.
        while highest < claimed and self.objects.head(version_key(name, highest + 1)) is not None:
            highest += 1
            model.records.setdefault(highest, ObjectInfo(version_key(name, highest), 0, "", 0.0))
        holes = [v for v in range(1, max(highest, claimed) + 1) if v not in model.records]
        if holes:
            self.add(
                ERROR,
                "missing_version",
                f"models/{name}/versions/",
                f"the records of {name} v{compact_numbers(holes)} are missing (claimed numbers whose "
                "record was lost); not repairable",
            )

    def check_registered(self, model: _Model) -> None:
        """Versions claimed but not folded into ``model.json``, and versions lacking a
        ``registered`` event: one compare-and-swap repairs both (a killed register)."""
        name = model.name
        head = model.head
        if head is None and model.head_problem is None:
            return
        findings: list[Finding] = []
        highest = max(model.facts, default=0)
        if head is None:
            if model.facts and not model.batches:
                time.sleep(SETTLE)  # a first register between its claim and its commit?
                if self.objects.head(model_key(name)) is not None:
                    return
            finding = self.add(ERROR, "corrupt_metadata", model_key(name), f"{model.head_problem}")
            if model.batches:
                finding.message += f"; {name} has history, so --repair leaves it alone (restore model.json)"
                return
            if not model.facts:
                return
            finding.message += " (a register was killed before its first commit); --repair creates it"
            findings.append(finding)
        elif head.state.renamed_to is not None:
            orphans = [v for v in model.facts if v > head.latest]
            if orphans:
                self.add(
                    WARNING,
                    "orphan_claim",
                    version_key(name, min(orphans)),
                    f"{name} v{compact_numbers(orphans)} claimed by a register that raced the rename to "
                    f"{head.state.renamed_to} and failed (it said so); not moved, not repaired",
                )
            return
        else:
            latest = head.latest
            if highest > latest or not set(model.facts) <= model.registered:
                latest = self.settle(model)
            if highest > latest:
                unfolded = [v for v in model.facts if v > head.latest]
                findings.append(
                    self.add(
                        WARNING,
                        "unfolded_version",
                        model_key(name),
                        f"{name} v{compact_numbers(unfolded)} claimed but not folded into "
                        f"model.json (latest {head.latest}); --repair folds it in",
                    )
                )
        unregistered = sorted(v for v in model.facts if v not in model.registered)
        if unregistered:
            findings.append(
                self.add(
                    ERROR,
                    "event_missing",
                    f"models/{name}/events/",
                    f"no 'registered' event for {name} v{compact_numbers(unregistered)}; "
                    "--repair writes it from the version record",
                )
            )
        if findings:
            seen = head.state.revision if head is not None else 0
            self.fix(findings, lambda: self.fold_in(name, dict(model.facts), set(unregistered), seen))

    def settle(self, model: _Model) -> int:
        """``latest`` after waiting ``SETTLE`` seconds; the ``registered`` events written meanwhile
        join ``model.registered``.

        A live register folds its version in right after its claim; a doctor reading in between
        would take it for a killed one. Waiting once and reading ``model.json`` again tells them
        apart: what was folded in meanwhile (with its event) is no finding.
        """
        assert model.head is not None
        time.sleep(SETTLE)
        try:
            fresh = self.registry._head_or_none(model.name)
        except RegistryError:
            return model.head.latest
        if fresh is None or fresh.state.revision == model.head.state.revision:
            return model.head.latest
        model.registered |= registered_versions(fresh.revision_events)
        for revision in range(model.head.state.revision, fresh.state.revision):
            found = _fetch(self.objects, events_key(model.name, revision))
            if isinstance(found, Stored):
                with contextlib.suppress(ValueError):
                    events = _parse(found.data).get("events")
                    if isinstance(events, list):
                        model.registered |= registered_versions(events)
        return fresh.latest

    def fold_in(self, name: str, facts: dict[int, dict[str, Any]], unregistered: set[int], seen: int) -> None:
        highest = max(facts)

        def plan(head: Head | None) -> tuple[Change | None, None]:
            missing = set(unregistered)
            if head is not None:
                # Events committed since the doctor read the history may hold them now.
                missing -= registered_versions(head.revision_events)
                for revision in range(seen + 1, head.state.revision):
                    found = self.registry._read_json(events_key(name, revision))
                    if found is not None and isinstance(found[0].get("events"), list):
                        missing -= registered_versions(found[0]["events"])
            latest = max(head.latest if head is not None else 0, highest)
            if head is not None and not missing and latest == head.latest:
                return None, None
            now = ev.utc_now()
            events = [
                registered_event(
                    name,
                    ev.Actor(str(facts[v]["user"]), str(facts[v]["host"]), 0),
                    str(facts[v]["created"]),
                    facts[v],
                )
                for v in sorted(missing)
            ]
            if head is None:
                state = new_model_state(name, str(facts[min(facts)]["created"]), highest, None)
            elif events:
                state = head.state.changed(updated=now)
            else:
                # Only ``latest`` moves: it is not history, so the revision and its events stay.
                return Change(head.state, latest, head.revision_events), None
            return Change(state, latest, events), None

        self.registry._commit(name, plan, "doctor")

    def check_state_refs(self, model: _Model) -> None:
        """Stages, aliases, deletions, tags and descriptions naming versions that do not exist."""
        assert model.head is not None
        name = model.name
        state = model.head.state
        existing = set(model.records)
        bad = _dangling(state, existing)
        if not bad:
            return
        finding = self.add(ERROR, "dangling_reference", model_key(name), "; ".join(bad))

        def repair() -> None:
            def plan(head: Head | None) -> tuple[Change | None, None]:
                if head is None:
                    return None, None
                known = set(existing)
                for v in _referenced_versions(head.state) - known:
                    if self.objects.head(version_key(name, v)) is not None:  # registered meanwhile
                        known.add(v)
                change = _drop_dangling(name, head.state, known, self.actor)
                if change is None:
                    return None, None
                new_state, events = change
                return Change(new_state, head.latest, events), None

            self.registry._commit(name, plan, "doctor")

        self.fix([finding], repair)

    def check_index(self, model: _Model, live: dict[int, dict[str, Any]]) -> None:
        name = model.name
        state = model.head.state if model.head is not None else None
        deleted = {
            v: str(f["digest"]) for v, f in model.facts.items() if state is not None and v in state.deleted
        }
        holders: dict[str, list[int]] = {}
        for version, facts in sorted(live.items()):
            holders.setdefault(str(facts["digest"]), []).append(version)
        stale: dict[str, str | None] = {}  # digest -> the ETag of the stale entry (None: missing)
        for digest in holders:
            if digest not in model.digests:
                stale[digest] = None
        for digest in model.digests:
            found = _fetch(self.objects, digest_key(name, digest))
            if found is None:
                if digest in holders:
                    stale[digest] = None
                continue
            if isinstance(found, str):
                info = self.objects.head(digest_key(name, digest))
                stale[digest] = info.etag if info is not None else None
                continue
            try:
                raw = _parse(found.data)
            except ValueError:
                stale[digest] = found.etag
                continue
            pointed = raw.get("version")
            if documents.problems("digest entry", raw) or raw.get("digest") != digest:
                stale[digest] = found.etag
            elif digest in holders:
                if pointed not in holders[digest]:
                    stale[digest] = found.etag
            elif pointed not in deleted or deleted[pointed] != digest:
                # An entry naming a deleted version is expected (register ignores and replaces
                # it); one naming a version that never held this content is not.
                stale[digest] = found.etag
        if not stale:
            return
        finding = self.add(
            WARNING,
            "stale_index",
            f"models/{name}/digests/",
            f"{len(stale)} digest-index entries of {name} are missing or stale",
        )

        def rebuild() -> None:
            for digest, etag in sorted(stale.items()):
                key = digest_key(name, digest)
                if digest in holders:
                    entry = {
                        "format_version": FORMAT_VERSION,
                        "digest": digest,
                        "version": holders[digest][0],
                    }
                    data = _dumps(entry)
                    if etag is None:
                        self.objects.create(key, data)
                    else:
                        self.objects.replace(key, data, etag)
                else:
                    current = self.objects.head(key)
                    if current is not None and current.etag == etag:
                        self.objects.delete(key)

        self.fix([finding], rebuild)

    # -------------------------------------------------------------- blobs

    def check_version_blobs(self, name: str, live: dict[int, dict[str, Any]]) -> None:
        numbers = sorted(live)
        reads: list[_ManifestRead] = _parallel(
            lambda v: _read_manifest(self.registry, name, v, live[v]), numbers
        )
        self.report.versions += len(numbers)
        for version, read in zip(numbers, reads, strict=True):
            facts = live[version]
            manifest_sha = str(facts["manifest_sha256"])
            key = blob_key(manifest_sha)
            if read.size and manifest_sha not in self.referenced:  # shared by an identical version
                self.report.blobs_checked += 1
                self.report.bytes_hashed += read.size
            self.referenced.add(manifest_sha)
            if read.manifest is None:
                self.add(ERROR, read.kind, key, f"{read.problem}; not repairable")
                self.referenced_uncertain = True
                continue
            for entry in read.manifest.files:
                self.report.files_checked += 1
                self.referenced.add(entry.sha256)
                blob = self.blobs.get(entry.sha256)
                if blob is None:
                    blob = self.objects.head(blob_key(entry.sha256))  # stored after the listing?
                    if blob is not None:
                        self.blobs[entry.sha256] = blob
                if blob is None:
                    self.add(
                        ERROR,
                        "missing_files",
                        blob_key(entry.sha256),
                        f"{name} v{version}: {entry.path} is missing from the store; not repairable",
                    )
                elif blob.size != entry.size:
                    self.add(
                        ERROR,
                        "digest_mismatch",
                        blob_key(entry.sha256),
                        f"{name} v{version}: {entry.path} is stored with {blob.size} bytes, its manifest "
                        f"says {entry.size}; not repairable",
                    )
                else:
                    self.users.setdefault(entry.sha256, []).append((name, version, entry.path))

    def check_blobs(self) -> None:
        """Hash every blob a live version uses (each once), and name the unreferenced ones."""
        shas = sorted(self.users)
        results: list[tuple[str, int] | None] = _parallel(
            lambda sha: self.objects.hash_object(blob_key(sha)), shas
        )
        for sha, result in zip(shas, results, strict=True):
            users = self.users[sha]
            if result is None:
                for name, version, path in users:
                    self.add(
                        ERROR,
                        "missing_files",
                        blob_key(sha),
                        f"{name} v{version}: {path} is missing from the store; not repairable",
                    )
                continue
            actual, size = result
            self.report.blobs_checked += 1
            self.report.bytes_hashed += size
            if actual != sha:
                for name, version, path in users:
                    self.add(
                        ERROR,
                        "digest_mismatch",
                        blob_key(sha),
                        f"{name} v{version}: {path}: the stored content does not match its sha256 "
                        f"(it hashes to {actual[:12]}...); not repairable",
                    )
        if self.referenced_uncertain:
            return
        for sha, info in sorted(self.blobs.items()):
            if sha not in self.referenced:
                self.add(
                    WARNING,
                    "orphan_blob",
                    info.key,
                    "no live version uses this blob (gc removes it once older than its grace period)",
                )


_HISTORY_NOT_REPAIRED = (
    "--repair leaves the history alone (it is the model's record): restore it from a backup"
)


def _former_names(name: str, events: list[Any]) -> list[str]:
    """The names ``name`` was renamed from, by the ``renamed`` events among ``events``."""
    return [
        str(e.get("from"))
        for e in events
        if isinstance(e, dict) and e.get("event") == ev.RENAMED and e.get("to") == name
    ]


def _referenced_versions(state: ModelState) -> set[int]:
    return {
        *state.stages,
        *state.aliases.values(),
        *state.deleted,
        *state.tags,
        *state.descriptions,
    }


def _dangling(state: ModelState, existing: set[int]) -> list[str]:
    """What in ``state`` names a version that does not exist (or a stage or alias a deleted one)."""
    parts = [f"stage of missing v{v}" for v in sorted(state.stages) if v not in existing]
    parts += [f"stage of deleted v{v}" for v in sorted(state.stages) if v in existing and v in state.deleted]
    for alias, v in sorted(state.aliases.items()):
        if v not in existing:
            parts.append(f"alias {alias!r} -> missing v{v}")
        elif v in state.deleted:
            parts.append(f"alias {alias!r} -> deleted v{v}")
    parts += [f"deletion of missing v{v}" for v in sorted(state.deleted) if v not in existing]
    parts += [f"tags of missing v{v}" for v in sorted(state.tags) if v not in existing]
    parts += [f"description of missing v{v}" for v in sorted(state.descriptions) if v not in existing]
    return parts


def _drop_dangling(
    name: str, state: ModelState, existing: set[int], actor: ev.Actor
) -> tuple[ModelState, list[dict[str, Any]]] | None:
    """The state without its dangling references, and the events that record the removals."""
    if not _dangling(state, existing):
        return None
    now = ev.utc_now()

    def gone(v: int) -> bool:
        return v not in existing or v in state.deleted

    events = [
        ev.make_event(
            ev.STAGE_CHANGED,
            name,
            actor,
            now,
            version=v,
            to=Stage.NONE.value,
            **{"from": s},
            reason=f"{_REPAIR_REASON}: v{v} {'is deleted' if v in existing else 'does not exist'}",
        )
        for v, s in sorted(state.stages.items())
        if gone(v)
    ]
    events += [
        ev.make_event(ev.ALIAS_REMOVED, name, actor, now, version=v, alias=a, reason=_REPAIR_REASON)
        for a, v in sorted(state.aliases.items())
        if gone(v)
    ]
    new_state = state.changed(
        updated=now,
        stages={v: s for v, s in state.stages.items() if not gone(v)},
        aliases={a: v for a, v in state.aliases.items() if not gone(v)},
        deleted={v: t for v, t in state.deleted.items() if v in existing},
        tags={v: t for v, t in state.tags.items() if v in existing},
        descriptions={v: d for v, d in state.descriptions.items() if v in existing},
    )
    return new_state, events


def run_bucket_doctor(registry: S3Registry, *, repair: bool = False) -> DoctorReport:
    """Check (and with ``repair`` fix) the registry in a bucket, beside live writers.

    Args:
        registry: the ``s3://`` registry.
        repair: fold in versions a killed register left, write missing events, drop dangling
            stages and aliases, fix the digest index (each change a compare-and-swap).

    Returns:
        The findings; ``exit_code`` is 3 when errors remain.

    Raises:
        NotFoundError: no registry at the home (exit 4).
        RegistryError: the store cannot be read, or ``repair`` on a registry whose
            ``registry.json`` is missing or unreadable.
    """
    return _BucketDoctor(registry, repair).run()


# ---------------------------------------------------------------------- gc


def bucket_references(registry: S3Registry) -> set[str]:
    """sha256 of every blob a live version uses: its manifest and every file the manifest lists.

    Versions are found by listing their records (a version a killed register never committed
    counts too). A model whose state cannot be read counts all its versions as live.

    Raises:
        RegistryError: a version's record or manifest is missing or unreadable, so references
            are uncertain; nothing may be removed.
    """
    records: dict[str, list[int]] = {}
    for info in registry.objects.list("models/"):
        parts = info.key.split("/")
        if len(parts) == 4 and parts[2] == "versions":
            match = _NUMBERED.fullmatch(parts[3])
            if match is not None:
                records.setdefault(parts[1], []).append(int(match.group(1)))
    live: list[tuple[str, int, dict[str, Any]]] = []
    for name, numbers in sorted(records.items()):
        try:
            head = registry._head_or_none(name)
        except RegistryError:
            head = None  # which versions are deleted is unknown: keep them all
        deleted = head.state.deleted if head is not None else {}
        if (
            head is not None
            and head.moved is not None
            and (not records.get(str(head.state.renamed_to)) or _rename_unpublished(registry, name, head))
        ):
            # Renamed away, the new name not published yet or its records not in this listing
            # (published meanwhile): the versions moving are live.
            moved_deleted = (head.moved.get("state") or {}).get("deleted")
            deleted = {int(v): t for v, t in moved_deleted.items()} if isinstance(moved_deleted, dict) else {}
        for version in sorted(numbers):
            if version in deleted:
                continue
            try:
                facts = registry._facts(name, version)
            except RegistryError as exc:
                raise _uncertain(name, version, exc.message) from None
            if facts is None:  # removed since the listing
                continue
            live.append((name, version, facts))
    reads: list[_ManifestRead] = _parallel(lambda item: _read_manifest(registry, *item), live)
    referenced: set[str] = set()
    for (name, version, facts), read in zip(live, reads, strict=True):
        if read.manifest is None:
            raise _uncertain(name, version, str(read.problem))
        referenced.add(str(facts["manifest_sha256"]))
        referenced.update(entry.sha256 for entry in read.manifest.files)
    return referenced


def _rename_unpublished(registry: S3Registry, old: str, head: Head) -> bool:
    """Whether the rename ``head`` (a tombstone) records has not published its new name yet."""
    new = head.state.renamed_to
    if new is None:
        return False
    try:
        target = registry._head_or_none(new)
    except RegistryError:
        return True
    return target is None or target.state.renaming_from == old


def _uncertain(name: str, version: int, why: str) -> RegistryError:
    return RegistryError(
        f"cannot tell which blobs {name} v{version} uses: {why}",
        hint="run 'modelpack doctor'; gc removed nothing",
        path=version_key(name, version),
    )


def collect_bucket_garbage(
    registry: S3Registry, *, dry_run: bool = False, grace_seconds: float = DEFAULT_GRACE
) -> GcResult:
    """Remove what no live version uses and is older than ``grace_seconds`` (or only count it).

    Blobs no live version references, ``.probe/`` scratch objects and incomplete multipart
    uploads go. The order (candidates, then references, then a fresh HEAD of each candidate
    right before it goes) keeps every blob a concurrent register needs; see the module
    docstring for the bound on the grace period.

    Raises:
        NotFoundError: no registry at the home (exit 4).
        RegistryError: a live version's record or manifest is unreadable (nothing removed), or
            the store failed.
    """
    registry._check_registry(create=False)
    objects = registry.objects
    faults = registry._faults
    started = time.time()
    candidates: list[ObjectInfo] = []
    kept = 0
    for info in objects.list("blobs/"):
        match = _BLOB_KEY.fullmatch(info.key)
        if match is None:
            continue  # not a blob: doctor names it; gc leaves what it does not know alone
        if info.modified <= started - grace_seconds:
            candidates.append(info)
        else:
            kept += 1
    faults.point("gc.listed")
    referenced = bucket_references(registry)
    faults.point("gc.referenced")
    removed = freed = 0
    for info in candidates:
        sha = info.key.rsplit("/", 1)[-1]
        if sha in referenced:
            kept += 1
            continue
        current = objects.head(info.key)
        if current is None:
            continue  # gone already (another gc)
        if current.modified > time.time() - grace_seconds:
            kept += 1  # stored again, or refreshed by a register, since the listing
            continue
        if not dry_run:
            objects.delete(info.key)
            faults.point("gc.blob_removed")
        removed += 1
        freed += current.size
    removed_temp = 0
    cutoff = time.time() - grace_seconds
    for info in objects.list(".probe/"):
        if info.modified <= cutoff:
            if not dry_run:
                objects.delete(info.key)
            removed_temp += 1
    for key, upload_id, initiated in objects.list_uploads(""):
        if initiated <= cutoff:
            if not dry_run:
                objects.abort_upload(key, upload_id)
                faults.point("gc.upload_aborted")
            removed_temp += 1
    return GcResult(removed, freed, kept, removed_temp, dry_run)
