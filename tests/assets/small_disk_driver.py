"""Run modelpack commands on a real, small filesystem: a tmpfs mounted in this process's own
user and mount namespace (start it with ``unshare -rm``; no root needed, nothing outside sees it).

Usage: ``unshare -rm python small_disk_driver.py SPEC.json``. SPEC holds:

* ``mount``: an empty folder to mount the tmpfs on; ``size``: its size in bytes;
* ``home``: MODELPACK_HOME for every run (``{mount}/home`` when null);
* ``setup``: argv lists run first (each must exit 0); ``{mount}`` in an argument (or in
  ``home``) is replaced by the mount point;
* ``free``: bytes left free before the command (the rest is taken by a filler file), or null
  to leave the filesystem as the setup left it;
* ``command``: the argv under test; ``after``: argv lists run once the filler is removed;
* ``result``: where to write the JSON result (outside the mount, which vanishes with us).

The result holds the tree of the mount (``tests.fs_tree``: every entry with its type and mode,
a file's size and sha256, a link's target; the filler left out) before and after the command,
the free bytes, and each run's exit code, stdout and stderr.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.fs_tree import tree

FILLER = "filler"


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(mount: Path, free: int) -> None:
    """Take every free block, then give back ``free`` bytes (whole pages on tmpfs)."""
    chunk = b"\0" * 4096
    fd = os.open(mount / FILLER, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while True:
            try:
                os.write(fd, chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
        os.ftruncate(fd, max(0, os.fstat(fd).st_size - free))
    finally:
        os.close(fd)


def run(argv: list[str], env: dict[str, str], mount: Path) -> dict[str, object]:
    argv = [a.replace("{mount}", str(mount)) for a in argv]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    return {"argv": argv, "returncode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    mount = Path(spec["mount"])
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={spec['size']}", "tmpfs", str(mount)], check=True)
    home = (spec.get("home") or "{mount}/home").replace("{mount}", str(mount))
    env = {**os.environ, "MODELPACK_HOME": home}
    result: dict[str, object] = {"setup": []}
    for argv in spec["setup"]:
        done = run(argv, env, mount)
        result["setup"].append(done)  # type: ignore[union-attr]
        if done["returncode"] != 0:
            Path(spec["result"]).write_text(json.dumps(result))
            return
    if spec.get("free") is not None:
        fill(mount, spec["free"])
    result["free_before"] = free_bytes(mount)
    result["before"] = tree(mount, exclude=(FILLER,))
    result["command"] = run(spec["command"], env, mount)
    result["after"] = tree(mount, exclude=(FILLER,))
    if (mount / FILLER).exists():
        (mount / FILLER).unlink()
    result["after_runs"] = [run(argv, env, mount) for argv in spec.get("after", [])]
    Path(spec["result"]).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
