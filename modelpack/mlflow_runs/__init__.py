"""MLflow runs as a source for ``register``: ``runs:/RUN_ID/PATH`` in a local tracking store.

``locate_run_model`` finds the model folder a ``runs:/`` URI names the way MLflow 3's
``mlflow.register_model`` does, and the run's facts as provenance (``provenance.mlflow``,
``metrics``, ``params``, ``git``; see the registry's version record):

1. the run (``stores.read_run``): its experiment, artifact URI, params, latest metrics and tags;
   a deleted run (or a run of a deleted experiment) is refused;
2. ``<run artifact URI>/PATH`` when it holds an ``MLmodel`` (a model MLflow 2 logged, or
   ``mlflow.log_artifacts`` of a model folder);
3. otherwise the run's logged model (MLflow 3's ``LoggedModel``, ``models:/m-...``) named
   ``PATH`` whose ``source_run_id`` is the run, the one logged at the largest step when there
   are several; its artifacts are at its own ``artifact_location``
   (``<experiment>/models/<model_id>/artifacts`` by default).

Nothing here imports MLflow or executes anything: metadata is read as YAML, plain files or
SQLite rows, and the folder found is handed to ``register``, which checks it like any folder.
May import the spine and ``package`` (bounded YAML).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from modelpack.errors import NotFoundError, UsageError

SCHEME: Final = "runs:"
MLMODEL: Final = "MLmodel"
#: Run tags MLflow sets from the repository a run's script is in.
TAG_COMMIT: Final = "mlflow.source.git.commit"
TAG_BRANCH: Final = "mlflow.source.git.branch"
TAG_REMOTE: Final = "mlflow.source.git.repoURL"
_COMMIT_RE: Final = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_FORM: Final = (
    "a runs:/ URI is runs:/RUN_ID/PATH, PATH being the model's name in the run (e.g. runs:/<run_id>/model)"
)


@dataclass(frozen=True)
class RunModel:
    """The model folder a ``runs:/`` URI names, and what the run records about it."""

    uri: str
    run_id: str
    artifact_path: str | None
    folder: Path
    #: The LoggedModel (``m-...``) the folder belongs to, when the model was one (MLflow 3).
    model_id: str | None
    provenance: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def is_runs_uri(text: str) -> bool:
    return text.startswith(SCHEME)


def parse_runs_uri(uri: str) -> tuple[str, str | None]:
    """(run id, artifact path or None), as MLflow's ``RunsArtifactRepository.parse_runs_uri``.

    Raises:
        UsageError: not a ``runs:/`` URI, or a path that leaves the run's artifacts (exit 2).
    """
    from modelpack.contents import is_safe_relative
    from modelpack.mlflow_runs.stores import check_run_id

    if not uri.startswith(SCHEME + "/") or uri.startswith(SCHEME + "//"):
        raise UsageError(f"{uri!r} is not a runs:/ URI; {_FORM}")
    run_id, _, path = uri[len(SCHEME) + 1 :].partition("/")
    if not run_id:
        raise UsageError(f"{uri!r} names no run; {_FORM}")
    check_run_id(run_id)
    path = path.strip("/")
    if not path:
        return run_id, None
    if not is_safe_relative(path) or "\\" in path or any(p in ("", ".") for p in path.split("/")):
        raise UsageError(f"{uri!r}: the path {path!r} must stay inside the run's artifacts; {_FORM}")
    return run_id, path


def locate_run_model(uri: str, tracking_uri: str | None, *, cwd: Path | None = None) -> RunModel:
    """The model folder ``uri`` (``runs:/RUN_ID/PATH``) names in a local tracking store.

    Args:
        uri: the ``runs:/`` URI.
        tracking_uri: the store (``mlruns`` path, ``file://``, ``sqlite:///path.db``); None
            means MLflow's default for a process in ``cwd`` (``./mlruns`` if it has experiments,
            else ``sqlite:///mlflow.db``).
        cwd: the folder relative paths are taken from (the current one by default).

    Returns:
        The folder (inside the tracking store's artifacts: read it, do not change it), the
        LoggedModel id if any, and the provenance to record.

    Raises:
        UsageError: a malformed URI, a remote tracking URI or artifacts not on this machine (exit 2).
        NotFoundError: no such store, run or model path, or the run was deleted (exit 4).
        InputFileError: the store is damaged or not MLflow's (exit 1).
    """
    from modelpack.mlflow_runs import stores
    from modelpack.mlflow_runs.tracking import (
        absolute_store,
        artifact_path,
        default_tracking_uri,
        parse_tracking_uri,
    )

    here = cwd if cwd is not None else Path.cwd()
    run_id, path = parse_runs_uri(uri)
    store = absolute_store(parse_tracking_uri(tracking_uri or default_tracking_uri(here)), here)
    run = stores.read_run(store, run_id)
    if run.deleted:
        raise NotFoundError(
            f"run {run_id} is deleted in the MLflow tracking store {store.uri}",
            hint="restore it first (mlflow runs restore --run-id RUN_ID, or restore its experiment)",
        )
    run_root = _absolute(artifact_path(run.artifact_uri, what=f"run {run_id}"), here)
    folder = run_root / path if path else run_root
    model_id: str | None = None
    if not (folder / MLMODEL).is_file():
        models = stores.logged_models(store, run, path) if path else []
        if not models:
            raise NotFoundError(
                f"run {run_id} has no model at {path or 'the artifact root'!r}: no MLmodel in its "
                f"artifacts there and no logged model of that name",
                hint=f"give the name the model was logged under: runs:/{run_id}/<name>",
            )
        chosen = max(models, key=lambda m: (m.step, m.created))
        model_id = chosen.model_id
        folder = _absolute(artifact_path(chosen.artifact_location, what=f"logged model {model_id}"), here)
        if not (folder / MLMODEL).is_file():
            raise NotFoundError(
                f"logged model {model_id} of run {run_id} has no MLmodel at {folder} "
                "(still being logged, or its upload failed)",
                path=str(folder),
            )
    warnings = list(run.warnings)
    provenance = run_provenance(store.uri, run, path)
    if TAG_COMMIT in run.tags and "git" not in provenance:
        warnings.append(
            f"the run's {TAG_COMMIT} tag {run.tags[TAG_COMMIT]!r} is not a commit id; not recorded"
        )
    return RunModel(
        uri=uri,
        run_id=run_id,
        artifact_path=path,
        folder=folder,
        model_id=model_id,
        provenance=provenance,
        warnings=warnings,
    )


def run_provenance(tracking_uri: str, run: Any, artifact_path: str | None) -> dict[str, Any]:
    """The provenance of a version registered from ``run`` (a ``stores.RunFacts``)."""
    from modelpack.mlflow_runs.tracking import strip_credentials

    mlflow: dict[str, Any] = {
        "run_id": run.run_id,
        "experiment_id": run.experiment_id,
        "experiment_name": run.experiment_name,
        "tracking_uri": strip_credentials(tracking_uri),
        "artifact_path": artifact_path,
    }
    provenance: dict[str, Any] = {"mlflow": mlflow, "metrics": dict(run.metrics), "params": dict(run.params)}
    commit = str(run.tags.get(TAG_COMMIT, "")).strip().lower()
    if _COMMIT_RE.match(commit):
        git: dict[str, Any] = {"commit": commit}
        if run.tags.get(TAG_BRANCH):
            git["branch"] = str(run.tags[TAG_BRANCH])
        if run.tags.get(TAG_REMOTE):
            git["remote"] = strip_credentials(str(run.tags[TAG_REMOTE]))
        provenance["git"] = git
    return provenance


def _absolute(path: Path, here: Path) -> Path:
    return path if path.is_absolute() else here / path
