"""Trust by content digest: packages and model files a user vouched for load even when the scan cannot clear them.

Some models carry code on purpose: a model class pickled by value (the generic flavor packed
from ``file.py:attr``, or a user's class dumped with cloudpickle) makes the scan report code
objects and computed names that no module allowlist can vouch for. ``modelpack trust TARGET``
records the digest of a folder's actual file contents, or of a model file's bytes, under
MODELPACK_HOME; ``validate`` and ``predict`` then accept that exact folder content, and ``pack``
that exact model file. Change one byte and the digest no longer matches, so the trust is gone.

Folder and file records are kept apart: trusting a model file never trusts a folder (the folder
``pack`` writes from it holds other bytes and is trusted on its own), nor the other way round.

Trust never comes from the package itself (SECURITY.md, principle 4): the record lives with the
user, keyed by a digest modelpack computes from the files, never by one the package states.

Format version: ``format_version`` in ``trust.json``; folders under ``packages``, model files
under ``files`` (added within version 1: older readers ignore the key, so they never take a file
record for a folder's). To change the layout, bump ``FORMAT_VERSION`` and keep ``_read``
accepting every older version.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import hashlib
import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from modelpack import _json
from modelpack._fs import HASH_CHUNK, atomic_write_text
from modelpack.digest import folder_digest, hash_files
from modelpack.errors import InputFileError, InvalidModelError, NotFoundError, RegistryError

TRUST_FILE: Final = "trust.json"
FORMAT_VERSION: Final = 1
FOLDER: Final = "folder"
FILE: Final = "file"
_SECTIONS: Final = {FOLDER: "packages", FILE: "files"}


@dataclass(frozen=True)
class TrustRecord:
    digest: str
    trusted_at: str
    user: str
    host: str
    source: str
    kind: str = FOLDER  # folder | file

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "digest": self.digest,
            "trusted_at": self.trusted_at,
            "user": self.user,
            "host": self.host,
            "source": self.source,
        }


@dataclass(frozen=True)
class TrustResult:
    action: str  # trusted | untrusted | unchanged
    record: TrustRecord

    def __repr__(self) -> str:
        from modelpack._html import one_line

        r = self.record
        return one_line(f"<TrustResult {self.action} {r.kind} {r.digest[:19]}… ({r.source}) by {r.user}>")

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, **self.record.to_dict()}


def _path(home: Path) -> Path:
    return home / TRUST_FILE


def _read(home: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """Every record, by kind (``folder``/``file``) and digest."""
    path = _path(home)
    if not path.is_file():
        return {kind: {} for kind in _SECTIONS}
    try:
        raw = _json.loads(path.read_text(encoding="utf-8"))
        if int(raw["format_version"]) > FORMAT_VERSION:
            raise RegistryError(f"{path} is from a newer modelpack", hint="upgrade modelpack")
        records = {FOLDER: raw["packages"], FILE: raw.get("files", {})}
        if not all(isinstance(section, dict) for section in records.values()):
            raise TypeError("packages or files is not a mapping")
    except (ValueError, KeyError, TypeError) as exc:
        raise RegistryError(
            f"{path} is corrupt: {exc}", hint=f"remove {path} and trust packages again"
        ) from exc
    return records


def _write(home: Path, records: dict[str, dict[str, dict[str, Any]]]) -> None:
    document: dict[str, Any] = {"format_version": FORMAT_VERSION}
    for kind, key in _SECTIONS.items():
        if records[kind] or key == "packages":
            document[key] = records[kind]
    atomic_write_text(_path(home), json.dumps(document, indent=2, sort_keys=True) + "\n")


def _record(digest: str, entry: dict[str, Any], kind: str) -> TrustRecord:
    return TrustRecord(
        digest=digest,
        trusted_at=str(entry.get("trusted_at", "")),
        user=str(entry.get("user", "")),
        host=str(entry.get("host", "")),
        source=str(entry.get("source", "")),
        kind=kind,
    )


def file_digest(fh: IO[bytes]) -> str:
    """``sha256:<hex>`` of the bytes read from ``fh`` (from where it stands to the end)."""
    digest = hashlib.sha256()
    while chunk := fh.read(HASH_CHUNK):
        digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def trust_package(target: Path, home: Path, *, source: str, remove: bool = False) -> TrustResult:
    """Record (or, with ``remove``, forget) the digest of a model folder's contents or a model file's bytes.

    Raises:
        NotFoundError: the target does not exist, or ``remove`` names content not trusted.
        InputFileError: the target is a file that is not a pickle, joblib, cloudpickle or skops file.
        InvalidModelError: the folder has symlinks escaping it.
        RegistryError: ``trust.json`` is corrupt or cannot be written.
    """
    if target.is_dir():
        kind, digest = FOLDER, folder_digest(hash_files(target))
    elif target.is_file():
        kind, digest = FILE, _model_file_digest(target, check_format=not remove)
    else:
        raise NotFoundError(f"model folder or file not found: {target}", path=str(target))
    records = _read(home)
    section = records[kind]
    if remove:
        entry = section.pop(digest, None)
        if entry is None:
            raise NotFoundError(f"{source} is not trusted (digest {digest[:19]}…)")
        _save(home, records)
        return TrustResult("untrusted", _record(digest, entry, kind))
    if digest in section:
        return TrustResult("unchanged", _record(digest, section[digest], kind))
    entry = {
        "trusted_at": _dt.datetime.now(_dt.timezone.utc).isoformat().replace("+00:00", "Z"),
        "user": _user(),
        "host": socket.gethostname(),
        "source": source,
    }
    section[digest] = entry
    _save(home, records)
    return TrustResult("trusted", _record(digest, entry, kind))


def _save(home: Path, records: dict[str, dict[str, dict[str, Any]]]) -> None:
    try:
        _write(home, records)
    except OSError as exc:
        raise RegistryError(f"cannot write {_path(home)}: {exc.strerror or exc}") from exc


def _model_file_digest(path: Path, *, check_format: bool) -> str:
    if check_format:
        from modelpack import safety

        if safety.scan_file(path).format == "unknown":
            raise InputFileError(
                f"{path} is not a pickle, joblib, cloudpickle or skops file",
                hint="trust a model file that pack reads, or a model folder",
            )
    with path.open("rb") as fh:
        return file_digest(fh)


def find_trust(folder: Path, home: Path | None, *, digest: str | None = None) -> TrustRecord | None:
    """The trust record matching ``folder``'s actual contents, if the user trusted them.

    ``digest`` is the folder digest of those contents when the caller has just hashed them
    (integrity checked them against the manifest), so they are not hashed a second time.
    """
    if home is None:
        return None
    packages = _read(home)[FOLDER]
    if not packages:
        return None
    if digest is None:
        try:
            digest = folder_digest(hash_files(folder))
        except InvalidModelError:  # escaping links or a FIFO: integrity fails it anyway
            return None
    entry = packages.get(digest)
    return None if entry is None else _record(digest, entry, FOLDER)


def find_file_trust(fh: IO[bytes], home: Path | None) -> TrustRecord | None:
    """The trust record matching the model file bytes read from ``fh``, if the user trusted them.

    Takes the open handle the caller then loads from (after ``seek(0)``), so the bytes loaded
    are the bytes whose digest was trusted.
    """
    if home is None:
        return None
    files = _read(home)[FILE]
    if not files:
        return None
    digest = file_digest(fh)
    entry = files.get(digest)
    return None if entry is None else _record(digest, entry, FILE)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
