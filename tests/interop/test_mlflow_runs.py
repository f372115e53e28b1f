"""``modelpack register runs:/RUN_ID/model`` against tracking stores real MLflow wrote.

A subprocess running MLflow (MODELPACK_MLFLOW_PYTHON, else this interpreter) logs a run into a
file store (``mlruns/``) and into a SQLite database (``mlflow.db``): params, metrics at several
steps, git tags, a scikit-learn model through ``mlflow.sklearn.log_model`` (an MLflow 3
LoggedModel, kept outside the run's artifacts), a model folder logged as plain run artifacts (what
MLflow 2 wrote) and a deleted run. modelpack, which never imports MLflow, registers from each; the
version's provenance must match what ``MlflowClient.get_run`` reports, its files must be the
logged model's, its predictions MLflow's, and MLflow must load the registered folder again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tests.interop.conftest import SampleModels, modelpack, run_cli

pytestmark = pytest.mark.interop

COMMIT = "3f1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a"
REMOTE = "https://ci-bot:glpat-s3cret@git.example.com/team/wifi.git"

WRITER = r"""
import json, sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import joblib, mlflow, pandas as pd
from mlflow.tracking import MlflowClient

model_file, sample_csv, root, commit, remote = sys.argv[1:6]
root = Path(root)
model = joblib.load(model_file)
frame = pd.read_csv(sample_csv)
requirements = ["scikit-learn", "pandas"]
out = {}
for kind, uri in (("file", (root / "mlruns").as_uri()), ("sqlite", "sqlite:///" + str(root / "mlflow.db"))):
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("wifi-scoring")
    with mlflow.start_run() as run:
        mlflow.log_params({"C": 0.5, "solver": "lbfgs", "features": "rssi,snr"})
        for step, acc in enumerate([0.71, 0.93, 0.88]):
            mlflow.log_metric("accuracy", acc, step=step)
        mlflow.log_metric("f1", 0.875)
        mlflow.set_tags({
            "mlflow.source.git.commit": commit,
            "mlflow.source.git.branch": "main",
            "mlflow.source.git.repoURL": remote,
        })
        info = mlflow.sklearn.log_model(model, name="model", input_example=frame.head(5), pip_requirements=requirements)
        legacy = root / f"legacy-{kind}"
        mlflow.sklearn.save_model(model, str(legacy), serialization_format="cloudpickle", pip_requirements=requirements)
        mlflow.log_artifacts(str(legacy), artifact_path="legacy")
    with mlflow.start_run() as gone:
        mlflow.sklearn.log_model(model, name="model", pip_requirements=requirements)
    client = MlflowClient()
    client.delete_run(gone.info.run_id)
    got = client.get_run(run.info.run_id)
    # Where MLflow keeps the LoggedModel's files (not a download, which adds files of its own).
    location = client.get_logged_model(info.model_id).artifact_location
    logged = Path(unquote(urlparse(location).path)) if location.startswith("file:") else Path(location)
    out[kind] = {
        "tracking_uri": uri,
        "run_id": run.info.run_id,
        "experiment_id": run.info.experiment_id,
        "model_id": info.model_id,
        "deleted_run": gone.info.run_id,
        "metrics": got.data.metrics,
        "params": got.data.params,
        "files": {p.relative_to(logged).as_posix(): p.read_bytes().hex() for p in logged.rglob("*") if p.is_file()},
        "predictions": mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model").predict(frame).tolist(),
        "legacy_predictions": mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/legacy").predict(frame).tolist(),
    }
