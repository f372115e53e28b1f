"""Content-addressed file store: each distinct file content is kept once, named by its sha256.

A version folder holds hard links to these blobs, so registering the same files again (in the
same model or another) costs directory entries, not bytes. Blobs are made read-only (0444 less
the umask) before they become visible; since a hard link shares the inode, the files in every version folder are
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from modelpack._fs import fsync_path, umask_mode
from modelpack.progress import SILENT, Reporter
from modelpack.registry.faults import NO_FAULTS, Faults
from modelpack.registry.layout import Layout

CHUNK: Final = 4 << 20
BLOB_MODE: Final = 0o444


def blob_mode() -> int:
    """Read-only, and readable by whom the umask allows (always by the owner)."""
    return umask_mode(BLOB_MODE) | 0o400


_HEX: Final = frozenset("0123456789abcdef")


def is_blob_name(name: str) -> bool:
    return len(name) == 64 and set(name) <= _HEX


@dataclass
class BlobIngest:
    """Blobs one operation has added (removed again if the operation fails)."""

    layout: Layout
    work: Path
    durable: bool = True
    faults: Faults = NO_FAULTS
    reporter: Reporter = SILENT
    total_bytes: int | None = None
    created: list[Path] = field(default_factory=list)
    #: Shard folders (``blobs/sha256/<ab>``) this ingest made; removed again if left empty.
    created_shards: list[Path] = field(default_factory=list)
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
        tmp.chmod(blob_mode())
        self._publish(tmp, blob)
        if not self._link(blob, dest):
            # Published but gone already (a failing operation removed it): keep our copy.
            os.replace(tmp, dest)
        else:
            tmp.unlink()
        return actual

    def _publish(self, tmp: Path, blob: Path) -> None:
        try:
            self._link_into_shard(tmp, blob)
        except FileExistsError:
            return  # another process stored the same content first; theirs is identical
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
            self._make_shard(blob.parent)  # the copy is staged inside the shard
            staged = blob.with_name(f".{blob.name}.{os.getpid()}.tmp")
            try:
                shutil.copyfile(tmp, staged)
                staged.chmod(blob_mode())
                if self.durable:
                    fsync_path(staged)
                with contextlib.suppress(FileExistsError):
                    self._link_into_shard(staged, blob)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    staged.unlink()
        self.created.append(blob)
        self._dirs_to_sync.add(blob.parent)
        self.faults.point("register.blob_written")

    def _link_into_shard(self, src: Path, blob: Path) -> None:
        """``link(src, blob)``, making the shard folder when it is missing (or was just removed
        by a failing writer that had made it: ``discard``)."""
        for attempt in range(3):
            try:
                os.link(src, blob)
                return
            except FileNotFoundError:
                if attempt == 2 or not src.exists():
                    raise
                self._make_shard(blob.parent)

    def _make_shard(self, shard: Path) -> None:
        try:
            shard.mkdir(parents=True)
        except FileExistsError:
            return
        self.created_shards.append(shard)

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
            dest.chmod(blob_mode())
            if self.durable:
                fsync_path(dest)
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
        """Copy ``src`` to ``tmp`` and return the sha256 of what was written.

        The copy runs in the kernel where it can (``copy_file_range``) and the hash is taken
        by reading the written range back from the page cache, so the digest is of exactly the
        bytes stored. With ``durable``, write-back of each chunk starts at once
        (``sync_file_range``) so that the final fsync overlaps the copy instead of following it.
        """
        digest = hashlib.sha256()
        view = memoryview(self._buffer)
        flush = _writeback_starter() if self.durable else None
        src_fd = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                offset = 0
                kernel_copy = hasattr(os, "copy_file_range")
                while True:
                    n = 0
                    if kernel_copy:
                        try:
                            n = os.copy_file_range(src_fd, fd, CHUNK)
                        except OSError as exc:
                            if exc.errno not in _NO_KERNEL_COPY or offset:
                                raise
                            kernel_copy = False
                    if not kernel_copy:
                        n = os.readv(src_fd, [view])
                        chunk = view[:n]
                        while chunk:
                            chunk = chunk[os.write(fd, chunk) :]
                    if n == 0:
                        break
                    done = 0
                    while done < n:
                        got = os.preadv(fd, [view[done:n]], offset + done)
                        if got <= 0:
                            raise OSError(errno.EIO, "short read of a file just written", str(tmp))
                        done += got
                    digest.update(view[:n])
                    if flush is not None:
                        flush(fd, offset, n)
                    offset += n
                    self.copied_bytes += n
                    self._progress(n)
                    if offset == n:
                        self.faults.point("register.blob_partial")
                if self.durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
        finally:
            os.close(src_fd)
        return digest.hexdigest()

    def _progress(self, n: int) -> None:
        self.seen_bytes += n
        self.reporter.advance("storing model files", self.seen_bytes, self.total_bytes)

    def sync(self) -> None:
        """Make every blob this ingest published durable (before anything refers to them)."""
        if self.durable:
            for folder in sorted(self._dirs_to_sync):
                fsync_path(folder)
        self._dirs_to_sync.clear()

    def discard(self) -> None:
        """Remove the blobs this ingest created that nothing else has linked meanwhile.

        Called after the operation's own staged links are gone, so a link count of 1 means the
        blob store holds the only reference. A concurrent writer that loses the race finds the
        blob missing when it links and stores its own copy (see ``store``).
        """
        for blob in self.created:
            with contextlib.suppress(OSError):
                if blob.stat().st_nlink == 1:
                    blob.unlink()
        self.created.clear()
        # A concurrent writer that made its blob in a shard we remove here finds the shard gone
        # when it links, and makes it again (``_publish``).
        for shard in reversed(self.created_shards):
            with contextlib.suppress(OSError):
                shard.rmdir()  # only when empty
        self.created_shards.clear()


_NO_KERNEL_COPY: Final = frozenset(
    {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EBADF, errno.EPERM}
)
_SYNC_FILE_RANGE_WRITE: Final = 2
_writeback: list[Callable[[int, int, int], None] | None] = []


def _writeback_starter() -> Callable[[int, int, int], None] | None:
    """``sync_file_range(fd, off, n, SYNC_FILE_RANGE_WRITE)`` where libc has it (Linux), else None.

    It only starts write-back of dirty pages; durability still comes from the fsync after the
    last chunk. Looked up once, lazily, so other commands never load ctypes.
    """
    if not _writeback:
        starter: Callable[[int, int, int], None] | None = None
        try:
            import ctypes

            function = ctypes.CDLL(None, use_errno=True).sync_file_range
            function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
            function.restype = ctypes.c_int

            def starter(fd: int, offset: int, length: int) -> None:
                function(fd, offset, length, _SYNC_FILE_RANGE_WRITE)  # a failure only costs speed

        except (OSError, AttributeError, ImportError):
            starter = None
        _writeback.append(starter)
    return _writeback[0]


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
