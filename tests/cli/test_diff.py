from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from modelpack.cli import app
from tests.conftest import signature_variant

runner = CliRunner()


def test_identical_folders(packed: Path) -> None:
    result = runner.invoke(app, ["diff", str(packed), str(packed)], catch_exceptions=False)
    assert result.exit_code == 0
    assert "identical" in result.stdout


def test_new_required_input_is_breaking(tmp_path: Path, packed: Path) -> None:
    b = signature_variant(
        packed, tmp_path / "b", lambda cols: [*cols, {"type": "double", "name": "extra", "required": True}]
    )
    result = runner.invoke(app, ["diff", str(packed), str(b)])
    assert result.exit_code == 3
    assert "extra" in result.stdout and "breaking" in result.stdout
    doc = json.loads(runner.invoke(app, ["diff", str(packed), str(b), "--json"]).stdout)
    assert doc["status"] == "failed" and doc["exit_code"] == 3
    assert doc["data"]["compatible"] is False
    [change] = doc["data"]["signature"]
    assert change["column"] == "extra" and change["severity"] == "breaking"
    assert any(f["field"] == "MLmodel" for f in doc["data"]["files"])
    # The other way round, the column is merely removed: a warning, still compatible.
    back = runner.invoke(app, ["diff", str(b), str(packed), "--json"])
    assert back.exit_code == 0
    assert json.loads(back.stdout)["warnings"]


def test_widening_is_compatible(tmp_path: Path, packed: Path) -> None:
    def widen(cols):
        return [dict(c, type="double") if c["name"] == "count" else c for c in cols]

    b = signature_variant(packed, tmp_path / "b", widen)
    result = runner.invoke(app, ["diff", str(packed), str(b)])
    assert result.exit_code == 0, result.stdout
    assert "compatible" in result.stdout
    assert runner.invoke(app, ["diff", str(b), str(packed)]).exit_code == 3


def test_missing_target_is_4(tmp_path: Path, packed: Path) -> None:
    result = runner.invoke(app, ["diff", str(packed), str(tmp_path / "nope")])
    assert result.exit_code == 4
