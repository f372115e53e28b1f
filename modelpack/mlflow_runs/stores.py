"""Read a run and its logged models from MLflow's file store or its SQLite database.

Both readers only read: the file store through bounded YAML (``package.mlmodel.load_yaml``) and
plain files, SQLite through the standard library's ``sqlite3`` opened read-only. What they
return is what ``mlflow.get_run`` shows (params, the latest value of each metric, tags) plus
the logged models (MLflow 3's ``LoggedModel``, ``models:/m-...``) a run produced.

The file store (``mlruns/``), as MLflow's ``FileStore`` writes it::

    <exp_id>/meta.yaml                         experiment: name, artifact_location, lifecycle_stage
    <exp_id>/<run_id>/meta.yaml                run: artifact_uri, lifecycle_stage, experiment_id
    <exp_id>/<run_id>/params/<key>             the value
    <exp_id>/<run_id>/metrics/<key>            lines "timestamp value [step [dataset digest]]"
    <exp_id>/<run_id>/tags/<key>               the value (mlflow.source.git.commit, ...)
    <exp_id>/<run_id>/outputs/<model_id>/meta.yaml   a logged model of the run, and its step
    <exp_id>/models/<model_id>/meta.yaml       logged model: name, source_run_id, artifact_location
    .trash/<exp_id>/...                        a deleted experiment

Keys with ``/`` are nested folders. The SQLite store keeps the same facts in the tables
``experiments``, ``runs``, ``params``, ``latest_metrics``, ``tags``, ``logged_models`` and
``inputs`` (a run's model outputs, with their step).
"""

from __future__ import annotations

import math
import os
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from modelpack.errors import InputFileError, NotFoundError, UsageError
from modelpack.mlflow_runs.tracking import TrackingStore

#: MLflow's ``_validate_run_id``: also keeps a run id from naming a path outside the store.
RUN_ID_RE: Final = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
_MODEL_ID_RE: Final = re.compile(r"^[A-Za-z0-9][\w\-]{0,255}$")
_YAML_MAX: Final = 1 << 20
_VALUE_MAX: Final = 1 << 20
_DELETED: Final = "deleted"


@dataclass(frozen=True)
class RunFacts:
    """A run as ``mlflow.get_run`` shows it (deleted runs included, flagged)."""

    run_id: str
    experiment_id: str
    experiment_name: str | None
    artifact_uri: str
    deleted: bool
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LoggedModelFacts:
    """One of a run's logged models (MLflow 3): where its artifacts are, and at which step."""

    model_id: str
    artifact_location: str
    step: int
    created: int


def check_run_id(run_id: str) -> None:
    if not RUN_ID_RE.match(run_id):
        raise UsageError(f"{run_id!r} is not an MLflow run id (letters, digits, '_' and '-')")


def read_run(store: TrackingStore, run_id: str) -> RunFacts:
    """The run ``run_id`` in ``store``.

    Raises:
        NotFoundError: no such store or run (exit 4).
        InputFileError: the store is not one MLflow wrote, or is damaged (exit 1).
    """
    check_run_id(run_id)
    if store.kind == "sqlite":
        with _connect(store.path) as db:
            return _sql_run(db, store.path, run_id)
    return _file_run(_file_root(store.path), run_id)


def logged_models(store: TrackingStore, run: RunFacts, name: str) -> list[LoggedModelFacts]:
    """The run's live logged models called ``name`` (``mlflow.search_logged_models`` by name,
    kept to ``source_run_id == run``), each with the step the run logged it at."""
    if store.kind == "sqlite":
        with _connect(store.path) as db:
            return _sql_models(db, store.path, run, name)
    return _file_models(_file_root(store.path), run, name)


# ---------------------------------------------------------------------- the file store


def _file_root(path: Path) -> Path:
    if not path.is_dir():
        raise NotFoundError(f"MLflow tracking store not found: {path}", path=str(path))
    return path


def _experiment_dirs(root: Path) -> Iterator[tuple[Path, bool]]:
    """Every experiment folder, with whether it is in the trash (deleted)."""
    for base, trashed in ((root, False), (root / ".trash", True)):
        try:
            children = sorted(base.iterdir())
        except OSError:
            continue
        for child in children:
            if not child.name.startswith(".") and child.is_dir() and (child / "meta.yaml").is_file():
                yield child, trashed


