from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import yaml
from typer.testing import CliRunner

from modelpack.cli import app
from modelpack.package.manifest import MANIFEST_FILE

runner = CliRunner()


def test_inspect_human_shows_signature_example_files(packed: Path) -> None:
    result = runner.invoke(app, ["inspect", str(packed)], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "signature inputs" in out and "signature outputs" in out
    for column in ("count", "ratio", "color", "flag"):
        assert column in out
    assert "long" in out and "boolean" in out
    assert "input example" in out
    assert "model.skops" in out and "requirements.txt" in out
    assert "sha256:" in out
    assert "loading runs no code" in out
    assert "scikit-learn" in out


def test_inspect_json(packed: Path) -> None:
    result = runner.invoke(app, ["inspect", str(packed), "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)["data"]
    assert set(data["flavors"]) == {"sklearn", "python_function"}
    assert data["signature"]["inputs"][0] == {"name": "count", "type": "long", "required": True}
    assert data["input_example"]["columns"] == ["count", "ratio", "color", "flag"]
    assert data["has_manifest"] is True
    assert data["name"] == "mixed"
    assert data["python_version"].count(".") == 2
    assert {f["path"] for f in data["files"]} >= {"MLmodel", "model.skops"}


def test_inspect_missing_folder_exit_4(tmp_path: Path) -> None:
    result = runner.invoke(app, ["inspect", str(tmp_path / "none")])
    assert result.exit_code == 4
    assert result.stderr.startswith("error: model folder not found")


def test_inspect_corrupt_mlmodel_exit_3(packed: Path) -> None:
    (packed / "MLmodel").write_text("flavors: [unclosed\n")
    result = runner.invoke(app, ["inspect", str(packed)])
    assert result.exit_code == 3
    assert "not valid YAML" in result.stderr
    assert "Traceback" not in result.stderr


def test_inspect_folder_without_manifest_warns(packed: Path) -> None:
    (packed / MANIFEST_FILE).unlink()
    result = runner.invoke(app, ["inspect", str(packed), "--json"])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["data"]["has_manifest"] is False
    assert any("no integrity manifest" in w for w in doc["warnings"])


def test_inspect_never_unpickles(tmp_path: Path, packed: Path) -> None:
    marker = tmp_path / "PWNED"

    class Payload:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil"
    shutil.copytree(packed, evil)
    (evil / "model.skops").unlink()
    (evil / "model.pkl").write_bytes(pickle.dumps(Payload()))
    mlmodel = yaml.safe_load((evil / "MLmodel").read_text())
    mlmodel["flavors"]["sklearn"].update(pickled_model="model.pkl", serialization_format="pickle")
    mlmodel["flavors"]["python_function"]["model_path"] = "model.pkl"
    (evil / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    result = runner.invoke(app, ["inspect", str(evil)])
    assert result.exit_code == 0
    assert "loading runs code" in result.stdout
    assert not marker.exists()
