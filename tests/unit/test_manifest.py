from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelpack.errors import InvalidModelError
from modelpack.package.manifest import (
    MANIFEST_FILE,
    read_manifest,
    scan_folder,
    verify_folder,
    write_manifest,
)


def _folder(tmp_path: Path) -> Path:
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    (root / "MLmodel").write_text("flavors: {}\n")
    (root / "model.pkl").write_bytes(b"\x80\x04N.")
    (root / "sub" / "data.txt").write_text("x")
    return root


def test_roundtrip_and_digest_stable(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    written = write_manifest(root)
    read = read_manifest(root)
    assert read is not None
    assert read.digest == written.digest == scan_folder(root).digest
    assert {f.path for f in read.files} == {"MLmodel", "model.pkl", "sub/data.txt"}
    assert verify_folder(root, read).ok


def test_detects_changed_missing_extra(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    manifest = write_manifest(root)
    data = bytearray((root / "model.pkl").read_bytes())
    data[0] ^= 0xFF
    (root / "model.pkl").write_bytes(bytes(data))
    (root / "sub" / "data.txt").unlink()
    (root / "new.txt").write_text("y")
    report = verify_folder(root, manifest)
    assert report.changed == ["model.pkl"]
    assert report.missing == ["sub/data.txt"]
    assert report.extra == ["new.txt"]
    assert not report.ok


def test_symlink_escaping_is_refused(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    outside = tmp_path / "secret"
    outside.write_text("s")
    os.symlink(outside, root / "link")
    with pytest.raises(InvalidModelError, match="outside"):
        scan_folder(root)


def test_no_manifest_reads_none(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    assert read_manifest(root) is None
    (root / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(InvalidModelError):
        read_manifest(root)
