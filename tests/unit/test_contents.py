"""``modelpack.contents``: the walk (only regular files are package content) and the gate."""

from __future__ import annotations

import os
import pickle
import socket
from pathlib import Path

import pytest

from modelpack import contents
from modelpack.errors import InvalidModelError
from tests.cli.test_validate import SystemPayload, generic_flavors


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    (root / "MLmodel").write_text("flavors: {}\n")
    (root / "sub" / "weights.bin").write_bytes(b"w")
    (tmp_path / "outside.txt").write_text("secret")
    return root


def test_walk_lists_regular_files_sorted_and_links_inside(folder: Path) -> None:
    (folder / "alias.bin").symlink_to("sub/weights.bin")
    (folder / "subdir-link").symlink_to("sub")  # a folder inside: its files are listed where they are
    listing = contents.walk(folder)
    assert [rel for rel, _ in listing.files] == ["MLmodel", "alias.bin", "sub/weights.bin"]
    assert listing.escaping_links == []


def test_walk_reports_links_leaving_the_folder_without_following_them(folder: Path) -> None:
    (folder / "leak.txt").symlink_to(folder.parent / "outside.txt")
    (folder / "sub" / "up").symlink_to("../..")
    listing = contents.walk(folder)
    assert listing.escaping_links == ["leak.txt", "sub/up"]
    assert "leak.txt" not in [rel for rel, _ in listing.files]


@pytest.mark.parametrize("kind", ["fifo", "socket", "loop", "dangling", "non-utf8", "link-to-fifo"])
def test_walk_refuses_what_is_not_package_content(
    folder: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if kind == "fifo":
        os.mkfifo(folder / "sub" / "pipe")
    elif kind == "socket":
        monkeypatch.chdir(folder / "sub")
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind("sock")
    elif kind == "loop":
        (folder / "a").symlink_to("b")
        (folder / "b").symlink_to("a")
    elif kind == "dangling":
        (folder / "gone").symlink_to("nowhere")
    elif kind == "link-to-fifo":
        os.mkfifo(folder / "pipe")
        (folder / "alias").symlink_to("pipe")
    else:
        os.close(os.open(os.fsencode(folder) + b"/x\xff", os.O_CREAT | os.O_WRONLY, 0o644))
    with pytest.raises(InvalidModelError, match="a package holds only regular files"):
        contents.walk(folder)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("/etc/passwd", "not a relative path"),
        ("../outside.txt", "not a relative path"),
        ("sub/../../outside.txt", "not a relative path"),
        ("", "not a relative path"),
        ("a\x00b", "not a relative path"),
        ("sub", "is a folder"),
        ("missing.pkl", "does not exist"),
    ],
)
def test_locate_refuses_names_a_package_may_not_use(folder: Path, name: str, why: str) -> None:
    with pytest.raises(InvalidModelError, match=why) as caught:
        contents.locate(folder, name, key="MLmodel flavors.x.model_file")
    assert "MLmodel flavors.x.model_file" in caught.value.message


def test_locate_refuses_links_leaving_the_folder_at_any_level(folder: Path) -> None:
    (folder / "leak.txt").symlink_to(folder.parent / "outside.txt")
    (folder / "out").symlink_to(folder.parent)
    for name in ("leak.txt", "out/outside.txt"):
        with pytest.raises(InvalidModelError, match="resolves outside the model folder"):
            contents.locate(folder, name, key="k")
    (folder / "a").symlink_to("b")
    (folder / "b").symlink_to("a")
    with pytest.raises(InvalidModelError, match="symlink loop"):
        contents.locate(folder, "a", key="k")


def test_locate_accepts_links_inside_and_reports_missing_when_asked(folder: Path) -> None:
    (folder / "alias.bin").symlink_to("sub/weights.bin")
    assert contents.locate(folder, "alias.bin", key="k") == (folder / "sub" / "weights.bin").resolve()
    assert contents.locate(folder, "nope.txt", key="k", missing_ok=True) is None
    assert contents.locate(folder, "sub", key="k", allow_dir=True) == (folder / "sub").resolve()


def test_open_file_never_blocks_on_a_fifo(folder: Path) -> None:
    os.mkfifo(folder / "pipe")
    with pytest.raises(InvalidModelError, match="FIFO"):
        contents.open_file(folder, "pipe", key="k")
    # Swapped in after the check: the descriptor is checked too, and opening it did not block.
    real = folder / "late"
    os.mkfifo(real)
    with pytest.raises(InvalidModelError, match="FIFO"):
        contents.open_checked(real, key="k", folder=folder)


def test_device_is_refused_by_the_gate(folder: Path) -> None:
    with pytest.raises(InvalidModelError, match="character device"):
        contents.open_checked(Path("/dev/zero"), key="k", folder=folder)


def test_read_bytes_caps_what_it_reads_whole(folder: Path) -> None:
    (folder / "big.json").write_bytes(b"x" * 2048)
    assert contents.read_bytes(folder, "big.json", key="k", limit=4096) == b"x" * 2048
    with pytest.raises(InvalidModelError, match="larger than"):
        contents.read_bytes(folder, "big.json", key="k", limit=1024)


def test_mlflow_entry_point_opens_the_model_file_through_the_gate(tmp_path: Path) -> None:
    """``modelpack.pyfunc_loader`` (what MLflow calls) refuses a model file outside the folder."""
    import yaml

    from modelpack.package.pyfunc import _load_pyfunc

    marker = tmp_path / "PWNED"
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(SystemPayload(marker), protocol=4))
    root = tmp_path / "pkg"
    root.mkdir()
    (root / "MLmodel").write_text(yaml.safe_dump({"flavors": generic_flavors("../evil.pkl", "pickle")}))
    with pytest.raises(InvalidModelError, match="flavors.modelpack.model_file"):
        _load_pyfunc(str(root))
    assert not marker.exists()


def test_is_safe_relative() -> None:
    assert contents.is_safe_relative("model.pkl")
    assert contents.is_safe_relative("weights/v1:final.bin")
    for name in ("", "/abs", "\\abs", "C:/x", "c:\\x", "a/../../b", "..", "a\x00b"):
        assert not contents.is_safe_relative(name), name
