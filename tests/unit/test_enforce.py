"""check() reports every violation; conform() converts or refuses; check_file() streams."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelpack.errors import SchemaViolationError
from modelpack.schema.enforce import CheckReport, Violation, check, check_file, conform
from modelpack.schema.signature import ColSpec, Schema, TensorSpec

SCHEMA = Schema(
    [
        ColSpec("long", "a"),
        ColSpec("double", "b"),
        ColSpec("string", "c", required=False),
        ColSpec("datetime", "t"),
        ColSpec("long", "n", required=False),
    ]
)


def _kinds(violations: list[Violation]) -> list[tuple[str, object, str]]:
    return [(v.kind, v.column, v.severity) for v in violations]


def _good_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "b": [1, 2, 3],  # ints into double: fine while they fit in 53 bits
            "a": [1.0, 2.0, 3.0],  # whole floats into long: fine
            "t": ["2024-01-01", "2024-01-02", "2024-01-02T10:00:00+02:00"],
            "n": pd.array([1, None, 3], dtype="Int64"),
            "extra": [0, 0, 0],
        }
    )


def test_check_reports_every_violation_with_rows_and_examples():
    frame = pd.DataFrame(
        {
            "a": [1.0, 2.5, None],
            "b": [1, 2**60, 3],
            "t": ["2024-01-01", "nope", "2024-01-03"],
            "z": [1, 2, 3],
        }
    )
    found = {(v.kind, v.column): v for v in check(frame, SCHEMA)}
    assert set(found) == {
        ("null_in_required", "a"),
        ("type_mismatch", "a"),
        ("type_mismatch", "b"),
        ("type_mismatch", "t"),
        ("column_unexpected", "z"),
    }
    frac = found[("type_mismatch", "a")]
    assert (frac.rows, frac.examples, frac.count) == ([1], [2.5], 1)
    assert "expected long" in frac.message and "2.5 at row 1" in frac.message
    assert found[("null_in_required", "a")].rows == [2]
    assert found[("type_mismatch", "b")].examples == [2**60]
    assert found[("type_mismatch", "t")].examples == ["nope"]
    assert found[("column_unexpected", "z")].severity == "warning"


def test_missing_required_column_and_missing_optional_column():
    violations = check(pd.DataFrame({"b": [1.0], "t": ["2024-01-01"]}), SCHEMA)
    assert _kinds(violations) == [("column_missing", "a", "error")]
    assert violations[0].message == "required column 'a' is missing"
    assert violations[0].to_dict()["count"] == 0


@pytest.mark.parametrize(
    ("values", "target", "ok"),
    [
        (np.array([1, 2], dtype="int32"), "long", True),
        (np.array([1, 2], dtype="int64"), "integer", True),  # fits
        (np.array([2**40], dtype="int64"), "integer", False),
        (np.array([1, 2], dtype="uint64"), "long", True),
        (np.array([2**63], dtype="uint64"), "long", False),
        (np.array([1, 2], dtype="int64"), "double", True),
        (np.array([2**53 + 1], dtype="int64"), "double", False),
        (np.array([0.5, 1.5], dtype="float32"), "double", True),
        (np.array([0.5, 1.5], dtype="float64"), "float", True),  # exact in 32 bits
        (np.array([0.1], dtype="float64"), "float", False),
        (np.array([1.0, 2.0]), "long", True),
        (np.array([1.5]), "long", False),
        (np.array([True, False]), "long", False),
        (np.array([1, 0]), "boolean", False),
        (np.array([1, 2]), "string", False),
        (np.array(["x", "y"], dtype=object), "string", True),
        (np.array(["x"], dtype=object), "binary", True),
        (np.array([b"x"], dtype=object), "binary", True),
        (np.array(["2024-01-01"], dtype=object), "datetime", True),
        (pd.to_datetime(["2024-01-01"]).to_numpy(), "datetime", True),
        (np.array([1, "x"], dtype=object), "any", True),
    ],
)
def test_cast_rules(values, target, ok):
    violations = check(pd.DataFrame({"x": values}), Schema([ColSpec(target, "x")]))
    assert (violations == []) is ok, violations


def test_mixed_object_column_is_checked_value_by_value():
    frame = pd.DataFrame({"x": [1, "two", 3.5, None]})
    (type_v, null_v) = sorted(
        check(frame, Schema([ColSpec("long", "x")])), key=lambda v: v.kind, reverse=True
    )
    assert type_v.kind == "type_mismatch" and type_v.examples == ["two", 3.5] and type_v.rows == [1, 2]
    assert null_v.kind == "null_in_required" and null_v.rows == [3]


def test_nested_types():
    schema = Schema(
        [
            ColSpec({"type": "array", "items": {"type": "long"}}, "l"),
            ColSpec({"type": "object", "properties": {"k": {"type": "double"}}}, "o"),
        ]
    )
    good = pd.DataFrame({"l": [[1, 2], [3]], "o": [{"k": 1.0}, {"k": 2.0}]})
    assert check(good, schema) == []
    bad = pd.DataFrame({"l": [["x"], ["y"]], "o": [{"k": 1.0, "zz": 1}, {"k": 2.0}]})
    messages = sorted(v.message for v in check(bad, schema))
    assert "expected array<long>, got string (items)" in messages[0]
    assert "properties not in the schema: zz" in messages[1]


def test_unnamed_schema_checks_count_only():
    schema = Schema([ColSpec("double"), ColSpec("double")])
    assert check(np.zeros((3, 2)), schema) == []
    (v,) = check(np.zeros((3, 1)), schema)
    assert v.kind == "column_missing" and "2 unnamed columns but the data has 1" in v.message


def test_conform_reorders_drops_and_casts():
    warnings: list[str] = []
    out = conform(_good_frame(), SCHEMA, warnings=warnings)
    assert list(out.columns) == ["a", "b", "t", "n"]  # schema order; optional 'c' absent; extra dropped
    assert warnings == ["column 'extra' is not in the schema (it will be dropped)"]
    assert out["a"].dtype == np.int64 and out["a"].tolist() == [1, 2, 3]
    assert out["b"].dtype == np.float64
    assert str(out["t"].dtype) == "datetime64[ns]"
    assert out["t"].tolist()[2] == pd.Timestamp("2024-01-02T08:00:00")  # offset converted to UTC
    # Documented choice: an optional long column with gaps becomes float64 with NaN.
    assert out["n"].dtype == np.float64 and out["n"].isna().tolist() == [False, True, False]


@pytest.mark.parametrize(
    "flags",
    [[True, None], [True, np.nan], pd.array([True, None], dtype="boolean")],
    ids=["none-from-json-or-parquet", "nan-from-csv", "nullable-boolean"],
)
def test_conform_nullable_ints_without_gaps_become_int64_and_bool_gaps_nan(flags):
    schema = Schema([ColSpec("long", "n", required=False), ColSpec("boolean", "f", required=False)])
    frame = pd.DataFrame({"n": pd.array([1, 2], dtype="Int64"), "f": flags})
    out = conform(frame, schema)
    assert out["n"].dtype == np.int64
    # One missing marker whatever the source: NaN, as read_csv gives and imputers count as missing.
    assert out["f"].dtype == object and out["f"].tolist()[0] is True and np.isnan(out["f"].tolist()[1])


def test_conform_refuses_lossy_casts_with_all_violations():
    frame = pd.DataFrame({"a": [1.5], "b": ["x"], "t": ["2024-01-01"]})
    with pytest.raises(SchemaViolationError) as info:
        conform(frame, SCHEMA)
    error = info.value
    assert error.exit_code == 3
    assert error.message.startswith("data does not match the model's input schema: ")
    assert {v["column"] for v in error.violations} == {"a", "b"}
    assert all(
        set(v) >= {"kind", "column", "message", "rows", "examples", "count", "severity"}
        for v in error.violations
    )


def test_conform_accepts_what_mlflow_coerces():
    schema = Schema([ColSpec("long", "a"), ColSpec("string", "b")])
    assert conform({"a": 1, "b": "x"}, schema).to_dict("records") == [{"a": 1, "b": "x"}]
    assert conform([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}], schema)["a"].tolist() == [1, 2]
    assert conform(pd.Series([1, 2], name="a"), Schema([ColSpec("long", "a")]))["a"].tolist() == [1, 2]


def test_tensor_shape_and_dtype():
    schema = Schema([TensorSpec("float64", (-1, 2))])
    assert check(np.zeros((3, 2)), schema) == []
    (shape,) = check(np.zeros((3, 3)), schema)
    assert shape.kind == "shape_mismatch" and shape.message == (
        "the input has shape [3, 3], expected [-1, 2] (-1 = any size)"
    )
    assert conform(np.ones((2, 2), dtype="int32"), schema).dtype == np.float64  # safe cast
    (dtype,) = check(np.ones((2, 2), dtype="complex128"), schema)
    assert dtype.kind == "dtype_mismatch"
    (listy,) = check([[1.0, 2.0]], schema)
    assert "not a Python list" in listy.message
    assert conform(pd.DataFrame({"x": [1.0], "y": [2.0]}), schema).shape == (1, 2)


def test_named_tensors():
    schema = Schema([TensorSpec("float32", (-1, 2), "x"), TensorSpec("int64", (-1,), "y")])
    data = {"x": np.zeros((2, 2), dtype="float32"), "y": np.arange(2), "z": np.zeros(2)}
    assert _kinds(check(data, schema)) == [("column_unexpected", "z", "warning")]
    (missing,) = check({"x": data["x"]}, schema)
    assert (missing.kind, missing.column) == ("column_missing", "y")
    out = conform(data, schema)
    assert sorted(out) == ["x", "y"]


# ------------------------------------------------------------------------------------ files


def test_check_file_streams_with_global_rows(tmp_path: Path):
    rows = 120_000
    lines = ["a,b,pad"] + [f"{i},{i * 0.5},padding text to make the file span blocks" for i in range(rows)]
    lines[rows - 1] = f"{rows - 2},oops,x"  # a bad double near the end: a later block
    lines[10] = "9,,x"  # a missing value in a required column
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines) + "\n")
    schema = Schema([ColSpec("long", "a"), ColSpec("double", "b"), ColSpec("string", "q", required=False)])
    report = check_file(path, schema, batch_rows=10_000)
    assert isinstance(report, CheckReport)
    assert report.rows_checked == rows
    found = {(v.kind, v.column): v for v in report.violations}
    assert found[("type_mismatch", "b")].rows == [rows - 2]
    assert found[("type_mismatch", "b")].examples == ["oops"]
    assert found[("null_in_required", "b")].rows == [9]
    assert found[("column_unexpected", "pad")].severity == "warning"
    assert not report.ok
    data = report.to_dict()
    assert data["error_count"] == 2 and data["warning_count"] == 1
    json.dumps(data)  # JSON-ready


def test_check_file_reads_text_columns_as_text(tmp_path: Path):
    path = tmp_path / "zip.csv"
    path.write_text("zip,n\n02134,1\n10001,2\n")
    report = check_file(path, Schema([ColSpec("string", "zip"), ColSpec("long", "n")]))
    assert report.ok and report.violations == ()
    mismatch = check_file(path, Schema([ColSpec("boolean", "zip"), ColSpec("long", "n")]))
    assert [v.examples for v in mismatch.violations] == [["02134", "10001"]]


def test_check_file_json_jsonl_parquet_npy(tmp_path: Path):
    schema = Schema([ColSpec("long", "a"), ColSpec("datetime", "t")])
    records = [{"a": 1, "t": "2024-01-01"}, {"a": 2.5, "t": "2024-01-02"}]
    (tmp_path / "d.json").write_text(json.dumps(records))
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    pd.DataFrame({"a": [1.0, 2.5], "t": pd.to_datetime(["2024-01-01", "2024-01-02"])}).to_parquet(
        tmp_path / "d.parquet"
    )
    for name in ("d.json", "d.jsonl", "d.parquet"):
        report = check_file(tmp_path / name, schema)
        assert [(v.kind, v.column, v.rows) for v in report.violations] == [("type_mismatch", "a", [1])], name
    np.save(tmp_path / "x.npy", np.zeros((5, 3), dtype="float32"))
    tensor = Schema([TensorSpec("float32", (-1, 3))])
    assert check_file(tmp_path / "x.npy", tensor, batch_rows=2).rows_checked == 5
    assert check_file(tmp_path / "x.npy", tensor).ok
    assert not check_file(tmp_path / "x.npy", Schema([TensorSpec("float32", (-1, 4))])).ok


def test_check_file_empty_required_column_from_blank_cells(tmp_path: Path):
    path = tmp_path / "b.csv"
    path.write_text("a,when\n1,2024-01-01\n2,\n")
    report = check_file(path, Schema([ColSpec("long", "a"), ColSpec("datetime", "when")]))
    assert [(v.kind, v.rows) for v in report.violations] == [("null_in_required", [1])]


# ------------------------------------------------------------------------------------ properties


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.integers(-(2**40), 2**40)), min_size=1, max_size=30),
    st.sampled_from(["long", "double", "string"]),
)
def test_check_counts_exactly_the_bad_rows(values, target):
    frame = pd.DataFrame({"x": pd.array(values, dtype="Int64")})
    nulls = [i for i, v in enumerate(values) if v is None]
    violations = {v.kind: v for v in check(frame, Schema([ColSpec(target, "x")]))}
    if nulls:
        assert violations["null_in_required"].count == len(nulls)
        assert violations["null_in_required"].rows == nulls[:5]
    else:
        assert "null_in_required" not in violations
    bad = [i for i, v in enumerate(values) if v is not None] if target == "string" else []
    if bad:
        assert violations["type_mismatch"].count == len(bad)
        assert violations["type_mismatch"].rows == bad[:5]
    else:
        assert "type_mismatch" not in violations
    if not violations:
        out = conform(frame, Schema([ColSpec(target, "x")]))
        assert out["x"].tolist() == [float(v) if target == "double" else v for v in values]


def test_datetime_column_from_dates():
    out = conform(pd.DataFrame({"d": [dt.date(2024, 1, 1)]}), Schema([ColSpec("datetime", "d")]))
    assert str(out["d"].dtype) == "datetime64[ns]"
