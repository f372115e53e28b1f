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


def test_gate_refuses_breaking_allows_compatible_and_records_force(tmp_path: Path, packed: Path) -> None:
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
    assert _cli("promote", "gate", "1", "--stage", "Production").exit_code == 0

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
