"""A folder packed by an earlier release still loads: its MLmodel names import paths forever.

``tests/assets/packed_before_layout`` was packed before the package was split into subpackages:
``modelpack pack sample_models.custom_model:build --serialization pickle`` (generic flavor). Its
MLmodel names ``modelpack.pyfunc_loader``; its pickle names the class by reference (a class
carried by value would tie the asset to one Python version), so ``sample_models`` must stay
importable from the repository root.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, modelpack_cmd

PACKED = REPO_ROOT / "tests" / "assets" / "packed_before_layout"


@pytest.fixture
def packed(tmp_path: Path) -> Path:
    folder = tmp_path / "signal_quality"
    shutil.copytree(PACKED, folder)
    return folder


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(modelpack_cmd(*args), capture_output=True, text=True, check=False)


def test_the_asset_names_the_loader_module_that_must_stay_importable() -> None:
    import yaml

    from modelpack.pyfunc_loader import _load_pyfunc

    doc = yaml.safe_load((PACKED / "MLmodel").read_text())
    assert doc["flavors"]["python_function"]["loader_module"] == "modelpack.pyfunc_loader"
    assert callable(_load_pyfunc)


def test_a_folder_packed_before_still_validates_and_predicts_once_trusted(
    packed: Path, tmp_path: Path
) -> None:
    inspected = _run("inspect", str(packed), "--json")
    assert inspected.returncode == 0, inspected.stderr
    trusted = _run("trust", str(packed))
    assert trusted.returncode == 0, trusted.stderr
    validated = _run("validate", str(packed), "--json")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert json.loads(validated.stdout)["status"] == "ok"

    data = tmp_path / "rows.csv"
    data.write_text("signal_strength,noise\n40.0,5.0\n10.0,5.0\n")
    out = tmp_path / "pred.json"
    predicted = _run("predict", str(packed), "--data", str(data), "--output", str(out))
    assert predicted.returncode == 0, predicted.stderr
    rows = json.loads(out.read_text())
    assert [round(r["prediction"], 4) for r in rows] == [0.7143, 0.0]