def _file_run(root: Path, run_id: str) -> RunFacts:
    for exp_dir, trashed in _experiment_dirs(root):
        run_dir = exp_dir / run_id
        # MLflow's own guard: a run folder has metrics/, params/ and artifacts/ (not a look-alike
        # inside someone's artifacts).
        if run_dir.is_symlink() or not all(
            (run_dir / sub).is_dir() for sub in ("metrics", "params", "artifacts")
        ):
            continue
        meta = _yaml(run_dir / "meta.yaml")
        experiment = _yaml(exp_dir / "meta.yaml")
        if str(meta.get("run_id", run_id)) != run_id or str(meta.get("experiment_id")) != exp_dir.name:
            raise InputFileError(f"{run_dir / 'meta.yaml'} does not describe run {run_id}", path=str(run_dir))
        artifact_uri = meta.get("artifact_uri")
        if not isinstance(artifact_uri, str) or not artifact_uri:
            raise InputFileError(f"{run_dir / 'meta.yaml'} has no artifact_uri", path=str(run_dir))
        warnings: list[str] = []
        name = experiment.get("name")
        return RunFacts(
            run_id=run_id,
            experiment_id=exp_dir.name,
            experiment_name=str(name) if name is not None else None,
            artifact_uri=artifact_uri,
            deleted=trashed or _DELETED in (meta.get("lifecycle_stage"), experiment.get("lifecycle_stage")),
            params=_values(run_dir / "params"),
            metrics=_file_metrics(run_dir / "metrics", warnings),
            tags=_values(run_dir / "tags"),
            warnings=warnings,
        )
    raise NotFoundError(f"run {run_id} not found in the MLflow tracking store {root}", path=str(root))


def _file_models(root: Path, run: RunFacts, name: str) -> list[LoggedModelFacts]:
    found: list[LoggedModelFacts] = []
    for exp_dir, _trashed in _experiment_dirs(root):
        if exp_dir.name != run.experiment_id:
            continue
        models = exp_dir / "models"
        outputs = exp_dir / run.run_id / "outputs"
        try:
            candidates = sorted(models.iterdir())
        except OSError:
            return []
        for model_dir in candidates:
            if not _MODEL_ID_RE.match(model_dir.name) or not (model_dir / "meta.yaml").is_file():
                continue
            meta = _yaml(model_dir / "meta.yaml")
            if (
                str(meta.get("name")) != name
                or str(meta.get("source_run_id")) != run.run_id
                or meta.get("lifecycle_stage") == _DELETED
            ):
                continue
            location = meta.get("artifact_location")
            if not isinstance(location, str) or not location:
                raise InputFileError(
                    f"{model_dir / 'meta.yaml'} has no artifact_location", path=str(model_dir)
                )
            step = 0
            output_meta = outputs / model_dir.name / "meta.yaml"
            if output_meta.is_file():
                step = _int(_yaml(output_meta).get("step"))
            found.append(
                LoggedModelFacts(model_dir.name, location, step, _int(meta.get("creation_timestamp")))
            )
        return found
    return found


def _yaml(path: Path) -> dict[str, Any]:
    from modelpack.package.mlmodel import load_yaml

    text = _read_text(path, _YAML_MAX)
    try:
        doc = load_yaml(text)
    except Exception as exc:  # yaml.YAMLError, YAMLLimitError: one clean line either way
        raise InputFileError(f"{path} is not MLflow metadata: {exc}", path=str(path)) from exc
    if not isinstance(doc, dict):
        raise InputFileError(f"{path} is not MLflow metadata (not a mapping)", path=str(path))
    return doc


def _read_text(path: Path, limit: int) -> str:
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise InputFileError(f"cannot read {path}: {exc.strerror or exc}", path=str(path)) from exc
    if len(data) > limit:
        raise InputFileError(f"{path} is larger than {limit} bytes; not MLflow metadata", path=str(path))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{path} is not UTF-8 text", path=str(path)) from exc


def _keyed_files(folder: Path) -> Iterator[tuple[str, Path]]:
    """(key, file) under ``folder``; a key with ``/`` is a nested folder. Links are skipped."""
    if not folder.is_dir():
        return
    for here, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = Path(here) / name
            if not path.is_symlink() and path.is_file():
                yield path.relative_to(folder).as_posix(), path


def _values(folder: Path) -> dict[str, str]:
    return {key: _read_text(path, _VALUE_MAX) for key, path in _keyed_files(folder)}


def _file_metrics(folder: Path, warnings: list[str]) -> dict[str, float]:
    """The latest value of each metric, chosen as MLflow does: the largest (step, timestamp, value)."""
    metrics: dict[str, float] = {}
    for key, path in _keyed_files(folder):
        best: tuple[int, int, float] | None = None
        try:
            with path.open(encoding="utf-8") as fh:
                for line in fh:
                    parts = line.split()
                    if not parts:
                        continue
                    if len(parts) not in (2, 3, 5):
                        raise ValueError(f"{len(parts)} fields")
                    point = (int(parts[2]) if len(parts) > 2 else 0, int(parts[0]), float(parts[1]))
                    best = point if best is None or point > best else best
        except (OSError, ValueError) as exc:
            raise InputFileError(f"metric file {path} is malformed: {exc}", path=str(path)) from exc
        if best is not None:
            _keep_metric(metrics, key, best[2], warnings)
    return metrics


