"""The provenance document: what it holds, how it is captured, merged and checked.

::

    git:            {commit, branch, dirty, remote}          the repository (see ``git``)
    ci:             {system, run_url, job, run_id}           the CI run (see ``ci``)
    training_data:  {name, sha256, size, format, schema}     --training-data FILE
    metrics:        {KEY: number}                            --metric KEY=VALUE
    params:         {KEY: text}                              --param KEY=VALUE
    mlflow:         {run_id, experiment_id, experiment_name, tracking_uri, artifact_path}
    registered_from: {git, ci}                               where ``register`` ran (version record only)

Every key is optional; absent means unknown. ``pack`` writes it under MLmodel's ``modelpack``
key, ``register`` into the version record (the package's, overlaid with what register was given).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from modelpack.errors import UsageError

#: The key under MLmodel's ``modelpack`` section and in the version record.
PROVENANCE_KEY: Final = "provenance"
#: What may appear at the top of a provenance document.
SECTIONS: Final = ("git", "ci", "training_data", "metrics", "params", "mlflow", "registered_from")
#: Rows of a ``--training-data`` file read to infer its schema (the hash covers the whole file).
TRAINING_SCHEMA_ROWS: Final = 100_000
# MLflow's rule for metric and param keys (alphanumerics, _ - . space / and :), and its limits.
_KEY_RE: Final = re.compile(r"[A-Za-z0-9_\-. /:]{1,250}")
PARAM_VALUE_MAX: Final = 6000
_CHUNK: Final = 1 << 20


@dataclass(frozen=True)
class ProvenanceRequest:
    """What a ``pack`` or ``register`` records beyond the model itself.

    ``capture`` turns on the automatic facts (git, CI, an MLflow run in progress), read from
    ``environ`` (the caller's environment: the core never reads it) and the repository ``git``
    finds from the start folder. ``metrics``, ``params`` and ``training_data`` are what the user
    gave; they are recorded whether or not ``capture`` is on.
    """

    capture: bool = True
    environ: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    training_data: Path | None = None


def capture(start: Path, environ: Mapping[str, str]) -> dict[str, Any]:
    """The automatic facts for a command about ``start`` (a folder or file): ``git``, ``ci`` and
    ``mlflow``, each present only when known."""
    from modelpack.provenance import ci, git

    found: dict[str, Any] = {}
    repo = git.git_facts(start)
    ci_run, ci_branch = ci.ci_facts(environ)
    if repo is not None:
        if repo["branch"] is None and ci_branch is not None:
            repo["branch"] = ci_branch  # CI checks out a detached HEAD; its branch is the CI's
        found["git"] = repo
    if ci_run is not None:
        found["ci"] = ci_run
    run = ci.mlflow_facts(environ)
    if run is not None:
        found["mlflow"] = run
    return found


def build(request: ProvenanceRequest, start: Path) -> dict[str, Any]:
    """The provenance ``request`` asks for, about ``start``: captured facts plus what was given.

    Raises:
        NotFoundError: the training data file does not exist.
    """
    found = capture(start, request.environ) if request.capture else {}
    found.update(given(request))
    return found


def for_register(request: ProvenanceRequest, cwd: Path) -> dict[str, Any]:
    """What ``register`` adds to the package's provenance: what it was given, and (when
    ``capture`` is on) ``registered_from``, the git and CI facts of where it runs (``cwd``).

    Raises:
        NotFoundError: the training data file does not exist.
    """
    found = given(request)
    if request.capture:
        here = capture(cwd, request.environ)
        where = {k: here[k] for k in ("git", "ci") if k in here}
        if where:
            found["registered_from"] = where
    return found


def given(request: ProvenanceRequest) -> dict[str, Any]:
    """What the user gave: metrics, params and the training data's description."""
    found: dict[str, Any] = {}
    if request.training_data is not None:
        found["training_data"] = describe_training_data(request.training_data)
    if request.metrics:
        found["metrics"] = dict(sorted(request.metrics.items()))
    if request.params:
        found["params"] = dict(sorted(request.params.items()))
    return found


def parse_metrics(pairs: Mapping[str, str], option: str = "--metric") -> dict[str, float]:
    """``{"auc": "0.91"}`` -> ``{"auc": 0.91}``.

    Raises:
        UsageError: a key MLflow would refuse, or a value that is not a finite number.
    """
    out: dict[str, float] = {}
    for key, text in pairs.items():
        _check_key(key, option)
        try:
            value = float(text)
        except ValueError:
            raise UsageError(f"{option} {key}={text}: the value must be a number") from None
        if not math.isfinite(value):
            raise UsageError(f"{option} {key}={text}: the value must be a finite number")
        out[key] = value
    return out


