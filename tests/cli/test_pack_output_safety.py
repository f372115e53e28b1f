"""``pack --output`` never destroys what pack does not own, and every bad output is a clean error.

``pack`` creates a new folder, fills an empty one, or with ``--force`` replaces a model folder;
it never writes into or over the registry or the trust records (following links to find them),
never deletes a folder that is not a model folder, and turns an output the OS refuses (a kernel
filesystem, a mount point, a path through a file, a full disk) into one line, leaving nothing
behind. Every case runs the real CLI and compares the whole tree before and after.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import modelpack_cmd
from tests.fs_tree import tree
from tests.registry_models import make_model
from tests.small_disk import run_on_small_disk


def _pack(model: Path, sample: Path, output: Path | str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        modelpack_cmd("pack", str(model), "--sample", str(sample), "--output", str(output), *extra),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _refused(proc: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    """Exit ``code``, one error line (plus its hint) naming ``words``, no traceback, no output."""
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines and lines[0].startswith("error: "), proc.stderr
    assert all(not line.startswith("error: ") for line in lines[1:]), proc.stderr
    assert [line for line in lines[1:] if not line.startswith("hint: ")] == [], proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert proc.stdout == ""


@pytest.fixture
def home(_isolate: Path, tmp_path: Path) -> Path:
    """MODELPACK_HOME with one registered version (``keep`` v1) and a trust record."""
    model = make_model(tmp_path / "registered", seed=1)
    for args in (("register", str(model), "--name", "keep"), ("trust", str(model))):
        done = subprocess.run(modelpack_cmd(*args), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    assert (_isolate / "trust.json").is_file()
    return _isolate


def _model_folder(folder: Path) -> Path:
    """An existing folder that --force may replace: it has an MLmodel file."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "MLmodel").write_text("flavors: {}\n")
    return folder


# ---------------------------------------------------------------------- the registry


@pytest.mark.parametrize(
    "where",
    ["home", "stored version", "new folder in the registry", "model folder of a registered model"],
)
def test_output_in_the_registry_is_refused_even_with_force(
    home: Path, sk_model_file: Path, sample_csv: Path, where: str
) -> None:
    output = {
        "home": home,
        "stored version": home / "models" / "keep" / "versions" / "1" / "model",
        "new folder in the registry": home / "models" / "fresh",
        "model folder of a registered model": home / "models" / "keep",
    }[where]
    before = tree(home)
    proc = _pack(sk_model_file, sample_csv, output, "--force")
    _refused(proc, 2, "registry", str(output))
    assert tree(home) == before


