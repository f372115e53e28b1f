"""Filesystem helpers: atomic writes, streaming hashes, staged folders. Stdlib only."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

HASH_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks so memory stays flat."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_path(path: Path) -> None:
    """fsync a file's data, or a folder's entries (making a rename or create inside it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write to a temp file in the same folder, fsync, rename over ``path``.

    Readers see the old content or the new, never half of either.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp: str | None = None
    try:
        # The name is recorded before the file exists, so a Ctrl-C right after it appears is covered.
        while tmp is None:
            tmp = str(path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            except FileExistsError:
                tmp = None  # never ours to remove
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
        if durable:
            fsync_path(path.parent)
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str, *, durable: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def current_umask() -> int:
    """The process umask. Read from /proc where it is shown, so the mask is never changed, even
    for a moment (``os.umask`` is the only portable getter, and it sets as it reads)."""
    try:
        with Path("/proc/self/status").open(encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def umask_mode(mode: int) -> int:
    """``mode`` as the kernel would apply it to a new file or folder: ``mode & ~umask``."""
    return mode & ~current_umask()


def folder_is_empty(path: Path) -> bool:
    return not any(path.iterdir())


@contextlib.contextmanager
def staged_dir(target: Path, *, replace: bool = False) -> Iterator[Path]:
    """Yield a fresh temp folder beside ``target``; on success rename it to ``target``.

    On any failure (including KeyboardInterrupt) the temp folder is removed, and so are the
    missing parent folders this call created, so nothing is left behind: no half-written folder
    at ``target``, no stray folders above it. An existing non-empty ``target`` is swapped out only
    when ``replace`` is true; an existing empty one is put back if the final rename fails. The
    folder gets the mode ``mkdir`` would give it (``mkdtemp`` makes it 0700 whatever the umask,
    which would hide the result from everyone else).

    Raises:
        OSError: the temp folder or the rename failed (``filename`` says where).
    """
    created: list[Path] = []
    tmp: Path | None = None
    try:
        # Created inside the block that removes them, so a Ctrl-C right after they appear is
        # covered; the temp folder's name is recorded before it exists (with ``mkdtemp`` it was
        # known only once the call returned, so a Ctrl-C landing first left the folder behind).
        make_parents(target.parent, created)
        while tmp is None:
            tmp = target.parent / f".{target.name}.{secrets.token_hex(8)}.partial"
            try:
                tmp.mkdir(0o777)  # less the umask, as mkdir gives (mkdtemp's 0700 would not)
            except FileExistsError:
                tmp = None  # never ours to remove
        yield tmp
        emptied = False
        if target.is_dir() and not target.is_symlink() and folder_is_empty(target):
            target.rmdir()
            emptied = True
        try:
            if replace and target.exists():
                replace_dir(tmp, target)
            else:
                os.rename(tmp, target)
        except BaseException:
            if emptied:
                with contextlib.suppress(OSError):
                    target.mkdir()
            raise
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def make_parents(folder: Path, created: list[Path]) -> None:
    """``mkdir -p folder``, appending each folder it makes to ``created`` (outermost first).

    A folder is appended just before it is made, so a Ctrl-C landing right after the mkdir still
    finds it there; one that failed to be made may be listed too (removing it fails harmlessly).
    """
    missing: list[Path] = []
    current = folder
    while not current.exists() and not current.is_symlink() and current != current.parent:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        created.append(path)  # before it exists, so a Ctrl-C right after mkdir still removes it
        try:
            path.mkdir()
        except FileExistsError:
            created.pop()  # made by someone else meanwhile: not ours to remove
            if not path.is_dir():
                raise


def replace_dir(staged: Path, target: Path) -> None:
    """Swap a staged folder into place over an existing ``target`` (used by ``--force``)."""
    backup = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.rename(target, backup)
    try:
        os.rename(staged, target)
    except BaseException:
        os.rename(backup, target)
        raise
    shutil.rmtree(backup, ignore_errors=True)
