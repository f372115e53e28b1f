"""``modelpack register runs:/RUN_ID/PATH``: stores built by hand in MLflow 3's layout.

The error cases and the resolution rules; ``tests/interop/test_mlflow_runs.py`` registers from
stores real MLflow wrote.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modelpack import Registry
from modelpack.cli import app
from modelpack.mlflow_runs import parse_runs_uri
from modelpack.mlflow_runs.tracking import parse_tracking_uri, strip_credentials
from tests.mlflow_stores import (
    COMMIT,
    EXPECTED_METRICS,
    EXPERIMENT,
    EXPERIMENT_ID,
    Run,
    build_file_store,
    build_sqlite_store,
    logged_folder,
)

RUN = "a" * 32
GONE = "d" * 32
LEGACY = "b" * 32  # a model in the run's own artifacts (what MLflow 2's log_model wrote)


def invoke(*args: str, **env: str) -> Any:
    return CliRunner(env=env or None).invoke(app, list(args), catch_exceptions=False)


def err(result: Any) -> str:
    return " ".join(result.stderr.split())


@pytest.fixture
def runs() -> list[Run]:
    return [
        Run(RUN),
        Run(GONE, deleted=True, seed=1),
        Run(LEGACY, model=None, artifact_model="model", seed=2),
    ]


@pytest.fixture
def file_store(tmp_path: Path, runs: list[Run]) -> Path:
    return build_file_store(tmp_path / "mlruns", runs)


@pytest.fixture
def sqlite_store(tmp_path: Path, runs: list[Run]) -> Path:
    return build_sqlite_store(tmp_path / "mlflow.db", tmp_path / "artifacts", runs)


def _registered(result: Any) -> dict[str, Any]:
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)["data"]
    return data


def _expected(tracking_uri: str) -> dict[str, Any]:
    return {
        "mlflow": {
            "run_id": RUN,
            "experiment_id": EXPERIMENT_ID,
            "experiment_name": EXPERIMENT,
            "tracking_uri": tracking_uri,
            "artifact_path": "model",
        },
        "metrics": EXPECTED_METRICS,
        "params": {"C": "0.5", "solver": "lbfgs"},
        "git": {"commit": COMMIT, "branch": "main", "remote": "https://git.example.com/team/wifi.git"},
    }


def test_file_store_logged_model_with_provenance(file_store: Path, runs: list[Run]) -> None:
    result = invoke(
        "register", f"runs:/{RUN}/model", "--name", "wifi", "--tracking-uri", file_store.as_uri(), "--json"
    )
    data = _registered(result)
    assert data["provenance"] == _expected(file_store.as_uri())
    assert data["source"] == f"runs:/{RUN}/model"
    stored = Path(data["local_path"])
    source = logged_folder(file_store, runs[0])
    for path in source.rglob("*"):
        if path.is_file():
            assert (stored / path.relative_to(source)).read_bytes() == path.read_bytes()
    # list NAME and inspect models:/ show it too
    listed = json.loads(invoke("list", "wifi", "--json").stdout)["data"]["versions"][0]
    assert listed["provenance"] == data["provenance"]
    inspected = invoke("inspect", "models:/wifi/1", "--json")
    assert inspected.exit_code == 0, inspected.stderr
    assert COMMIT in inspected.stdout and RUN in inspected.stdout


def test_human_output_names_the_run(file_store: Path) -> None:
    result = invoke("register", f"runs:/{RUN}/model", "--name", "wifi", "--tracking-uri", str(file_store))
    assert result.exit_code == 0, result.stderr
    assert f"from runs:/{RUN}/model" in result.stdout
    assert f"run {RUN} (experiment {EXPERIMENT}): 2 params, 2 metrics, commit {COMMIT[:12]}" in result.stdout


def test_sqlite_store_and_relative_uris(
    tmp_path: Path, sqlite_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data = _registered(
        invoke(
            "register",
            f"runs:/{RUN}/model",
            "--name",
            "wifi",
            "--tracking-uri",
            "sqlite:///mlflow.db",
            "--json",
        )
    )
    assert data["provenance"] == _expected(f"sqlite:///{sqlite_store.as_posix()}")


def test_mlflow_tracking_uri_is_honoured_and_the_option_wins(file_store: Path, sqlite_store: Path) -> None:
    from_env = invoke(
        "register",
        f"runs:/{RUN}/model",
        "--name",
        "wifi",
        "--json",
        MLFLOW_TRACKING_URI=f"sqlite:///{sqlite_store}",
    )
    assert _registered(from_env)["provenance"]["mlflow"]["tracking_uri"] == f"sqlite:///{sqlite_store}"
    option = invoke(
        "register",
        f"runs:/{RUN}/model",
        "--name",
        "wifi2",
        "--tracking-uri",
        str(file_store),
        "--json",
        MLFLOW_TRACKING_URI="http://localhost:5000",
    )
    assert _registered(option)["provenance"]["mlflow"]["tracking_uri"] == file_store.as_uri()


def test_default_store_is_mlruns_in_the_working_folder(
    tmp_path: Path, file_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    data = _registered(invoke("register", f"runs:/{RUN}/model", "--name", "wifi", "--json"))
    assert data["provenance"]["mlflow"]["tracking_uri"] == file_store.as_uri()


def test_run_artifacts_win_over_logged_models(file_store: Path, sqlite_store: Path) -> None:
    """As mlflow.register_model: a folder with an MLmodel at PATH in the run's artifacts is the model."""
    for store in (str(file_store), f"sqlite:///{sqlite_store}"):
        data = _registered(
            invoke("register", f"runs:/{LEGACY}/model", "--name", "legacy", "--tracking-uri", store, "--json")
        )
        assert data["provenance"]["mlflow"]["run_id"] == LEGACY


