"""The same-form invariant in MLflow: a folder packed from a sample scores that sample in MLflow.

For every case and sample format in tests/same_form.py, ``mlflow.pyfunc.load_model(folder)``
predicts on the file as pandas reads it (the signature enforcement included) and gives the
fitted model's own predictions; ``mlflow models predict`` does the same from the CSV file for the
pipeline that one-hot encodes text and ISO-date text.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import same_form
from tests.interop.conftest import mlflow_cli, run_cli

pytestmark = pytest.mark.interop

CASES = [pytest.param(case, fmt, id=f"{case.name}-{fmt}") for case, fmt in same_form.params()]


@pytest.mark.parametrize(("case", "fmt"), CASES)
def test_mlflow_pyfunc_scores_the_sample_the_folder_was_packed_from(
    case: same_form.Case, fmt: str, tmp_path: Path
):
    import mlflow

    packed = same_form.train_and_pack(case, fmt, tmp_path)
    model = mlflow.pyfunc.load_model(str(packed.folder))
    got = model.predict(same_form.read_as_pandas(packed.sample))
    same_form.assert_same(case, got, packed.expected)


def test_mlflow_models_predict_scores_the_csv_sample(tmp_path: Path):
    case = next(c for c in same_form.CASES if c.table == "mixed")
    packed = same_form.train_and_pack(case, "csv", tmp_path)
    out = tmp_path / "out.json"
    argv = [mlflow_cli(), "models", "predict", "-m", str(packed.folder), "-i", str(packed.sample)]
    result = run_cli([*argv, "-t", "csv", "-o", str(out), "--env-manager", "local"], cwd=tmp_path)
    assert result.returncode == 0, result.explain()
    same_form.assert_same(case, json.loads(out.read_text())["predictions"], packed.expected)


def test_mlflow_serves_the_saved_example_with_boolean_gaps(tmp_path: Path):
    # JSON nulls in an optional boolean column reach the model as missing values it was trained on.
    case = next(c for c in same_form.CASES if c.table == "flags")
    packed = same_form.train_and_pack(case, "csv", tmp_path)
    example = packed.folder / "serving_input_example.json"
    rows = len(json.loads(example.read_text())["dataframe_split"]["data"])
    assert any(None in row for row in json.loads(example.read_text())["dataframe_split"]["data"])
    out = tmp_path / "out.json"
    argv = [mlflow_cli(), "models", "predict", "-m", str(packed.folder), "-i", str(example)]
    result = run_cli([*argv, "-o", str(out), "--env-manager", "local"], cwd=tmp_path)
    assert result.returncode == 0, result.explain()
    same_form.assert_same(case, json.loads(out.read_text())["predictions"], packed.expected[:rows])
