"""``register runs:/...`` into a bucket registry: the run's provenance is in the bucket's version record."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from modelpack import Registry
from tests.conftest import modelpack_cmd
from tests.mlflow_stores import COMMIT, EXPECTED_METRICS, Run, build_sqlite_store

RUN = "c" * 32


def test_register_a_run_into_a_bucket(s3_home: Any, tmp_path: Path) -> None:
    db = build_sqlite_store(tmp_path / "mlflow.db", tmp_path / "artifacts", [Run(RUN)])
    proc = subprocess.run(
        modelpack_cmd("register", f"runs:/{RUN}/model", "--name", "wifi", "--json"),
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{db}"},
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)["data"]
    assert data["provenance"]["mlflow"]["run_id"] == RUN
    assert data["provenance"]["git"]["commit"] == COMMIT
    # Read back through another client: the record in the bucket carries it.
    mv = Registry(s3_home.url).get_version("wifi", 1)
    assert mv.provenance["metrics"] == EXPECTED_METRICS
    assert mv.provenance["mlflow"]["tracking_uri"] == f"sqlite:///{db}"
    listed = subprocess.run(
        modelpack_cmd("list", "wifi", "--json"), capture_output=True, text=True, timeout=300
    )
    assert json.loads(listed.stdout)["data"]["versions"][0]["provenance"] == data["provenance"]
