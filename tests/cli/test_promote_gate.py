"""promote --require-compatible: a breaking signature cannot reach a stage unless forced."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from modelpack.cli import app
from tests.conftest import signature_variant

runner = CliRunner()


def _cli(*args: str):
    return runner.invoke(app, list(args))


def _stage_holder(stage: str) -> list[int]:
    doc = json.loads(_cli("list", "gate", "--json").stdout)
    return [v["version"] for v in doc["data"]["versions"] if v["stage"] == stage]


def _register_original_breaking_wider(packed: Path, tmp_path: Path) -> None:
    """Versions 1-3 of "gate": the packed model, one with a new required input, one with a wider one."""
    breaking = signature_variant(
        packed, tmp_path / "breaking", lambda c: [*c, {"type": "double", "name": "extra", "required": True}]
    )
    wider = signature_variant(
        packed,
        tmp_path / "wider",
        lambda c: [dict(x, type="double") if x["name"] == "count" else x for x in c],
    )
    for folder in (packed, breaking, wider):
        assert _cli("register", str(folder), "--name", "gate").exit_code == 0


def test_gate_refuses_breaking_allows_compatible_and_records_force(tmp_path: Path, packed: Path) -> None:
    _register_original_breaking_wider(packed, tmp_path)
    first = _cli("promote", "gate", "1", "--stage", "Production", "--require-compatible")
    assert first.exit_code == 0, first.stderr
    assert "Production has no version yet; nothing to compare" in first.stdout

    refused = _cli("promote", "gate", "2", "--stage", "Production", "--require-compatible")
    assert refused.exit_code == 3
    assert "extra" in refused.stderr and "--force" in refused.stderr
    assert _stage_holder("Production") == [1]
    as_json = _cli("promote", "gate", "2", "--stage", "Production", "--require-compatible", "--json")
    error = json.loads(as_json.stdout)["errors"][0]
    assert error["code"] == "incompatible_signature"
    assert error["changes"][0]["column"] == "extra"

    # Without the flag the gate is off (MLflow never checks).
    assert _cli("promote", "gate", "2", "--stage", "Staging").exit_code == 0

    assert _cli("promote", "gate", "3", "--stage", "Production", "--require-compatible").exit_code == 0
    assert _stage_holder("Production") == [3]

    forced = _cli("promote", "gate", "2", "--stage", "Production", "--require-compatible", "--force")
    assert forced.exit_code == 0, forced.stderr
    assert _stage_holder("Production") == [2]
    events = json.loads(_cli("history", "gate", "--json").stdout)["data"]
    events = events["events"] if isinstance(events, dict) else events
    last = [e for e in events if e.get("version") == 2 and e.get("to") == "Production"][-1]
    assert last["forced"] is True
    assert any("extra" in message for message in last["breaking"])
    # The human view shows the forced promotion and what it broke, on the event's own line.
    [line] = [
        row
        for row in _cli("history", "gate").stdout.splitlines()
        if "stage_changed" in row and "-> Production" in row
    ][-1:]
    assert "FORCED" in line and "v3: new required input extra" in line


def _alias_target(alias: str) -> str:
    return _cli("list", f"models:/gate@{alias}", "--field", "version").stdout.strip()


def test_gate_holds_for_alias_moves(tmp_path: Path, packed: Path) -> None:
    """An alias is compared with the version it points at now; a new alias has nothing to compare."""
    _register_original_breaking_wider(packed, tmp_path)

    new_alias = _cli("promote", "gate", "1", "--alias", "champion", "--require-compatible")
    assert new_alias.exit_code == 0, new_alias.stderr
    assert "alias champion has no version yet; nothing to compare" in new_alias.stdout

    refused = _cli("promote", "gate", "2", "--alias", "champion", "--require-compatible")
    assert refused.exit_code == 3
    assert "alias champion (v1)" in refused.stderr and "extra" in refused.stderr
    assert _alias_target("champion") == "1"
    error = json.loads(
        _cli("promote", "gate", "2", "--alias", "champion", "--require-compatible", "--json").stdout
    )
    [change] = error["errors"][0]["changes"]
    assert (change["target"], change["against"], change["column"]) == ("alias champion", 1, "extra")

    # With a stage as well, both are checked; only the alias breaks here, and is named.
    both = _cli("promote", "gate", "2", "--stage", "Staging", "--alias", "champion", "--require-compatible")
    assert both.exit_code == 3 and "alias champion" in both.stderr
    assert _stage_holder("Staging") == []

    compatible = _cli("promote", "gate", "3", "--alias", "champion", "--require-compatible", "--json")
    assert compatible.exit_code == 0, compatible.stdout
    [check] = json.loads(compatible.stdout)["data"]["compatibility"]
    assert check == {
        "target": "alias champion",
        "against": 1,
        "compatible": True,
        "breaking": [],
        "forced": False,
    }
    assert _alias_target("champion") == "3"

    forced = _cli("promote", "gate", "2", "--alias", "champion", "--require-compatible", "--force")
    assert forced.exit_code == 0, forced.stderr
    assert "FORCED" in forced.stdout and _alias_target("champion") == "2"
    events = json.loads(_cli("history", "gate", "--json").stdout)["data"]["events"]
    last = [e for e in events if e["event"] == "alias_set"][-1]
    assert last["forced"] is True
    assert sorted(last["breaking"]) == [
        "v3: count: double -> long accepts less than before",
        "v3: new required input extra",
    ]
    [line] = [row for row in _cli("history", "gate").stdout.splitlines() if "FORCED" in row]
    assert "alias champion (was v3)" in line and "new required input extra" in line


def test_gate_stops_new_optional_input_the_model_reads(tmp_path: Path) -> None:
    """v2 adds a column with gaps (so optional) that it reads: v1's callers would break."""
    from tests.gate_models import NEW_COLUMN, OLD_COLUMNS, pack_version

    v1, _ = pack_version(tmp_path, "v1", fit_on=OLD_COLUMNS, sample_of=OLD_COLUMNS)
    everything = [*OLD_COLUMNS, NEW_COLUMN]
    v2, _ = pack_version(tmp_path, "v2", fit_on=everything, sample_of=everything)
    for folder in (v1, v2):
        assert _cli("register", str(folder), "--name", "gate").exit_code == 0
    assert _cli("promote", "gate", "1", "--stage", "Production", "--alias", "champion").exit_code == 0

    for target in (["--stage", "Production"], ["--alias", "champion"]):
        refused = _cli("promote", "gate", "2", *target, "--require-compatible")
        assert refused.exit_code == 3, refused.stdout
        assert NEW_COLUMN in refused.stderr and "the model reads it" in refused.stderr
        assert "(fitted feature names)" in refused.stderr
    assert _stage_holder("Production") == [1] and _alias_target("champion") == "1"
