from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modelpack.cli import app
from tests.conftest import ENVELOPE_KEYS
from tests.registry_models import make_model


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def err(result: Any) -> str:
    """stderr with rich's line wrapping undone."""
    return " ".join(result.stderr.split())


def envelope(result: Any) -> dict[str, Any]:
    doc = json.loads(result.stdout)
    assert set(doc) == ENVELOPE_KEYS
    assert doc["exit_code"] == result.exit_code
    return doc


@pytest.fixture
def models(tmp_path: Path) -> list[Path]:
    return [make_model(tmp_path / f"m{seed}", seed=seed) for seed in range(1, 4)]


def test_register_human_json_and_field(models: list[Path]) -> None:
    first = invoke("register", str(models[0]), "--name", "iris", "--tag", "team=ml", "--description", "first")
    assert first.exit_code == 0, first.stderr
    assert first.stdout.startswith("registered iris v1 (sha256:")
    assert first.stderr == ""
    second = invoke("register", str(models[1]), "--name", "iris", "--json")
    doc = envelope(second)
    assert doc["status"] == "ok" and doc["command"] == "register"
    assert doc["data"]["version"] == 2 and doc["data"]["already_registered"] is False
    assert doc["data"]["uri"] == "models:/iris/2"
    third = invoke("register", str(models[2]), "--name", "iris", "--field", "version")
    assert third.stdout == "3\n"


def test_reregistering_says_so_and_exits_zero(models: list[Path]) -> None:
    invoke("register", str(models[0]), "--name", "iris")
    again = invoke("register", str(models[0]), "--name", "iris")
    assert again.exit_code == 0
    assert "already holds this content" in again.stdout
    assert invoke("register", str(models[0]), "--name", "iris", "--field", "version").stdout == "1\n"
    dup = invoke("register", str(models[0]), "--name", "iris", "--allow-duplicate", "--field", "version")
    assert dup.stdout == "2\n"


def test_register_without_manifest_warns_on_stderr(tmp_path: Path) -> None:
    folder = make_model(tmp_path / "plain", manifest=False)
    result = invoke("register", str(folder), "--name", "iris")
    assert result.exit_code == 0
    assert "warning:" in err(result) and "no modelpack.manifest.json" in err(result)
    doc = envelope(invoke("register", str(folder), "--name", "iris2", "--json"))
    assert any("manifest" in w for w in doc["warnings"])


def test_integrity_failure_exits_3(models: list[Path]) -> None:
    (models[0] / "model.pkl").write_bytes(b"tampered")
    result = invoke("register", str(models[0]), "--name", "iris")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert "integrity check failed" in err(result)
    doc = envelope(invoke("register", str(models[0]), "--name", "iris", "--json"))
    assert doc["errors"][0]["code"] == "invalid_model"


@pytest.mark.parametrize("name", ["../x", "a/b", "/abs", "..", ".", "bad\nname", "x" * 200])
def test_traversal_names_exit_2_and_write_nothing(models: list[Path], tmp_path: Path, name: str) -> None:
    home = tmp_path / "mp-home"
    result = invoke("register", str(models[0]), "--name", name)
    assert result.exit_code == 2
    assert "invalid model name" in err(result)
    assert not home.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m1", "m2", "m3"]


def test_promote_stages_and_aliases(models: list[Path]) -> None:
    for folder in models:
        invoke("register", str(folder), "--name", "iris")
    assert invoke("promote", "iris", "1", "--stage", "production").stdout == "iris v1: None -> Production\n"
    moved = invoke("promote", "iris", "2", "--stage", "PRODUCTION")
    assert moved.stdout == "iris v2: None -> Production; archived v1\n"
    kept = envelope(invoke("promote", "iris", "3", "--stage", "Production", "--keep-existing", "--json"))
    assert kept["data"]["archived"] == [] and kept["data"]["stage"] == "Production"
    assert invoke("promote", "iris", "3", "--alias", "champion").stdout == "alias champion -> iris v3\n"
    assert invoke("list", "models:/iris@champion", "--field", "version").stdout == "3\n"
    assert invoke("list", "models:/iris/Production", "--field", "version").stdout == "3\n"
    removed = invoke("promote", "iris", "3", "--remove-alias", "champion")
    assert removed.exit_code == 0 and "removed alias champion" in removed.stdout
    assert invoke("promote", "iris", "1").exit_code == 2
    bad = invoke("promote", "iris", "1", "--stage", "prod")
    assert bad.exit_code == 2 and "staging" in err(bad).lower()


def test_every_uri_form_resolves(models: list[Path]) -> None:
    for folder in models:
        invoke("register", str(folder), "--name", "iris")
    invoke("promote", "iris", "2", "--stage", "Staging", "--alias", "candidate")
    expected = {
        "models:/iris/1": "1",
        "models:/iris/staging": "2",
        "models:/iris/None": "3",
        "models:/iris@candidate": "2",
        "models:/iris/latest": "3",
    }
    for uri, version in expected.items():
        result = invoke("list", uri, "--field", "version")
        assert result.stdout == f"{version}\n", uri
    path = invoke("list", "models:/iris/latest", "--field", "local_path").stdout.strip()
    assert (Path(path) / "MLmodel").is_file()


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("models:/nope/1", "models: iris"),
        ("models:/iris/9", "versions: 1-3"),
        ("models:/iris/Production", "stages in use: None"),
        ("models:/iris/prod", "stages are None, Staging, Production, Archived"),
        ("models:/iris@ghost", "aliases: none"),
    ],
)
def test_unknown_uri_parts_exit_4_naming_what_exists(models: list[Path], uri: str, message: str) -> None:
    for folder in models:
        invoke("register", str(folder), "--name", "iris")
    result = invoke("list", uri)
    assert result.exit_code == 4
    assert message in err(result)
    doc = envelope(invoke("list", uri, "--json"))
    assert doc["status"] == "error" and doc["errors"][0]["code"] == "not_found"


