"""MLflow tracking stores built by hand, in the layout MLflow 3 writes (see ``modelpack.mlflow_runs.stores``).

For error cases and for runs without MLflow installed; ``tests/interop/test_mlflow_runs.py``
checks the same code against stores real MLflow wrote.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.registry_models import make_model

COMMIT = "0123456789abcdef0123456789abcdef01234567"
EXPERIMENT_ID = "4242"
EXPERIMENT = "wifi-scoring"


@dataclass
class Run:
    """One run to write; ``model`` is its logged model's name (MLflow 3 LoggedModel), or None."""

    run_id: str
    model: str | None = "model"
    model_id: str | None = None
    #: Also (or instead) a model folder in the run's own artifacts at this path (MLflow 2).
    artifact_model: str | None = None
    deleted: bool = False
    params: dict[str, str] = field(default_factory=lambda: {"C": "0.5", "solver": "lbfgs"})
    #: key -> [(timestamp, value, step)]
    metrics: dict[str, list[tuple[int, float, int]]] = field(
        default_factory=lambda: {
            "accuracy": [(1000, 0.7, 0), (1001, 0.93, 2), (1002, 0.8, 1)],
            "f1": [(1000, 0.88, 0)],
        }
    )
    tags: dict[str, str] = field(
        default_factory=lambda: {
            "mlflow.source.git.commit": COMMIT,
            "mlflow.source.git.branch": "main",
            "mlflow.source.git.repoURL": "https://ci:t0ken@git.example.com/team/wifi.git",
            "mlflow.runName": "bright-owl-7",
        }
    )
    seed: int = 0

    @property
    def logged_model_id(self) -> str:
        return self.model_id or f"m-{self.run_id[:30]}"


EXPECTED_METRICS = {"accuracy": 0.93, "f1": 0.88}


def build_file_store(root: Path, runs: list[Run]) -> Path:
    """An ``mlruns`` folder holding ``runs`` in one experiment; returns ``root``."""
    exp = root / EXPERIMENT_ID
    exp.mkdir(parents=True)
    _yaml(
        exp / "meta.yaml",
        {
            "artifact_location": exp.as_uri(),
            "experiment_id": EXPERIMENT_ID,
            "lifecycle_stage": "active",
            "name": EXPERIMENT,
        },
    )
    (root / ".trash").mkdir()
    for run in runs:
        run_dir = exp / run.run_id
        for sub in ("params", "metrics", "tags", "artifacts"):
            (run_dir / sub).mkdir(parents=True)
        _yaml(
            run_dir / "meta.yaml",
            {
                "artifact_uri": (run_dir / "artifacts").as_uri(),
                "experiment_id": EXPERIMENT_ID,
                "lifecycle_stage": "deleted" if run.deleted else "active",
                "run_id": run.run_id,
                "status": 3,
            },
        )
        for key, value in run.params.items():
            (run_dir / "params" / key).write_text(value)
        for key, points in run.metrics.items():
            (run_dir / "metrics" / key).write_text("".join(f"{t} {v} {s}\n" for t, v, s in points))
        for key, value in run.tags.items():
            (run_dir / "tags" / key).write_text(value)
        if run.artifact_model:
            make_model(run_dir / "artifacts" / run.artifact_model, seed=run.seed + 100, manifest=False)
        if run.model:
            model_dir = exp / "models" / run.logged_model_id
            make_model(model_dir / "artifacts", seed=run.seed, manifest=False)
            _yaml(
                model_dir / "meta.yaml",
                {
                    "artifact_location": (model_dir / "artifacts").as_uri(),
                    "experiment_id": EXPERIMENT_ID,
                    "model_id": run.logged_model_id,
                    "name": run.model,
                    "source_run_id": run.run_id,
                    "status": 2,
                    "creation_timestamp": 1000,
                },
            )
            _yaml(run_dir / "outputs" / run.logged_model_id / "meta.yaml", {"step": 0})
    return root


