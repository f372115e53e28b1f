"""The same file reaches the model in the same form at pack, validate and predict time.

For every case and sample format in tests/same_form.py: train on the file as pandas reads it,
pack from that file, then validate and predict on that same file; the predictions are the fitted
model's own. The MLflow half (pyfunc and ``mlflow models predict``) is
tests/interop/test_same_form_mlflow.py.
"""

from __future__ import annotations

import json
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
    from modelpack.mlmodel import read_mlmodel

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
