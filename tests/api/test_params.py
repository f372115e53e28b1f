"""``Model.predict(data, params=...)``: params checked as MLflow's pyfunc checks them, never passed to sklearn."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modelpack
from modelpack.schema.params import enforce_params
from modelpack.schema.signature import ParamSchema

PARAMS = [
    {"name": "threshold", "type": "double", "default": 0.5, "shape": None},
    {"name": "top_k", "type": "long", "default": 3, "shape": None},
    {"name": "labels", "type": "string", "default": ["a", "b"], "shape": [-1]},
    {"name": "verbose", "type": "boolean", "default": False, "shape": None},
]


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame({"a": rng.integers(0, 100, 30).astype("int64"), "b": rng.random(30)})


def pack_with_params(
    tmp_path: Path, params: list[dict[str, object]] | None = PARAMS
) -> tuple[Path, object, pd.DataFrame]:
    """A LogisticRegression packed with a signature that declares ``params``."""
    from sklearn.linear_model import LogisticRegression

    frame = _frame()
    estimator = LogisticRegression().fit(frame, (frame["a"] > 50).astype("int64"))
    plain = modelpack.pack(estimator, frame, tmp_path / "plain")
    signature = {**plain.signature, "params": params}
    sig_file = tmp_path / "signature.json"
    sig_file.write_text(json.dumps({k: json.dumps(v) for k, v in signature.items() if v is not None}))
    modelpack.pack(estimator, frame, tmp_path / "m", signature_file=sig_file)
    return tmp_path / "m", estimator, frame


def test_params_are_checked_and_defaults_filled(tmp_path: Path) -> None:
    folder, estimator, frame = pack_with_params(tmp_path)
    model = modelpack.load_model(folder)
    assert model.check_params(None) == {"threshold": 0.5, "top_k": 3, "labels": ["a", "b"], "verbose": False}
    # ints widen to double, numpy scalars become Python values, lists are checked item by item
    resolved = model.check_params({"threshold": 1, "top_k": np.int64(7), "labels": np.array(["x"])})
    assert resolved == {"threshold": 1.0, "top_k": 7, "labels": ["x"], "verbose": False}
    assert type(resolved["threshold"]) is float and type(resolved["top_k"]) is int
    # The estimator is called without them, as MLflow's sklearn wrapper does: same predictions.
    np.testing.assert_array_equal(model.predict(frame, params={"threshold": 0.9}), estimator.predict(frame))


def test_unknown_params_are_dropped_with_a_warning(tmp_path: Path) -> None:
    folder, _, frame = pack_with_params(tmp_path)
    model = modelpack.load_model(folder)
    with pytest.warns(UserWarning, match="not in the signature were ignored: temperature"):
        model.predict(frame, params={"temperature": 2, "top_k": 1})


def test_every_bad_param_is_listed_before_predicting(tmp_path: Path) -> None:
    folder, _, frame = pack_with_params(tmp_path)
    model = modelpack.load_model(folder)
    with pytest.raises(modelpack.SchemaViolationError) as info:
        model.predict(frame, params={"threshold": "high", "top_k": 2.5, "labels": "x", "verbose": 1})
    assert info.value.exit_code == 3
    assert sorted(v["param"] for v in info.value.violations) == ["labels", "threshold", "top_k", "verbose"]
    assert "4 invalid params" in info.value.message
    with pytest.raises(modelpack.SchemaViolationError, match="must be a dictionary"):
        model.predict(frame, params=[("top_k", 1)])  # type: ignore[arg-type]


def test_without_a_params_schema_params_are_ignored_with_a_warning(tmp_path: Path) -> None:
    folder, estimator, frame = pack_with_params(tmp_path, params=None)
    model = modelpack.load_model(folder)
    with pytest.warns(UserWarning, match="declares no params"):
        out = model.predict(frame, params={"threshold": "anything"})
    np.testing.assert_array_equal(out, estimator.predict(frame))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict(frame, params={})
        assert model.check_params(None) is None


@pytest.mark.parametrize(
    ("ptype", "value", "expected"),
    [
        ("long", 3, 3),
        ("integer", 3, 3),
        ("float", 3, 3.0),
        ("double", 2.5, 2.5),
        ("double", np.float32(0.5), 0.5),
        ("boolean", True, True),
        ("boolean", np.bool_(False), False),
        ("string", "x", "x"),
        ("long", None, None),
        ("datetime", "2024-01-02", __import__("datetime").date(2024, 1, 2)),
    ],
)
def test_accepted_values(ptype: str, value: object, expected: object) -> None:
    default = {"long": 0, "integer": 0, "float": 0.0, "double": 0.0, "boolean": False, "string": ""}.get(
        ptype, "2024-01-01"
    )
    schema = ParamSchema.from_list([{"name": "p", "type": ptype, "default": default, "shape": None}])
    resolved, _ = enforce_params({"p": value}, schema)
    assert resolved == {"p": expected}


@pytest.mark.parametrize(
    ("ptype", "value"),
    [
        ("long", True),
        ("integer", 2.0),
        ("long", "3"),
        ("float", 0.5 + 1j),
        ("boolean", 1),
        ("string", 3),
        ("long", [1]),
    ],
)
def test_refused_values(ptype: str, value: object) -> None:
    default = {"long": 0, "integer": 0, "float": 0.0, "boolean": False, "string": ""}[ptype]
    schema = ParamSchema.from_list([{"name": "p", "type": ptype, "default": default, "shape": None}])
    with pytest.raises(modelpack.SchemaViolationError):
        enforce_params({"p": value}, schema)
