"""The integrity manifest: sha256 and size of every file in a model folder.

``pack`` writes ``modelpack.manifest.json`` last; ``validate``, ``register`` and ``promote``
verify it. The folder digest is the sha256 of the sorted ``path<TAB>sha256`` lines of every file
except the manifest itself, so it is the same whether computed from the manifest or the files,
and the same for a folder MLflow saved (which has no manifest) once hashed.

The *files of a package* are the files this manifest lists: every file in the folder except the
manifest itself, which only describes them. Every file count the tool shows (``pack``,
``inspect``, ``validate``, the registry's ``file_count``) counts exactly these.

Format version: ``format_version`` in the JSON. To change the layout, bump
``FORMAT_VERSION`` and keep ``read_manifest`` accepting every older version.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from modelpack import _json, contents
from modelpack._fs import sha256_file
from modelpack.digest import MANIFEST_FILE, FileEntry, folder_digest, hash_files
from modelpack.errors import InvalidModelError

FORMAT_VERSION: Final = 1


@dataclass(frozen=True)
class Manifest:
    files: tuple[FileEntry, ...]

    @property
    def digest(self) -> str:
        return folder_digest(self.files)

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "algorithm": "sha256",
            "digest": self.digest,
            "files": {f.path: {"sha256": f.sha256, "size": f.size} for f in self.files},
        }


@dataclass
class IntegrityReport:
    """What differs between a folder and its manifest. Empty lists mean intact."""

    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    escaping_links: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.extra or self.escaping_links)

    def describe(self) -> str:
        parts = []
        for label, names in (
            ("changed", self.changed),
            ("missing", self.missing),
            ("unexpected", self.extra),
            ("symlink outside the folder", self.escaping_links),
        ):
            if names:
                parts.append(f"{label}: {', '.join(names)}")
        return "; ".join(parts) or "all files match the manifest"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "changed": self.changed,
            "missing": self.missing,
            "extra": self.extra,
            "escaping_links": self.escaping_links,
        }


def scan_folder(root: Path) -> Manifest:
    """Hash every file under ``root`` except the manifest. Symlinks escaping ``root`` are refused."""
    return Manifest(hash_files(root))


def write_manifest(root: Path, *, known: Manifest | None = None) -> Manifest:
    """Hash ``root`` and write its manifest; files listed in ``known`` are taken as hashed there."""
    if known is None:
        manifest = scan_folder(root)
    else:
        listed = {f.path for f in known.files}
        added = [
            FileEntry(rel, sha256_file(path), path.stat().st_size)
            for rel, path in contents.walk(root).files
            if rel not in listed and rel != MANIFEST_FILE
        ]
        manifest = Manifest(tuple(sorted((*known.files, *added), key=lambda f: f.path)))
    (root / MANIFEST_FILE).write_text(json.dumps(manifest.to_dict(), indent=2, sort_keys=True) + "\n")
    return manifest


def read_manifest(root: Path) -> Manifest | None:
    """The manifest of ``root``, or None when the folder has none (e.g. saved by MLflow).

    Every entry is checked for type and range (a size is a whole number of bytes, a sha256 is
    64 hex digits), and NaN, Infinity and deep nesting are refused, so a damaged or hostile
    manifest is an ``InvalidModelError``, never a crash further on.
    """
    path = root / MANIFEST_FILE
    if not path.is_file():
        return None
    return parse_manifest(contents.read_bytes(root, MANIFEST_FILE, key="the manifest"), path)


def parse_manifest(data: bytes, path: Path | str) -> Manifest:
    """A manifest's bytes, checked as ``read_manifest`` checks them (``path`` names it in errors).

    Raises:
        InvalidModelError: the bytes are not a valid manifest.
    """
    try:
        raw = _json.loads(data.decode("utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        version = raw["format_version"]
        if not _is_count(version):
            raise ValueError(f"format_version {version!r} is not a whole number")
        if version > FORMAT_VERSION:
            raise InvalidModelError(
                f"{path} has manifest format {version}, newer than this modelpack reads",
                hint="upgrade modelpack",
                path=str(path),
            )
        if not isinstance(raw["files"], dict):
            raise ValueError("'files' is not a JSON object")
        files = tuple(_entry(name, info) for name, info in raw["files"].items())
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise InvalidModelError(f"{path} is not a valid manifest: {_one_line(exc)}", path=str(path)) from None
    return Manifest(files)


_SHA256_HEX: Final = re.compile(r"[0-9a-f]{64}")
_MAX_SIZE: Final = 2**63 - 1


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_SIZE


def _entry(name: str, info: Any) -> FileEntry:
    if not name:
        raise ValueError("a file entry has an empty name")
    if not name.isprintable() or any("\ud800" <= c <= "\udfff" for c in name):
        # Lone surrogates (JSON \udcxx escapes) name no UTF-8 file; control characters no sane one.
        raise ValueError(f"entry {name!r} is not a printable UTF-8 file name")
    if not isinstance(info, dict):
        raise ValueError(f"entry {name!r} is not a JSON object")
    sha256, size = info["sha256"], info["size"]
    if not isinstance(sha256, str) or not _SHA256_HEX.fullmatch(sha256):
        raise ValueError(f"entry {name!r}: sha256 is not 64 lowercase hex digits")
    if not _is_count(size):
        raise ValueError(
            f"entry {name!r}: size {size!r} is not a byte count (a whole number from 0 to 2**63-1)"
        )
    return FileEntry(name, sha256, size)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"missing key {text}" if isinstance(exc, KeyError) else text


def verify_folder(root: Path, manifest: Manifest) -> IntegrityReport:
    """Compare every file under ``root`` with ``manifest`` (hashes are recomputed).

    Raises:
        InvalidModelError: the folder holds something that is not package content (a FIFO,
            device, socket, symlink loop or non-UTF-8 name; see ``contents.walk``).
    """
    listing = contents.walk(root)
    report = IntegrityReport(escaping_links=list(listing.escaping_links))
    expected = {f.path: f for f in manifest.files}
    seen: set[str] = set()
    for rel, path in listing.files:
        if rel == MANIFEST_FILE:
            continue
        seen.add(rel)
        entry = expected.get(rel)
        if entry is None:
            report.extra.append(rel)
        elif path.stat().st_size != entry.size or sha256_file(path) != entry.sha256:
            report.changed.append(rel)
    report.missing = sorted(set(expected) - seen - set(report.escaping_links))
    return report