def test_output_containing_the_registry_is_refused(
    tmp_path: Path, sk_model_file: Path, sample_csv: Path
) -> None:
    """A model folder (it has MLmodel) that holds a registry: --force would delete the registry."""
    outer = _model_folder(tmp_path / "outer")
    registry = outer / "registry"
    done = subprocess.run(
        modelpack_cmd(
            "register", str(make_model(tmp_path / "m", seed=3)), "--name", "x", "--home", str(registry)
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    before = tree(outer)
    proc = _pack(sk_model_file, sample_csv, outer, "--force", "--home", str(registry))
    _refused(proc, 2, "contains the registry", str(registry))
    assert tree(outer) == before


def test_registry_is_found_through_symbolic_links(
    home: Path, tmp_path: Path, sk_model_file: Path, sample_csv: Path
) -> None:
    """A folder whose path goes through a link into the registry is still inside it."""
    link = tmp_path / "shortcut"
    link.symlink_to(home / "models")
    before = tree(home)
    proc = _pack(sk_model_file, sample_csv, link / "keep" / "versions" / "1" / "model", "--force")
    _refused(proc, 2, "inside the registry")
    proc = _pack(sk_model_file, sample_csv, link / "brand-new")
    _refused(proc, 2, "inside the registry")
    assert tree(home) == before


def test_registry_home_given_through_a_link_is_protected(
    tmp_path: Path, sk_model_file: Path, sample_csv: Path, home: Path
) -> None:
    """--home names the registry through a link; the output names the real folder."""
    link = tmp_path / "home-link"
    link.symlink_to(home)
    before = tree(home)
    proc = _pack(sk_model_file, sample_csv, home / "models" / "keep", "--force", "--home", str(link))
    _refused(proc, 2, "registry")
    assert tree(home) == before


def test_output_holding_the_trust_records_is_refused(
    home: Path, tmp_path: Path, sk_model_file: Path, sample_csv: Path
) -> None:
    """trust.json may live elsewhere through a link; a model folder holding it is not replaced."""
    elsewhere = _model_folder(tmp_path / "elsewhere")
    real = elsewhere / "trust.json"
    (home / "trust.json").rename(real)
    (home / "trust.json").symlink_to(real)
    before_home, before_elsewhere = tree(home), tree(elsewhere)
    proc = _pack(sk_model_file, sample_csv, elsewhere, "--force")
    _refused(proc, 2, "trust records")
    assert tree(home) == before_home and tree(elsewhere) == before_elsewhere


def test_python_api_protects_the_environments_registry(
    home: Path, sk_model_file: Path, sample_csv: Path
) -> None:
    """api.pack without ``home`` still refuses the registry MODELPACK_HOME names."""
    code = (
        "import sys\n"
        "from modelpack import api\n"
        "from modelpack.errors import UsageError\n"
        "try:\n"
        f"    api.pack({str(sk_model_file)!r}, sample={str(sample_csv)!r}, output={str(home)!r}, force=True)\n"
        "except UsageError as exc:\n"
        "    print(exc.message)\n"
        "    sys.exit(2)\n"
    )
    before = tree(home)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "registry" in proc.stdout
    assert tree(home) == before


# ---------------------------------------------------------------------- --force


def test_force_does_not_delete_a_folder_that_is_not_a_model_folder(
    tmp_path: Path, sk_model_file: Path, sample_csv: Path
) -> None:
    mine = tmp_path / "mine"
    (mine / "notes").mkdir(parents=True)
    (mine / "notes" / "todo.txt").write_text("keep me")
    (mine / "data.csv").write_text("a,b\n1,2\n")
    before = tree(mine)
    proc = _pack(sk_model_file, sample_csv, mine, "--force")
    _refused(proc, 5, "not a model folder", str(mine))
    assert "remove it yourself" in proc.stderr
    assert tree(mine) == before


def test_force_replaces_a_model_folder(tmp_path: Path, sk_model_file: Path, sample_csv: Path) -> None:
    """What --force is for: re-packing over an earlier pack (or any folder with MLmodel)."""
    out = tmp_path / "out"
    first = _pack(sk_model_file, sample_csv, out)
    assert first.returncode == 0, first.stderr
    (out / "stale.txt").write_text("from an older pack")
    again = _pack(sk_model_file, sample_csv, out, "--force")
    assert again.returncode == 0, again.stderr
    assert not (out / "stale.txt").exists() and (out / "MLmodel").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_force_does_not_delete_the_inputs_it_reads(
    tmp_path: Path, sk_model_file: Path, sample_csv: Path
) -> None:
    """A model folder holding this pack's own sample: replacing it would delete the sample."""
    out = _model_folder(tmp_path / "out")
    sample = out / "sample.csv"
    sample.write_bytes(sample_csv.read_bytes())
    before = tree(out)
    proc = _pack(sk_model_file, sample, out, "--force")
    _refused(proc, 5, "sample.csv")
    assert tree(out) == before


# ---------------------------------------------------------------------- odd outputs


def test_symbolic_link_to_an_empty_folder_is_refused(
    tmp_path: Path, sk_model_file: Path, sample_csv: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    link = tmp_path / "link"
    link.symlink_to(empty)
    before = tree(tmp_path)
    for extra in ((), ("--force",)):
        proc = _pack(sk_model_file, sample_csv, link, *extra)
        _refused(proc, 2, "symbolic link", str(link))
        assert tree(tmp_path) == before


@pytest.mark.parametrize("output", ["/proc/modelpack-out", "/proc/self/modelpack-out", "/sys/modelpack-out"])
def test_kernel_filesystems_are_refused(sk_model_file: Path, sample_csv: Path, output: str) -> None:
    if not Path(output).parent.is_dir():
        pytest.skip(f"no {Path(output).parent} here")
    proc = _pack(sk_model_file, sample_csv, output)
    _refused(proc, 2, "kernel filesystem", output)
    assert not Path(output).exists()


def test_output_under_a_file_is_a_clean_error(tmp_path: Path, sk_model_file: Path, sample_csv: Path) -> None:
    """The staging folder cannot be made (ENOTDIR): one line naming the path and the reason."""
    (tmp_path / "plain").write_text("a file")
    before = tree(tmp_path)
    for output in (
        tmp_path / "plain" / "out",
        tmp_path / "plain" / "deeper" / "out",
        Path(os.devnull) / "out",
    ):
        proc = _pack(sk_model_file, sample_csv, output)
        _refused(proc, 1, "cannot write the output folder", str(output), "Not a directory")
        assert tree(tmp_path) == before


def test_missing_parents_are_removed_when_staging_fails(
    tmp_path: Path, sk_model_file: Path, sample_csv: Path
) -> None:
    """pack makes the output's missing parents; when it cannot finish, it removes them again."""
    locked = tmp_path / "locked"
    locked.mkdir()
    output = locked / "a" / "b" / "out"
    if os.geteuid() == 0:
        pytest.skip("root ignores folder modes; the mount-point tests cover a failing rename")
    locked.chmod(0o555)
    try:
        proc = _pack(sk_model_file, sample_csv, output)
    finally:
        locked.chmod(0o755)
    _refused(proc, 1, "cannot write the output folder", "Permission denied")
    assert list(locked.iterdir()) == []


def _pack_argv(model: Path, sample: Path, *extra: str) -> list[str]:
    return modelpack_cmd("pack", str(model), "--sample", str(sample), *extra)


@pytest.mark.parametrize("force", [False, True])
def test_output_that_is_a_mount_point_fails_cleanly(
    tmp_path: Path, sk_model_file: Path, sample_csv: Path, force: bool
) -> None:
    """The final rename cannot move a mount point (EBUSY): the pack fails after writing the whole
    package beside it, says so in one line, and leaves nothing behind."""
    setup = [["sh", "-c", "printf 'flavors: {}\\n' > {mount}/MLmodel"]] if force else []
    result = run_on_small_disk(
        tmp_path,
        setup=setup,
        home=tmp_path / "home",
        command=_pack_argv(sk_model_file, sample_csv, "--output", "{mount}", *(["--force"] if force else [])),
    )
    proc = subprocess.CompletedProcess([], result["command"]["returncode"], "", result["command"]["stderr"])
    _refused(proc, 1, "cannot write the output folder", "Device or resource busy")
    assert result["after"] == result["before"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_full_disk_while_packing_leaves_nothing_behind(
    tmp_path: Path, sk_model_file: Path, sample_csv: Path
) -> None:
    result = run_on_small_disk(
        tmp_path,
        free=8192,
        home=tmp_path / "home",
        command=_pack_argv(sk_model_file, sample_csv, "--output", "{mount}/out/model"),
    )
    proc = subprocess.CompletedProcess([], result["command"]["returncode"], "", result["command"]["stderr"])
    _refused(proc, 1, "cannot write the output folder", "No space left on device")
    assert result["after"] == result["before"] == {}
