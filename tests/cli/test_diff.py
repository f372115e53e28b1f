from __future__ import annotations

import json
from pathlib import Path

import pytest
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


def _diff_json(a: Path, b: Path) -> dict:
    result = runner.invoke(app, ["diff", str(a), str(b), "--json"])
    return {"exit_code": result.exit_code, **json.loads(result.stdout)}


def test_new_optional_input_the_model_reads_is_breaking(tmp_path: Path) -> None:
    """An input with gaps in the sample is optional in the signature, yet the model needs it."""
    from tests.gate_models import NEW_COLUMN, OLD_COLUMNS, pack_version

    v1, v1_sample = pack_version(tmp_path, "v1", fit_on=OLD_COLUMNS, sample_of=OLD_COLUMNS)
    everything = [*OLD_COLUMNS, NEW_COLUMN]
    v2, _ = pack_version(tmp_path, "v2", fit_on=everything, sample_of=everything)

    human = runner.invoke(app, ["diff", str(v1), str(v2)])
    assert human.exit_code == 3, human.stdout
    assert "model reads it" in human.stdout and "(fitted feature names)" in human.stdout
    doc = _diff_json(v1, v2)
    [change] = doc["data"]["signature"]
    assert change["column"] == NEW_COLUMN and change["after"] == "double (optional)"
    assert (change["severity"], change["rule"]) == ("breaking", "fitted feature names")
    # The verdict is the truth: v2 fails on what v1's callers send.
    scored = runner.invoke(app, ["predict", str(v2), "--data", str(v1_sample), "--output", "-"])
    assert scored.exit_code != 0 and NEW_COLUMN in scored.stderr


def test_new_optional_input_the_model_ignores_is_compatible(tmp_path: Path) -> None:
    from tests.gate_models import NEW_COLUMN, OLD_COLUMNS, pack_version

    v1, v1_sample = pack_version(tmp_path, "v1", fit_on=OLD_COLUMNS, sample_of=OLD_COLUMNS)
    v2, _ = pack_version(tmp_path, "v2", fit_on=OLD_COLUMNS, sample_of=[*OLD_COLUMNS, NEW_COLUMN])

    human = runner.invoke(app, ["diff", str(v1), str(v2)])
    assert human.exit_code == 0, human.stdout
    assert "does not read it" in human.stdout and "(fitted feature names)" in human.stdout
    [change] = _diff_json(v1, v2)["data"]["signature"]
    assert (change["severity"], change["rule"]) == ("compatible", "fitted feature names")
    scored = runner.invoke(app, ["predict", str(v2), "--data", str(v1_sample), "--output", "-"])
    assert scored.exit_code == 0, scored.stderr


# Scoring a frame with a model fitted on an array warns; real use goes on, so the test does too.
@pytest.mark.filterwarnings("ignore:X has feature names:UserWarning")
def test_new_optional_input_without_fitted_names_is_breaking(tmp_path: Path) -> None:
    """Nothing records what the model reads (fitted on an array): assume it reads the column."""
    from tests.gate_models import NEW_COLUMN, OLD_COLUMNS, pack_version

    everything = [*OLD_COLUMNS, NEW_COLUMN]
    v1, v1_sample = pack_version(tmp_path, "v1", fit_on=OLD_COLUMNS, sample_of=OLD_COLUMNS, fit_on_array=True)
    v2, _ = pack_version(tmp_path, "v2", fit_on=everything, sample_of=everything, fit_on_array=True)

    human = runner.invoke(app, ["diff", str(v1), str(v2)])
    assert human.exit_code == 3, human.stdout
    assert "(no fitted feature names recorded)" in human.stdout
    [change] = _diff_json(v1, v2)["data"]["signature"]
    assert (change["severity"], change["rule"]) == ("breaking", "no fitted feature names recorded")
    scored = runner.invoke(app, ["predict", str(v2), "--data", str(v1_sample), "--output", "-"])
    assert scored.exit_code != 0 and "expecting 4 features" in scored.stderr
