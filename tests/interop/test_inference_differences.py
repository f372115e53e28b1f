"""Where modelpack's signature inference deliberately differs from MLflow's: exactly the cases
docs/INTEROP.md lists, each checked against MLflow itself; and where it agrees on purpose (CSV
text, integers and booleans with gaps, pandas' column names), so MLflow scores the sample.

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

# An index column saved by pandas (empty first header field), an integer with a gap, ISO dates as
# text, a boolean with a gap, a number.
NULLABLE_CSV = (
    ",n,t,flag,x\n"
    "0,1,2024-01-01T10:00:00,True,0.5\n"
    "1,,2024-01-02T11:30:00,,1.5\n"
    "2,3,2024-01-03T00:00:00,False,2.5\n"
)


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


def test_csv_inference_agrees_with_mlflow_on_what_pandas_reads(nullable_folder: tuple[Path, Path]):
    import pandas as pd
    from mlflow.models import Model, infer_signature

    sample, folder = nullable_folder
    ours = _columns(Model.load(str(folder)).signature.inputs)
    theirs = _columns(infer_signature(pd.read_csv(sample)).inputs)
    assert (
        ours
        == theirs
        == [
            {"type": "long", "name": "Unnamed: 0", "required": True},  # pandas' name for an empty header
            {"type": "double", "name": "n", "required": False},  # float64 with NaN, as pandas holds it
            {"type": "string", "name": "t", "required": True},  # ISO dates stay text, as pandas reads them
            {"type": "boolean", "name": "flag", "required": False},
            {"type": "double", "name": "x", "required": True},
        ]
    )


def test_parquet_timestamps_stay_datetime(tmp_path: Path):
    import pandas as pd
    from mlflow.models import Model, infer_signature

    sample = tmp_path / "stamps.parquet"
    frame = pd.DataFrame(
        {"t": pd.to_datetime(["2024-01-01T10:00:00", "2024-01-02T00:00:00"]), "x": [0.5, 1.5]}
    )
    frame.to_parquet(sample, index=False)
    code, folder, envelope = _pack(tmp_path, sample)
    assert code == 0, envelope
    ours = _columns(Model.load(str(folder)).signature.inputs)
    assert ours == _columns(infer_signature(pd.read_parquet(sample)).inputs)
    assert ours[0] == {"type": "datetime", "name": "t", "required": True}


def test_mlflow_scores_the_sample_the_folder_was_packed_from(nullable_folder: tuple[Path, Path]):
    import mlflow
    import pandas as pd

    sample, folder = nullable_folder
    model = mlflow.pyfunc.load_model(str(folder))
    # The file as pandas reads it, gaps and date text included: nothing to convert by hand.
    assert list(model.predict(pd.read_csv(sample))) == [0.0, 0.0, 0.0]


def test_mlflow_serving_accepts_missing_values_in_optional_columns(
    nullable_folder: tuple[Path, Path], tmp_path: Path
):
    _, folder = nullable_folder
    request = tmp_path / "request.json"
    columns = ["Unnamed: 0", "n", "t", "flag", "x"]
    rows = [[0, None, "2024-01-02T11:30:00", None, 1.5], [1, 2, "2024-01-03T00:00:00", True, 2.5]]
    request.write_text(json.dumps({"dataframe_split": {"columns": columns, "data": rows}}))
    out = tmp_path / "out.json"
    argv = [mlflow_cli(), "models", "predict", "-m", str(folder), "-i", str(request), "-o", str(out)]
    result = run_cli([*argv, "--env-manager", "local"], cwd=tmp_path)
    assert result.returncode == 0, result.explain()
    assert json.loads(out.read_text())["predictions"] == [0.0, 0.0]


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
