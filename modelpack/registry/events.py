"""The per-model event log: ``events.jsonl``, append-only, one JSON object per line.

Every change to a model (a version registered, a stage changed, an alias set or removed, a
version deleted, tags or a description changed) appends one event under the model lock *before* the change is committed, with
the log's previous size kept in the operation's journal. If the operation does not commit, the
append is rolled back by truncating to that size, so the log never tells of something that did
not happen. Readers that meet a journal of an uncommitted operation stop at the recorded size.

Because each event records the resulting state change, ``replay`` rebuilds a model's stages,
aliases and deletions from the log alone (``doctor --repair`` uses it when ``model.json`` is lost).
"""

from __future__ import annotations

import datetime as _dt
import getpass
import json
import os
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from modelpack import _json
from modelpack.names import Stage
from modelpack.registry._io import append_bytes, truncate

REGISTERED: Final = "registered"
STAGE_CHANGED: Final = "stage_changed"
ALIAS_SET: Final = "alias_set"
ALIAS_REMOVED: Final = "alias_removed"
DELETED: Final = "deleted"
TAGS_SET: Final = "tags_set"
DESCRIPTION_SET: Final = "description_set"
MODEL_DELETED: Final = "model_deleted"
RENAMED: Final = "renamed"
EVENT_TYPES: Final = (
    REGISTERED,
    STAGE_CHANGED,
    ALIAS_SET,
    ALIAS_REMOVED,
    DELETED,
    TAGS_SET,
    DESCRIPTION_SET,
    MODEL_DELETED,
    RENAMED,
)


def utc_now() -> str:
    """ISO-8601 UTC with microseconds and a Z, e.g. ``2025-01-31T12:00:00.123456Z``."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError, ImportError):
        # No passwd entry (common in containers): the uid is still worth recording.
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def current_host() -> str:
    try:
        return socket.gethostname() or "unknown"
    except OSError:
        return "unknown"


@dataclass(frozen=True)
class Actor:
    """Who is doing something, from where; recorded on versions and events."""

    user: str
    host: str
    pid: int

    @classmethod
    def current(cls) -> Actor:
        return cls(user=current_user(), host=current_host(), pid=os.getpid())


def make_event(kind: str, name: str, actor: Actor, time: str, **details: Any) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "event": kind,
        "name": name,
        "time": time,
        "user": actor.user,
        "host": actor.host,
        "pid": actor.pid,
        **details,
    }


def encode(events: list[dict[str, Any]]) -> bytes:
    return b"".join(
        (json.dumps(e, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        for e in events
    )


def append(path: Path, events: list[dict[str, Any]], *, durable: bool) -> int:
    """Append ``events`` and return the log size before the append (for rollback).

    A torn final line (from a writer killed mid-append whose operation was then rolled back by
    truncation... or not yet) must not swallow the new line, so an unterminated tail is cut first.
    Callers hold the model lock.
    """
    size = _sane_size(path, durable=durable)
    append_bytes(path, encode(events), durable=durable)
    return size


def _sane_size(path: Path, *, durable: bool) -> int:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    if size == 0:
        return 0
    with path.open("rb") as fh:
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return size
        # Find the end of the last complete line.
        chunk = 1 << 16
        pos = size
        while pos > 0:
            start = max(0, pos - chunk)
            fh.seek(start)
            block = fh.read(pos - start)
            idx = block.rfind(b"\n")
            if idx >= 0:
                keep = start + idx + 1
                break
            pos = start
        else:
            keep = 0
    truncate(path, keep, durable=durable)
    return keep


@dataclass
class EventLog:
    """A parsed log: the events, and lines that could not be parsed (1-based line numbers)."""

    events: list[dict[str, Any]] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)
    torn_tail: bool = False
    #: The line number of each of ``events``.
    lines: list[int] = field(default_factory=list)


def read(path: Path, *, limit_bytes: int | None = None) -> EventLog:
    """Parse the log, optionally only its first ``limit_bytes`` (an uncommitted tail is hidden)."""
    log = EventLog()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return log
    if limit_bytes is not None:
        data = data[:limit_bytes]
    lines = data.split(b"\n")
    last = lines.pop()  # text after the final newline: empty, or a torn line
    if last:
        log.torn_tail = True
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = _json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            log.bad_lines.append(number)
            continue
        if isinstance(event, dict) and isinstance(event.get("event"), str):
            log.events.append(event)
            log.lines.append(number)
        else:
            log.bad_lines.append(number)
    return log


@dataclass
class ReplayedState:
    created: str | None = None
    updated: str | None = None
    versions: set[int] = field(default_factory=set)
    stages: dict[int, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    deleted: dict[int, str] = field(default_factory=dict)
    tags: dict[int, dict[str, str]] = field(default_factory=dict)
    descriptions: dict[int, str | None] = field(default_factory=dict)
    description: str | None = None
    description_set: bool = False  # whether any event set the model's description
    model_tags: dict[str, str] = field(default_factory=dict)
    removed: str | None = None
    renamed_to: str | None = None
    count: int = 0


def replay(events: list[dict[str, Any]]) -> ReplayedState:
    """Fold a model's events into its stages, aliases and deletions."""
    state = ReplayedState()
    for event in events:
        kind = event.get("event")
        time = str(event.get("time", ""))
        version = event.get("version")
        state.count += 1
        state.created = state.created or time
        state.updated = time
        if kind == DESCRIPTION_SET and version is None:
            state.description = event.get("description")
            state.description_set = True
            continue
        if kind == TAGS_SET and version is None and isinstance(event.get("tags"), dict):
            state.model_tags = {str(k): str(v) for k, v in event["tags"].items()}
            continue
        if kind == MODEL_DELETED:
            state.removed = time
            for number in event.get("versions") or []:
                if isinstance(number, int):
                    _drop_version(state, number, time)
            state.stages.clear()
            state.aliases.clear()
            state.model_tags = {}
            state.description = None
            state.description_set = True
            continue
        if kind == RENAMED:
            if event.get("from") == event.get("name"):  # renamed away from this name
                state.removed = time
                state.renamed_to = str(event.get("to"))
            continue
        if kind == REGISTERED:
            state.removed = None  # registering a deleted name again revives it
        if not isinstance(version, int):
            continue
        if kind == TAGS_SET and isinstance(event.get("tags"), dict):
            state.tags[version] = {str(k): str(v) for k, v in event["tags"].items()}
        elif kind == DESCRIPTION_SET:
            state.descriptions[version] = event.get("description")
        elif kind == REGISTERED:
            state.versions.add(version)
        elif kind == STAGE_CHANGED:
            to = str(event.get("to", Stage.NONE.value))
            if to == Stage.NONE.value:
                state.stages.pop(version, None)
            else:
                state.stages[version] = to
        elif kind == ALIAS_SET:
            state.aliases[str(event.get("alias"))] = version
        elif kind == ALIAS_REMOVED:
            state.aliases.pop(str(event.get("alias")), None)
        elif kind == DELETED:
            _drop_version(state, version, time)
    return state


def _drop_version(state: ReplayedState, version: int, time: str) -> None:
    state.deleted[version] = time
    state.stages.pop(version, None)
    state.tags.pop(version, None)
    state.descriptions.pop(version, None)
    for alias in [a for a, v in state.aliases.items() if v == version]:
        del state.aliases[alias]
