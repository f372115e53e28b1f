"""Provenance and MLflow: MLflow reads the run id modelpack writes, and modelpack records the run
id MLflow writes.

A pack inside an MLflow run (``MLFLOW_RUN_ID`` set, as ``mlflow run`` sets it) writes MLflow's own
top-level ``run_id`` key, which ``mlflow.models.Model.load`` reads, and the folder still loads and
predicts in MLflow; a model MLflow logged in a real run registers with that run's id as
``provenance.mlflow.run_id``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import modelpack_cmd
from tests.interop.conftest import SampleModels, modelpack, read_sample

pytestmark = pytest.mark.interop

RUN_ID = "0123456789abcdef0123456789abcdef"


def test_mlflow_reads_the_run_id_modelpack_writes(sample_models: SampleModels, tmp_path: Path) -> None:
    import mlflow

    sample = sample_models.path("wifi/sample.csv")
    env = {**os.environ, "MLFLOW_RUN_ID": RUN_ID, "MLFLOW_EXPERIMENT_ID": "0"}
    proc = subprocess.run(
        modelpack_cmd(
            "pack",
            str(sample_models.path("wifi/model.joblib")),
            "--sample",
            str(sample),
            "--output",
            str(tmp_path / "packed"),
            "--metric",
            "auc=0.9",
            "--json",
        ),
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    provenance = json.loads(proc.stdout)["data"]["provenance"]
    assert provenance["mlflow"]["run_id"] == RUN_ID and provenance["metrics"] == {"auc": 0.9}

    assert mlflow.models.Model.load(str(tmp_path / "packed")).run_id == RUN_ID
    model = mlflow.pyfunc.load_model(str(tmp_path / "packed"))
    assert len(model.predict(read_sample(sample))) > 0


def test_a_model_logged_in_an_mlflow_run_registers_with_its_run_id(
    sample_models: SampleModels, tmp_path: Path
) -> None:
    import joblib
    import mlflow

    estimator = joblib.load(sample_models.path("wifi/model.joblib"))
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(estimator, name="model")
    folder = Path(mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path / "logged")))
    assert mlflow.models.Model.load(str(folder)).run_id == run.info.run_id

    registered = modelpack("register", str(folder), "--name", "logged", "--json")
    assert registered.returncode == 0, registered.explain()
    assert registered.json()["data"]["provenance"]["mlflow"]["run_id"] == run.info.run_id
    shown = modelpack("inspect", "models:/logged/1")
    assert any(
        line.split()[:3] == ["mlflow", "run", "id"] and run.info.run_id in line
        for line in shown.stdout.splitlines()
    ), shown.stdout
