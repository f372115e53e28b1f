"""The same file reaches the model in the same form at pack, validate and predict time.

For every case and sample format in tests/same_form.py, and every estimator of the catalogue
(tests/estimator_catalogue.py) that predicts: train on the file as pandas reads it, pack from that
file, then validate and predict on that same file; the predictions are the fitted model's own.
The MLflow half (pyfunc and ``mlflow models predict``) is tests/interop/test_same_form_mlflow.py.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from modelpack import api
from tests import same_form

CASES = [pytest.param(case, fmt, id=f"{case.name}-{fmt}") for case, fmt in same_form.params()]
CATALOGUE = [
    pytest.param(case, fmt, id=f"{case.name}-{fmt}")
    for case, fmt in same_form.params(same_form.catalogue_cases())
]


@pytest.mark.parametrize(("case", "fmt"), CASES)
def test_pack_validate_predict_on_the_sample_give_the_models_own_predictions(
    case: same_form.Case, fmt: str, tmp_path: Path
):
    packed = same_form.train_and_pack(case, fmt, tmp_path)
    same_form.assert_same(case, same_form.modelpack_predict(case, packed), packed.expected)


@pytest.mark.slow
@pytest.mark.parametrize(("case", "fmt"), CATALOGUE)
def test_every_catalogue_estimator_predicts_on_the_file_it_was_packed_from(
    case: same_form.Case, fmt: str, tmp_path: Path
):
    packed = same_form.train_and_pack(case, fmt, tmp_path)
    same_form.assert_same(case, same_form.modelpack_predict(case, packed), packed.expected)


def test_every_catalogue_estimator_that_predicts_is_run_or_listed(tmp_path: Path):
    from tests import estimator_catalogue as catalogue

    run = {case.name: same_form.formats(case) for case in same_form.catalogue_cases()}
    predicting = {name for name in catalogue.names() if catalogue.method_of(name) is not None}
    assert set(run) | set(same_form.NONDETERMINISTIC) == predicting
    ran = {fmt for formats in run.values() for fmt in formats}
    assert ran == set(same_form.FORMATS)
    assert all({"csv", "parquet"} <= set(f) for n, f in run.items() if n not in same_form.PARQUET_ONLY)
    # Each listed reason still holds: the estimator cannot be fitted on the CSV as pandas reads it.
    cases = {case.name: case for case in same_form.catalogue_cases()}
    for name in same_form.PARQUET_ONLY:
        with pytest.raises(ValueError, match="could not convert string to float"):
            same_form.train_and_pack(cases[name], "csv", tmp_path / "csv")


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


def test_an_npy_sample_with_gaps_validates_on_its_own_example(tmp_path: Path):
    # The example keeps NaN as null; read back without the tensor's dtype it was an object array.
    import numpy as np
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    x = np.array([[1.0, np.nan], [2.0, 0.5], [np.nan, 1.5], [4.0, 2.5]])
    sample = tmp_path / "s.npy"
    np.save(sample, x)
    model = tmp_path / "model.pkl"
    model.write_bytes(pickle.dumps(make_pipeline(SimpleImputer(), LogisticRegression()).fit(x, [0, 0, 1, 1])))
    api.pack(model, sample=sample, output=tmp_path / "out")
    assert "null" in (tmp_path / "out" / "input_example.json").read_text()
    report = api.validate(tmp_path / "out", data=sample)
    assert report.exit_code == 0, [(c.name, c.reason) for c in report.failed]