print(json.dumps(out))
"""

LOADER = r"""
import json, sys
import mlflow, pandas as pd
print(json.dumps(mlflow.pyfunc.load_model(sys.argv[1]).predict(pd.read_csv(sys.argv[2])).tolist()))
"""


def _mlflow_python() -> str:
    return os.environ.get("MODELPACK_MLFLOW_PYTHON") or sys.executable


def _mlflow_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    # MLflow 3.7+ keeps the file store for existing users only; it still writes it when asked.
    env.update(MLFLOW_ALLOW_FILE_STORE="true", MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    return env


@pytest.fixture(scope="session")
def stores(
    tmp_path_factory: pytest.TempPathFactory, sample_models: SampleModels
) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("mlflow_runs")
    proc = subprocess.run(
        [
            _mlflow_python(),
            "-c",
            WRITER,
            str(sample_models.path("wifi/model.joblib")),
            str(sample_models.path("wifi/sample.csv")),
            str(root),
            COMMIT,
            REMOTE,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=root,
        env=_mlflow_env(),
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    written: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return root, written


def _expected_provenance(facts: dict[str, Any], tracking_uri: str, path: str = "model") -> dict[str, Any]:
    return {
        "mlflow": {
            "run_id": facts["run_id"],
            "experiment_id": facts["experiment_id"],
            "experiment_name": "wifi-scoring",
            "tracking_uri": tracking_uri,
            "artifact_path": path,
        },
        "metrics": facts["metrics"],
        "params": facts["params"],
        "git": {"commit": COMMIT, "branch": "main", "remote": "https://git.example.com/team/wifi.git"},
    }


def _predict(uri: str, sample_csv: Path, out: Path) -> list[Any]:
    import pandas as pd

    result = modelpack("predict", uri, "--data", str(sample_csv), "--output", str(out))
    assert result.returncode == 0, result.explain()
    return list(pd.read_csv(out)["prediction"])


@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_register_a_logged_model_from_a_run(
    kind: str, stores: tuple[Path, dict[str, Any]], sample_models: SampleModels, tmp_path: Path
) -> None:
    root, written = stores
    facts = written[kind]
    tracking_uri = facts["tracking_uri"]
    uri = f"runs:/{facts['run_id']}/model"
    result = modelpack(
        "register", uri, "--name", "wifi_scoring_model", "--tracking-uri", tracking_uri, "--json"
    )
    assert result.returncode == 0, result.explain()
    data = result.json()["data"]
    assert data["source"] == uri
    assert data["provenance"] == _expected_provenance(facts, tracking_uri)
    assert data["mlmodel"]["model_uuid"] == facts["model_id"]  # MLflow 3's LoggedModel, not a run artifact
    assert "glpat" not in result.stdout + result.stderr

    # The files are the logged model's, byte for byte (plus modelpack's manifest).
    stored = Path(data["local_path"])
    files = {p.relative_to(stored).as_posix(): p.read_bytes().hex() for p in stored.rglob("*") if p.is_file()}
    assert {k: v for k, v in files.items() if k != "modelpack.manifest.json"} == facts["files"]

    # list NAME and inspect show the provenance.
    listed = modelpack("list", "wifi_scoring_model", "--json")
    assert listed.json()["data"]["versions"][0]["provenance"] == data["provenance"]
    inspected = modelpack("inspect", "models:/wifi_scoring_model/1")
    assert inspected.returncode == 0, inspected.explain()
    assert f"git commit    {COMMIT}" in inspected.stdout or COMMIT in inspected.stdout
    assert facts["run_id"] in inspected.stdout

    # modelpack predicts what MLflow predicted from runs:/.../model, and MLflow loads the version.
    sample_csv = sample_models.path("wifi/sample.csv")
    assert _predict("models:/wifi_scoring_model/1", sample_csv, tmp_path / "p.csv") == facts["predictions"]
    loaded = run_cli([_mlflow_python(), "-c", LOADER, str(stored), str(sample_csv)])
    assert loaded.returncode == 0, loaded.explain()
    assert json.loads(loaded.stdout.strip().splitlines()[-1]) == facts["predictions"]


@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_a_model_in_the_run_artifacts(
    kind: str, stores: tuple[Path, dict[str, Any]], sample_models: SampleModels, tmp_path: Path
) -> None:
    """``mlflow.log_artifacts`` of a saved model (MLflow 2's layout) resolves to the run's artifacts."""
    _root, written = stores
    facts = written[kind]
    uri = f"runs:/{facts['run_id']}/legacy"
    result = modelpack("register", uri, "--name", "legacy", "--tracking-uri", facts["tracking_uri"], "--json")
    assert result.returncode == 0, result.explain()
    assert result.json()["data"]["provenance"]["mlflow"]["artifact_path"] == "legacy"
    sample_csv = sample_models.path("wifi/sample.csv")
    assert _predict("models:/legacy/1", sample_csv, tmp_path / "p.csv") == facts["legacy_predictions"]


def test_mlflow_tracking_uri_and_relative_paths_are_honoured(
    stores: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, written = stores
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")
    facts = written["sqlite"]
    from_env = modelpack("register", f"runs:/{facts['run_id']}/model", "--name", "env", "--json", cwd=root)
    assert from_env.returncode == 0, from_env.explain()
    assert from_env.json()["data"]["provenance"] == _expected_provenance(facts, facts["tracking_uri"])

    facts = written["file"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "mlruns")  # a plain relative path
    plain = modelpack("register", f"runs:/{facts['run_id']}/model", "--name", "plain", "--json", cwd=root)
    assert plain.returncode == 0, plain.explain()
    assert plain.json()["data"]["provenance"] == _expected_provenance(facts, facts["tracking_uri"])


@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_errors_against_real_stores(kind: str, stores: tuple[Path, dict[str, Any]]) -> None:
    _root, written = stores
    facts = written[kind]
    store = facts["tracking_uri"]
    deleted = modelpack(
        "register", f"runs:/{facts['deleted_run']}/model", "--name", "x", "--tracking-uri", store
    )
    assert deleted.returncode == 4, deleted.explain()
    assert "is deleted" in deleted.stderr
    unknown = modelpack("register", f"runs:/{'0' * 32}/model", "--name", "x", "--tracking-uri", store)
    assert unknown.returncode == 4, unknown.explain()
    assert "not found" in unknown.stderr
    no_path = modelpack("register", f"runs:/{facts['run_id']}/nope", "--name", "x", "--tracking-uri", store)
    assert no_path.returncode == 4, no_path.explain()
    assert "has no model at 'nope'" in no_path.stderr
    remote = modelpack(
        "register", f"runs:/{facts['run_id']}/model", "--name", "x", "--tracking-uri", "http://127.0.0.1:5000"
    )
    assert remote.returncode == 2, remote.explain()


def test_register_runs_never_imports_mlflow(stores: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    _root, written = stores
    facts = written["sqlite"]
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "tests" / "assets" / "print_modules.py"),
            "register",
            f"runs:/{facts['run_id']}/model",
            "--name",
            "quiet",
            "--tracking-uri",
            facts["tracking_uri"],
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    modules = next(line for line in proc.stderr.splitlines() if line.startswith("MODULES:"))[
        len("MODULES:") :
    ].split(",")
    assert not [
        m
        for m in modules
        if m.split(".")[0] in {"mlflow", "sqlalchemy", "alembic", "numpy", "pandas", "sklearn"}
    ]
