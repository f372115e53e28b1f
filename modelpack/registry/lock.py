"""Cross-process locks on lock files with ``fcntl.flock``.

The kernel drops a flock when its holder dies, however it dies, so a crashed writer never leaves
a stale lock behind. Waiting is a poll with jittered back-off up to a deadline; on timeout the
caller gets ``ConflictError`` (exit 5) naming the lock file rather than hanging a CI job forever.
Lock files are never deleted: unlinking a lock file that another process is waiting on would let
two processes "hold" two different files of the same name.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from modelpack.errors import ConflictError

DEFAULT_TIMEOUT: Final = 60.0
_FIRST_SLEEP: Final = 0.002
_MAX_SLEEP: Final = 0.05


def _open_lock_file(path: Path) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)


def acquire(path: Path, *, shared: bool = False, timeout: float = DEFAULT_TIMEOUT, what: str = "") -> int:
    """Take the lock on ``path`` and return its descriptor (pass it to ``release``).

    Raises:
        ConflictError: the lock was not free within ``timeout`` seconds.
    """
    fd = _open_lock_file(path)
    flags = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
    deadline = time.monotonic() + timeout
    sleep = _FIRST_SLEEP
    try:
        while True:
            try:
                fcntl.flock(fd, flags)
                return fd
            except BlockingIOError:
                pass
            now = time.monotonic()
            if now >= deadline:
                raise ConflictError(
                    f"timed out after {timeout:g}s waiting for the lock on {what or path.name}",
                    hint=f"another modelpack process is writing the registry (lock file {path})",
                    path=str(path),
                )
            # Jitter keeps a crowd of waiters from retrying in lock-step.
            time.sleep(min(sleep * (0.5 + random.random()), deadline - now))
            sleep = min(sleep * 2, _MAX_SLEEP)
    except BaseException:
        os.close(fd)
        raise


def release(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


@contextlib.contextmanager
def locked(
    path: Path, *, shared: bool = False, timeout: float = DEFAULT_TIMEOUT, what: str = ""
) -> Iterator[None]:
    """Hold the lock on ``path`` for the duration of the block."""
    fd = acquire(path, shared=shared, timeout=timeout, what=what)
    try:
        yield
    finally:
        release(fd)


def is_held(path: Path) -> bool:
    """True if some process holds a lock on ``path`` (probes without blocking)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
