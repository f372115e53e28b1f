"""Full disks for real: a small tmpfs mounted in a private user and mount namespace.

``unshare -rm`` gives an unprivileged process its own mount namespace in which it may mount a
tmpfs, so a test gets a filesystem of a few hundred KiB that really runs out of space (ENOSPC
from the kernel, at whatever write hits it), with no root and no fault injection. The commands
run inside that namespace (``tests/assets/small_disk_driver.py``); the test reads back what
they printed and the tree of the filesystem before and after. Where the kernel or the sandbox
forbids user namespaces, the tests that need one are skipped.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

DRIVER = Path(__file__).parent / "assets" / "small_disk_driver.py"


@functools.cache
def _can_mount() -> str | None:
    """None when a tmpfs can be mounted in a user namespace here, else why not."""
    if shutil.which("unshare") is None:
        return "no unshare command"
    with tempfile.TemporaryDirectory() as folder:
        probe = subprocess.run(
            ["unshare", "-rm", "mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", folder],
            capture_output=True,
            text=True,
            timeout=60,
        )
    if probe.returncode != 0:
        return f"cannot mount a tmpfs in a user namespace: {probe.stderr.strip()}"
    return None


def require_small_disk() -> None:
    why = _can_mount()
    if why is not None:
        pytest.skip(why)


def run_on_small_disk(
    tmp_path: Path,
    *,
    command: list[str],
    size: int = 1 << 20,
    free: int | None = None,
    home: Path | None = None,
    setup: Sequence[list[str]] = (),
    after: Sequence[list[str]] = (),
) -> dict[str, Any]:
    """Run ``setup`` then ``command`` (argv lists; ``{mount}`` is the filesystem's root and
    MODELPACK_HOME is ``home``, by default ``{mount}/home``) on a tmpfs of ``size`` bytes with
    ``free`` bytes left (None: as the setup left it)."""
    require_small_disk()
    mount = tmp_path / "small-disk"
    mount.mkdir()
    spec = tmp_path / "small-disk.json"
    result = tmp_path / "small-disk-result.json"
    spec.write_text(
        json.dumps(
            {
                "mount": str(mount),
                "size": size,
                "free": free,
                "home": None if home is None else str(home),
                "setup": list(setup),
                "command": command,
                "after": list(after),
                "result": str(result),
            }
        )
    )
    subprocess.run(["unshare", "-rm", sys.executable, str(DRIVER), str(spec)], check=True, timeout=600)
    done = json.loads(result.read_text())
    for step in done["setup"]:
        assert step["returncode"] == 0, step
    return done