_TABLES = """
CREATE TABLE experiments (experiment_id INTEGER PRIMARY KEY, name VARCHAR(256), artifact_location VARCHAR(256),
    lifecycle_stage VARCHAR(32));
CREATE TABLE runs (run_uuid VARCHAR(32) PRIMARY KEY, name VARCHAR(250), status VARCHAR(9), lifecycle_stage VARCHAR(20),
    artifact_uri VARCHAR(200), experiment_id INTEGER);
CREATE TABLE params (key VARCHAR(250), value VARCHAR(8000), run_uuid VARCHAR(32));
CREATE TABLE latest_metrics (key VARCHAR(250), value FLOAT, timestamp BIGINT, step BIGINT, is_nan BOOLEAN,
    run_uuid VARCHAR(32));
CREATE TABLE tags (key VARCHAR(250), value VARCHAR(8000), run_uuid VARCHAR(32));
CREATE TABLE logged_models (model_id VARCHAR(36) PRIMARY KEY, experiment_id INTEGER, name VARCHAR(500),
    artifact_location VARCHAR(1000), creation_timestamp_ms BIGINT, last_updated_timestamp_ms BIGINT, status INTEGER,
    lifecycle_stage VARCHAR(32), source_run_id VARCHAR(32));
CREATE TABLE inputs (input_uuid VARCHAR(36), source_type VARCHAR(36), source_id VARCHAR(36),
    destination_type VARCHAR(36), destination_id VARCHAR(36), step BIGINT DEFAULT 0);
"""


def build_sqlite_store(db: Path, artifacts: Path, runs: list[Run]) -> Path:
    """A ``mlflow.db`` holding ``runs``, with artifacts (plain paths, as MLflow records them) under ``artifacts``."""
    exp = artifacts / EXPERIMENT_ID
    con = sqlite3.connect(db)
    with con:
        con.executescript(_TABLES)
        con.execute(
            "INSERT INTO experiments VALUES (?, ?, ?, 'active')", (int(EXPERIMENT_ID), EXPERIMENT, str(exp))
        )
        for run in runs:
            run_art = exp / run.run_id / "artifacts"
            run_art.mkdir(parents=True)
            con.execute(
                "INSERT INTO runs VALUES (?, 'r', 'FINISHED', ?, ?, ?)",
                (run.run_id, "deleted" if run.deleted else "active", str(run_art), int(EXPERIMENT_ID)),
            )
            con.executemany(
                "INSERT INTO params VALUES (?, ?, ?)", [(k, v, run.run_id) for k, v in run.params.items()]
            )
            for key, points in run.metrics.items():
                t, v, s = max(points, key=lambda p: (p[2], p[0], p[1]))
                con.execute(
                    "INSERT INTO latest_metrics VALUES (?, ?, ?, ?, 0, ?)", (key, v, t, s, run.run_id)
                )
            con.executemany(
                "INSERT INTO tags VALUES (?, ?, ?)", [(k, v, run.run_id) for k, v in run.tags.items()]
            )
            if run.artifact_model:
                make_model(run_art / run.artifact_model, seed=run.seed + 100, manifest=False)
            if run.model:
                location = exp / "models" / run.logged_model_id / "artifacts"
                make_model(location, seed=run.seed, manifest=False)
                con.execute(
                    "INSERT INTO logged_models VALUES (?, ?, ?, ?, 1000, 1000, 2, 'active', ?)",
                    (run.logged_model_id, int(EXPERIMENT_ID), run.model, str(location), run.run_id),
                )
                con.execute(
                    "INSERT INTO inputs VALUES ('x', 'RUN_OUTPUT', ?, 'MODEL_OUTPUT', ?, 0)",
                    (run.run_id, run.logged_model_id),
                )
    con.close()
    return db


def logged_folder(root: Path, run: Run) -> Path:
    """Where ``build_file_store`` put the run's logged model."""
    return root / EXPERIMENT_ID / "models" / run.logged_model_id / "artifacts"


def copy_store(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def _yaml(path: Path, data: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
