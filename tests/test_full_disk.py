"""The registry on a really full disk: a small tmpfs (``tests/small_disk.py``), filled up to the
last few pages, so writes fail with the kernel's own ENOSPC wherever they happen to land.

A write the disk refuses is one line (exit 1, "No space left on device") and leaves the
registry byte-for-byte as it was: every file, folder, mode and link (``tests/fs_tree.py``),
including the blob shard folders a failed register made. Once space is back the same command
works and ``doctor`` finds nothing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import modelpack_cmd
from tests.registry_models import make_model
from tests.small_disk import run_on_small_disk

pytestmark = pytest.mark.slow

CRASH_ENV = "MODELPACK_TEST_CRASH_AT"


def _crashed(*args: str, at: str) -> list[str]:
    """argv of a CLI run killed (SIGKILL) at crash point ``at``; the setup step still succeeds."""
    command = " ".join(f"'{a}'" for a in modelpack_cmd(*args))
    return ["sh", "-c", f"{CRASH_ENV}={at} {command}; test $? -eq 137"]


def _one_clean_line(run: dict[str, Any], *words: str) -> str:
    stderr = run["stderr"]
    lines = stderr.splitlines()
    assert run["returncode"] == 1, stderr
    assert lines and lines[0].startswith("error: "), stderr
    assert all(line.startswith("hint: ") for line in lines[1:]), stderr
    assert "Traceback" not in stderr and "internal error" not in stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert run["stdout"] == ""
    return lines[0]


def _consistent(run: dict[str, Any], *, orphans: bool = False) -> None:
    """``doctor`` found nothing (but the blobs a delete leaves for gc, when ``orphans``)."""
    assert run["returncode"] == 0, run["stdout"] + run["stderr"]
    assert "registry consistent" in run["stdout"], run["stdout"]
    findings = [line for line in run["stdout"].splitlines() if not line.startswith("registry consistent")]
    assert all(orphans and "orphan_blob" in line for line in findings), run["stdout"]


@pytest.fixture
def models(tmp_path: Path) -> dict[str, Path]:
    return {
        "a": make_model(tmp_path / "a", seed=1),
        "b": make_model(tmp_path / "b", seed=2, payload=os.urandom(48 << 10)),
        "c": make_model(tmp_path / "c", seed=3),
    }


@pytest.mark.parametrize("free_kib", [0, 4, 8, 12, 16, 24, 32, 40])
def test_register_on_a_full_disk_leaves_the_registry_unchanged(
    tmp_path: Path, models: dict[str, Path], free_kib: int
) -> None:
    """Whichever write the disk refuses (a blob, the manifest, version.json, the journal, the
    event log), the registry stays as it was: no empty ``blobs/sha256/<ab>`` folder either."""
    register_b = modelpack_cmd("register", str(models["b"]), "--name", "m")
    result = run_on_small_disk(
        tmp_path,
        size=256 << 10,
        free=free_kib << 10,
        setup=[modelpack_cmd("register", str(models["a"]), "--name", "m")],
        command=register_b,
        after=[register_b, modelpack_cmd("doctor")],
    )
    line = _one_clean_line(result["command"], "No space left on device", "left unchanged")
    assert line.startswith("error: cannot register m")
    assert result["after"] == result["before"]
    again, doctor = result["after_runs"]
    assert again["returncode"] == 0, again["stderr"]
    _consistent(doctor)


def test_first_register_on_a_full_disk_creates_no_registry(tmp_path: Path, models: dict[str, Path]) -> None:
    result = run_on_small_disk(
        tmp_path,
        size=128 << 10,
        free=0,
        command=modelpack_cmd("register", str(models["a"]), "--name", "m"),
    )
    _one_clean_line(result["command"], "No space left on device", "left unchanged")
    assert result["before"] == result["after"] == {}


@pytest.mark.parametrize(
    "args",
    [
        ("promote", "m", "1", "--stage", "Production"),
        ("promote", "m", "1", "--alias", "champion"),
        ("delete", "m", "1", "--force"),
    ],
    ids=["promote", "alias", "delete"],
)
def test_state_changes_on_a_full_disk_leave_the_registry_unchanged(
    tmp_path: Path, models: dict[str, Path], args: tuple[str, ...]
) -> None:
    result = run_on_small_disk(
        tmp_path,
        size=128 << 10,
        free=0,
        setup=[modelpack_cmd("register", str(models["a"]), "--name", "m")],
        command=modelpack_cmd(*args),
        after=[modelpack_cmd(*args), modelpack_cmd("doctor")],
    )
    _one_clean_line(result["command"], "No space left on device", "left unchanged")
    assert result["after"] == result["before"]
    again, doctor = result["after_runs"]
    assert again["returncode"] == 0, again["stderr"]
    _consistent(doctor, orphans=args[0] == "delete")


@pytest.mark.parametrize("free_kib", [0, 16])
def test_doctor_repair_on_a_full_disk_stops_cleanly(
    tmp_path: Path, models: dict[str, Path], free_kib: int
) -> None:
    """A register killed after its commit leaves a journal whose finishing writes the digest
    index; with no room for it, ``doctor --repair`` says so in one line and changes nothing
    (at 16 KiB it fits, and the repair completes)."""
    result = run_on_small_disk(
        tmp_path,
        size=256 << 10,
        free=free_kib << 10,
        setup=[
            modelpack_cmd("register", str(models["a"]), "--name", "m"),
            _crashed("register", str(models["c"]), "--name", "m", at="register.committed"),
        ],
        command=modelpack_cmd("doctor", "--repair"),
        after=[modelpack_cmd("doctor", "--repair"), modelpack_cmd("doctor")],
    )
    command = result["command"]
    if free_kib == 0:
        line = _one_clean_line(command, "doctor --repair stopped", "No space left on device")
        assert "interrupted operation of m" in line and "stays for the next run" in line
        assert "modelpack gc" in command["stderr"]
        assert result["after"] == result["before"]
    else:
        assert command["returncode"] == 0, command["stdout"] + command["stderr"]
        assert "finished an interrupted register" in command["stdout"]
    repaired, doctor = result["after_runs"]
    assert repaired["returncode"] == 0, repaired["stdout"] + repaired["stderr"]
    _consistent(doctor)


def test_doctor_repair_that_cannot_write_model_json_takes_back_its_event(
    tmp_path: Path, models: dict[str, Path]
) -> None:
    """Dropping a dangling alias appends an ``alias_removed`` event (it fits in the log's last
    page) and then rewrites model.json (a new page, refused): the event is taken back."""
    damage = (
        "import json, os, sys; p = os.path.join(os.environ['MODELPACK_HOME'], 'models/m/model.json');"
        " d = json.load(open(p)); d['aliases'] = {'ghost': 9}; open(p, 'w').write(json.dumps(d))"
    )
    result = run_on_small_disk(
        tmp_path,
        size=128 << 10,
        free=0,
        setup=[modelpack_cmd("register", str(models["a"]), "--name", "m"), [sys.executable, "-c", damage]],
        command=modelpack_cmd("doctor", "--repair"),
        after=[modelpack_cmd("doctor", "--repair"), modelpack_cmd("doctor")],
    )
    _one_clean_line(result["command"], "doctor --repair stopped", "No space left on device")
    assert result["after"] == result["before"]
    repaired, doctor = result["after_runs"]
    assert repaired["returncode"] == 0, repaired["stdout"] + repaired["stderr"]
    assert "alias 'ghost'" in repaired["stdout"]
    _consistent(doctor)


@pytest.mark.parametrize("free_kib", [0, 64])
def test_export_to_a_full_disk_leaves_nothing(tmp_path: Path, free_kib: int) -> None:
    """The archive is written beside its name and renamed: a full disk leaves no part of it."""
    home = tmp_path / "registry"
    big = make_model(tmp_path / "big", seed=4, payload=os.urandom(256 << 10))
    from modelpack.registry import FileRegistry

    FileRegistry(home).register(big, name="big")
    result = run_on_small_disk(
        tmp_path,
        size=256 << 10,
        free=free_kib << 10,
        home=home,
        command=modelpack_cmd("export", "models:/big/1", "--output", "{mount}/big.tar"),
    )
    line = _one_clean_line(result["command"], "No space left on device", "nothing was written")
    assert line.startswith("error: cannot write ") and line.endswith(
        "big.tar: No space left on device; nothing was written"
    )
    assert result["after"] == result["before"]


def test_import_with_a_full_temporary_folder_changes_nothing(tmp_path: Path) -> None:
    source, dest = tmp_path / "registry", tmp_path / "dest"
    from modelpack.registry import FileRegistry
    from modelpack.registry.transfer import export_target

    registry = FileRegistry(source)
    registry.register(make_model(tmp_path / "big", seed=5, payload=os.urandom(256 << 10)), name="big")
    archive = tmp_path / "big.tar"
    export_target(registry, "models:/big/1", archive)
    FileRegistry(dest).register(make_model(tmp_path / "other", seed=7), name="other")
    from tests.fs_tree import tree

    before = tree(dest)
    result = run_on_small_disk(
        tmp_path,
        size=128 << 10,
        free=64 << 10,
        home=dest,
        command=["env", "TMPDIR={mount}", *modelpack_cmd("import", str(archive))],
    )
    _one_clean_line(result["command"], "cannot unpack", "No space left on device", "nothing was imported")
    assert result["after"] == result["before"]  # the temporary folder is gone
    assert tree(dest) == before
