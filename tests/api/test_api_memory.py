"""``modelpack.predict``, ``validate`` and ``schema`` on data held in memory; the file forms unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modelpack
from modelpack import api
from modelpack.errors import SchemaViolationError


@pytest.fixture
def packed_lr(tmp_path: Path) -> tuple[Path, object, pd.DataFrame]:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(6)
    frame = pd.DataFrame({"a": rng.integers(0, 100, 30).astype("int64"), "b": rng.random(30)})
    estimator = LogisticRegression().fit(frame, (frame["a"] > 50).astype("int64"))
    api.pack(estimator, frame, tmp_path / "m")
    return tmp_path / "m", estimator, frame


def test_predict_in_memory_returns_the_table_a_file_gets(packed_lr, tmp_path: Path) -> None:
    folder, estimator, frame = packed_lr
    out = modelpack.predict(folder, frame)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["prediction"] and len(out) == len(frame)
    np.testing.assert_array_equal(out["prediction"].to_numpy(), estimator.predict(frame))  # type: ignore[attr-defined]
    records = modelpack.predict(folder, frame.head(3).to_dict(orient="records"), method="predict_proba")
    assert list(records.columns) == ["proba_0", "proba_1"]
    # The file form keeps working, keyword or positional.
    frame.to_csv(tmp_path / "d.csv", index=False)
    result = api.predict(folder, data=tmp_path / "d.csv")
    assert result.rows == len(frame)
    assert [r["prediction"] for r in result.predictions or []] == out["prediction"].tolist()
    assert modelpack.predict(folder, str(tmp_path / "d.csv")).rows == len(frame)


def test_predict_in_memory_lists_every_violation(packed_lr) -> None:
    folder, _, _ = packed_lr
    with pytest.raises(SchemaViolationError) as caught:
        modelpack.predict(folder, {"a": ["x", "y"]})
    assert "2 violations" in caught.value.message


def test_validate_in_memory(packed_lr, tmp_path: Path) -> None:
    folder, _, frame = packed_lr
    report = modelpack.validate(folder, data=frame)
    assert report.exit_code == 0, report.to_dict()
    data = report.check("data")
    assert data.status == "passed" and data.details["rows_checked"] == len(frame)
    assert data.details["rows_predicted"] == len(frame)
    bad = modelpack.validate(folder, data=pd.DataFrame({"a": ["x"], "b": [0.5]}))
    assert bad.exit_code == 3 and bad.check("data").status == "failed"
    assert "column a" in bad.check("data").reason
    frame.to_csv(tmp_path / "d.csv", index=False)
    assert modelpack.validate(folder, data=tmp_path / "d.csv").check("data").status == "passed"


def test_schema_of_a_frame(tmp_path: Path) -> None:
    frame = pd.DataFrame({"n": [1, None, 3], "s": ["x", "y", "z"], "f": [0.5, 1.5, 2.5]})
    schema = modelpack.schema(frame)
    assert isinstance(schema, modelpack.Schema)
    assert repr(schema) == "Schema([n: double (optional), s: string, f: double])"
    assert "<td>s</td>" in schema._repr_html_()
    assert modelpack.infer_schema(frame) == schema
    frame.to_csv(tmp_path / "f.csv", index=False)
    assert modelpack.schema(tmp_path / "f.csv") == schema  # the file gets the same schema
    # Both spellings take the same keywords: a file whose suffix does not say its format.
    (tmp_path / "f.txt").write_bytes((tmp_path / "f.csv").read_bytes())
    assert modelpack.schema(tmp_path / "f.txt", data_format="csv") == schema
    assert modelpack.infer_schema(tmp_path / "f.txt", data_format="csv") == schema
    tensor = modelpack.schema(np.zeros((4, 3)))
    assert tensor.is_tensor_spec()
    # modelpack.schema is still the subpackage for imports.
    from modelpack.schema import signature

    assert signature.Schema is modelpack.Schema


@pytest.mark.parametrize("data", [5, np.float64(2.5), np.array(3.0)])
def test_validate_reports_a_scalar_instead_of_crashing(packed_lr, data: object) -> None:
    folder, _, _ = packed_lr
    report = modelpack.validate(folder, data=data)
    check = report.check("data")
    assert report.exit_code == 3 and check.status == "failed", check
    assert check.details["rows_checked"] == 1
