"""Content-addressed file store: each distinct file content is kept once, named by its sha256.

A version folder holds hard links to these blobs, so registering the same files again (in the
same model or another) costs directory entries, not bytes. Blobs are made read-only (0444) before
they become visible; since a hard link shares the inode, the files in every version folder are
read-only too and cannot be edited in place by accident. Where a hard link is impossible (the
registry spans filesystems, or the link count is exhausted) the file is copied instead.

A new blob is written to the operation's staging folder while it is hashed, fsynced, checked
against the expected digest, and only then linked into ``blobs/`` with ``link(2)``, which fails
instead of overwriting when another process stored the same content first.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from modelpack.progress import SILENT, Reporter
from modelpack.registry._io import fsync_dir
from modelpack.registry.faults import NO_FAULTS, Faults
from modelpack.registry.layout import Layout

CHUNK: Final = 4 << 20
BLOB_MODE: Final = 0o444
_HEX: Final = frozenset("0123456789abcdef")


def is_blob_name(name: str) -> bool:
    return len(name) == 64 and set(name) <= _HEX


@dataclass
class IngestSession:
    """Blobs one operation has added (removed again if the operation fails)."""

    layout: Layout
    work: Path
    durable: bool = True
    faults: Faults = NO_FAULTS
    reporter: Reporter = SILENT
    total_bytes: int | None = None
    created: list[Path] = field(default_factory=list)
    copied_bytes: int = 0
    seen_bytes: int = 0
    _dirs_to_sync: set[Path] = field(default_factory=set)
    _counter: int = 0
    _buffer: bytearray = field(default_factory=lambda: bytearray(CHUNK))

    def store(self, src: Path, expected_sha: str, dest: Path) -> str:
        """Put ``src``'s content at ``dest`` (a hard link to its blob) and return its sha256.

        When the blob already exists the source is only hashed, never copied. The returned
        sha256 is what was actually read; the caller compares it with ``expected_sha`` and
        treats a difference as an integrity failure (in that case nothing is linked).
        """
        blob = self.layout.blob(expected_sha)
        if blob.is_file():
            actual = self._hash(src)
            if actual == expected_sha and self._link(blob, dest):
                return actual
            if actual != expected_sha:
                return actual
        # Not stored yet (or it vanished under us): copy while hashing, then publish.
        self._counter += 1
        tmp = self.work / f"blob-{self._counter}"
        actual = self._copy(src, tmp)
        if actual != expected_sha:
            tmp.unlink()
            return actual
        tmp.chmod(BLOB_MODE)
        self._publish(tmp, blob)
        if not self._link(blob, dest):
            # Published but gone already (a failing operation removed it): keep our copy.
            os.replace(tmp, dest)
        else:
            tmp.unlink()
        return actual

    def _publish(self, tmp: Path, blob: Path) -> None:
        try:
            os.link(tmp, blob)
        except FileNotFoundError:
            blob.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(tmp, blob)
            except FileExistsError:
                return
        except FileExistsError:
            return  # another process stored the same content first; theirs is identical
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
            blob.parent.mkdir(parents=True, exist_ok=True)
            staged = blob.with_name(f".{blob.name}.{os.getpid()}.tmp")
            shutil.copyfile(tmp, staged)
            staged.chmod(BLOB_MODE)
            if self.durable:
                _fsync_file(staged)
            try:
                os.link(staged, blob)
            except FileExistsError:
                pass
            finally:
                staged.unlink()
        self.created.append(blob)
        self._dirs_to_sync.add(blob.parent)
        self.faults.point("register.blob_written")

    def _link(self, blob: Path, dest: Path) -> bool:
        """Hard-link ``blob`` at ``dest``; copy when linking is impossible; False if it vanished."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(blob, dest)
        except FileNotFoundError:
            if not blob.exists():
                return False
            raise
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
            shutil.copyfile(blob, dest)
            dest.chmod(BLOB_MODE)
            if self.durable:
                _fsync_file(dest)
        return True

    def _hash(self, src: Path) -> str:
        digest = hashlib.sha256()
        view = memoryview(self._buffer)
        with src.open("rb", buffering=0) as fh:
            while n := fh.readinto(self._buffer):
                digest.update(view[:n])
                self._progress(n)
        return digest.hexdigest()

    def _copy(self, src: Path, tmp: Path) -> str:
        digest = hashlib.sha256()
        view = memoryview(self._buffer)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with src.open("rb", buffering=0) as fh:
                first = True
                while n := fh.readinto(self._buffer):
                    digest.update(view[:n])
                    chunk = view[:n]
                    while chunk:
                        chunk = chunk[os.write(fd, chunk) :]
                    self.copied_bytes += n
                    self._progress(n)
                    if first:
                        self.faults.point("register.blob_partial")
                        first = False
            if self.durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        return digest.hexdigest()

    def _progress(self, n: int) -> None:
        self.seen_bytes += n
        self.reporter.advance("storing model files", self.seen_bytes, self.total_bytes)

    def sync(self) -> None:
        """Make every blob this session published durable (before anything refers to them)."""
        if self.durable:
            for folder in sorted(self._dirs_to_sync):
                fsync_dir(folder)
        self._dirs_to_sync.clear()

    def discard(self) -> None:
        """Remove the blobs this session created that nothing else has linked meanwhile.

        Called after the operation's own staged links are gone, so a link count of 1 means the
        blob store holds the only reference. A concurrent writer that loses the race finds the
        blob missing when it links and stores its own copy (see ``store``).
        """
        for blob in self.created:
            with contextlib.suppress(OSError):
                if blob.stat().st_nlink == 1:
                    blob.unlink()
        self.created.clear()


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def iter_blobs(layout: Layout) -> Iterator[Path]:
    """Every file under ``blobs/sha256`` (including anything that is not a valid blob name)."""
    root = layout.blobs
    if not root.is_dir():
        return
    for shard in sorted(root.iterdir()):
        if shard.is_dir() and not shard.is_symlink():
            yield from sorted(shard.iterdir())
        else:
            yield shard


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with path.open("rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            digest.update(view[:n])
    return digest.hexdigest()
