"""Schema inference from files (streaming) and from in-memory data (predictions)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelpack.errors import DataFormatError
from modelpack.schema.infer import (
    infer_file,
    infer_output_schema,
    infer_schema,
    infer_schema_from_file,
    merge_types,
)
from modelpack.schema.signature import ColSpec, Schema, TensorSpec


def _cols(schema: Schema) -> list[tuple[object, object, bool]]:
    return [(s.name, s.type, s.required) for s in schema.specs]


# ------------------------------------------------------------------------------------ files


def test_csv_inference_follows_what_pandas_reads(tmp_path: Path):
    path = tmp_path / "s.csv"
    path.write_text(
        "id,age,score,name,flag,when,day\n"
        "1,30,0.5,ann,true,2024-01-01T10:00:00,2024-01-01\n"
        "2,,NaN,,false,2024-01-02T11:30:00,2024-01-02\n"
        "3,41,1.5,cy,,2024-01-03T00:00:00,2024-01-03\n"
    )
    assert _cols(infer_schema_from_file(path)) == [
        ("id", "long", True),
        ("age", "double", False),  # pandas gives float64 with NaN; MLflow cannot hold NaN in long
        ("score", "double", False),
        ("name", "string", False),
        ("flag", "boolean", False),
        ("when", "string", True),  # pandas leaves dates as text, and models are trained on that
        ("day", "string", True),
    ]
    # The file's schema is the schema of the frame pandas reads from it.
    assert infer_schema_from_file(path) == infer_schema(pd.read_csv(path))


def test_csv_column_turning_to_text_late_is_string_with_a_warning(tmp_path: Path):
    rows = 120_000
    lines = ["id,n,pad"] + [f"{i},{i % 10},padding to pass one block" for i in range(rows)]
    lines[rows - 1] = f"{rows - 2},oops,x"
    path = tmp_path / "late.csv"
    path.write_text("\n".join(lines) + "\n")
    result = infer_file(path)
    assert _cols(result.schema) == [("id", "long", True), ("n", "string", True), ("pad", "string", True)]
    assert result.rows == rows
    assert any("'oops' at row 119998" in w for w in result.warnings)


def test_csv_floats_late_widen_ints_to_double(tmp_path: Path):
    rows = 120_000
    lines = ["n"] + [str(i) for i in range(rows)]
    lines[-1] = "2.5"
    path = tmp_path / "w.csv"
    path.write_text("\n".join(lines) + "\n")
    assert _cols(infer_schema_from_file(path)) == [("n", "double", True)]


def test_csv_empty_first_block_takes_later_type_and_is_optional(tmp_path: Path):
    lines = ["a,b"] + [f"{i}," for i in range(150_000)] + [f"{i},2024-05-0{1 + i}" for i in range(5)]
    path = tmp_path / "late.csv"
    path.write_text("\n".join(lines) + "\n")
    assert _cols(infer_schema_from_file(path)) == [("a", "long", True), ("b", "string", False)]


def test_csv_all_empty_column_is_optional_double_with_warning(tmp_path: Path):
    path = tmp_path / "e.csv"
    path.write_text("a,b\n1,\n2,\n")
    result = infer_file(path)
    assert _cols(result.schema) == [("a", "long", True), ("b", "double", False)]
    assert result.warnings == ("column 'b' has no values; typed as double",)


def test_sample_rows_caps_reading(tmp_path: Path):
    path = tmp_path / "s.csv"
    path.write_text("a,b\n1,x\n2,y\n,z\n")
    capped = infer_file(path, sample_rows=2)
    assert capped.rows == 2
    assert _cols(capped.schema)[0] == ("a", "long", True)
    assert _cols(infer_schema_from_file(path))[0] == ("a", "double", False)


def test_header_only_csv_cannot_be_inferred(tmp_path: Path):
    path = tmp_path / "h.csv"
    path.write_text("a,b\n")
    with pytest.raises(DataFormatError, match="no data rows"):
        infer_schema_from_file(path)


def test_parquet_types(tmp_path: Path):
    frame = pd.DataFrame(
        {
            "i": pd.array([1, None, 3], dtype="Int64"),
            "b": pd.array([True, None, False], dtype="boolean"),
            "i32": np.array([1, 2, 3], dtype="int32"),
            "u64": np.array([1, 2, 3], dtype="uint64"),
            "f32": np.array([1, 2, np.nan], dtype="float32"),
            "t": pd.to_datetime(["2024-01-01", None, "2024-01-03"]),
            "s": pd.Categorical(["a", "b", "a"]),
            "raw": [b"x", b"y", b"z"],
            "l": [[1], [2, 3], None],
            "o": [{"k": 1.0}, {"k": None}, {"k": 2.0}],
        }
    )
    path = tmp_path / "d.parquet"
    frame.to_parquet(path)
    assert _cols(infer_schema_from_file(path)) == [
        ("i", "double", False),  # pandas reads it as float64 with NaN
        ("b", "boolean", False),
        ("i32", "integer", True),
        ("u64", "long", True),  # MLflow gives up on the whole schema for uint64
        ("f32", "float", False),
        ("t", "datetime", False),
        ("s", "string", True),
        ("raw", "binary", True),
        ("l", {"type": "array", "items": {"type": "long"}}, False),
        ("o", {"type": "object", "properties": {"k": {"type": "double", "required": False}}}, True),
    ]


def test_parquet_is_streamed_in_batches(tmp_path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Nulls only in the last row group: inference must see the whole file.
    values = list(range(10_000)) + [None]
    pq.write_table(pa.table({"a": pa.array(values, pa.int64())}), tmp_path / "d.parquet", row_group_size=1000)
    result = infer_file(tmp_path / "d.parquet")
    assert result.rows == 10_001
    assert _cols(result.schema) == [("a", "double", False)]


def test_jsonl_mixed_types_across_batches_names_column_and_rows(tmp_path: Path):
    lines = [json.dumps({"a": i, "b": "x"}) for i in range(10)] + [json.dumps({"a": "ten", "b": "y"})]
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError) as info:
        infer_file(path, batch_rows=5)
    assert "column 'a' mixes value types" in info.value.message
    assert "0 at row 0" in info.value.message and "'ten' at row 10" in info.value.message


def test_jsonl_merges_ints_and_floats_and_late_columns(tmp_path: Path):
    lines = [json.dumps({"a": i}) for i in range(4)] + [json.dumps({"a": 0.5, "b": True})]
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert _cols(infer_file(path, batch_rows=2).schema) == [("a", "double", True), ("b", "boolean", False)]


def test_json_records_and_tensor_files(tmp_path: Path):
    (tmp_path / "r.json").write_text(json.dumps([{"a": 1, "b": None, "n": 1}, {"a": 2, "b": "x", "n": None}]))
    assert _cols(infer_schema_from_file(tmp_path / "r.json")) == [
        ("a", "long", True),
        ("b", "string", False),
        ("n", "double", False),
    ]
    (tmp_path / "t.json").write_text(json.dumps({"inputs": [[1.0, 2.0], [3.0, 4.0]]}))
    assert infer_schema_from_file(tmp_path / "t.json") == Schema([TensorSpec("float64", (-1, 2))])


def test_npy_and_npz_files(tmp_path: Path):
    np.save(tmp_path / "a.npy", np.zeros((5, 3, 2), dtype="float32"))
    np.savez(tmp_path / "b.npz", x=np.zeros((4, 3)), y=np.array(["a", "bb", "c", "d"]))
    assert infer_schema_from_file(tmp_path / "a.npy") == Schema([TensorSpec("float32", (-1, 3, 2))])
    assert infer_schema_from_file(tmp_path / "b.npz") == Schema(
        [TensorSpec("float64", (-1, 3), "x"), TensorSpec("str", (-1,), "y")]
    )


# ------------------------------------------------------------------------------------ in memory


def test_frames_match_mlflow_rules():
    frame = pd.DataFrame(
        {
            "a": [1, 2],
            "b": [0.5, np.nan],
            "s": ["x", None],
            "flag": [True, False],
            "day": [dt.date(2024, 1, 1), dt.date(2024, 1, 2)],
            "none": [None, None],
        }
    )
    assert _cols(infer_schema(frame)) == [
        ("a", "long", True),
        ("b", "double", False),
        ("s", "string", False),
        ("flag", "boolean", True),
        ("day", "datetime", True),
        ("none", "any", False),
    ]


def test_integer_column_names_are_kept():
    schema = infer_schema(pd.DataFrame(np.ones((2, 3))))
    assert schema.input_names() == [0, 1, 2]
    assert schema.to_json().startswith('[{"type": "double", "name": 0, "required": true}')


def test_mixed_object_column_is_an_error_with_examples():
    frame = pd.DataFrame({"ok": [1, 2, 3], "bad": [1, "two", 3.5]})
    with pytest.raises(DataFormatError) as info:
        infer_schema(frame)
    message = info.value.message
    assert message.startswith("column 'bad' mixes value types")
    assert "'two' at row 1" in message and "1 at row 0" in message


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [
        (np.array([0, 1, 0]), Schema([ColSpec("long")])),
        (np.array(["cat", "dog"]), Schema([ColSpec("string")])),
        (np.array([0.1, 0.2]), Schema([ColSpec("double")])),
        (np.zeros((3, 2)), Schema([TensorSpec("float64", (-1, 2))])),
        (np.zeros((3, 2), dtype="int64"), Schema([TensorSpec("int64", (-1, 2))])),
        (pd.Series([1, 2], name="y"), Schema([ColSpec("long", "y")])),
        (pd.DataFrame({"p": [0.5], "q": [0.5]}), Schema([ColSpec("double", "p"), ColSpec("double", "q")])),
        ([1, 2, 3], Schema([ColSpec("long")])),
        ([[1, 2], [3]], Schema([ColSpec({"type": "array", "items": {"type": "long"}})])),
        ({"x": np.zeros((2, 3))}, Schema([TensorSpec("float64", (-1, 3), "x")])),
        ({"a": 1, "b": None}, Schema([ColSpec("long", "a"), ColSpec("any", "b", required=False)])),
        (
            [{"a": 1}, {"a": 2, "b": "x"}],
            Schema([ColSpec("long", "a"), ColSpec("string", "b", required=False)]),
        ),
        ("hello", Schema([ColSpec("string")])),
        ([], Schema([ColSpec("string")])),
    ],
)
def test_in_memory_shapes(prediction, expected):
    assert infer_schema(prediction) == expected


def test_output_schema_follows_input_kind():
    labels = np.array([0, 1, 1])
    assert infer_output_schema(labels, Schema([ColSpec("double", "x")])) == Schema([ColSpec("long")])
    assert infer_output_schema(labels, Schema([TensorSpec("float64", (-1, 2))])) == Schema(
        [TensorSpec("int64", (-1,))]
    )
    proba = np.array([[0.2, 0.8], [0.6, 0.4]])
    assert infer_output_schema(proba, None) == Schema([TensorSpec("float64", (-1, 2))])


def test_merge_types_rules():
    assert merge_types(None, "long") == "long"
    assert merge_types("integer", "long") == "long"
    assert merge_types("long", "double") == "double"
    assert merge_types("float", "double") == "double"
    assert merge_types("long", "string", text=True) == "string"
    with pytest.raises(Exception, match="^$"):  # the caller turns this into a message naming the column
        merge_types("long", "string")
    obj_a = {"type": "object", "properties": {"k": {"type": "long", "required": True}}}
    obj_b = {"type": "object", "properties": {"j": {"type": "string", "required": True}}}
    assert merge_types(obj_a, obj_b) == {
        "type": "object",
        "properties": {
            "j": {"type": "string", "required": False},
            "k": {"type": "long", "required": False},
        },
    }


# ------------------------------------------------------------------------------------ properties

_KINDS = {
    "long": st.integers(-(2**62), 2**62),
    "double": st.floats(allow_nan=False, allow_infinity=False, width=64),
    "string": st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6),
    "boolean": st.booleans(),
    "datetime": st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2200, 1, 1)),
}


@st.composite
def _frames(draw: st.DrawFn) -> tuple[pd.DataFrame, list[tuple[str, str, bool]]]:
    n_rows = draw(st.integers(1, 12))
    n_cols = draw(st.integers(1, 5))
    columns: dict[str, pd.Series] = {}
    expected = []
    for c in range(n_cols):
        kind = draw(st.sampled_from(sorted(_KINDS)))
        values = draw(st.lists(_KINDS[kind], min_size=n_rows, max_size=n_rows))
        missing = draw(st.lists(st.booleans(), min_size=n_rows, max_size=n_rows))
        if all(missing):
            missing[0] = False
        name = f"c{c}"
        cells = [None if m else v for v, m in zip(values, missing, strict=True)]
        dtype = {"long": "Int64", "boolean": "boolean", "double": "float64", "string": "object"}.get(kind)
        series = pd.Series(pd.to_datetime(cells)) if kind == "datetime" else pd.Series(cells, dtype=dtype)
        columns[name] = series
        # Integers with gaps are double: the float64 pandas holds them in, which MLflow enforces.
        expected.append((name, "double" if kind == "long" and any(missing) else kind, not any(missing)))
    return pd.DataFrame(columns), expected


@settings(max_examples=80, deadline=None)
@given(_frames())
def test_inference_matches_what_generated_frames_hold(case):
    frame, expected = case
    assert _cols(infer_schema(frame)) == expected


@settings(max_examples=25, deadline=None)
@given(_frames())
def test_file_inference_matches_frame_for_parquet_and_jsonl(tmp_path_factory, case):
    frame, expected = case
    folder = tmp_path_factory.mktemp("frames")
    frame.to_parquet(folder / "d.parquet")
    assert _cols(infer_schema_from_file(folder / "d.parquet")) == expected
    # JSONL through pandas: datetimes become ISO text, so compare the rest.
    frame.to_json(folder / "d.jsonl", orient="records", lines=True, date_format="iso")
    from_jsonl = _cols(infer_schema_from_file(folder / "d.jsonl"))
    for got, want in zip(from_jsonl, expected, strict=True):
        if want[1] == "datetime":
            assert got == (want[0], "string", want[2])
        elif want[1] == "double":
            assert got[0] == want[0] and got[1] in ("double", "long") and got[2] == want[2]
        else:
            assert got == want
