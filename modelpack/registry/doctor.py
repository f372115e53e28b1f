"""``modelpack doctor``: check everything the registry stores, and optionally repair it.

Findings have a severity. An *error* is damage a reader can meet (a file that no longer matches
its digest, unreadable metadata, a stage or alias naming a missing version). A *warning* is
something readers never see but that wastes space or awaits completion (an interrupted
operation, staging left by a killed process, an orphan blob, a stale digest-index entry).
The registry is consistent when there are no errors. ``--repair`` (under the exclusive registry
lock) finishes or rolls back interrupted operations, removes leftovers and orphans, rebuilds
derived data (the digest index, a lost ``model.json`` from the event log, a lost
``version.json`` from the log and the version's manifest), relinks files into the blob store
and drops stages and aliases that point nowhere. Damaged content with no intact copy stays an
error: the doctor reports which versions it affects.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path
from typing import Any

from modelpack._text import plural
from modelpack.digest import MANIFEST_FILE
from modelpack.errors import ModelpackError, RegistryError, UsageError
from modelpack.names import DEFAULT_STAGES, NO_STAGE, StageSet, validate_name
from modelpack.package.manifest import Manifest, read_manifest
from modelpack.registry import documents, index, journal, lock
from modelpack.registry import events as ev
from modelpack.registry._io import atomic_write_json, dumps, read_json, truncate, write_file
from modelpack.registry.blobs import blob_mode, hash_file, is_blob_name, iter_blobs
from modelpack.registry.changes import current_state, undeclared_problem
from modelpack.registry.layout import FORMAT_VERSION, TMP_SUFFIX, VERSION_FILE, Layout, migrate
from modelpack.registry.records import (
    ERROR,
    WARNING,
    DoctorReport,
    Finding,
    ModelState,
    check_version_facts,
    is_storage_error,
    load_model_state,
)
from modelpack.registry.store import FileRegistry


class _Doctor:
    def __init__(self, registry: FileRegistry, repair: bool) -> None:
        self.registry = registry
        self.layout: Layout = registry.layout
        self.home = registry.home
        self.repair = repair
        self.durable = registry.durable
        self.report = DoctorReport(home=str(self.home), repair=repair)
        # (device, inode) -> sha256, so a blob shared by many versions is hashed once.
        self._hashes: dict[tuple[int, int], str] = {}
        self.referenced: set[str] = set()
        self.referenced_uncertain = False
        #: Models whose event log has unreadable or malformed events (nothing is rebuilt from it).
        self.damaged_logs: set[str] = set()
        self.stages: StageSet = DEFAULT_STAGES

    # -------------------------------------------------------------- shared steps

    def rel(self, path: Path) -> str:
        return self.layout.relative(path)

    def add(self, severity: str, kind: str, path: Path, message: str, repaired: bool = False) -> Finding:
        finding = Finding(severity, kind, self.rel(path), message, repaired)
        self.report.findings.append(finding)
        return finding

    def fix(self, finding: Finding, action: Any) -> None:
        """Run a repair action; mark the finding repaired only if it worked.

        Every action changes nothing when it fails. A full disk (or failing, read-only storage)
        stops the whole repair there: the next repairs would fail the same way.
        """
        if not self.repair:
            return
        try:
            action()
        except OSError as exc:
            if is_storage_error(exc):
                raise self.stopped(exc, f"repairing {finding.path}") from exc
            finding.message += f" (repair failed: {exc})"
            return
        except (ModelpackError, ValueError) as exc:
            finding.message += f" (repair failed: {exc})"
            return
        finding.repaired = True

    def stopped(
        self, exc: OSError, doing: str, outcome: str = "that repair changed nothing"
    ) -> RegistryError:
        """The error that ends ``--repair`` when the storage refuses a write."""
        done = len([f for f in self.report.findings if f.repaired])
        where = f" ({exc.filename})" if exc.filename else ""
        earlier = f"; the {plural(done, 'repair')} before it stand" if done else ""
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
        return RegistryError(
            f"doctor --repair stopped while {doing}: {exc.strerror or exc}{where}; {outcome}{earlier}",
            hint=("free some space ('modelpack gc' removes unused blobs)" if full else "check the storage")
            + ", then run 'modelpack doctor --repair' again",
            path=exc.filename if isinstance(exc.filename, str) else None,
        )

    def sha_of(self, path: Path) -> str:
        st = path.stat()
        key = (st.st_dev, st.st_ino)
        cached = self._hashes.get(key)
        if cached is None:
            cached = hash_file(path)
            self._hashes[key] = cached
            self.report.bytes_hashed += st.st_size
        return cached

    # -------------------------------------------------------------- run

    def run(self) -> DoctorReport:
        if not self.home.exists():
            return self.report
        registry_file = self.layout.registry_file
        try:
            self.registry._check_format()
            self.stages = self.registry.stages
        except RegistryError as exc:
            self.add(ERROR, "corrupt_metadata", registry_file, exc.message)
        if self.repair:
            for name in self.registry.model_dirs():
                try:
                    note = journal.recover(self.layout, name, durable=self.durable)
                    # A model a redeclaration of the stages did not get to is rewritten now.
                    notes: list[str] = []
                    self.registry._finish_remap(name, notes)
                    note = "; ".join(n for n in (note, *notes) if n) or None
                except (RegistryError, ValueError):
                    continue  # a damaged journal or model.json: the checks below report it
                except OSError as exc:
                    raise self.stopped(
                        exc,
                        f"finishing an interrupted operation of {name}",
                        "the operation stays for the next run to finish or roll back",
                    ) from exc
                if note:
                    self.add(WARNING, "interrupted_operation", self.layout.models, note, repaired=True)
        for name in self.model_entries():
            self.check_model(name)
        self.check_blobs()
        self.check_tmp()
        return self.report

    def model_entries(self) -> list[str]:
        try:
            entries = sorted([e.name for e in os.scandir(self.layout.models)])
        except FileNotFoundError:
            return []
        names = []
        for entry in entries:
            path = self.layout.models / entry
            try:
                validate_name(entry)
            except UsageError:
                self.add(WARNING, "unexpected_entry", path, f"{entry!r} is not a model folder; left alone")
                continue
            if not path.is_dir() or path.is_symlink():
                self.add(WARNING, "unexpected_entry", path, "not a model folder; left alone")
                continue
            names.append(entry)
        return names

    # -------------------------------------------------------------- models

    def check_model(self, name: str) -> None:
        model_dir = self.layout.model(name)
        self.check_journal(name)
        self.check_temp_files(model_dir)
        self.check_temp_files(self.layout.digests(name))
        log = self.check_events(name)
        numbers = index.version_numbers(self.layout, name)
        state = self.load_state(name, numbers, log)
        if state is None:
            if numbers:  # its versions' blobs are unaccounted for: none may look orphaned
                self.referenced_uncertain = True
            return
        self.report.models += 1
        self.check_unexpected_versions(name)
        live_digests: dict[str, list[int]] = {}
        registered = {
            e["version"]
            for e in log.events
            if e.get("event") == ev.REGISTERED and documents.is_int(e.get("version"))
        }
        for version in numbers:
            facts = self.load_facts(name, version, log)
            if facts is None:
                continue
            if version in state.deleted:
                self.check_deleted_version(name, version)
                continue
            self.report.versions += 1
            live_digests.setdefault(str(facts["digest"]), []).append(version)
            self.check_version_files(name, version, facts)
            if version not in registered:
                self.add(
                    WARNING,
                    "event_missing",
                    self.layout.events(name),
                    f"no 'registered' event for {name} v{version} in the event log",
                )
        self.check_state_refs(name, state, numbers)
        self.check_index(name, state, live_digests)

    def check_journal(self, name: str) -> None:
        path = self.layout.journal(name)
        if not path.exists():
            return
        if lock.is_held(self.layout.model_lock(name)):
            return  # a live writer is mid-operation; not a finding
        try:
            pending = journal.read(self.layout, name)
        except RegistryError as exc:
            finding = self.add(ERROR, "corrupt_metadata", path, exc.message)
            self.fix(finding, lambda: path.unlink())
            return
        if pending is None:
            return
        outcome = "finish" if journal.committed(self.layout, pending) else "roll back"
        finding = self.add(
            WARNING,
            "interrupted_operation",
            path,
            f"an interrupted {pending.op} of {name} v{pending.version} (readers do not see it); "
            f"--repair will {outcome} it",
        )
        self.fix(finding, lambda: journal.recover(self.layout, name, durable=self.durable))

    def check_temp_files(self, folder: Path) -> None:
        try:
            entries = [e.name for e in os.scandir(folder)]
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in sorted(entries):
            if entry.startswith(".") and entry.endswith(TMP_SUFFIX):
                path = folder / entry
                finding = self.add(WARNING, "leftover_temp", path, "temp file left by an interrupted write")
                self.fix(finding, path.unlink)

    def check_events(self, name: str) -> ev.EventLog:
        path = self.layout.events(name)
        log = ev.read(path)
        pending = None
        with contextlib.suppress(RegistryError):
            pending = journal.read(self.layout, name)
        if log.bad_lines:
            self.add(
                ERROR,
                "corrupt_events",
                path,
                f"unreadable event log lines: {', '.join(map(str, log.bad_lines[:20]))}"
                f"; {_HISTORY_NOT_REPAIRED}",
            )
        malformed = []
        checked = len(log.events)
        if pending is not None and not _committed(self.layout, pending):
            # Events past the journal's mark are an unfinished operation's, rolled back unseen.
            checked = len(ev.read(path, limit_bytes=pending.log_size).events)
        # A renamed model's log keeps the events recorded under its earlier names.
        names = {name} | {
            str(e.get(k)) for e in log.events if e.get("event") == ev.RENAMED for k in ("from", "to")
        }
        for number, event in zip(log.lines[:checked], log.events[:checked], strict=True):
            found = documents.problems("event", event, stages=(NO_STAGE, *self.stages.known))
            if event.get("name") not in names and not any(p.key == "name" for p in found):
                found.append(documents.Problem("name", "invalid", repr(name)))
            if found:
                malformed.append(f"line {number}: {documents.describe(found)}")
        if malformed:
            shown = "; ".join(malformed[:5]) + (
                f"; ... ({len(malformed) - 5} more)" if len(malformed) > 5 else ""
            )
            self.add(ERROR, "malformed_event", path, f"{shown}; {_HISTORY_NOT_REPAIRED}")
        if log.bad_lines or malformed:
            self.damaged_logs.add(name)
        if log.torn_tail and pending is None:
            finding = self.add(WARNING, "torn_event", path, "the last event line is incomplete")

            def cut() -> None:
                data = path.read_bytes()
                truncate(path, data.rfind(b"\n") + 1, durable=self.durable)

            self.fix(finding, cut)
        return log

    def load_state(self, name: str, numbers: list[int], log: ev.EventLog) -> ModelState | None:
        path = self.layout.model_file(name)
        problem: str | None = None
        old: dict[str, Any] = {}
        try:
            raw = read_json(path, home=self.home)
        except FileNotFoundError:
            if not numbers:
                finding = self.add(
                    WARNING, "empty_model", self.layout.model(name), "a model folder with nothing in it"
                )
                self.fix(finding, lambda: journal.remove_tree(self.layout.model(name)))
                return None
            problem = "model.json is missing"
        except RegistryError as exc:
            problem = exc.message
        else:
            old = raw
            try:
                raw = migrate(raw, what="model.json")
            except ValueError as exc:
                if _newer(raw):  # written by a newer modelpack: never rewrite it
                    self.add(ERROR, "corrupt_metadata", path, str(exc))
                    return None
                found = documents.problems("model.json", raw)
                problem = f"model.json is malformed: {documents.describe(found) or exc}"
            else:
                found = documents.problems("model.json", raw)
                if found:
                    problem = f"model.json is malformed: {documents.describe(found)}"
                else:
                    state = load_model_state(raw, path=path, home=self.home)
                    if state.name != name:
                        self.add(ERROR, "corrupt_metadata", path, f"model.json names model {state.name!r}")
                        return None
                    if state.stages_generation > self.stages.generation:
                        self.add(
                            ERROR,
                            "corrupt_metadata",
                            path,
                            f"model.json records stages generation {state.stages_generation}; "
                            f"registry.json declares generation {self.stages.generation}",
                        )
                        return None
                    if state.stages_generation < self.stages.generation and state.stages:
                        self.add(
                            WARNING,
                            "stages_not_renamed",
                            path,
                            f"written before the stages were redeclared (generation "
                            f"{state.stages_generation}, now {self.stages.generation}); readers translate it, "
                            "--repair or the model's next change rewrites it",
                        )
                    current = current_state(state, self.stages)
                    undeclared = undeclared_problem(current, self.stages)
                    if undeclared is None:
                        return current
                    problem = f"model.json is malformed: a version is in an undeclared stage: {undeclared}"
        finding = self.add(ERROR, "corrupt_metadata", path, problem)
        if not log.events:
            finding.message += "; no event log to rebuild it from"
            return None
        if name in self.damaged_logs:
            finding.message += "; --repair cannot rebuild it while the event log is damaged too"
            return None
        replayed = ev.replay(log.events)
        revision = old.get("revision")
        # The description given at the first register lives only in model.json; a later change
        # is in the log.
        description = replayed.description if replayed.description_set else old.get("description")
        rebuilt = ModelState(
            name=name,
            created=replayed.created or ev.utc_now(),
            updated=replayed.updated or ev.utc_now(),
            # Past any revision an interrupted operation's journal may be waiting for.
            revision=max(replayed.count, revision if documents.is_int(revision) else 0) + 1,
            description=description if isinstance(description, str) else None,
            stages=replayed.stages,
            aliases=replayed.aliases,
            deleted=replayed.deleted,
            tags=replayed.tags,
            descriptions=replayed.descriptions,
            stages_generation=self.stages.generation,
            model_tags=replayed.model_tags,
            removed=replayed.removed,
            renamed_to=replayed.renamed_to,
        )
        finding.message += "; --repair rebuilds it from the event log"
        self.fix(finding, lambda: atomic_write_json(path, rebuilt.to_json(), durable=self.durable))
        return rebuilt

    def check_unexpected_versions(self, name: str) -> None:
        try:
            entries = [e.name for e in os.scandir(self.layout.versions(name))]
        except FileNotFoundError:
            return
        for entry in sorted(entries):
            if not (entry.isascii() and entry.isdigit() and not entry.startswith("0")):
                self.add(
                    WARNING, "unexpected_entry", self.layout.versions(name) / entry, "not a version folder"
                )

    def load_facts(self, name: str, version: int, log: ev.EventLog) -> dict[str, Any] | None:
        path = self.layout.version_file(name, version)
        old: dict[str, Any] = {}
        try:
            old = read_json(path, home=self.home)
            facts = check_version_facts(dict(old), path=path, home=self.home)
            if facts["name"] != name or facts["version"] != version:
                raise RegistryError(f"{path} describes {facts['name']} v{facts['version']}")
            unknown = [p for p in documents.problems("version.json", facts) if p.what == "unknown"]
            if unknown:
                self.add(
                    ERROR,
                    "corrupt_metadata",
                    path,
                    f"version.json is malformed: {documents.describe(unknown)}; --repair cannot tell "
                    "what it held (version.json is immutable): rename or remove it by hand",
                )
            return facts
        except FileNotFoundError:
            problem = "version.json is missing"
        except RegistryError as exc:
            if _newer(old):
                self.add(ERROR, "corrupt_metadata", path, exc.message)
                self.referenced_uncertain = True
                return None
            problem = exc.message
        finding = self.add(ERROR, "corrupt_metadata", path, problem)
        rebuilt = self.rebuild_facts(name, version, log, old)
        if rebuilt is None:
            finding.message += "; nothing to rebuild it from"
            self.referenced_uncertain = True
            return None
        dropped = [p.key for p in documents.problems("version.json", old) if p.what == "unknown"]
        finding.message += "; --repair rebuilds it from the event log and the manifest" + (
            f" (dropping unknown {', '.join(map(repr, dropped))})" if dropped else ""
        )

        def write() -> None:
            tmp = path.with_name(f".{VERSION_FILE}.rebuild{TMP_SUFFIX}")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            try:
                write_file(tmp, dumps(rebuilt), durable=self.durable)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise

        self.fix(finding, write)
        return rebuilt

    def rebuild_facts(
        self, name: str, version: int, log: ev.EventLog, old: dict[str, Any]
    ) -> dict[str, Any] | None:
        """version.json from the ``registered`` event and the stored manifest; what the event
        and manifest cannot tell (flavors, signature, tags...) is kept from ``old`` where it is
        well-formed."""
        event = next(
            (e for e in log.events if e.get("event") == ev.REGISTERED and e.get("version") == version),
            None,
        )
        folder = self.layout.version_model(name, version)
        try:
            manifest = read_manifest(folder)
        except ModelpackError:
            manifest = None
        if event is None or manifest is None or manifest.digest != event.get("digest"):
            return None
        if documents.problems("event", event):
            return None
        facts: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "name": name,
            "version": version,
            "created": event.get("time"),
            "user": event.get("user"),
            "host": event.get("host"),
            "source": event.get("source"),
            "digest": manifest.digest,
            "size": manifest.total_size,
            "file_count": len(manifest.files),
            "manifest_sha256": hash_file(folder / MANIFEST_FILE),
            "flavors": [],
            "signature": None,
            "mlmodel": {},
            "description": None,
            "tags": {},
            "rebuilt": True,
        }
        shape = documents.SHAPES["version.json"]
        kept = (
            "flavors",
            "signature",
            "mlmodel",
            "description",
            "tags",
            "modelpack_version",
            "origin",
            "provenance",
        )
        for key in kept:
            if key in old and shape[key].rule(old[key]) is None:
                facts[key] = old[key]
        return facts

    def check_deleted_version(self, name: str, version: int) -> None:
        folder = self.layout.version_model(name, version)
        if folder.exists():
            finding = self.add(
                WARNING,
                "deleted_files_remain",
                folder,
                f"files of deleted {name} v{version} are still stored",
            )
            self.fix(finding, lambda: journal.remove_tree(folder))

    def check_version_files(self, name: str, version: int, facts: dict[str, Any]) -> None:
        folder = self.layout.version_model(name, version)
        label = f"{name} v{version}"
        if not folder.is_dir():
            self.add(ERROR, "missing_files", folder, f"the files of {label} are missing")
            self.referenced_uncertain = True
            return
        manifest_path = folder / MANIFEST_FILE
        manifest: Manifest | None
        try:
            manifest = read_manifest(folder)
        except ModelpackError:
            manifest = None
        if manifest is None:
            self.add(
                ERROR, "corrupt_metadata", manifest_path, f"the manifest of {label} is missing or unreadable"
            )
            self.referenced_uncertain = True
            return
        self.referenced.update(f.sha256 for f in manifest.files)
        if self.sha_of(manifest_path) != facts.get("manifest_sha256") or manifest.digest != facts["digest"]:
            self.add(ERROR, "digest_mismatch", manifest_path, f"the manifest of {label} was altered")
        expected = {f.path: f for f in manifest.files}
        seen: set[str] = set()
        for dirpath, _dirs, files in os.walk(folder):
            for filename in files:
                path = Path(dirpath) / filename
                rel = path.relative_to(folder).as_posix()
                if rel == MANIFEST_FILE:
                    continue
                seen.add(rel)
                entry = expected.get(rel)
                if entry is None:
                    finding = self.add(
                        ERROR, "unexpected_file", path, f"{label} has a file its manifest lacks"
                    )
                    self.fix(finding, path.unlink)
                    continue
                self.check_stored_file(label, path, entry.sha256)
        for rel in sorted(set(expected) - seen):
            path = folder / rel
            blob = self.layout.blob(expected[rel].sha256)
            finding = self.add(ERROR, "missing_files", path, f"{label} lost {rel}")
            if blob.is_file() and self.sha_of(blob) == expected[rel].sha256:
                finding.message += "; --repair restores it from the blob store"

                def restore(p: Path = path, b: Path = blob) -> None:
                    made = not p.parent.exists()
                    p.parent.mkdir(parents=True, exist_ok=True)
                    try:
                        os.link(b, p)
                    except BaseException:
                        if made:
                            with contextlib.suppress(OSError):
                                p.parent.rmdir()
                        raise

                self.fix(finding, restore)

    def check_stored_file(self, label: str, path: Path, sha: str) -> None:
        self.report.files_checked += 1
        blob = self.layout.blob(sha)
        st = path.lstat()
        if not stat.S_ISREG(st.st_mode):
            self.add(ERROR, "digest_mismatch", path, f"{label}: not a regular file")
            return
        actual = self.sha_of(path)
        blob_ok = blob.is_file() and self.sha_of(blob) == sha
        if actual != sha:
            finding = self.add(ERROR, "digest_mismatch", path, f"{label}: file does not match its digest")
            if blob_ok and not blob.samefile(path):
                finding.message += "; --repair restores it from the blob store"
                self.fix(finding, lambda: _relink(blob, path))
            return
        if not blob.exists():
            finding = self.add(
                WARNING, "blob_missing", path, f"{label}: content is intact but not in the blob store"
            )
            self.fix(finding, lambda: _adopt(path, blob))
        elif blob_ok and not blob.samefile(path):
            finding = self.add(WARNING, "not_deduplicated", path, f"{label}: stored as a separate copy")
            self.fix(finding, lambda: _relink(blob, path))

    def check_state_refs(self, name: str, state: ModelState, numbers: list[int]) -> None:
        existing = set(numbers)
        bad_stages = [v for v in state.stages if v not in existing or v in state.deleted]
        bad_aliases = [a for a, v in state.aliases.items() if v not in existing or v in state.deleted]
        if not bad_stages and not bad_aliases:
            return
        path = self.layout.model_file(name)
        parts = [f"stage of missing v{v}" for v in bad_stages] + [
            f"alias {a!r} -> missing v{state.aliases[a]}" for a in bad_aliases
        ]
        finding = self.add(ERROR, "dangling_reference", path, "; ".join(parts))
        now = ev.utc_now()
        fixed = state.changed(
            updated=now,
            stages={v: s for v, s in state.stages.items() if v not in bad_stages},
            aliases={a: v for a, v in state.aliases.items() if a not in bad_aliases},
        )
        actor = ev.Actor.current()

        def apply() -> None:
            removal = [
                ev.make_event(
                    ev.ALIAS_REMOVED,
                    name,
                    actor,
                    now,
                    version=state.aliases[a],
                    alias=a,
                    reason="doctor --repair",
                )
                for a in bad_aliases
            ]
            events = self.layout.events(name)
            size = ev.append(events, removal, durable=self.durable) if removal else None
            try:
                atomic_write_json(path, fixed.to_json(), durable=self.durable)
            except BaseException:
                if size is not None:  # the log must not tell of a change that did not happen
                    with contextlib.suppress(OSError):
                        truncate(events, size, durable=self.durable)
                raise

        self.fix(finding, apply)

    def check_index(self, name: str, state: ModelState, live: dict[str, list[int]]) -> None:
        folder = self.layout.digests(name)
        stale: list[str] = []
        for digest, versions in live.items():
            found = index.lookup(self.layout, name, digest, state.deleted)
            if found is None or found not in versions or not self.entry_ok(name, digest):
                stale.append(digest)
        known = {f"{d.split(':', 1)[1]}.json" for d in live}
        with contextlib.suppress(FileNotFoundError):
            for entry in [e.name for e in os.scandir(folder)]:
                if entry.endswith(".json") and entry not in known:
                    stale.append("sha256:" + entry[: -len(".json")])
        if not stale:
            return
        finding = self.add(
            WARNING,
            "stale_index",
            folder,
            f"{len(stale)} digest-index entries of {name} are missing or stale",
        )

        def rebuild() -> None:
            for digest in stale:
                if digest in live:
                    index.write(self.layout, name, digest, live[digest][0], durable=self.durable)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        self.layout.digest_entry(name, digest).unlink()

        self.fix(finding, rebuild)

    def entry_ok(self, name: str, digest: str) -> bool:
        try:
            raw = read_json(self.layout.digest_entry(name, digest), home=self.home)
        except (FileNotFoundError, RegistryError):
            return False
        return not documents.problems("digest entry", raw)

    # -------------------------------------------------------------- blobs and staging

    def check_blobs(self) -> None:
        for blob in iter_blobs(self.layout):
            if not is_blob_name(blob.name) or not blob.is_file() or blob.is_symlink():
                finding = self.add(WARNING, "unexpected_entry", blob, "not a blob")
                self.fix(finding, lambda b=blob: journal.remove_tree(b))
                continue
            if blob.parent.name != blob.name[:2]:
                self.add(WARNING, "unexpected_entry", blob, "blob in the wrong shard folder")
                continue
            self.report.blobs_checked += 1
            referenced = blob.name in self.referenced
            if not referenced and not self.referenced_uncertain:
                finding = self.add(WARNING, "orphan_blob", blob, "no version uses this blob (gc removes it)")
                self.fix(finding, blob.unlink)
                continue
            if self.sha_of(blob) != blob.name:
                users = "" if referenced else " (unused)"
                finding = self.add(
                    ERROR, "digest_mismatch", blob, f"blob content does not match its name{users}"
                )
                if not referenced:
                    self.fix(finding, blob.unlink)
                continue
            if stat.S_IMODE(blob.stat().st_mode) & 0o222:
                finding = self.add(WARNING, "blob_writable", blob, "blob is writable; it should be read-only")
                self.fix(finding, lambda b=blob: b.chmod(blob_mode()))

    def check_tmp(self) -> None:
        tmp = self.layout.tmp
        try:
            entries = sorted([e.name for e in os.scandir(tmp)])
        except FileNotFoundError:
            return
        # An operation's staging is "<token>" plus the lock file "<token>.lock" it holds.
        tokens = sorted({e[: -len(".lock")] if e.endswith(".lock") else e for e in entries})
        for token in tokens:
            owner = tmp / f"{token}.lock"
            if not self.repair and lock.is_held(owner):
                continue  # a running operation's staging
            paths = [p for p in (tmp / token, owner) if p.exists() or p.is_symlink()]
            finding = self.add(
                WARNING, "leftover_staging", paths[0], "staging left by an interrupted process"
            )

            def remove(targets: list[Path] = paths) -> None:
                for target in targets:
                    journal.remove_tree(target)

            self.fix(finding, remove)


_HISTORY_NOT_REPAIRED = (
    "--repair leaves the event log alone (it is the model's history): restore events.jsonl "
    "from a backup, or fix the line by hand"
)


def _committed(layout: Layout, pending: journal.Journal) -> bool:
    try:
        return journal.committed(layout, pending)
    except (RegistryError, ValueError):
        return False


def _newer(raw: dict[str, Any]) -> bool:
    """A document of a newer format than this modelpack reads: reported, never rewritten."""
    version = raw.get("format_version")
    return documents.is_int(version) and version > FORMAT_VERSION


def _relink(blob: Path, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.relink{TMP_SUFFIX}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.link(blob, tmp)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _adopt(path: Path, blob: Path) -> None:
    made = not blob.parent.exists()
    blob.parent.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    path.chmod(blob_mode())
    try:
        os.link(path, blob)
    except BaseException:
        with contextlib.suppress(OSError):
            path.chmod(mode)
            if made:
                blob.parent.rmdir()
        raise


def run_doctor(registry: FileRegistry, *, repair: bool = False) -> DoctorReport:
    """Check (and with ``repair`` fix) the registry at ``registry.home``.

    Without ``repair`` it takes the registry lock shared, so writers keep working; with it,
    exclusively, so nothing else runs while files are changed.
    """
    try:
        registry._require_registry()
    except RegistryError:
        if repair:  # nothing is repaired in a registry of unknown format
            raise
        # A damaged registry.json: run() reports it with everything else.
    if not registry.home.exists():
        return DoctorReport(home=str(registry.home), repair=repair)
    if repair:
        registry._ensure_home()
    elif not registry.layout.locks.is_dir():
        return _Doctor(registry, repair).run()
    with registry._guard("check the registry"), registry._registry_lock(exclusive=repair):
        return _Doctor(registry, repair).run()
