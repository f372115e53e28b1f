"""The intent journal that makes every multi-step change all-or-nothing.

A writer holding a model's lock writes ``journal.json`` (fsynced) before it touches the event
log, then appends its events, then performs the single commit step (renaming a staged version
folder into place, or replacing ``model.json``), then finishes (derived data, file removal) and
deletes the journal. The journal records the event log's size before the append, how to tell
whether the commit happened, and what finishing or rolling back involves.

Since a journal exists only while its writer holds the model lock, whoever next holds that lock
and still finds a journal knows its writer died. ``recover`` then rolls the operation forward
(commit happened: finish it) or back (it did not: truncate the log, remove the staged files).
Every writer does this on taking the lock; ``doctor --repair`` does it for all models.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelpack._fs import fsync_path
from modelpack.registry import documents, index
from modelpack.registry._io import atomic_write_json, corrupt, file_size, read_json, truncate
from modelpack.registry.faults import NO_FAULTS, Faults
from modelpack.registry.layout import FORMAT_VERSION, Layout
from modelpack.registry.records import load_model_state


@dataclass(frozen=True)
class Journal:
    op: str
    name: str
    version: int
    log_size: int
    commit_path: str | None = None
    commit_revision: int | None = None
    state: dict[str, Any] | None = None
    digest: str | None = None
    rollback_remove: tuple[str, ...] = ()
    forward_remove: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "op": self.op,
            "name": self.name,
            "version": self.version,
            "log_size": self.log_size,
            "commit_path": self.commit_path,
            "commit_revision": self.commit_revision,
            "state": self.state,
            "digest": self.digest,
            "rollback_remove": list(self.rollback_remove),
            "forward_remove": list(self.forward_remove),
            "pid": os.getpid(),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Journal:
        return cls(
            op=str(raw["op"]),
            name=str(raw["name"]),
            version=int(raw["version"]),
            log_size=int(raw["log_size"]),
            commit_path=raw.get("commit_path"),
            commit_revision=raw.get("commit_revision"),
            state=raw.get("state"),
            digest=raw.get("digest"),
            rollback_remove=tuple(raw.get("rollback_remove") or ()),
            forward_remove=tuple(raw.get("forward_remove") or ()),
        )


def write(layout: Layout, journal: Journal, *, durable: bool) -> None:
    atomic_write_json(layout.journal(journal.name), journal.to_json(), durable=durable)


def read(layout: Layout, name: str) -> Journal | None:
    """The pending journal of ``name``, or None. A damaged journal raises RegistryError."""
    path = layout.journal(name)
    try:
        raw = read_json(path, home=layout.home)
    except FileNotFoundError:
        return None
    try:
        documents.check("journal.json", raw)
        return Journal.from_json(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise corrupt(path, layout.home, f"bad journal: {exc}") from exc


def _model_revision(layout: Layout, name: str) -> int:
    path = layout.model_file(name)
    try:
        return load_model_state(read_json(path, home=layout.home), path=path, home=layout.home).revision
    except FileNotFoundError:
        return -1


def committed(layout: Layout, journal: Journal) -> bool:
    """Did the journaled operation reach its commit step?"""
    if journal.op == "rename" and journal.commit_path is not None:
        # Committed when the new name's folder is this rename's copy (same creation time), not
        # a model registered under that name after the renamer died.
        path = _inside(layout, journal.commit_path) / "model.json"
        try:
            raw = read_json(path, home=layout.home)
        except FileNotFoundError:
            return False
        return isinstance(journal.state, dict) and raw.get("created") == journal.state.get("created")
    if journal.commit_path is not None:
        return _inside(layout, journal.commit_path).exists()
    if journal.commit_revision is not None:
        return _model_revision(layout, journal.name) >= journal.commit_revision
    return False


def _inside(layout: Layout, rel: str) -> Path:
    """A journal path, refused unless it stays inside the registry (journals are input too)."""
    path = layout.home / rel
    if rel.startswith("/") or ".." in Path(rel).parts:
        raise ValueError(f"journal path {rel!r} leaves the registry")
    return path


def remove_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def finish(layout: Layout, journal: Journal, *, durable: bool, faults: Faults = NO_FAULTS) -> None:
    """Roll forward: everything after the commit step. Idempotent."""
    if journal.state is not None and _model_revision(layout, journal.name) < int(
        journal.state.get("revision", 0)
    ):
        atomic_write_json(layout.model_file(journal.name), journal.state, durable=durable)
    deleted: dict[int, Any] = {}
    if journal.state is not None:
        deleted = {int(v): t for v, t in dict(journal.state.get("deleted") or {}).items()}
    if journal.digest is not None:
        if journal.op == "register":
            index.record(layout, journal.name, journal.digest, journal.version, deleted, durable=durable)
        elif journal.op == "delete":
            index.forget(layout, journal.name, journal.digest, deleted, durable=durable)
    faults.point(f"{journal.op}.finishing")
    for rel in journal.forward_remove:
        remove_tree(_inside(layout, rel))
    for rel in journal.rollback_remove:
        # Staged leftovers (already renamed away on success, so usually absent).
        remove_tree(_inside(layout, rel))
    clear(layout, journal.name, durable=durable)


def rollback(layout: Layout, journal: Journal, *, durable: bool) -> None:
    """Roll back: undo the event-log append and drop staged files. Idempotent."""
    events = layout.events(journal.name)
    if file_size(events) > journal.log_size:
        truncate(events, journal.log_size, durable=durable)
    for rel in journal.rollback_remove:
        remove_tree(_inside(layout, rel))
    clear(layout, journal.name, durable=durable)


def clear(layout: Layout, name: str, *, durable: bool) -> None:
    with contextlib.suppress(FileNotFoundError):
        layout.journal(name).unlink()
    if durable:
        with contextlib.suppress(FileNotFoundError):
            fsync_path(layout.model(name))


def recover(layout: Layout, name: str, *, durable: bool) -> str | None:
    """Complete or undo a dead writer's operation on ``name``. Caller holds the model lock.

    Returns:
        None when there was nothing to do, else a one-line description of what was done.
    """
    journal = read(layout, name)
    if journal is None:
        return None
    if committed(layout, journal):
        finish(layout, journal, durable=durable)
        return f"finished an interrupted {journal.op} of {name} v{journal.version}"
    rollback(layout, journal, durable=durable)
    return f"rolled back an interrupted {journal.op} of {name} v{journal.version}"