def parse_params(pairs: Mapping[str, str], option: str = "--param") -> dict[str, str]:
    """Params as given, each key checked as MLflow checks it.

    Raises:
        UsageError: a key MLflow would refuse, or a value longer than MLflow keeps.
    """
    for key, value in pairs.items():
        _check_key(key, option)
        if len(value) > PARAM_VALUE_MAX:
            raise UsageError(f"{option} {key}: the value is longer than {PARAM_VALUE_MAX} characters")
    return dict(pairs)


def _check_key(key: str, option: str) -> None:
    if not _KEY_RE.fullmatch(key) or key.strip(" ") != key:
        raise UsageError(
            f"{option} {key!r}: a key is 1 to 250 letters, digits, '_', '-', '.', ' ', '/' or ':'"
        )


def describe_training_data(path: Path) -> dict[str, Any]:
    """``{name, sha256, size, format, schema}`` of a training data file.

    The hash covers every byte; the schema (MLflow's JSON column list) is inferred from the first
    ``TRAINING_SCHEMA_ROWS`` rows. A format modelpack cannot read is recorded with ``format`` and
    ``schema`` null: the hash is what identifies the data.

    Raises:
        NotFoundError: no such file.
        InputFileError: it cannot be read.
    """
    import hashlib

    from modelpack.errors import InputFileError, ModelpackError, NotFoundError

    if not path.is_file():
        raise NotFoundError(f"training data file not found: {path}", path=str(path))
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise InputFileError(f"cannot read the training data {path}: {exc.strerror or exc}") from exc
    fmt: str | None = None
    schema: list[dict[str, Any]] | None = None
    try:
        from modelpack.schema import infer

        found = infer.infer_file(path, sample_rows=TRAINING_SCHEMA_ROWS)
        fmt, schema = found.format, found.schema.to_list()
    except ModelpackError:
        pass  # an unknown or unreadable format: the hash and size still identify the data
    return {"name": path.name, "sha256": digest.hexdigest(), "size": size, "format": fmt, "schema": schema}


def merge(base: Mapping[str, Any] | None, over: Mapping[str, Any] | None) -> dict[str, Any]:
    """``base`` overlaid with ``over``: metrics, params and mlflow merge key by key (``over``
    wins), every other section is replaced whole."""
    out: dict[str, Any] = dict(base or {})
    for key, value in (over or {}).items():
        if (
            key in ("metrics", "params", "mlflow")
            and isinstance(out.get(key), dict)
            and isinstance(value, dict)
        ):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def from_mlmodel(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The provenance a parsed MLmodel records: modelpack's section, else (a folder MLflow
    saved in a run) ``mlflow.run_id`` from MLflow's own top-level ``run_id``. Malformed
    provenance is ignored (a package may come from anyone)."""
    section = raw.get("modelpack")
    found: dict[str, Any] = {}
    if isinstance(section, dict) and isinstance(section.get(PROVENANCE_KEY), dict):
        candidate = dict(section[PROVENANCE_KEY])
        if problem(candidate, allow_registered=False) is None:
            found = candidate
    run_id = raw.get("run_id")
    if isinstance(run_id, str) and run_id:
        mlflow = found.get("mlflow")
        found["mlflow"] = {"run_id": run_id, **(mlflow if isinstance(mlflow, dict) else {})}
    return found


# ---------------------------------------------------------------------- shape


def _opt_text(v: Any) -> bool:
    return v is None or isinstance(v, str)


def _facts(value: Any, keys: Mapping[str, Any]) -> str | None:
    # A key this version does not know inside a section is kept, not refused: a newer writer
    # may know more about a run (the sections themselves are fixed).
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        return "an object"
    for key, ok in keys.items():
        if key in value and not ok(value[key]):
            return f"an object whose {key} is {_RULE_TEXT.get(ok, 'valid')}"
    return None


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _is_flag(v: Any) -> bool:
    return v is None or isinstance(v, bool)


def _is_schema(v: Any) -> bool:
    return v is None or (isinstance(v, list) and all(isinstance(s, dict) for s in v))


_RULE_TEXT: Final = {
    _opt_text: "null or a string",
    _is_count: "an integer >= 0",
    _is_flag: "null, true or false",
    _is_schema: "null or a list of objects",
}
GIT_KEYS: Final = {"commit": _opt_text, "branch": _opt_text, "dirty": _is_flag, "remote": _opt_text}
CI_KEYS: Final = {"system": _opt_text, "run_url": _opt_text, "job": _opt_text, "run_id": _opt_text}
DATA_KEYS: Final = {
    "name": _opt_text,
    "sha256": _opt_text,
    "size": _is_count,
    "format": _opt_text,
    "schema": _is_schema,
}
MLFLOW_KEYS: Final = {
    "run_id": _opt_text,
    "experiment_id": _opt_text,
    "experiment_name": _opt_text,
    "tracking_uri": _opt_text,
    "artifact_path": _opt_text,
}


def _map(value: Any, rule: Any, what: str) -> str | None:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        return "an object"
    bad = next((k for k, v in value.items() if not rule(v)), None)
    return None if bad is None else f"an object whose values are {what} (not at {bad!r})"


def problem(value: Any, *, allow_registered: bool = True) -> str | None:
    """None for a well-formed provenance document, else what it should be (one phrase).

    ``registered_from`` belongs to a version record only (``allow_registered``).
    """
    if not isinstance(value, dict):
        return "an object"
    sections = SECTIONS if allow_registered else SECTIONS[:-1]
    for key, section in value.items():
        if key not in sections:
            return f"an object of {', '.join(sections)} (not {key!r})"
        found = _section_problem(key, section)
        if found is not None:
            return f"an object whose {key} is {found}"
    return None


def _section_problem(key: str, section: Any) -> str | None:
    if key == "git":
        return _facts(section, GIT_KEYS)
    if key == "ci":
        return _facts(section, CI_KEYS)
    if key == "training_data":
        return _facts(section, DATA_KEYS)
    if key == "mlflow":
        return _facts(section, MLFLOW_KEYS)
    if key == "metrics":
        return _map(section, _is_number, "finite numbers")
    if key == "params":
        return _map(section, lambda v: isinstance(v, str), "strings")
    # registered_from: where register ran
    return _facts(
        section, {"git": lambda v: _facts(v, GIT_KEYS) is None, "ci": lambda v: _facts(v, CI_KEYS) is None}
    )


# ---------------------------------------------------------------------- summaries


def short_text(provenance: Mapping[str, Any] | None) -> str:
    """One cell for listings: ``a1b2c3d4e5f6 (dirty) github-actions 123456``."""
    if not provenance:
        return ""
    parts: list[str] = []
    repo = provenance.get("git") if isinstance(provenance.get("git"), dict) else None
    if repo and isinstance(repo.get("commit"), str):
        parts.append(repo["commit"][:12] + (" (dirty)" if repo.get("dirty") else ""))
    run = provenance.get("ci") if isinstance(provenance.get("ci"), dict) else None
    if run and run.get("system"):
        parts.append(" ".join(str(v) for v in (run.get("system"), run.get("run_id")) if v))
    mlflow = provenance.get("mlflow") if isinstance(provenance.get("mlflow"), dict) else None
    if mlflow and mlflow.get("run_id"):
        parts.append(f"mlflow run {str(mlflow['run_id'])[:12]}")
    return " ".join(parts)


def event_summary(provenance: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What the ``registered`` event keeps: the commit and the CI run a version was built by
    (the package's, else where register ran), so ``history`` answers without reading records."""
    if not provenance:
        return None
    built = {k: provenance[k] for k in ("git", "ci") if isinstance(provenance.get(k), dict)}
    if not built and isinstance(provenance.get("registered_from"), dict):
        built = {k: v for k, v in provenance["registered_from"].items() if isinstance(v, dict)}
    return built or None


