"""The ``sklearn`` flavor, written the way ``mlflow.sklearn.save_model`` writes it.

skops files load only the types skops trusts by default plus what the user trusts on the command
line; ``skops_trusted_types`` in the MLmodel is never honoured, because a package must not be
able to vouch for itself (MLflow fixed the same hole, GHSA-w582-9x45-8mpx).
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from modelpack.errors import InvalidModelError, UsageError
from modelpack.package.flavors import SKLEARN, SavedModel
from modelpack.package.mlmodel import PYFUNC

SKOPS_FILE = "model.skops"
PICKLE_FILE = "model.pkl"
PREDICT_FNS = ("predict", "predict_proba", "predict_log_proba", "predict_joint_log_proba", "score")


def save(model: Any, folder: Path, *, serialization: str, predict_fn: str) -> SavedModel:
    import sklearn

    if predict_fn not in PREDICT_FNS:
        raise UsageError(f"--method {predict_fn} is not one MLflow's sklearn flavor supports")
    fmt, reason, payload = _choose_serialization(model, serialization)
    file_name = SKOPS_FILE if fmt == "skops" else PICKLE_FILE
    if payload is None:
        payload = _dump_pickle(model, fmt)
    (folder / file_name).write_bytes(payload)
    sk_conf: dict[str, Any] = {
        "code": None,
        "pickled_model": file_name,
        "serialization_format": fmt,
        "sklearn_version": sklearn.__version__,
    }
    if fmt == "skops":
        sk_conf["skops_trusted_types"] = None
    pyfunc_conf: dict[str, Any] = {
        "loader_module": "mlflow.sklearn",
        "model_path": file_name,
        "predict_fn": predict_fn,
    }
    base = ["scikit-learn", "skops" if fmt == "skops" else ("cloudpickle" if fmt == "cloudpickle" else "")]
    return SavedModel(
        flavors={SKLEARN: sk_conf, PYFUNC: pyfunc_conf},
        model_file=file_name,
        serialization=fmt,
        serialization_reason=reason,
        base_requirements=tuple(b for b in base if b),
    )


def _choose_serialization(model: Any, requested: str) -> tuple[str, str, bytes | None]:
    """Pick the format; ``auto`` prefers skops whenever skops trusts every type by default."""
    if requested in ("pickle", "cloudpickle"):
        return requested, f"--serialization {requested} was requested", None
    import skops.io as sio

    from modelpack.package.flavors._deterministic import canonical_skops

    try:
        data = sio.dumps(model)
    except Exception as exc:
        if requested == "skops":
            raise InvalidModelError(f"skops cannot serialize this model: {exc}") from exc
        return "cloudpickle", f"skops cannot serialize this model ({type(exc).__name__})", None
    data = canonical_skops(data)
    untrusted = sio.get_untrusted_types(data=data)
    if not untrusted:
        reason = "every type in the model is one skops trusts by default (loading runs no code)"
        return "skops", reason, data
    if requested == "skops":
        raise InvalidModelError(
            f"skops does not trust these types by default: {', '.join(untrusted)}",
            hint="use --serialization cloudpickle, or --serialization auto to choose",
        )
    return "cloudpickle", f"skops does not trust by default: {', '.join(untrusted)}", None


def _dump_pickle(model: Any, fmt: str) -> bytes:
    from modelpack.package.flavors._deterministic import dumps_pickle

    return dumps_pickle(model, fmt)


def load(
    folder: Path,
    sk_conf: dict[str, Any],
    pyfunc_conf: dict[str, Any],
    *,
    trusted: Iterable[str] = (),
    package_trusted: bool = False,
) -> Any:
    """Load a scanned sklearn model file (skops, pickle or cloudpickle), opened through the gate."""
    from modelpack import contents

    candidates = (
        ("flavors.sklearn.pickled_model", sk_conf.get("pickled_model")),
        ("flavors.python_function.model_path", pyfunc_conf.get("model_path")),
        ("flavors.python_function.data", pyfunc_conf.get("data")),
    )
    key, file_name = next(((k, v) for k, v in candidates if v), ("", None))
    if not file_name:
        raise InvalidModelError(f"{folder}/MLmodel names no sklearn model file")
    path = contents.locate(folder, str(file_name), key=f"MLmodel {key}")
    assert path is not None
    fmt = str(sk_conf.get("serialization_format") or "pickle")
    if fmt == "skops":
        return load_skops(path, trusted=trusted, package_trusted=package_trusted)
    with contents.open_checked(path, key=f"MLmodel {key}", folder=folder) as fh:
        if fmt == "cloudpickle":
            import cloudpickle

            return cloudpickle.load(fh)
        return pickle.load(fh)  # noqa: S301 - scanned by flavors.load_model before we get here


def load_skops(path: Path, *, trusted: Iterable[str] = (), package_trusted: bool = False) -> Any:
    """Load a skops file trusting exactly the types modelpack's scan vetted.

    skops refuses every type not passed as ``trusted``; the scan judged each type in the file's
    schema against modelpack's allowlist (plus the user's ``--trust-pickle``), so those are the
    ones handed over, never the MLmodel's own ``skops_trusted_types``.
    """
    import skops.io as sio

    from modelpack import safety

    scan = safety.scan_file(path, trusted=trusted)
    if not scan.ok and not package_trusted:
        from modelpack.errors import UnsafeModelError

        names = sorted({f.global_name for f in scan.findings})
        raise UnsafeModelError(
            f"refusing to load {path.name}: skops types outside the allowlist: {', '.join(names)}",
            findings=[f.to_dict() for f in scan.findings],
            hint="if you trust this package, pass --trust-pickle with these type names",
        )
    return sio.load(path, trusted=list(scan.globals_seen))
