"""A local registry's own stage names: end to end, through the Python API, and the crash story
of a redeclaration (a process killed with SIGKILL halfway through rewriting the models)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from modelpack import Registry
from modelpack.names import DEFAULT_STAGES
from tests.registry_models import make_model
from tests.stages_scenario import TEAM, history, mp, mp_json, run_custom_stages, stages_of


def test_custom_stages_end_to_end_on_a_local_registry(tmp_path: Path) -> None:
    run_custom_stages(tmp_path)


def test_a_registry_that_declares_nothing_keeps_its_bytes(_isolate: Path, tmp_path: Path) -> None:
    assert mp("register", str(make_model(tmp_path / "m", seed=1)), "--name", "m").returncode == 0
    assert mp("promote", "m", "1", "--stage", "Staging").returncode == 0
    assert set(json.loads((_isolate / "registry.json").read_text())) == {"format_version", "kind", "created"}
    assert "stages_generation" not in json.loads((_isolate / "models" / "m" / "model.json").read_text())
    # Declaring MLflow's four as they are changes nothing either.
    same = mp("stages", "set", "Staging", "Production", "Archived", "--archive", "Archived")
    assert same.returncode == 0 and same.stdout.startswith("stages unchanged")
    assert "stages" not in json.loads((_isolate / "registry.json").read_text())
    # Declaring its own makes registry.json format 2, which a modelpack from before stages refuses.
    assert mp("stages", "set", *TEAM, "--archive", "Retired", "--map", "Staging=Testing").returncode == 0
    document = json.loads((_isolate / "registry.json").read_text())
    assert document["format_version"] == 2 and document["stages"]["generation"] == 1
    assert json.loads((_isolate / "models" / "m" / "model.json").read_text())["format_version"] == 1


def test_the_python_api(tmp_path: Path) -> None:
    reg = Registry()
    assert reg.stages == DEFAULT_STAGES
    mv = reg.register(make_model(tmp_path / "m", seed=1), "m")
    reg.promote("m", mv.version, stage="Staging")
    result = reg.set_stages(
        ["Dev", "Live", "Gone"], archive="Gone", active=["Live"], mapping={"Staging": "Dev"}
    )
    assert result.changed and result.moved == ["m v1: Staging -> Dev"]
    assert reg.stages.all == ("None", "Dev", "Live", "Gone") and reg.stages.active == ("Live",)
    assert reg.resolve("models:/m/dev").version == 1
    # Dev is not active: it holds any number of versions, and nothing is archived.
    mv2 = reg.register(make_model(tmp_path / "m2", seed=2), "m")
    promotion = reg.promote("m", mv2.version, stage="Dev")
    assert promotion.archived == [] and [v.stage for v in reg.list_versions("m")] == ["Dev", "Dev"]
    reg.promote("m", 1, stage="Live")
    reg.promote("m", 2, stage="Live")
    assert [v.stage for v in reg.list_versions("m")] == ["Gone", "Live"]


def _crashed(*args: str, at: str) -> None:
    proc = mp(*args, env={**os.environ, "MODELPACK_TEST_CRASH_AT": at})
    assert proc.returncode == -9, (proc.returncode, proc.stderr)


@pytest.fixture
def two_models(tmp_path: Path) -> None:
    for name, seed in (("a", 1), ("b", 2)):
        assert mp("register", str(make_model(tmp_path / name, seed=seed)), "--name", name).returncode == 0
        assert mp("promote", name, "1", "--stage", "Staging").returncode == 0


SET = ("stages", "set", *TEAM, "--archive", "Retired", "--map", "Staging=Testing")


@pytest.mark.usefixtures("two_models")
def test_killed_after_one_model_readers_translate_and_a_rerun_finishes(_isolate: Path) -> None:
    _crashed(*SET, at="set_stages.remapped")  # a rewritten, b not
    assert json.loads((_isolate / "models" / "b" / "model.json").read_text())["stages"] == {"1": "Staging"}
    # Readers see the new names everywhere.
    assert stages_of("a") == {1: "Testing"} and stages_of("b") == {1: "Testing"}
    assert mp("list", "models:/b/Testing", "--field", "version").stdout == "1\n"
    report = mp_json("doctor")
    assert report["exit_code"] == 0
    assert [f["kind"] for f in report["data"]["findings"]] == ["stages_not_renamed"]
    # Running the same declaration again finishes the rewrite, with b's event.
    again = mp("stages", *SET[1:])
    assert again.returncode == 0 and again.stdout.startswith("stages unchanged"), again.stderr
    assert json.loads((_isolate / "models" / "b" / "model.json").read_text())["stages"] == {"1": "Testing"}
    for name in ("a", "b"):
        moves = [(e["from"], e["to"]) for e in history(name) if "redeclared" in str(e.get("reason"))]
        assert moves == [("Staging", "Testing")]
    assert mp_json("doctor")["data"]["findings"] == []


@pytest.mark.usefixtures("two_models")
def test_killed_after_declaring_the_next_writer_of_a_model_rewrites_it(_isolate: Path) -> None:
    _crashed(*SET, at="set_stages.declared")  # registry.json written, no model rewritten
    assert stages_of("a") == {1: "Testing"}
    # A promotion on a is the model's first change since: the rename is recorded before it.
    assert mp("promote", "a", "1", "--stage", "Production").returncode == 0
    events = [(e["from"], e["to"]) for e in history("a") if e["event"] == "stage_changed"]
    assert events[-2:] == [("Staging", "Testing"), ("Testing", "Production")]
    # doctor --repair rewrites what is left.
    assert mp_json("doctor", "--repair")["exit_code"] == 0
    assert json.loads((_isolate / "models" / "b" / "model.json").read_text())["stages"] == {"1": "Testing"}
    assert [(e["from"], e["to"]) for e in history("b") if "redeclared" in str(e.get("reason"))] == [
        ("Staging", "Testing")
    ]
    assert mp_json("doctor")["data"]["findings"] == []


def test_doctor_flags_a_version_in_an_undeclared_stage(_isolate: Path, tmp_path: Path) -> None:
    assert mp("register", str(make_model(tmp_path / "m", seed=1)), "--name", "m").returncode == 0
    assert mp("stages", "set", *TEAM, "--archive", "Retired").returncode == 0
    assert mp("promote", "m", "1", "--stage", "Testing").returncode == 0
    path = _isolate / "models" / "m" / "model.json"
    document = json.loads(path.read_text())
    document["stages"] = {"1": "Staging"}
    path.write_text(json.dumps(document))
    listed = mp("list", "m")
    assert (
        listed.returncode == 1 and "'Staging'" in listed.stderr and "model.json is corrupt" in listed.stderr
    )
    report = mp_json("doctor")
    assert report["exit_code"] == 3
    assert any("undeclared stage" in f["message"] for f in report["data"]["findings"])
    # --repair rebuilds the state from the event log, where v1 went to Testing.
    assert mp_json("doctor", "--repair")["exit_code"] == 0
    assert stages_of("m") == {1: "Testing"}


@pytest.mark.parametrize(
    "args",
    [
        ("stages",),
        ("stages", "set", *TEAM, "--archive", "Retired"),
        ("promote", "m", "1", "--stage", "Testing"),
        ("list", "models:/m/Testing", "--field", "version"),
    ],
)
def test_stage_commands_import_nothing_heavy(_isolate: Path, tmp_path: Path, args: tuple[str, ...]) -> None:
    from tests.test_import_cost_registry import HEAVY, _imported

    registry = Registry()
    registry.register(make_model(tmp_path / "m", seed=1), "m")
    if args[0] != "stages":
        registry.set_stages(TEAM, archive="Retired")
        registry.promote("m", 1, stage="Testing")
    modules = _imported(tmp_path, *args)
    assert "modelpack" in modules and not modules & HEAVY
    assert "yaml" not in modules and "rich" not in modules