def test_list_forms(models: list[Path]) -> None:
    missing = invoke("list")
    assert missing.exit_code == 4 and "no registry at" in err(missing)
    invoke("register", str(models[0]), "--name", "iris")
    invoke("register", str(models[1]), "--name", "iris", "--alias", "champion")
    invoke("register", str(models[2]), "--name", "wine")
    assert invoke("list", "--field", "name").stdout == "iris\nwine\n"
    assert invoke("list", "--field", "latest_version").stdout == "2\n1\n"
    table = invoke("list", "iris")
    assert "Production" not in table.stdout and "champion" in table.stdout
    doc = envelope(invoke("list", "iris", "--json"))
    assert [v["version"] for v in doc["data"]["versions"]] == [1, 2]
    assert doc["data"]["versions"][1]["aliases"] == ["champion"]
    models_doc = envelope(invoke("list", "--json"))
    assert models_doc["data"]["models"][0]["aliases"] == {"champion": 2}
    assert invoke("list", "iris", "--field", "aliases").stdout == "\nchampion\n"


def test_unknown_field_is_a_usage_error(models: list[Path]) -> None:
    invoke("register", str(models[0]), "--name", "iris")
    result = invoke("list", "iris", "--field", "nope")
    assert result.exit_code == 2
    assert "unknown field 'nope'" in err(result) and "version" in err(result)
    assert invoke("list", "iris", "--field", "version", "--json").exit_code == 2


def test_history(models: list[Path]) -> None:
    invoke("register", str(models[0]), "--name", "iris")
    invoke("register", str(models[1]), "--name", "iris")
    invoke("promote", "iris", "2", "--stage", "Production", "--alias", "champion")
    assert invoke("history", "iris", "--field", "event").stdout == (
        "registered\nregistered\nstage_changed\nalias_set\n"
    )
    doc = envelope(invoke("history", "iris", "--json"))
    assert [e["version"] for e in doc["data"]["events"]] == [1, 2, 2, 2]
    assert invoke("history", "iris", "--version", "1", "--field", "event").stdout == "registered\n"
    assert "None -> Production" in invoke("history", "iris").stdout
    assert invoke("history", "ghost").exit_code == 4


def test_delete_gc_doctor(models: list[Path]) -> None:
    invoke("register", str(models[0]), "--name", "iris")
    invoke("register", str(models[1]), "--name", "iris", "--alias", "champion")
    refused = invoke("delete", "iris", "2")
    assert refused.exit_code == 5 and "champion" in err(refused)
    assert (
        invoke("delete", "iris", "2", "--force").stdout
        == "deleted iris v2 (was None); removed aliases champion\n"
    )
    assert invoke("delete", "iris", "2").exit_code == 4
    dry = envelope(invoke("gc", "--dry-run", "--json"))
    assert dry["data"]["removed_blobs"] == 2 and dry["data"]["dry_run"]
    assert invoke("gc").stdout.startswith("removed 2 unreferenced blobs")
    doctor = invoke("doctor")
    assert doctor.exit_code == 0 and "registry consistent" in doctor.stdout
    doc = envelope(invoke("doctor", "--json"))
    assert doc["data"]["consistent"] and doc["data"]["findings"] == []


def test_corrupt_metadata_exits_1_naming_the_file(models: list[Path], tmp_path: Path) -> None:
    invoke("register", str(models[0]), "--name", "iris")
    model_json = tmp_path / "mp-home" / "models" / "iris" / "model.json"
    model_json.write_text("{")
    result = invoke("list", "iris")
    assert result.exit_code == 1
    assert "model.json is corrupt" in err(result)
    assert str(model_json) in result.stderr.replace("\n", "")
    doctor = invoke("doctor", "--json")
    doc = envelope(doctor)
    assert doctor.exit_code == 3 and doc["status"] == "failed"
    assert doc["data"]["findings"][0]["path"] == "models/iris/model.json"
    assert invoke("doctor", "--repair").exit_code == 0
    assert invoke("list", "iris", "--field", "version").stdout == "1\n"


def test_home_option_overrides_the_environment(models: list[Path], tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    assert invoke("register", str(models[0]), "--name", "iris", "--home", str(other)).exit_code == 0
    assert (other / "models" / "iris" / "model.json").is_file()
    assert not (tmp_path / "mp-home").exists()
    assert invoke("list", "--home", str(other), "--field", "name").stdout == "iris\n"


def test_every_command_and_option_has_help() -> None:
    for command in (
        "register",
        "promote",
        "list",
        "history",
        "delete",
        "gc",
        "doctor",
        "copy",
        "export",
        "import",
    ):
        result = invoke(command, "--help")
        assert result.exit_code == 0
        assert "--json" in result.stdout and "--home" in result.stdout
        assert "MODELPACK_HOME" in result.stdout
