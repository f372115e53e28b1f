"""Inference params checked against a signature's params schema, as MLflow's pyfunc checks them.

``mlflow.pyfunc.PyFuncModel.predict(data, params)`` runs the params through the signature before
the model sees them: with no params schema, given params are ignored with a warning; with one,
params not in it are dropped with a warning, missing ones take their defaults, and every value
must have its param's type (ints widen to long/float/double, a float to double; ``None`` is
allowed) and shape (a list for shape ``[-1]``). Bad values raise one error naming each of them.

Stdlib only: numpy scalars are recognised by their type name.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

from modelpack.errors import SchemaViolationError
from modelpack.schema.signature import ParamSchema, ParamSpec

# The value types each param type takes as is (MLflow's DataType.check_type: the numpy and
# Python types of the type) and the types it widens from (MLflow's allowed conversions).
_EXACT: dict[str, tuple[str, ...]] = {
    "boolean": ("builtins.bool", "numpy.bool_", "numpy.bool"),
    "integer": ("builtins.int", "numpy.int32"),
    "long": ("builtins.int", "numpy.int64"),
    "float": ("builtins.float", "numpy.float32"),
    "double": ("builtins.float", "numpy.float64"),
    "string": ("builtins.str", "numpy.str_"),
}
_WIDENS_FROM: dict[str, tuple[str, ...]] = {
    "long": ("integer",),
    "float": ("integer", "long"),
    "double": ("integer", "long", "float"),
}
_PYTHON: dict[str, type] = {
    "boolean": bool,
    "integer": int,
    "long": int,
    "float": float,
    "double": float,
    "string": str,
}


class _Invalid(ValueError):
    pass


def _type_name(value: object) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def _scalar(value: Any, ptype: str) -> Any:
    if value is None:
        return None
    if ptype == "datetime":
        return _datetime(value)
    name = _type_name(value)
    if isinstance(value, (list, tuple, dict, set)) or (
        name.startswith("numpy.") and name.endswith("ndarray")
    ):
        raise _Invalid(f"must be a scalar of type {ptype}, got {type(value).__name__}")
    accepted = [ptype, *_WIDENS_FROM.get(ptype, ())]
    if any(name in _EXACT.get(t, ()) for t in accepted):
        return _PYTHON[ptype](value)
    raise _Invalid(f"cannot safely convert {type(value).__name__} {value!r} to {ptype}")


def _datetime(value: Any) -> Any:
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value
    if _type_name(value) == "numpy.datetime64":
        return value.item()
    if isinstance(value, str):
        try:
            return _dt.date.fromisoformat(value) if len(value) == 10 else _dt.datetime.fromisoformat(value)
        except ValueError:
            pass
    raise _Invalid(f"cannot convert {value!r} to datetime")


def _value(value: Any, spec: ParamSpec) -> Any:
    if isinstance(spec.type, dict):  # an object param: MLflow checks it is an object and keeps it
        if value is not None and not isinstance(value, Mapping):
            raise _Invalid(f"must be an object, got {type(value).__name__}")
        return value
    if spec.shape is None:
        return _scalar(value, spec.type)
    if not isinstance(value, (list, tuple)) and not _type_name(value).endswith("ndarray"):
        raise _Invalid(f"must be a list (shape [-1]), got {type(value).__name__}")
    items = value.tolist() if hasattr(value, "tolist") else list(value)
    if any(isinstance(v, (list, tuple)) for v in items):
        raise _Invalid("must be a 1-D list (shape [-1])")
    return [_scalar(v, spec.type) for v in items]


def enforce_params(
    params: Mapping[Any, Any] | None, schema: ParamSchema | None
) -> tuple[dict[str, Any] | None, list[str]]:
    """The params the model would be called with, and the warnings MLflow would log.

    Returns ``params`` unchanged (None or empty) when there is nothing to check, ``{}`` when the
    signature declares no params (they are ignored), else every declared param with its checked
    value or its default.

    Raises:
        SchemaViolationError: ``params`` is not a mapping, or values break their params'
            types or shapes (``violations`` lists each).
    """
    notes: list[str] = []
    raw: object = params  # checked at run time: notebooks pass anything
    if schema is None:
        if not params:
            return (None if params is None else {}), notes
        shown = sorted(map(str, raw)) if isinstance(raw, Mapping) else "not a dictionary"
        notes.append(f"the model's signature declares no params; params were ignored: {shown}")
        return {}, notes
    candidate: object = {} if params is None else params  # checked at run time: notebooks pass anything
    if not isinstance(candidate, Mapping):
        raise SchemaViolationError(
            f"params must be a dictionary, got {type(candidate).__name__}",
            violations=[{"param": None, "message": "not a dictionary"}],
        )
    given = {str(k): v for k, v in candidate.items()}
    declared = {p.name for p in schema.params}
    unknown = sorted(set(given) - declared)
    if unknown:
        notes.append(f"params not in the signature were ignored: {', '.join(unknown)}")
    resolved: dict[str, Any] = {}
    violations: list[dict[str, object]] = []
    for spec in schema.params:
        if spec.name not in given:
            resolved[spec.name] = spec.default
            continue
        try:
            resolved[spec.name] = _value(given[spec.name], spec)
        except _Invalid as exc:
            violations.append({"param": spec.name, "message": str(exc)})
    if violations:
        listed = "; ".join(f"{v['param']}: {v['message']}" for v in violations)
        raise SchemaViolationError(
            f"{len(violations)} invalid param{'s' if len(violations) != 1 else ''}: {listed}",
            violations=violations,
            hint="params must match the types and shapes in the model's signature",
        )
    return resolved, notes


__all__ = ["enforce_params"]
