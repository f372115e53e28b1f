"""A folder tree as a comparable listing: what a command must leave byte-for-byte unchanged."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def tree(root: Path, *, exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """Every entry under ``root`` (not following links): a folder with its mode, a file with its
    mode, size and sha256, a link with its target. ``exclude`` names top-level entries to skip."""
    listing: dict[str, str] = {}
    if not root.exists():
        return listing
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root:
            dirnames[:] = [d for d in dirnames if d not in exclude]
            filenames = [f for f in filenames if f not in exclude]
        for name in sorted(dirnames) + sorted(filenames):
            path = Path(dirpath) / name
            st = path.lstat()
            rel = path.relative_to(root).as_posix()
            mode = oct(st.st_mode & 0o7777)
            if path.is_symlink():
                listing[rel] = f"link {path.readlink()}"
            elif path.is_dir():
                listing[rel] = f"dir {mode}"
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                listing[rel] = f"file {mode} {st.st_size} {digest}"
    return listing