def test_latest_step_wins_among_same_named_logged_models(tmp_path: Path) -> None:
    first = Run(RUN, model_id="m-first", seed=3)
    store = build_file_store(tmp_path / "mlruns", [first])
    # A second logged model of the same name, logged at a later step by the same run.
    second = Run(RUN, model_id="m-second", seed=4)
    build_file_store(tmp_path / "other", [second])
    src = tmp_path / "other" / EXPERIMENT_ID
    (store / EXPERIMENT_ID / "models" / "m-second").parent.mkdir(exist_ok=True)
    os.rename(src / "models" / "m-second", store / EXPERIMENT_ID / "models" / "m-second")
    meta = store / EXPERIMENT_ID / "models" / "m-second" / "meta.yaml"
    meta.write_text(meta.read_text().replace(str(tmp_path / "other"), str(store)))
    out = store / EXPERIMENT_ID / RUN / "outputs" / "m-second"
    out.mkdir(parents=True)
    (out / "meta.yaml").write_text("step: 5\n")
    mv = Registry().register(f"runs:/{RUN}/model", "wifi", tracking_uri=str(store))
    expected = logged_folder(store, second) / "model.pkl"
    assert (mv.path / "model.pkl").read_bytes() == expected.read_bytes()
    assert mv.provenance["mlflow"]["run_id"] == RUN


@pytest.mark.parametrize("kind", ["file", "sqlite"])
@pytest.mark.parametrize(
    ("uri", "code", "message"),
    [
        (f"runs:/{'9' * 32}/model", 4, f"run {'9' * 32} not found"),
        (f"runs:/{RUN}/nope", 4, f"run {RUN} has no model at 'nope'"),
        (f"runs:/{GONE}/model", 4, f"run {GONE} is deleted"),
        (f"runs:/{RUN}", 4, "has no model at 'the artifact root'"),
        ("runs:/../model", 2, "is not an MLflow run id"),
        (f"runs:/{RUN}/../../etc", 2, "must stay inside the run's artifacts"),
        ("runs://host/model", 2, "is not a runs:/ URI"),
    ],
)
def test_errors_have_their_exit_codes(
    kind: str, uri: str, code: int, message: str, file_store: Path, sqlite_store: Path
) -> None:
    store = str(file_store) if kind == "file" else f"sqlite:///{sqlite_store}"
    result = invoke("register", uri, "--name", "wifi", "--tracking-uri", store)
    assert result.exit_code == code, result.stdout + result.stderr
    assert message in err(result)
    assert err(result).startswith("error: ")


@pytest.mark.parametrize(
    "tracking_uri",
    [
        "http://localhost:5000",
        "https://user:secret@mlflow.example.com",
        "databricks",
        "databricks-uc",
        "postgresql://u:p@db/mlflow",
    ],
)
def test_remote_tracking_uris_are_refused(tracking_uri: str) -> None:
    result = invoke("register", f"runs:/{RUN}/model", "--name", "wifi", "--tracking-uri", tracking_uri)
    assert result.exit_code == 2
    assert "is not a local MLflow store" in err(result)
    assert "secret" not in result.stderr and ":p@" not in result.stderr


def test_missing_store_is_not_found(tmp_path: Path) -> None:
    for store in (str(tmp_path / "nowhere"), f"sqlite:///{tmp_path / 'none.db'}"):
        result = invoke("register", f"runs:/{RUN}/model", "--name", "wifi", "--tracking-uri", store)
        assert result.exit_code == 4, result.stderr
        assert not (tmp_path / "none.db").exists()  # read-only: nothing created


