"""What a package's files are, and the one gate through which a file a package names is opened.

A model folder comes from someone else, so every path in it is hostile until checked here:

* **The walk** (``walk``): the content of a package is its regular files, found without
  following links out of it. A symlink is content only when it resolves to a regular file
  inside the folder; one resolving outside is reported (the caller fails integrity with it). A
  FIFO, socket or device, a symlink loop, a dangling symlink or a name that is not UTF-8 is
  refused with ``InvalidModelError`` naming it: opening a FIFO or ``/dev/zero`` would hang or
  never end, and a name that cannot be written into the manifest cannot be hashed.
* **The gate** (``locate``, ``open_file``, ``read_bytes``, ``read_text``): a path that MLmodel
  or the manifest names (model files, extra files, examples, environment files, code) is
  opened only if it is relative, has no ``..``, resolves (through every link at every level)
  to somewhere inside the folder, and is a regular file. The file is opened without blocking
  and checked again on the open descriptor, so a FIFO swapped in after the check still cannot
  hang the command. Whole-file reads are capped (``MAX_DOCUMENT_BYTES``).

Every command (inspect, validate, register, predict, diff, the Python API and the flavor
loaders) goes through these functions; nothing else turns a name from a package into an open
file. Stdlib only (the spine).
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Final

from modelpack.errors import InvalidModelError

# The largest document (MLmodel, an input example, a manifest) read whole into memory.
MAX_DOCUMENT_BYTES: Final = 64 << 20
_HINT: Final = "a package may name only regular files inside its own folder"


@dataclass
class Listing:
    """The result of ``walk``: content files (sorted as the manifest sorts them) and escaping links."""

    files: list[tuple[str, Path]] = field(default_factory=list)
    escaping_links: list[str] = field(default_factory=list)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def shown(name: str) -> str:
    """A path for a message: names that are not valid UTF-8 are shown escaped, never raised on."""
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


def _refuse(root: Path, rel: str, why: str) -> InvalidModelError:
    return InvalidModelError(
        f"{shown(str(root))} holds {shown(rel)!r}, which {why}; a package holds only regular files",
        hint="remove it from the folder",
        path=shown(str(root)),
    )


def _real_root(root: Path) -> Path:
    return Path(os.path.realpath(root))


def inside(real: Path, real_root: Path) -> bool:
    """True if ``real`` is ``real_root`` or below it (both already resolved)."""
    return real == real_root or real_root in real.parents


def walk(root: Path) -> Listing:
    """Every regular file under ``root`` as ``(relative POSIX path, path)``, links not followed out.

    Symlinks to regular files inside ``root`` count as files; symlinks to folders inside it
    are skipped (their files are listed where they really are); symlinks resolving outside are
    listed in ``escaping_links`` and never opened.

    Raises:
        InvalidModelError: a FIFO, socket or device, a symlink loop, a dangling symlink, or a
            name that is not valid UTF-8 (exit 3), naming the file.
    """
    listing = Listing()
    real_root = _real_root(root)
    stack = [(root, "")]
    found: list[tuple[str, Path]] = []
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            raise _refuse(root, prefix.rstrip("/") or ".", f"cannot be listed ({exc.strerror})") from exc
        subfolders = []
        for entry in entries:
            rel = prefix + entry.name
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:
                raise _refuse(root, rel, "has a name that is not valid UTF-8") from None
            path = Path(entry.path)
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISDIR(mode):
                subfolders.append((path, rel + "/"))
            elif stat.S_ISREG(mode):
                found.append((rel, path))
            elif stat.S_ISLNK(mode):
                target = _link_target(root, real_root, rel, path)
                if target is None:
                    listing.escaping_links.append(rel)
                elif stat.S_ISREG(target):
                    found.append((rel, path))
                elif not stat.S_ISDIR(target):
                    raise _refuse(root, rel, f"is a symlink to {_kind(target)}")
            else:
                raise _refuse(root, rel, f"is {_kind(mode)}")
        stack.extend(reversed(subfolders))
    listing.files = sorted(found, key=lambda item: item[0])
    listing.escaping_links.sort()
    return listing


def _link_target(root: Path, real_root: Path, rel: str, path: Path) -> int | None:
    """The mode of what the link at ``path`` resolves to, or None when it resolves outside ``root``."""
    real = Path(os.path.realpath(path))
    if not inside(real, real_root):
        return None
    try:
        return path.stat().st_mode
    except OSError as exc:
        why = "is a symlink loop" if exc.errno == errno.ELOOP else "is a dangling symlink"
        raise _refuse(root, rel, why) from None


def is_safe_relative(name: str) -> bool:
    """A path recorded in a manifest or MLmodel must be relative and stay inside the folder."""
    if not name or "\x00" in name:
        return False
    if name.startswith(("/", "\\")) or os.path.isabs(name):
        return False
    if len(name) > 2 and name[0].isalpha() and name[1] == ":" and name[2] in "/\\":
        return False  # a Windows drive path
    return ".." not in Path(name.replace("\\", "/")).parts


def _named(key: str, name: str, why: str, folder: Path) -> InvalidModelError:
    return InvalidModelError(f"{key} names {shown(name)!r}, which {why}", hint=_HINT, path=shown(str(folder)))


def locate(
    folder: Path, name: str, *, key: str, missing_ok: bool = False, allow_dir: bool = False
) -> Path | None:
    """The real path of ``name`` inside ``folder``, checked as the gate checks it.

    Args:
        folder: the model folder.
        name: the path MLmodel or the manifest records.
        key: where it was named (``MLmodel flavors.sklearn.pickled_model``), for the message.
        missing_ok: return None for a name that does not exist instead of refusing it.
        allow_dir: accept a folder too (``code`` and artifacts may name one; nothing opens it here).

    Raises:
        InvalidModelError: absolute, ``..``, resolving outside the folder (through a link at any
            level), a symlink loop, missing (unless ``missing_ok``), or not a regular file (exit 3).
    """
    if not is_safe_relative(name):
        raise _named(key, str(name), "is not a relative path inside the model folder", folder)
    path = folder / name
    real = Path(os.path.realpath(path))
    if not inside(real, _real_root(folder)):
        raise _named(key, name, "resolves outside the model folder", folder)
    try:
        mode = real.stat().st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _named(key, name, "is a symlink loop", folder) from None
        if missing_ok and not os.path.lexists(path):
            return None
        raise _named(key, name, "does not exist in the model folder", folder) from None
    if not stat.S_ISREG(mode) and not (allow_dir and stat.S_ISDIR(mode)):
        raise _named(key, name, f"is {_kind(mode)}, not a regular file", folder)
    return real


def open_file(folder: Path, name: str, *, key: str) -> BinaryIO:
    """Open ``name`` inside ``folder`` for reading, through the gate (see ``locate``).

    The open never blocks (a FIFO put in place after the check opens and is refused) and the
    descriptor itself is checked to be a regular file.
    """
    real = locate(folder, name, key=key)
    assert real is not None
    return open_checked(real, key=key, folder=folder)


def open_checked(real: Path, *, key: str, folder: Path) -> BinaryIO:
    """Open a path ``locate`` returned, refusing anything that is not a regular file by then."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(real, flags)
    except OSError as exc:
        raise _named(key, str(real), f"cannot be opened ({exc.strerror})", folder) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _named(key, str(real), f"is {_kind(mode)}, not a regular file", folder)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(folder: Path, name: str, *, key: str, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    """The whole content of ``name`` (through the gate), refused when larger than ``limit`` bytes."""
    with open_file(folder, name, key=key) as fh:
        size = os.fstat(fh.fileno()).st_size
        data = fh.read(limit + 1) if size <= limit else b""
        if size > limit or len(data) > limit:
            raise _too_large(folder, name, key=key, limit=limit)
    return data


def _too_large(folder: Path, name: str, *, key: str, limit: int) -> InvalidModelError:
    return InvalidModelError(
        f"{key} names {shown(name)!r}, which is larger than {limit >> 20} MiB",
        hint="a document this large is not something modelpack reads whole",
        path=shown(str(folder)),
    )


def read_text(folder: Path, name: str, *, key: str, limit: int = MAX_DOCUMENT_BYTES) -> str:
    """``read_bytes`` decoded as UTF-8 (``UnicodeDecodeError`` is left to the caller's parser)."""
    return read_bytes(folder, name, key=key, limit=limit).decode("utf-8")
