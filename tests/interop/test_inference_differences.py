"""Where modelpack's signature inference deliberately differs from MLflow's: exactly the cases
docs/INTEROP.md lists, each checked against MLflow itself, consequences included.

A data file is packed with a model that ignores its input (so only inference is under test) and
the signature MLflow reads back is compared with ``mlflow.models.infer_signature`` on the same
file read by pandas, the way an MLflow user would read it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.interop.conftest import mlflow_cli, modelpack, run_cli

pytestmark = pytest.mark.interop

CONSTANT_MODEL = '''
import numpy as np


class Constant:
    """Predicts 0.0 for every row, whatever the columns."""

    def predict(self, data):
        return np.zeros(len(data))


def build():
    return Constant()
'''

NULLABLE_CSV = "n,t,x\n1,2024-01-01T10:00:00,0.5\n,2024-01-02T11:30:00,1.5\n3,2024-01-03T00:00:00,2.5\n"


def _pack(tmp_path: Path, sample: Path) -> tuple[int, Path, dict]:
    model = tmp_path / "constant.py"
    model.write_text(CONSTANT_MODEL)
    out = tmp_path / "packed"
    result = modelpack("pack", f"{model}:build", "--sample", str(sample), "--output", str(out), "--json")
    return result.returncode, out, result.json()


def _columns(schema) -> list[dict]:
    return json.loads(schema.to_json())


@pytest.fixture
def nullable_folder(tmp_path: Path) -> tuple[Path, Path]:
    sample = tmp_path / "nullable.csv"
    sample.write_text(NULLABLE_CSV)
    code, folder, envelope = _pack(tmp_path, sample)
    assert code == 0, envelope
    return sample, folder


def test_integers_with_missing_values_stay_long_and_optional(nullable_folder: tuple[Path, Path]):
    import pandas as pd
    from mlflow.models import Model, infer_signature

    sample, folder = nullable_folder
    ours = _columns(Model.load(str(folder)).signature.inputs)
    theirs = _columns(infer_signature(pd.read_csv(sample)).inputs)
    assert ours[0] == {"type": "long", "name": "n", "required": False}
    # pandas turns the column into float64 to hold NaN, so MLflow calls it double.
    assert theirs[0] == {"type": "double", "name": "n", "required": False}


def test_iso_timestamps_in_csv_text_are_datetime(nullable_folder: tuple[Path, Path]):
    import pandas as pd
    from mlflow.models import Model, infer_signature

    sample, folder = nullable_folder
    ours = _columns(Model.load(str(folder)).signature.inputs)
    theirs = _columns(infer_signature(pd.read_csv(sample)).inputs)
    assert ours[1] == {"type": "datetime", "name": "t", "required": True}
    assert theirs[1] == {"type": "string", "name": "t", "required": True}
    # Every other column is inferred the same way.
    assert ours[2] == theirs[2] == {"type": "double", "name": "x", "required": True}


def test_mlflow_enforcement_needs_data_typed_as_the_signature_says(nullable_folder: tuple[Path, Path]):
    import mlflow
    import pandas as pd

    sample, folder = nullable_folder
    model = mlflow.pyfunc.load_model(str(folder))
    typed = pd.read_csv(sample, parse_dates=["t"]).dropna().astype({"n": "int64"})
    assert list(model.predict(typed)) == [0.0, 0.0]
    # MLflow cannot hold a missing value in a long column, nor cast text to datetime in-process:
    with pytest.raises(mlflow.exceptions.MlflowException, match="column n"):
        model.predict(pd.read_csv(sample, parse_dates=["t"]))
    with pytest.raises(mlflow.exceptions.MlflowException, match="column t"):
        model.predict(pd.read_csv(sample).dropna().astype({"n": "int64"}))


def test_mlflow_serving_refuses_a_missing_integer(nullable_folder: tuple[Path, Path], tmp_path: Path):
    _, folder = nullable_folder
    request = tmp_path / "request.json"
    row = [None, "2024-01-02T11:30:00", 1.5]
    request.write_text(json.dumps({"dataframe_split": {"columns": ["n", "t", "x"], "data": [row]}}))
    out = tmp_path / "out.json"
    argv = [mlflow_cli(), "models", "predict", "-m", str(folder), "-i", str(request), "-o", str(out)]
    result = run_cli([*argv, "--env-manager", "local"], cwd=tmp_path)
    assert result.returncode != 0
    assert "Failed to convert column n to type 'int64'" in result.stderr

    # The same row with the integer present is served, datetime text included.
    row[0] = 2
    request.write_text(json.dumps({"dataframe_split": {"columns": ["n", "t", "x"], "data": [row]}}))
    result = run_cli([*argv, "--env-manager", "local"], cwd=tmp_path)
    assert result.returncode == 0, result.explain()
    assert json.loads(out.read_text())["predictions"] == [0.0]


def test_a_column_of_mixed_types_is_an_error_not_a_schema_of_any(tmp_path: Path):
    import pandas as pd
    from mlflow.models import infer_signature

    sample = tmp_path / "mixed.json"
    sample.write_text(json.dumps([{"v": 1, "w": 0.5}, {"v": "a", "w": 1.5}]))
    theirs = _columns(infer_signature(pd.read_json(sample, orient="records")).inputs)
    # MLflow drops every column name and type for the whole schema.
    assert theirs == [{"type": "any", "required": True}]

    code, folder, envelope = _pack(tmp_path, sample)
    assert code == 1
    assert not folder.exists()
    (error,) = envelope["errors"]
    assert "column 'v' mixes value types" in error["message"]


def test_uint64_values_that_fit_are_long(tmp_path: Path):
    import numpy as np
    import pandas as pd
    from mlflow.models import Model, infer_signature

    sample = tmp_path / "ids.parquet"
    pd.DataFrame({"id": np.array([1, 2, 3], dtype="uint64"), "x": [0.5, 1.5, 2.5]}).to_parquet(
        sample, index=False
    )
    theirs = _columns(infer_signature(pd.read_parquet(sample)).inputs)
    assert theirs == [{"type": "any", "required": True}]

    code, folder, envelope = _pack(tmp_path, sample)
    assert code == 0, envelope
    assert _columns(Model.load(str(folder)).signature.inputs) == [
        {"type": "long", "name": "id", "required": True},
        {"type": "double", "name": "x", "required": True},
    ]