def test_not_a_tracking_database(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    sqlite3.connect(db).close()
    result = invoke("register", f"runs:/{RUN}/model", "--name", "wifi", "--tracking-uri", f"sqlite:///{db}")
    assert result.exit_code == 1
    assert "is not an MLflow tracking database" in err(result)


def test_artifacts_elsewhere_are_refused(tmp_path: Path) -> None:
    db = build_sqlite_store(tmp_path / "mlflow.db", tmp_path / "artifacts", [Run(RUN)])
    con = sqlite3.connect(db)
    with con:
        con.execute("UPDATE runs SET artifact_uri = 'mlflow-artifacts:/1/x/artifacts'")
        con.execute("UPDATE logged_models SET artifact_location = 's3://bucket/1/models/m/artifacts'")
    con.close()
    result = invoke("register", f"runs:/{RUN}/model", "--name", "wifi", "--tracking-uri", f"sqlite:///{db}")
    assert result.exit_code == 2
    assert "not in a local folder" in err(result)


def test_a_model_that_fails_the_trust_boundary_is_refused(
    file_store: Path, runs: list[Run], tmp_path: Path
) -> None:
    folder = logged_folder(file_store, runs[0])
    (tmp_path / "secret.txt").write_text("x")
    (folder / "leak.txt").symlink_to(tmp_path / "secret.txt")
    result = invoke("register", f"runs:/{RUN}/model", "--name", "wifi", "--tracking-uri", str(file_store))
    assert result.exit_code == 3, result.stderr
    assert not (tmp_path / "mp-home" / "models" / "wifi").exists()


def test_tracking_uri_needs_a_runs_uri(tmp_path: Path) -> None:
    result = invoke("register", str(tmp_path), "--name", "wifi", "--tracking-uri", "mlruns")
    assert result.exit_code == 2
    assert "a tracking URI applies to runs:/ URIs only" in err(result)


def test_non_finite_metrics_and_odd_commits_are_left_out(tmp_path: Path) -> None:
    run = Run(
        RUN,
        metrics={"loss": [(1, float("nan"), 0)], "ok": [(1, 1.5, 0)]},
        tags={"mlflow.source.git.commit": "HEAD"},
    )
    store = build_file_store(tmp_path / "mlruns", [run])
    mv = Registry().register(f"runs:/{RUN}/model", "wifi", tracking_uri=str(store))
    assert mv.provenance["metrics"] == {"ok": 1.5}
    assert "git" not in mv.provenance
    assert any("metric loss is nan" in w for w in mv.warnings)
    assert any("not a commit id" in w for w in mv.warnings)


def test_parsing() -> None:
    assert parse_runs_uri(f"runs:/{RUN}/model") == (RUN, "model")
    assert parse_runs_uri(f"runs:/{RUN}/a/b/") == (RUN, "a/b")
    assert parse_runs_uri(f"runs:/{RUN}") == (RUN, None)
    assert parse_tracking_uri("sqlite:////abs/mlflow.db").path == Path("/abs/mlflow.db")
    assert parse_tracking_uri("sqlite:///rel.db").path == Path("rel.db")
    assert parse_tracking_uri("file:///abs/mlruns").path == Path("/abs/mlruns")
    assert parse_tracking_uri("./mlruns").kind == "file"
    assert strip_credentials("https://u:p@h.example/x.git?token=1#f") == "https://h.example/x.git"
    assert strip_credentials("git@github.com:team/wifi.git") == "git@github.com:team/wifi.git"


def test_a_run_of_a_deleted_experiment_is_refused(file_store: Path) -> None:
    # MLflow moves a deleted experiment's folder into .trash
    (file_store / EXPERIMENT_ID).rename(file_store / ".trash" / EXPERIMENT_ID)
    result = invoke("register", f"runs:/{RUN}/model", "--name", "wifi", "--tracking-uri", str(file_store))
    assert result.exit_code == 4
    assert f"run {RUN} is deleted" in err(result)


def test_a_database_mlflow_2_wrote(sqlite_store: Path) -> None:
    """No logged_models table (MLflow 2): models are in the runs' artifacts."""
    con = sqlite3.connect(sqlite_store)
    with con:
        con.execute("DROP TABLE logged_models")
        con.execute("DROP TABLE inputs")
    con.close()
    store = f"sqlite:///{sqlite_store}"
    assert (
        invoke("register", f"runs:/{LEGACY}/model", "--name", "legacy", "--tracking-uri", store).exit_code
        == 0
    )
    missing = invoke("register", f"runs:/{RUN}/model", "--name", "wifi", "--tracking-uri", store)
    assert missing.exit_code == 4
    assert f"run {RUN} has no model at 'model'" in err(missing)
