"""Folders MLflow saved for everyday models that the scanner once refused validate and predict.

Multiclass gradient boosting keeps a Cython multinomial loss, TunedThresholdClassifierCV keeps
metadata-routing requests, and HistGradientBoosting with categorical features keeps
``functools.partial(check_array, ...)``. Each is saved by ``mlflow.sklearn.save_model`` in both
of its serialization formats, then ``modelpack validate`` and ``modelpack predict`` run on the
folder, with no trust given, and must predict what MLflow predicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import estimator_catalogue as catalogue
from tests.interop.conftest import modelpack

pytestmark = pytest.mark.interop

MODELS = [
    "GradientBoostingClassifier[multiclass]",
    "HistGradientBoostingClassifier[multiclass]",
    "TunedThresholdClassifierCV[binary]",
    "pipeline:onehot-scaler-gradient-boosting[multiclass]",
    "pipeline:onehot-scaler-hist-gradient-boosting[multiclass]",
    "pipeline:column-selector-ordinal-hgb[multiclass]",
]
SERIALIZATIONS = ["cloudpickle", "skops"]


@dataclass(frozen=True)
class Saved:
    folder: Path
    data: Path  # the rows the model was fitted on, as Parquet
    expected: Any  # mlflow.pyfunc.load_model(folder).predict(rows)


@pytest.fixture(scope="module", params=[(m, s) for m in MODELS for s in SERIALIZATIONS], ids=str)
def saved(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Saved:
    import mlflow
    import numpy as np
    import skops.io as sio

    name, serialization = request.param
    entry = catalogue.get(name)
    root = tmp_path_factory.mktemp("mlflow_catalogue")
    folder = root / "model"
    kwargs: dict[str, Any] = {}
    if serialization == "skops":
        # MLflow needs to be told which types to trust when it loads a skops file itself;
        # modelpack never reads this list (a package must not vouch for itself).
        kwargs["skops_trusted_types"] = sio.get_untrusted_types(data=sio.dumps(entry.estimator))
    mlflow.sklearn.save_model(
        entry.estimator,
        str(folder),
        serialization_format=serialization,
        input_example=entry.X.head(5),
        pip_requirements=["scikit-learn", "pandas"],
        **kwargs,
    )
    data = root / "rows.parquet"
    entry.X.to_parquet(data, index=False)
    expected = np.asarray(mlflow.pyfunc.load_model(str(folder)).predict(entry.X)).reshape(-1)
    return Saved(folder, data, expected)


def test_validate_accepts_the_folder_without_trust(saved: Saved):
    result = modelpack("validate", str(saved.folder), "--data", str(saved.data), "--json")
    assert result.returncode == 0, result.explain()
    checks = {c["name"]: c["status"] for c in result.json()["data"]["checks"]}
    assert checks["safety"] == "passed"
    assert checks["load"] == "passed"


def test_predict_gives_what_mlflow_gives(saved: Saved, tmp_path: Path):
    import numpy as np
    import pandas as pd

    out = tmp_path / "out.csv"
    result = modelpack("predict", str(saved.folder), "--data", str(saved.data), "--output", str(out))
    assert result.returncode == 0, result.explain()
    ours = pd.read_csv(out)["prediction"].to_numpy()
    assert ours.shape == saved.expected.shape
    np.testing.assert_array_equal(ours.astype(saved.expected.dtype), saved.expected)
