"""Trust by content digest: packages a user vouched for load even when the scan cannot clear them.

Some packages carry code on purpose: a model class pickled by value (the generic flavor packed
from ``file.py:attr``) makes the scan report code objects and computed names that no module
allowlist can vouch for. ``modelpack trust TARGET`` records the digest of the folder's actual
file contents under MODELPACK_HOME; ``validate`` and ``predict`` then accept that exact content.
Change one byte and the digest no longer matches, so the trust is gone.

Trust never comes from the package itself (SECURITY.md, principle 4): the record lives with the
user, keyed by a digest modelpack computes from the files, never by one the package states.

Format version: ``format_version`` in ``trust.json``. To change the layout, bump
``FORMAT_VERSION`` and keep ``_read`` accepting every older version.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from modelpack._fs import atomic_write_text
from modelpack.errors import InvalidModelError, NotFoundError, RegistryError
from modelpack.manifest import scan_folder

TRUST_FILE: Final = "trust.json"
FORMAT_VERSION: Final = 1


@dataclass(frozen=True)
class TrustRecord:
    digest: str
    trusted_at: str
    user: str
    host: str
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {
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

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, **self.record.to_dict()}


def _path(home: Path) -> Path:
    return home / TRUST_FILE


def _read(home: Path) -> dict[str, dict[str, Any]]:
    path = _path(home)
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if int(raw["format_version"]) > FORMAT_VERSION:
            raise RegistryError(f"{path} is from a newer modelpack", hint="upgrade modelpack")
        packages = raw["packages"]
        if not isinstance(packages, dict):
            raise TypeError("packages is not a mapping")
    except (ValueError, KeyError, TypeError) as exc:
        raise RegistryError(
            f"{path} is corrupt: {exc}", hint=f"remove {path} and trust packages again"
        ) from exc
    return packages


def _write(home: Path, packages: dict[str, dict[str, Any]]) -> None:
    document = {"format_version": FORMAT_VERSION, "packages": packages}
    atomic_write_text(_path(home), json.dumps(document, indent=2, sort_keys=True) + "\n")


def _record(digest: str, entry: dict[str, Any]) -> TrustRecord:
    return TrustRecord(
        digest=digest,
        trusted_at=str(entry.get("trusted_at", "")),
        user=str(entry.get("user", "")),
        host=str(entry.get("host", "")),
        source=str(entry.get("source", "")),
    )


def trust_package(folder: Path, home: Path, *, source: str, remove: bool = False) -> TrustResult:
    """Record (or, with ``remove``, forget) the digest of ``folder``'s current contents.

    Raises:
        NotFoundError: the folder does not exist, or ``remove`` names a package not trusted.
        InvalidModelError: the folder has symlinks escaping it.
        RegistryError: ``trust.json`` is corrupt or cannot be written.
    """
    if not folder.is_dir():
        raise NotFoundError(f"model folder not found: {folder}", path=str(folder))
    digest = scan_folder(folder).digest
    packages = _read(home)
    if remove:
        entry = packages.pop(digest, None)
        if entry is None:
            raise NotFoundError(f"{source} is not trusted (digest {digest[:19]}…)")
        _write(home, packages)
        return TrustResult("untrusted", _record(digest, entry))
    if digest in packages:
        return TrustResult("unchanged", _record(digest, packages[digest]))
    entry = {
        "trusted_at": _dt.datetime.now(_dt.timezone.utc).isoformat().replace("+00:00", "Z"),
        "user": _user(),
        "host": socket.gethostname(),
        "source": source,
    }
    packages[digest] = entry
    try:
        _write(home, packages)
    except OSError as exc:
        raise RegistryError(f"cannot write {_path(home)}: {exc.strerror or exc}") from exc
    return TrustResult("trusted", _record(digest, entry))


def find_trust(folder: Path, home: Path | None) -> TrustRecord | None:
    """The trust record matching ``folder``'s actual contents, if the user trusted them."""
    if home is None:
        return None
    packages = _read(home)
    if not packages:
        return None
    try:
        digest = scan_folder(folder).digest
    except InvalidModelError:  # a symlink escaping the folder: integrity fails it anyway
        return None
    entry = packages.get(digest)
    return None if entry is None else _record(digest, entry)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
