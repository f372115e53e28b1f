"""Requirements: the module -> distribution map is cached, but never past an install."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from modelpack.package.requirements import modules_to_distributions


def _install(site: Path, dist: str, module: str) -> None:
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "top_level.txt").write_text(f"{module}\n")


def test_a_distribution_installed_after_a_pack_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.setattr(sys, "path", [str(site), *sys.path])
    assert modules_to_distributions(["sklearn", "fresh_mod"]) == {"scikit-learn"}

    _install(site, "fresh-dist", "fresh_mod")
    # A coarse file-system clock may give the directory its old time: move it on explicitly.
    stamp = site.stat().st_mtime_ns + 1_000_000_000
    os.utime(site, ns=(stamp, stamp))
    assert modules_to_distributions(["sklearn", "fresh_mod"]) == {"scikit-learn", "fresh-dist"}


def test_a_new_import_path_entry_is_searched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    assert modules_to_distributions(["other_mod"]) == set()
    site = tmp_path / "site"
    site.mkdir()
    _install(site, "other-dist", "other_mod")
    monkeypatch.setattr(sys, "path", [str(site), *sys.path])
    assert modules_to_distributions(["other_mod"]) == {"other-dist"}
