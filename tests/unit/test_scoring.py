"""The shared scoring path: output tables, violation merging, writers, and scoring a packed model."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from modelpack.errors import SchemaViolationError, UsageError
from modelpack.schema import writers
from modelpack.schema.signature import ColSpec, Schema, TensorSpec
from modelpack.serving import scoring

# --------------------------------------------------------------------------------------------------
# output tables


def test_1d_output_is_one_prediction_column_in_row_order() -> None:
    frame = scoring.output_frame(np.array([3, 1, 2]))
    assert list(frame.columns) == ["prediction"]
    assert frame["prediction"].tolist() == [3, 1, 2]


def test_1d_output_takes_the_output_schema_column_name() -> None:
    schema = Schema([ColSpec("double", "score")])
    frame = scoring.output_frame(np.array([0.5, 0.25]), output_schema=schema)
    assert list(frame.columns) == ["score"]


def test_unnamed_output_schema_keeps_prediction_name() -> None:
    schema = Schema([ColSpec("long")])
    assert list(scoring.output_frame([1, 0], output_schema=schema).columns) == ["prediction"]


def test_probabilities_get_one_column_per_class() -> None:
    proba = np.array([[0.1, 0.9], [0.8, 0.2]])
    frame = scoring.output_frame(proba, method="predict_proba", classes=["no", "yes"])
    assert list(frame.columns) == ["proba_no", "proba_yes"]
    assert frame["proba_yes"].tolist() == [0.9, 0.2]


def test_probabilities_without_classes_are_numbered() -> None:
    frame = scoring.output_frame(np.zeros((2, 3)), method="predict_proba")
    assert list(frame.columns) == ["proba_0", "proba_1", "proba_2"]


def test_2d_predict_uses_named_schema_columns_or_numbers() -> None:
    named = Schema([ColSpec("double", "lo"), ColSpec("double", "hi")])
    assert list(scoring.output_frame(np.ones((2, 2)), output_schema=named).columns) == ["lo", "hi"]
    tensor = Schema([TensorSpec("float64", (-1, 2))])
    assert list(scoring.output_frame(np.ones((2, 2)), output_schema=tensor).columns) == [
        "prediction_0",
        "prediction_1",
    ]


def test_series_and_dataframe_outputs_keep_names_and_reset_index() -> None:
    series = pd.Series([1.0, 2.0], index=[10, 11], name="y")
    frame = scoring.output_frame(series)
    assert list(frame.columns) == ["y"] and list(frame.index) == [0, 1]
    df = pd.DataFrame({"a": [1, 2], "b": [3, 4]}, index=[5, 6])
    assert scoring.output_frame(df).to_dict("list") == {"a": [1, 2], "b": [3, 4]}


def test_3d_output_becomes_list_cells() -> None:
    frame = scoring.output_frame(np.arange(8).reshape(2, 2, 2))
    assert frame["prediction"].tolist() == [[[0, 1], [2, 3]], [[4, 5], [6, 7]]]


# --------------------------------------------------------------------------------------------------
# violations


def test_merge_violations_shifts_rows_and_sums_counts() -> None:
    first = [
        {
            "kind": "type_mismatch",
            "column": "a",
            "message": "column 'a': expected long, got text in 2 rows (e.g. 'x' at row 1, 'y' at row 2)",
            "rows": [1, 2],
            "examples": ["x", "y"],
            "count": 2,
        }
    ]
    second = [
        {
            "kind": "type_mismatch",
            "column": "a",
            "message": "column 'a': expected long, got text in 1 row (e.g. 'z' at row 0)",
            "rows": [0],
            "examples": ["z"],
            "count": 1,
        },
        {"kind": "column_missing", "column": "b", "message": "required column 'b' is missing", "count": 0},
    ]
    merged = scoring.merge_violations([(0, first), (100, second)])
    by_column = {v["column"]: v for v in merged}
    assert by_column["a"]["rows"] == [1, 2, 100]
    assert by_column["a"]["count"] == 3
    assert by_column["a"]["examples"] == ["x", "y", "z"]
    assert by_column["a"]["message"] == (
        "column 'a': expected long, got text in 3 rows (e.g. 'x' at row 1, 'y' at row 2, 'z' at row 100)"
    )
    assert by_column["b"]["message"] == "required column 'b' is missing"


def test_format_violation_keeps_a_message_that_says_it_all() -> None:
    message = "column 'a': expected long, got text in 1 row (e.g. 'z' at row 4)"
    assert scoring.format_violation({"column": "a", "message": message, "rows": [4], "count": 1}) == message


def test_format_violation_names_column_rows_and_examples() -> None:
    line = scoring.format_violation(
        {"column": "count", "message": "expected long", "rows": [3, 7], "examples": ["abc"], "count": 2}
    )
    assert line == "column 'count': expected long (2 rows; rows 3, 7; e.g. 'abc')"


def test_violation_error_lists_every_error_and_skips_warnings() -> None:
    exc = scoring.violation_error(
        "data.csv",
        [
            {"column": "a", "message": "missing", "severity": "error"},
            {"column": "z", "message": "extra column ignored", "severity": "warning"},
            {"column": "b", "message": "not a number", "severity": "error"},
        ],
    )
    assert isinstance(exc, SchemaViolationError)
    assert "2 violations" in exc.message
    assert "column 'a': missing" in exc.message and "column 'b': not a number" in exc.message
    assert "'z'" not in exc.message
    assert [v["column"] for v in exc.violations] == ["a", "b"]


# --------------------------------------------------------------------------------------------------
# writers


def _batches() -> list[pd.DataFrame]:
    return [
        pd.DataFrame({"label": [1, 0], "score": [0.1, 1 / 3], "name": ["a,b", None]}),
        pd.DataFrame({"label": [1], "score": [float("nan")], "name": ["c"]}),
    ]


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json", ".jsonl"])
def test_writers_round_trip_every_format(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    fmt = writers.output_format(path, None)
    with writers.open_writer(path, fmt) as writer:
        for batch in _batches():
            writer.write(batch)
    if suffix == ".csv":
        back = pd.read_csv(path)
    elif suffix == ".parquet":
        back = pq.read_table(path).to_pandas()
    elif suffix == ".json":
        back = pd.DataFrame(json.loads(path.read_text()))
    else:
        back = pd.DataFrame([json.loads(line) for line in path.read_text().splitlines()])
    assert back["label"].tolist() == [1, 0, 1]
    assert back["score"].tolist()[:2] == [0.1, 1 / 3]  # every digit kept
    assert pd.isna(back["score"].tolist()[2])
    assert back["name"].tolist()[0] == "a,b"
    assert pd.isna(back["name"].tolist()[1])


def test_csv_header_is_plain(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    with writers.open_writer(path, "csv") as writer:
        writer.write(pd.DataFrame({"prediction": [1, 2]}))
    assert path.read_text().splitlines() == ["prediction", "1", "2"]


def test_json_output_is_strict_json(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    with writers.open_writer(path, "json") as writer:
        for batch in _batches():
            writer.write(batch)
    text = path.read_text()
    assert "NaN" not in text
    assert json.loads(text)[2] == {"label": 1, "score": None, "name": "c"}


def test_empty_json_array(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    with writers.open_writer(path, "json"):
        pass
    assert json.loads(path.read_text()) == []


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    with pytest.raises(RuntimeError), writers.open_writer(path, "csv") as writer:
        writer.write(pd.DataFrame({"a": [1]}))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_stream_writer_and_collector() -> None:
    stream = io.BytesIO()
    with writers.open_writer(stream, "jsonl") as writer:
        writer.write(pd.DataFrame({"a": [1, 2]}))
    assert stream.getvalue() == b'{"a": 1}\n{"a": 2}\n'
    collector = writers.RecordCollector()
    with writers.open_writer(collector, "csv") as writer:
        writer.write(pd.DataFrame({"a": [np.int64(1)], "t": [pd.Timestamp("2024-01-02")]}))
    assert collector.records == [{"a": 1, "t": "2024-01-02T00:00:00"}]


def test_output_format_from_suffix_or_option() -> None:
    assert writers.output_format(Path("x.PARQUET"), None) == "parquet"
    assert writers.output_format(None, None) == "csv"
    assert writers.output_format(Path("x.txt"), "jsonl") == "jsonl"
    with pytest.raises(UsageError):
        writers.output_format(Path("x.txt"), None)
    with pytest.raises(UsageError):
        writers.output_format(None, "xml")


# --------------------------------------------------------------------------------------------------
# a packed model


def test_load_scorer_reads_method_and_schemas(packed: Path) -> None:
    scorer = scoring.load_scorer(packed)
    assert scorer.method == "predict" and scorer.recorded_method == "predict"
    assert scorer.input_schema is not None and scorer.input_schema.input_names() == [
        "count",
        "ratio",
        "color",
        "flag",
    ]
    assert scorer.classes == [0, 1]


def test_load_scorer_rejects_unknown_method(packed: Path) -> None:
    with pytest.raises(UsageError):
        scoring.load_scorer(packed, method="fit")


def test_predict_folder_equals_direct_calls(packed: Path, tmp_path: Path, mixed_frame, sk_model_file) -> None:
    import joblib

    data = tmp_path / "data.parquet"
    mixed_frame.to_parquet(data, index=False)
    out = tmp_path / "pred.csv"
    result = scoring.predict_folder(packed, scoring.PredictOptions(data=data, output=out, batch_rows=7))
    model = joblib.load(sk_model_file)
    assert result.rows == len(mixed_frame)
    assert pd.read_csv(out)["prediction"].tolist() == model.predict(mixed_frame).tolist()

    proba = scoring.predict_folder(
        packed, scoring.PredictOptions(data=data, output=None, method="predict_proba", batch_rows=5)
    )
    assert proba.columns == ["proba_0", "proba_1"]
    expected = model.predict_proba(mixed_frame)
    got = np.array([[r["proba_0"], r["proba_1"]] for r in proba.predictions or []])
    np.testing.assert_array_equal(got, expected)


def test_predict_folder_refuses_bad_data_with_every_violation(
    packed: Path, tmp_path: Path, mixed_frame
) -> None:
    bad = mixed_frame.drop(columns=["ratio"]).astype({"count": str})
    bad.loc[3, "count"] = "lots"
    data = tmp_path / "bad.csv"
    bad.to_csv(data, index=False)
    out = tmp_path / "pred.csv"
    with pytest.raises(SchemaViolationError) as info:
        scoring.predict_folder(packed, scoring.PredictOptions(data=data, output=out, batch_rows=4))
    columns = {v["column"] for v in info.value.violations}
    assert {"ratio", "count"} <= columns
    assert not out.exists()


def test_estimate_rows_for_the_progress_bar(tmp_path: Path, mixed_frame) -> None:
    big = pd.concat([mixed_frame] * 500, ignore_index=True)  # 10,000 rows
    big.to_parquet(tmp_path / "d.parquet", index=False)
    big.to_csv(tmp_path / "d.csv", index=False)
    big.to_json(tmp_path / "d.json", orient="records")
    np.save(tmp_path / "d.npy", np.zeros((123, 2)))
    assert scoring.estimate_rows(tmp_path / "d.parquet") == 10_000
    assert scoring.estimate_rows(tmp_path / "d.npy") == 123
    assert scoring.estimate_rows(tmp_path / "d.csv") == 10_000  # the whole file fits in the sniff
    assert scoring.estimate_rows(tmp_path / "d.json") is None
    assert scoring.estimate_rows(tmp_path / "d.unknown") is None
