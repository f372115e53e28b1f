"""The same file reaches the model in the same form at pack, validate and predict time.

For every case and sample format in tests/same_form.py: train on the file as pandas reads it,
pack from that file, then validate and predict on that same file; the predictions are the fitted
model's own. The MLflow half (pyfunc and ``mlflow models predict``) is
tests/interop/test_same_form_mlflow.py.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from modelpack import api
from tests import same_form

CASES = [pytest.param(case, fmt, id=f"{case.name}-{fmt}") for case, fmt in same_form.params()]


@pytest.mark.parametrize(("case", "fmt"), CASES)
def test_pack_validate_predict_on_the_sample_give_the_models_own_predictions(
    case: same_form.Case, fmt: str, tmp_path: Path
):
    packed = same_form.train_and_pack(case, fmt, tmp_path)

    report = api.validate(packed.folder, data=packed.sample)
    assert report.exit_code == 0, [c for c in report.checks if c.status == "failed"]

    result = api.predict(packed.folder, data=packed.sample)
    assert result.predictions is not None
    same_form.assert_same(case, [next(iter(row.values())) for row in result.predictions], packed.expected)


@pytest.mark.parametrize("fmt", ["csv", "tsv", "json", "jsonl"])
def test_the_signature_records_text_as_text_and_integers_with_gaps_as_double(fmt: str, tmp_path: Path):
    from modelpack.package.mlmodel import read_mlmodel

    mixed = same_form.train_and_pack(same_form.CASES[2], fmt, tmp_path / "mixed")
    gaps = same_form.train_and_pack(same_form.CASES[3], fmt, tmp_path / "gaps")
    assert json.loads(read_mlmodel(mixed.folder).raw["signature"]["inputs"]) == [
        {"type": "string", "name": "city", "required": True},
        {"type": "string", "name": "opened", "required": True},
        {"type": "double", "name": "x", "required": True},
    ]
    assert json.loads(read_mlmodel(gaps.folder).raw["signature"]["inputs"]) == [
        {"type": "double", "name": "n", "required": False},
        {"type": "double", "name": "x", "required": True},
    ]


def test_a_declared_column_type_reaches_the_model_at_pack_as_at_predict(tmp_path: Path):
    # Zip codes declared as text: predict reads "02134" as text, and pack must predict on the same.
    sample = tmp_path / "s.csv"
    sample.write_text("zip,when,x\n02134,2024-01-01T10:00:00,0.5\n10001,2024-01-02T00:00:00,1.5\n")
    schema = tmp_path / "schema.json"
    declared = [
        {"type": "string", "name": "zip"},
        {"type": "datetime", "name": "when"},
        {"type": "double", "name": "x"},
    ]
    schema.write_text(json.dumps(declared))
    model = tmp_path / "model.pkl"
    model.write_bytes(pickle.dumps(same_form.NeedsDeclaredTypes()))
    trusted = ["tests.same_form"]

    api.pack(model, sample=sample, output=tmp_path / "out", input_schema_file=schema, trusted=trusted)
    result = api.predict(tmp_path / "out", data=sample, trusted=trusted)
    assert result.predictions is not None and len(result.predictions) == 2
    assert api.validate(tmp_path / "out", data=sample, trusted=trusted).exit_code == 0