def lines(provenance: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Label and text pairs for ``inspect``: which commit, which CI run, which data, which metrics."""
    if not provenance:
        return []
    rows: list[tuple[str, str]] = []
    rows.extend(_where_lines(provenance, ""))
    data = provenance.get("training_data")
    if isinstance(data, dict):
        size = data.get("size")
        cols = data.get("schema")
        text = f"{data.get('name')} sha256:{str(data.get('sha256'))[:12]} ({size} bytes"
        text += f", {data.get('format')}" if data.get("format") else ""
        text += f", {len(cols)} columns)" if isinstance(cols, list) else ")"
        rows.append(("training data", text))
    for section, label in (("metrics", "metric"), ("params", "param")):
        values = provenance.get(section)
        if isinstance(values, dict):
            rows.extend((f"{label} {k}", _number(v)) for k, v in sorted(values.items()))
    mlflow = provenance.get("mlflow")
    if isinstance(mlflow, dict):
        rows.extend(
            (f"mlflow {k.replace('_', ' ')}", str(v)) for k, v in sorted(mlflow.items()) if v is not None
        )
    registered = provenance.get("registered_from")
    if isinstance(registered, dict):
        rows.extend(_where_lines(registered, "registered from "))
    return rows


def _where_lines(provenance: Mapping[str, Any], prefix: str) -> Iterable[tuple[str, str]]:
    repo = provenance.get("git")
    if isinstance(repo, dict):
        commit = str(repo.get("commit"))
        dirty = repo.get("dirty")
        state = " (dirty: uncommitted changes)" if dirty is True else " (clean)" if dirty is False else ""
        branch = f" on {repo['branch']}" if repo.get("branch") else ""
        yield f"{prefix}commit", f"{commit}{branch}{state}"
        if repo.get("remote"):
            yield f"{prefix}remote", str(repo["remote"])
    run = provenance.get("ci")
    if isinstance(run, dict):
        job = f" job {run['job']}" if run.get("job") else ""
        ident = f" run {run['run_id']}" if run.get("run_id") else ""
        yield f"{prefix}ci", f"{run.get('system')}{ident}{job}"
        if run.get("run_url"):
            yield f"{prefix}ci run", str(run["run_url"])


def _number(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)
