"""A registry's own stage names, end to end through the real CLI (each call a process), shared
by the local-folder test (tests/cli/test_stages.py) and the bucket test (tests/s3/test_bucket_stages.py)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ENVELOPE_KEYS, modelpack_cmd
from tests.registry_models import make_model, write_manifest

TEAM = ("Prototype", "Testing", "Production", "Retired")


def mp(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(modelpack_cmd(*args), capture_output=True, text=True, timeout=300, env=env)


def mp_json(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = mp(*args, "--json", env=env)
    assert proc.stdout, proc.stderr
    doc = json.loads(proc.stdout)
    assert set(doc) == ENVELOPE_KEYS
    assert doc["exit_code"] == proc.returncode, proc.stderr
    return doc


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The error line, rich's wrapping undone."""
    return " ".join(proc.stderr.split())


def breaking_model(folder: Path, seed: int) -> Path:
    """A version whose signature adds a required input: it breaks the callers of the stage."""
    make_model(folder, seed=seed, manifest=False)
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    mlmodel["signature"]["inputs"] = json.dumps(
        [{"type": "double", "name": "x", "required": True}, {"type": "double", "name": "y", "required": True}]
    )
    (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel, default_flow_style=False, sort_keys=True))
    write_manifest(folder)
    return folder


def history(name: str) -> list[dict[str, Any]]:
    data = mp_json("history", name)["data"]
    return list(data["events"] if isinstance(data, dict) else data)


def stages_of(name: str) -> dict[int, str]:
    versions = mp_json("list", name)["data"]["versions"]
    return {v["version"]: v["stage"] for v in versions}


def run_custom_stages(tmp_path: Path) -> None:
    """Declare Prototype/Testing/Production/Retired on a registry in use, use them everywhere,
    and go back to MLflow's four."""
    for seed in (1, 2, 3):
        assert (
            mp("register", str(make_model(tmp_path / f"c{seed}", seed=seed)), "--name", "churn").returncode
            == 0
        )
    assert mp("register", str(make_model(tmp_path / "o1", seed=9)), "--name", "other").returncode == 0

    shown = mp_json("stages")["data"]
    assert shown["stages"] == ["None", "Staging", "Production", "Archived"] and shown["default"] is True
    assert shown["archive"] == "Archived" and shown["active"] == ["Staging", "Production"]

    assert mp("promote", "churn", "1", "--stage", "production").returncode == 0
    assert mp("promote", "churn", "2", "--stage", "Staging").returncode == 0
    assert mp("promote", "other", "1", "--stage", "Staging").returncode == 0

    # Staging holds versions: refused until it is mapped; nothing changes.
    refused = mp("stages", "set", *TEAM, "--archive", "retired")
    assert refused.returncode == 5, refused.stderr
    line = one_line(refused)
    assert "stage Staging holds versions" in line and "churn v2" in line and "other v1" in line
    assert "--map Staging=NEW" in line
    assert mp_json("stages")["data"]["default"] is True
    assert stages_of("churn") == {1: "Production", 2: "Staging", 3: "None"}

    # A bad mapping or name is a usage error.
    assert mp("stages", "set", *TEAM, "--archive", "Retired", "--map", "Staging=Nowhere").returncode == 2
    assert mp("stages", "set", "Testing", "3", "--archive", "Testing").returncode == 2
    assert mp("stages", "set", "Testing", "latest", "--archive", "Testing").returncode == 2

    declared = mp_json("stages", "set", *TEAM, "--archive", "retired", "--map", "staging=testing")
    assert declared["status"] == "ok", declared
    data = declared["data"]
    assert data["stages"] == ["None", *TEAM] and data["archive"] == "Retired" and data["generation"] == 1
    assert data["active"] == ["Prototype", "Testing", "Production"] and data["protected"] == "Production"
    assert sorted(data["moved"]) == ["churn v2: Staging -> Testing", "other v1: Staging -> Testing"]
    assert stages_of("churn") == {1: "Production", 2: "Testing", 3: "None"}
    assert stages_of("other") == {1: "Testing"}

    # Each move is an event in its model's history.
    [renamed] = [e for e in history("churn") if "redeclared" in str(e.get("reason"))]
    assert (renamed["version"], renamed["from"], renamed["to"]) == (2, "Staging", "Testing")

    # URIs, promote, archiving and the gate use the new names.
    assert mp("list", "models:/churn/testing", "--field", "version").stdout == "2\n"
    assert mp("list", "models:/churn/Production", "--field", "version").stdout == "1\n"
    gone = mp("list", "models:/churn/Staging")
    assert gone.returncode == 4 and "stages are None, Prototype, Testing, Production, Retired" in one_line(
        gone
    )
    bad = mp("promote", "churn", "3", "--stage", "Staging")
    assert bad.returncode == 2 and "None, Prototype, Testing, Production, Retired" in one_line(bad)

    promoted = mp_json("promote", "churn", "3", "--stage", "TESTING", "--require-compatible")["data"]
    assert promoted["stage"] == "Testing" and promoted["archived"] == [2]
    assert stages_of("churn") == {1: "Production", 2: "Retired", 3: "Testing"}

    assert mp("register", str(breaking_model(tmp_path / "c4", seed=4)), "--name", "churn").returncode == 0
    gated = mp("promote", "churn", "4", "--stage", "Testing", "--require-compatible")
    assert gated.returncode == 3 and "would break callers of Testing (v3)" in one_line(gated)
    # Retired is the archive: no single holder, no gate.
    assert mp("promote", "churn", "4", "--stage", "Retired", "--require-compatible").returncode == 0
    # Prototype is active by default: a second version there archives the first.
    assert mp("promote", "churn", "4", "--stage", "Prototype").returncode == 0

    # The protected stage is the last active one.
    protected = mp("delete", "churn", "1")
    assert protected.returncode == 5 and "is in Production" in one_line(protected)

    listed = mp("list", "churn").stdout
    assert "Testing" in listed and "Retired" in listed and "Prototype" in listed

    assert mp_json("doctor")["exit_code"] == 0

    # Back to MLflow's four, Prototype's versions out of every stage.
    back = mp_json(
        "stages",
        "set",
        "Staging",
        "Production",
        "Archived",
        "--archive",
        "Archived",
        "--map",
        "Testing=Staging",
        "--map",
        "Retired=Archived",
        "--map",
        "Prototype=None",
    )["data"]
    assert back["default"] is True and back["generation"] == 2
    assert stages_of("churn") == {1: "Production", 2: "Archived", 3: "Staging", 4: "None"}
    assert stages_of("other") == {1: "Staging"}
    again = mp("stages", "set", "Staging", "Production", "Archived", "--archive", "archived")
    assert again.returncode == 0 and again.stdout.startswith("stages unchanged")
    assert mp_json("doctor")["exit_code"] == 0