def _keep_metric(metrics: dict[str, float], key: str, value: float, warnings: list[str]) -> None:
    if math.isfinite(value):
        metrics[key] = value
    else:
        warnings.append(f"metric {key} is {value}; not recorded")


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


# ---------------------------------------------------------------------- SQLite


class _connect:
    """A read-only connection (``mode=ro``: nothing is created, migrated or locked for writing)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db: sqlite3.Connection | None = None

    def __enter__(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise NotFoundError(f"MLflow tracking database not found: {self.path}", path=str(self.path))
        uri = "file:" + quote(str(self.path.resolve())) + "?mode=ro"
        try:
            self.db = sqlite3.connect(uri, uri=True)
        except sqlite3.Error as exc:
            raise InputFileError(f"cannot open {self.path}: {exc}", path=str(self.path)) from exc
        return self.db

    def __exit__(self, *exc: object) -> None:
        if self.db is not None:
            self.db.close()


def _query(db: sqlite3.Connection, path: Path, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    try:
        return db.execute(sql, args).fetchall()
    except sqlite3.Error as exc:
        raise InputFileError(
            f"{path} is not an MLflow tracking database MLflow 2 or 3 wrote ({exc})", path=str(path)
        ) from exc


def _sql_run(db: sqlite3.Connection, path: Path, run_id: str) -> RunFacts:
    rows = _query(
        db,
        path,
        "SELECT r.experiment_id, r.artifact_uri, r.lifecycle_stage, e.name, e.lifecycle_stage "
        "FROM runs r LEFT JOIN experiments e ON e.experiment_id = r.experiment_id WHERE r.run_uuid = ?",
        (run_id,),
    )
    if not rows:
        raise NotFoundError(f"run {run_id} not found in the MLflow tracking database {path}", path=str(path))
    exp_id, artifact_uri, stage, exp_name, exp_stage = rows[0]
    if not isinstance(artifact_uri, str) or not artifact_uri:
        raise InputFileError(f"run {run_id} in {path} has no artifact_uri", path=str(path))
    warnings: list[str] = []
    metrics: dict[str, float] = {}
    for key, value, is_nan in _query(
        db, path, "SELECT key, value, is_nan FROM latest_metrics WHERE run_uuid = ? ORDER BY key", (run_id,)
    ):
        _keep_metric(metrics, str(key), math.nan if is_nan else float(value), warnings)

    def pairs(table: str) -> dict[str, str]:
        sql = f"SELECT key, value FROM {table} WHERE run_uuid = ? ORDER BY key"  # noqa: S608 (a constant)
        return {str(k): "" if v is None else str(v) for k, v in _query(db, path, sql, (run_id,))}

    return RunFacts(
        run_id=run_id,
        experiment_id=str(exp_id),
        experiment_name=None if exp_name is None else str(exp_name),
        artifact_uri=artifact_uri,
        deleted=_DELETED in (stage, exp_stage),
        params=pairs("params"),
        metrics=metrics,
        tags=pairs("tags"),
        warnings=warnings,
    )


def _sql_models(db: sqlite3.Connection, path: Path, run: RunFacts, name: str) -> list[LoggedModelFacts]:
    tables = {row[0] for row in _query(db, path, "SELECT name FROM sqlite_master WHERE type = 'table'", ())}
    if "logged_models" not in tables:
        return []  # written by MLflow 2: models are in the run's artifacts
    steps: dict[str, int] = {}
    if "inputs" in tables:
        for model_id, step in _query(
            db,
            path,
            "SELECT destination_id, step FROM inputs WHERE source_type = 'RUN_OUTPUT' AND source_id = ? "
            "AND destination_type = 'MODEL_OUTPUT'",
            (run.run_id,),
        ):
            steps[str(model_id)] = _int(step)
    rows = _query(
        db,
        path,
        "SELECT model_id, artifact_location, creation_timestamp_ms FROM logged_models "
        "WHERE experiment_id = ? AND name = ? AND source_run_id = ? "
        "AND (lifecycle_stage IS NULL OR lifecycle_stage != 'deleted') ORDER BY creation_timestamp_ms",
        (run.experiment_id, name, run.run_id),
    )
    return [
        LoggedModelFacts(str(model_id), str(location), steps.get(str(model_id), 0), _int(created))
        for model_id, location, created in rows
    ]
