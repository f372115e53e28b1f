"""``modelpack.load_model(path).predict(df)`` returns what ``mlflow.pyfunc.load_model(path).predict(df)``
returns: the same type, dtype, shape and values, for a classifier, a regressor and probabilities.

MLflow runs in its own interpreter (MODELPACK_MLFLOW_PYTHON), on the folder modelpack wrote, and
sends back the type and values of its output as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import modelpack

pytestmark = pytest.mark.interop

MLFLOW_PYTHON = os.environ.get("MODELPACK_MLFLOW_PYTHON")

PROBE = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import numpy as np, pandas as pd, mlflow.pyfunc
folder, data = sys.argv[1], sys.argv[2]
out = mlflow.pyfunc.load_model(folder).predict(pd.read_parquet(data))
kind = type(out)
arr = np.asarray(out)
print(json.dumps({
    "type": f"{kind.__module__}.{kind.__qualname__}",
    "dtype": str(arr.dtype),
    "shape": list(arr.shape),
    "values": arr.tolist(),
    "columns": [str(c) for c in out.columns] if hasattr(out, "columns") else None,
}))
"""


def _describe(out: Any) -> dict[str, Any]:
    kind = type(out)
    arr = np.asarray(out)
    return {
        "type": f"{kind.__module__}.{kind.__qualname__}",
        "dtype": str(arr.dtype),
        "shape": list(arr.shape),
        "values": arr.tolist(),
        "columns": [str(c) for c in out.columns] if hasattr(out, "columns") else None,
    }


def _run_in_mlflow(probe: str, folder: Path, frame: pd.DataFrame, tmp_path: Path, *args: str) -> Any:
    """Run ``probe`` under MLflow's interpreter on ``folder`` and ``frame`` (as Parquet); its last
    stdout line, parsed as JSON."""
    if not MLFLOW_PYTHON:
        pytest.skip("MODELPACK_MLFLOW_PYTHON is not set")
    data = tmp_path / "input.parquet"
    frame.to_parquet(data, index=False)
    script = tmp_path / "probe.py"
    script.write_text(textwrap.dedent(probe))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [MLFLOW_PYTHON, str(script), str(folder), str(data), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _mlflow_predicts(folder: Path, frame: pd.DataFrame, tmp_path: Path) -> dict[str, Any]:
    found: dict[str, Any] = _run_in_mlflow(PROBE, folder, frame, tmp_path)
    return found


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "count": rng.integers(0, 100, 40).astype("int64"),
            "ratio": rng.random(40),
            "color": rng.choice(["red", "green", "blue"], 40),
        }
    )


def _pipeline(final: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), ["count", "ratio"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["color"]),
        ]
    )
    return Pipeline([("pre", pre), ("model", final)])


def _cases() -> list[tuple[str, Any, str]]:
    from sklearn.linear_model import LinearRegression, LogisticRegression

    return [
        ("classifier", _pipeline(LogisticRegression()), "predict"),
        ("regressor", _pipeline(LinearRegression()), "predict"),
        ("probabilities", _pipeline(LogisticRegression()), "predict_proba"),
    ]


@pytest.mark.parametrize("case", ["classifier", "regressor", "probabilities"])
def test_load_model_predicts_what_mlflow_pyfunc_predicts(case: str, tmp_path: Path) -> None:
    frame = _frame()
    _, estimator, method = next(c for c in _cases() if c[0] == case)
    target = (frame["count"] > 50).astype("int64") if case != "regressor" else frame["ratio"] * 3 + 1
    estimator.fit(frame, target)
    folder = tmp_path / case
    modelpack.pack(estimator, frame, folder, method=method)

    ours = _describe(modelpack.load_model(folder).predict(frame))
    theirs = _mlflow_predicts(folder, frame, tmp_path)
    assert ours["type"] == theirs["type"] == "numpy.ndarray"
    assert (ours["dtype"], ours["shape"], ours["columns"]) == (
        theirs["dtype"],
        theirs["shape"],
        theirs["columns"],
    )
    if case == "classifier":
        assert ours["values"] == theirs["values"]
    else:
        np.testing.assert_allclose(ours["values"], theirs["values"], rtol=1e-12, atol=1e-12)
    # And both equal the estimator's own output.
    np.testing.assert_allclose(np.asarray(ours["values"]), getattr(estimator, method)(frame), rtol=1e-12)


PARAMS_PROBE = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import numpy as np, pandas as pd, mlflow.pyfunc
from mlflow.models.utils import _enforce_params_schema
folder, data, cases = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
model = mlflow.pyfunc.load_model(folder)
frame = pd.read_parquet(data)
schema = model.metadata.get_params_schema()
out = []
for params in cases:
    try:
        resolved = _enforce_params_schema(params, schema)
        out.append({"params": resolved, "predictions": np.asarray(model.predict(frame, params=params)).tolist()})
    except Exception as exc:
        out.append({"error": type(exc).__name__})
print(json.dumps(out))
"""


def test_params_are_checked_as_mlflow_checks_them(tmp_path: Path) -> None:
    """Defaults, widening, unknown and bad params: the params MLflow resolves, and the same predictions."""
    if not MLFLOW_PYTHON:
        pytest.skip("MODELPACK_MLFLOW_PYTHON is not set")
    from tests.api.test_params import pack_with_params

    folder, _, frame = pack_with_params(tmp_path)
    cases: list[dict[str, Any] | None] = [
        None,
        {"threshold": 1, "top_k": 7},
        {"labels": ["x", "y"], "temperature": 2},
        {"threshold": "high"},
        {"top_k": 2.5, "verbose": 1},
    ]
    theirs = _run_in_mlflow(PARAMS_PROBE, folder, frame, tmp_path, json.dumps(cases))
    model = modelpack.load_model(folder)
    for params, expected in zip(cases, theirs, strict=True):
        if "error" in expected:
            with pytest.raises(modelpack.SchemaViolationError):
                model.predict(frame, params=params)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert model.check_params(params) == expected["params"], params
            assert model.predict(frame, params=params).tolist() == expected["predictions"]
