"""Content digests: the sha256 of every file of a model folder and the folder digest over them.

The folder digest is the one identity the manifest, trust records and the registry share: the
sha256 of the sorted ``path<TAB>sha256`` lines of every file except the manifest itself (which
only describes them), so it is the same computed from the manifest or from the files.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from modelpack._fs import sha256_file
from modelpack.contents import walk
from modelpack.errors import InvalidModelError

# The manifest's own name: the one file a folder digest leaves out.
MANIFEST_FILE: Final = "modelpack.manifest.json"


@dataclass(frozen=True)
class FileEntry:
    path: str
    sha256: str
    size: int


def folder_digest(entries: tuple[FileEntry, ...] | list[FileEntry]) -> str:
    h = hashlib.sha256()
    for entry in sorted(entries, key=lambda e: e.path):
        h.update(f"{entry.path}\t{entry.sha256}\n".encode())
    return "sha256:" + h.hexdigest()


def hash_files(root: Path) -> tuple[FileEntry, ...]:
    """Hash every file under ``root`` except the manifest. Symlinks escaping ``root`` are refused.

    Only regular files are hashed (``contents.walk``): a FIFO, device, socket, symlink loop or
    non-UTF-8 name is refused with ``InvalidModelError`` before anything is opened.
    """
    listing = walk(root)
    if listing.escaping_links:
        raise InvalidModelError(
            f"{root} has symlinks pointing outside the folder: {', '.join(listing.escaping_links)}",
            hint="replace the links with the files themselves",
            path=str(root),
        )
    return tuple(
        FileEntry(rel, sha256_file(path), path.stat().st_size)
        for rel, path in listing.files
        if rel != MANIFEST_FILE
    )
