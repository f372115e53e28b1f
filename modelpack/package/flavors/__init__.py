"""Flavors: how a model object is written into a folder and read back.

- ``sklearn``: scikit-learn estimators and pipelines (and xgboost/lightgbm sklearn wrappers, which
  subclass sklearn's BaseEstimator). Written exactly as ``mlflow.sklearn`` writes it, with
  ``python_function.loader_module: mlflow.sklearn``, so MLflow loads it with no modelpack.
- ``modelpack``: any other Python object with ``predict``. Written with cloudpickle (or pickle)
  and ``loader_module: modelpack.pyfunc_loader``, which MLflow can use when modelpack is
  importable.

Loading always runs the static safety scan first (``modelpack.safety``) and refuses a package
whose pickles import anything outside the allowlist; the caller may widen it with ``trusted``.

A new flavor is a module here with ``save``/``load`` (see ``generic``), chosen by
``choose_flavor`` and loaded by ``load_model``. May import: the spine, ``modelpack.schema``,
``modelpack.safety`` and ``modelpack.package``'s document modules; scikit-learn, cloudpickle and
skops at module level only here (ruff lifts TID253 for this folder alone).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from modelpack.errors import (
    InvalidModelError,
    MissingDependencyError,
    ModelpackError,
    UnsafeModelError,
    UsageError,
)
from modelpack.package.mlmodel import PYFUNC, MLmodel

SKLEARN: Final = "sklearn"
GENERIC: Final = "modelpack"
FLAVORS: Final = (SKLEARN, GENERIC)
SERIALIZATIONS: Final = ("auto", "skops", "cloudpickle", "pickle")
GENERIC_LOADER: Final = "modelpack.pyfunc_loader"


@dataclass(frozen=True)
class SavedModel:
    """What a flavor wrote: MLmodel flavor sections and the facts ``pack`` reports."""

    flavors: dict[str, dict[str, Any]]
    model_file: str
    serialization: str
    serialization_reason: str
    base_requirements: tuple[str, ...] = field(default_factory=tuple)


def is_sklearn_model(model: Any) -> bool:
    try:
        from sklearn.base import BaseEstimator
    except ImportError:  # pragma: no cover - sklearn is a dependency
        return False
    return isinstance(model, BaseEstimator)


def choose_flavor(model: Any, requested: str | None) -> str:
    """The flavor for ``model``: the requested one if it fits, else detected."""
    if not callable(getattr(model, "predict", None)):
        raise InvalidModelError(
            f"a {type(model).__module__}.{type(model).__qualname__} is not a model: it has no predict method",
            hint="pass a fitted estimator, or a function that returns one",
        )
    detected = SKLEARN if is_sklearn_model(model) else GENERIC
    if requested is None:
        return detected
    if requested not in FLAVORS:
        raise UsageError(f"unknown flavor {requested!r} (choose from {', '.join(FLAVORS)})")
    if requested == SKLEARN and detected != SKLEARN:
        raise UsageError(
            f"--flavor sklearn needs a scikit-learn estimator, got {type(model).__qualname__}",
            hint="omit --flavor to use the generic 'modelpack' flavor",
        )
    return requested


def save_model(
    model: Any,
    folder: Path,
    *,
    flavor: str,
    serialization: str,
    predict_fn: str = "predict",
) -> SavedModel:
    """Serialize ``model`` into ``folder`` and describe the flavor sections to record."""
    if serialization not in SERIALIZATIONS:
        raise UsageError(f"unknown serialization {serialization!r} (choose from {', '.join(SERIALIZATIONS)})")
    if flavor == SKLEARN:
        from modelpack.package.flavors import sklearn as sk

        return sk.save(model, folder, serialization=serialization, predict_fn=predict_fn)
    from modelpack.package.flavors import generic

    return generic.save(model, folder, serialization=serialization, predict_fn=predict_fn)


def fitted_feature_names(model: Any) -> list[str] | None:
    """The column names ``model`` was fitted on (scikit-learn's ``feature_names_in_``), if known.

    scikit-learn refuses a frame that lacks any of them, so they are the columns the model
    reads. Models fitted on arrays, or on non-string names, record none.
    """
    try:
        names = getattr(model, "feature_names_in_", None)
        if names is None:
            return None
        out = list(names)
    except Exception:  # a delegating property may raise anything; not knowing is the answer
        return None
    # str() turns numpy.str_ into a plain str that YAML can write.
    return [str(n) for n in out] if out and all(isinstance(n, str) for n in out) else None


def model_files(mlmodel: MLmodel) -> list[str]:
    """Relative paths of the files a loader will read (for scans and inspect)."""
    names: list[str] = []
    sk = mlmodel.flavors.get(SKLEARN)
    if isinstance(sk, dict) and sk.get("pickled_model"):
        names.append(str(sk["pickled_model"]))
    gen = mlmodel.flavors.get(GENERIC)
    if isinstance(gen, dict) and gen.get("model_file"):
        names.append(str(gen["model_file"]))
    conf = mlmodel.pyfunc or {}
    for key in ("model_path", "data", "python_model"):
        if conf.get(key):
            names.append(str(conf[key]))
    return sorted(set(names))


def serialization_of(mlmodel: MLmodel) -> str | None:
    """The serialization format recorded for the model file (MLflow: absent means pickle)."""
    sk = mlmodel.flavors.get(SKLEARN)
    if isinstance(sk, dict):
        return str(sk.get("serialization_format") or "pickle")
    gen = mlmodel.flavors.get(GENERIC)
    if isinstance(gen, dict):
        return str(gen.get("serialization_format") or "cloudpickle")
    conf = mlmodel.pyfunc or {}
    if conf.get("python_model"):
        return "cloudpickle"
    return None


def model_file_of(mlmodel: MLmodel) -> tuple[str, str] | None:
    """(MLmodel key, relative path) of the file the sklearn or generic loader opens, if any."""
    flavors = mlmodel.flavors
    if SKLEARN in flavors:
        sk = flavors[SKLEARN] if isinstance(flavors[SKLEARN], dict) else {}
        conf = mlmodel.pyfunc or {}
        for where, value in (
            (f"flavors.{SKLEARN}.pickled_model", sk.get("pickled_model")),
            (f"flavors.{PYFUNC}.model_path", conf.get("model_path")),
            (f"flavors.{PYFUNC}.data", conf.get("data")),
        ):
            if value:
                return where, str(value)
        return None
    if GENERIC in flavors:
        gen = flavors[GENERIC] if isinstance(flavors[GENERIC], dict) else {}
        from modelpack.package.flavors.generic import MODEL_FILE

        return f"flavors.{GENERIC}.model_file", str(gen.get("model_file") or MODEL_FILE)
    return None


def load_model(
    folder: Path,
    mlmodel: MLmodel,
    *,
    trusted: Iterable[str] = (),
    package_trusted: bool = False,
    target: str | None = None,
) -> Any:
    """Load the model object after the static safety scan passes.

    Loading runs code from the package (unpickling is execution), so every pickle-like file in
    the folder is scanned first against modelpack's allowlist plus ``trusted``. With
    ``package_trusted`` (the user ran ``modelpack trust`` on this exact content) findings are
    accepted. ``target`` is how the user named the folder (a ``models:/`` URI), for messages.

    Every path MLmodel names must pass ``modelpack.contents``'s gate (inside the folder, a
    regular file) before anything is scanned or loaded, and the model file the loader opens is
    the very file the scan read.

    Raises:
        UnsafeModelError: the scan found globals outside the allowlist; nothing was loaded.
        InvalidModelError: the folder has no flavor modelpack can load, MLmodel names a path
            outside the folder or not a regular file, or the model file cannot be read as the
            format MLmodel declares.
        MissingDependencyError: the flavor needs a library that is not installed.
    """
    from modelpack import contents
    from modelpack.package.files import check_named_files

    label = target or str(folder)
    check_named_files(folder, mlmodel.raw)
    trusted = tuple(trusted)
    flavors = mlmodel.flavors
    named = model_file_of(mlmodel)
    loading: list[Path] = []
    if named is not None:
        real = contents.locate(folder, named[1], key=f"MLmodel {named[0]}")
        assert real is not None
        loading.append(real)
    if not package_trusted:
        formats = ensure_safe(folder, trusted=trusted, target=target, loading=loading)
        for real in loading:
            assert named is not None
            _check_declared_format(named, formats.get(str(real)), serialization_of(mlmodel), label)
    if SKLEARN not in flavors and GENERIC not in flavors:
        conf = mlmodel.pyfunc
        if conf is None:
            raise InvalidModelError(
                f"{folder} has no python_function flavor (flavors: {', '.join(flavors) or 'none'})",
                hint="modelpack can load sklearn, modelpack and python_function models",
            )
        return _load_via_mlflow(folder)
    try:
        if SKLEARN in flavors:
            from modelpack.package.flavors import sklearn as sk

            return sk.load(
                folder,
                flavors[SKLEARN],
                mlmodel.pyfunc or {},
                trusted=trusted,
                package_trusted=package_trusted,
            )
        from modelpack.package.flavors import generic

        return generic.load(folder, flavors[GENERIC])
    except ModelpackError:
        raise
    except Exception as exc:  # unpickling raises anything on bytes that are not what MLmodel says
        message = " ".join(str(exc).split())[:300]
        raise InvalidModelError(
            f"cannot load {named[1] if named else 'the model file'} of {label} as "
            f"{serialization_of(mlmodel)}: {type(exc).__name__}: {message}",
            hint="the model file is damaged, not in the serialization_format MLmodel declares, or needs "
            "other library versions ('modelpack validate' compares them)",
            path=str(folder),
        ) from None


# What the scanner calls a file's format, for each serialization_format MLmodel may declare.
_SCANNED_AS = {
    "skops": {"skops"},
    "pickle": {"pickle", "joblib", "cloudpickle"},
    "cloudpickle": {"pickle", "joblib", "cloudpickle"},
}


def _check_declared_format(
    named: tuple[str, str], scanned: str | None, declared: str | None, label: str
) -> None:
    """Refuse a model file the scan read as another format than MLmodel declares (nothing loaded)."""
    accepted = _SCANNED_AS.get(str(declared))
    if scanned is None or accepted is None or scanned in accepted:
        return
    raise InvalidModelError(
        f"{label}: {named[0]} {named[1]!r} is a {scanned} file, but MLmodel declares "
        f"serialization_format {declared}; nothing was loaded",
        hint="the package is damaged or was edited; re-pack it",
    )


def ensure_safe(
    folder: Path, *, trusted: Iterable[str] = (), target: str | None = None, loading: Iterable[Path] = ()
) -> dict[str, str]:
    """Raise UnsafeModelError if any pickle in ``folder`` imports a non-allowlisted global.

    ``target`` names the folder in the message and hint when the user gave it another way
    (a ``models:/`` URI). ``loading`` are the real paths the loader will open (from
    ``contents.locate``); each is scanned as an explicit model file when the folder scan did not
    judge it, so nothing is loaded that was not scanned.

    Returns:
        The format the scan found for each file of ``loading``, by its real path.
    """
    import os

    from modelpack import safety

    results = safety.scan_folder(folder, trusted=trusted)
    scanned = {r.file: r for r in results}
    real_root = Path(os.path.realpath(folder))
    formats: dict[str, str] = {}
    for real in loading:
        rel = real.relative_to(real_root).as_posix()
        result = scanned.get(rel)
        if result is None:
            result = safety.scan_file(real, trusted=trusted, root=real_root)
            results.append(result)
        formats[str(real)] = result.format
    findings = [f for r in results for f in r.findings]
    if findings:
        names = sorted({f"{f.file}: {f.global_name}" for f in findings})
        shown = "; ".join(names[:5]) + (f" (+{len(names) - 5} more)" if len(names) > 5 else "")
        raise UnsafeModelError(
            f"refusing to load {target or folder}: its pickles import globals outside the allowlist: {shown}",
            findings=[f.to_dict() for f in findings],
            hint=safety.trust_advice(findings, target or str(folder)),
        )
    return formats


def _load_via_mlflow(folder: Path) -> Any:
    """Folders with another loader (e.g. an MLflow PythonModel) load through MLflow itself."""
    try:
        pyfunc = importlib.import_module("mlflow.pyfunc")
    except ImportError as exc:
        raise MissingDependencyError(
            f"{folder} uses an MLflow loader modelpack does not implement",
            hint="install mlflow to load python_function models with custom loaders",
        ) from exc
    return pyfunc.load_model(str(folder))
