"""Small durable-I/O primitives the registry is built from. Stdlib only.

Metadata is JSON, written to a temp file in the target's folder, fsynced, then renamed over the
target (readers see the old document or the new one, never half of either). Event-log lines are
appended with one ``write`` on an ``O_APPEND`` descriptor and fsynced.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from modelpack import _json
from modelpack._fs import fsync_path
from modelpack.errors import RegistryError
from modelpack.registry.faults import NO_FAULTS, Faults
from modelpack.registry.layout import TMP_SUFFIX


def dumps(document: Any) -> bytes:
    """Human-readable, deterministic JSON (sorted keys, two-space indent, final newline)."""
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def temp_name(target: Path) -> Path:
    """A fresh temp path beside ``target``; the dot prefix keeps it out of every listing."""
    return target.with_name(f".{target.name}.{secrets.token_hex(6)}{TMP_SUFFIX}")


def _write_all(fd: int, data: bytes, *, durable: bool) -> None:
    """Write every byte (retrying short writes), fsync when ``durable``, close ``fd``."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: Path, data: bytes, *, durable: bool, mode: int = 0o666) -> None:
    """Create ``path`` (which must not exist) with ``data``; fsync it when ``durable``.

    ``mode`` is filtered by the umask, as for any new file, so a team registry under umask 002
    stays group-writable and one under 077 stays private.
    """
    _write_all(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), data, durable=durable)


def atomic_write_json(
    path: Path,
    document: Any,
    *,
    durable: bool = True,
    faults: Faults = NO_FAULTS,
    phase: str | None = None,
) -> None:
    """Replace ``path`` with ``document`` atomically.

    ``phase`` names a crash point between the fsynced temp file and the rename.
    """
    tmp = temp_name(path)
    try:
        write_file(tmp, dumps(document), durable=durable)
        if phase:
            faults.point(phase)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_path(path.parent)


def read_json(path: Path, *, home: Path) -> dict[str, Any]:
    """Parse a metadata file; a missing file raises FileNotFoundError, a bad one RegistryError."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise RegistryError(
            f"cannot read registry file {_rel(path, home)}: {exc.strerror or exc}", path=str(path)
        ) from exc
    try:
        document = _json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise corrupt(path, home, str(exc)) from exc
    if not isinstance(document, dict):
        raise corrupt(path, home, "not a JSON object")
    return document


def corrupt(path: Path, home: Path, why: str) -> RegistryError:
    return RegistryError(
        f"registry metadata file {path} is corrupt: {why}",
        hint="run 'modelpack doctor' to see what is damaged ('--repair' fixes what it can)",
        path=str(path),
    )


def append_bytes(path: Path, data: bytes, *, durable: bool) -> None:
    """Append ``data`` with one write on an O_APPEND descriptor (retrying short writes)."""
    _write_all(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666), data, durable=durable)


def truncate(path: Path, size: int, *, durable: bool) -> None:
    """Cut ``path`` back to ``size`` bytes (rolling back an append that was never committed)."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _rel(path: Path, home: Path) -> str:
    try:
        return path.relative_to(home).as_posix()
    except ValueError:
        return str(path)
