"""Data file readers: formats, the values a model gets, and clear errors for bad files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelpack.errors import DataFormatError, NotFoundError
from modelpack.schema import infer, readers


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------ formats


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.csv", "csv"),
        ("a.CSV", "csv"),
        ("a.tsv", "tsv"),
        ("a.csv.gz", "csv"),
        ("a.parquet", "parquet"),
        ("a.pq", "parquet"),
        ("a.json", "json"),
        ("a.jsonl", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("a.npy", "npy"),
        ("a.npz", "npz"),
    ],
)
def test_detect_format_by_suffix(name, expected):
    assert readers.detect_format(Path(name)) == expected


def test_detect_format_override_and_unknown():
    assert readers.detect_format(Path("data.txt"), "tsv") == "tsv"
    assert readers.detect_format(Path("data.xyz"), "ndjson") == "jsonl"
    with pytest.raises(DataFormatError) as info:
        readers.detect_format(Path("data.xyz"))
    assert (
        info.value.message
        == "data.xyz: unknown format '.xyz' (use --format csv|tsv|parquet|json|jsonl|npy|npz)"
    )
    with pytest.raises(DataFormatError, match=r"\(no suffix\)"):
        readers.detect_format(Path("data"))
    with pytest.raises(DataFormatError, match="unknown format 'xls'"):
        readers.detect_format(Path("a.csv"), "xls")


# ------------------------------------------------------------------------------------ errors


def test_missing_file_is_not_found(tmp_path: Path):
    with pytest.raises(NotFoundError):
        readers.read_data(tmp_path / "nope.csv")


@pytest.mark.parametrize("suffix", [".csv", ".json", ".jsonl", ".parquet", ".npy"])
def test_empty_file_says_empty(tmp_path: Path, suffix: str):
    path = tmp_path / f"sample{suffix}"
    path.write_bytes(b"")
    with pytest.raises(DataFormatError, match=f"sample{suffix} is empty"):
        readers.read_data(path)


def test_whitespace_only_json_is_empty(tmp_path: Path):
    with pytest.raises(DataFormatError, match="is empty"):
        readers.read_data(_write(tmp_path / "s.json", "  \n"))
    with pytest.raises(DataFormatError, match="is empty"):
        readers.read_data(_write(tmp_path / "s.jsonl", "\n\n"))


def test_ragged_csv_names_row_and_counts(tmp_path: Path):
    rows = ["a,b,c,d"] + [f"{i},{i},{i},{i}" for i in range(20)]
    rows[18] = "1,2,3"  # data row 17 (0-based), line 19
    path = _write(tmp_path / "sample.csv", "\n".join(rows) + "\n")
    with pytest.raises(DataFormatError) as info:
        readers.read_data(path)
    assert info.value.message == "sample.csv: row 17 (line 19) has 3 fields, expected 4"


def test_mis_encoded_csv_is_reported(tmp_path: Path):
    path = tmp_path / "latin.csv"
    path.write_bytes("name,city\n1,Z\xfcrich\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match="column 'city' is not valid UTF-8"):
        readers.read_data(path)


def test_mis_encoded_jsonl_names_line(tmp_path: Path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"a": "x"}\n{"a": "Z\xfcrich"}\n')
    with pytest.raises(DataFormatError, match="not valid UTF-8"):
        readers.read_data(path)


@pytest.mark.parametrize(
    "header",
    [
        ",a,b",  # a saved pandas index: pandas and MLflow call it "Unnamed: 0"
        ",,",
        "a,a,b",
        "a,a,a.1",
        "a,a.1,a",
        "a,a,a,a.1,a.2",
        "a.1,a,a",
        "Unnamed: 1,,",
        ",Unnamed: 0,a",
        " ,a, a",
    ],
)
@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_empty_and_repeated_header_names_follow_pandas(tmp_path: Path, header: str, fmt: str):
    sep = "," if fmt == "csv" else "\t"
    width = len(header.split(","))
    text = header.replace(",", sep) + "\n" + sep.join(str(i) for i in range(width)) + "\n"
    path = _write(tmp_path / f"h.{fmt}", text)
    expected = list(pd.read_csv(path, sep=sep).columns)
    assert list(readers.read_data(path).columns) == expected
    assert [s.name for s in infer.infer_schema_from_file(path).specs] == expected
    assert readers.pandas_names(header.split(",")) == expected


_HEADER_TOKENS = ["", "a", "a.1", "a.2", "a.1.1", "Unnamed: 0", "Unnamed: 1", "Unnamed: 0.1", "b"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(_HEADER_TOKENS), min_size=2, max_size=6))
def test_header_names_match_pandas_for_any_mix_of_empty_and_repeated_names(header: list[str]):
    import io

    text = ",".join(header) + "\n" + ",".join("1" for _ in header) + "\n"
    assert readers.pandas_names(header) == list(pd.read_csv(io.StringIO(text)).columns)


def test_renamed_header_survives_a_column_turning_to_text(tmp_path: Path):
    # Under pandas' names the reader still resumes a column that changes type mid-file.
    rows = [",a,a"] + [f"{i},{i},{i}" for i in range(20_000)] + ["20000,x,1"]
    path = _write(tmp_path / "late.csv", "\n".join(rows) + "\n")
    frame = readers.read_data(path)
    expected = pd.read_csv(path)
    assert list(frame.columns) == ["Unnamed: 0", "a", "a.1"]
    assert frame["a"].tolist() == expected["a"].tolist()
    assert frame["a.1"].dtype == np.int64


def test_bad_json_line_and_non_record(tmp_path: Path):
    with pytest.raises(DataFormatError, match="line 2 is not valid JSON"):
        readers.read_data(_write(tmp_path / "x.jsonl", '{"a": 1}\n{"a": \n'))
    with pytest.raises(DataFormatError, match="line 1 is not a JSON object"):
        readers.read_data(_write(tmp_path / "y.jsonl", "[1, 2]\n"))
    with pytest.raises(DataFormatError, match="not valid JSON at line 2") as info:
        readers.read_data(_write(tmp_path / "z.json", '{"a": 1}\n{"a": 2}\n'))
    assert info.value.hint == "JSON Lines files should end in .jsonl"


def test_npy_with_objects_is_refused(tmp_path: Path):
    path = tmp_path / "o.npy"
    np.save(path, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataFormatError, match="holds Python objects"):
        readers.read_data(path)


def test_garbage_parquet_and_npy(tmp_path: Path):
    with pytest.raises(DataFormatError, match="not a readable Parquet file"):
        readers.read_data(_write(tmp_path / "p.parquet", "not parquet"))
    with pytest.raises(DataFormatError, match="not a valid .npy file"):
        readers.read_data(_write(tmp_path / "a.npy", "not npy"))


# ------------------------------------------------------------------------------------ values


def test_csv_values_are_what_pandas_read_csv_gives(tmp_path: Path):
    text = (
        "i,f,s,b,t,d,h\n1,0.5,x,true,2024-01-01T10:00:00,2024-01-01,10:00\n,NaN,,,,,\n"
        "3,1.5,NA,false,2024-01-03T00:00:00,2024-01-03,11:30:00\n"
    )
    path = _write(tmp_path / "s.csv", text)
    frame = readers.read_data(path)
    expected = pd.read_csv(path)
    pd.testing.assert_frame_equal(frame, expected)
    assert frame["i"].dtype == np.float64 and frame["i"].isna().tolist() == [False, True, False]
    assert frame["s"].tolist()[0] == "x" and frame["s"].isna().tolist() == [False, True, True]
    # Dates and times stay text, as pandas reads them and models are trained on them.
    assert frame["t"].tolist()[0] == "2024-01-01T10:00:00" and frame["d"].tolist()[2] == "2024-01-03"
    # A boolean with a gap is True/NaN/False in an object column, not None.
    assert (
        frame["b"].dtype == object
        and frame["b"].tolist()[0] is True
        and frame["b"].tolist()[1] != frame["b"].tolist()[1]
    )


def test_csv_frame_feeds_sklearn(tmp_path: Path):
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    rows = ["x,color,y"] + [f"{i},{'red' if i % 2 else 'blue'},{i % 2}" for i in range(20)]
    frame = readers.read_data(_write(tmp_path / "train.csv", "\n".join(rows) + "\n"))
    model = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["color"]), (SimpleImputer(), ["x"])
        ),
        LogisticRegression(),
    )
    model.fit(frame[["x", "color"]], frame["y"])
    assert model.predict(frame[["x", "color"]]).tolist() == frame["y"].tolist()


def test_tsv_and_gzip(tmp_path: Path):
    tsv = _write(tmp_path / "a.tsv", "a\tb\n1\thello, world\n")
    assert readers.read_data(tsv)["b"].tolist() == ["hello, world"]
    gz = tmp_path / "a.csv.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write("a,b\n1,2\n3,4\n")
    assert readers.read_data(gz)["b"].tolist() == [2, 4]


def test_header_only_csv_gives_empty_frame_with_columns(tmp_path: Path):
    frame = readers.read_data(_write(tmp_path / "h.csv", "a,b\n"))
    assert list(frame.columns) == ["a", "b"] and len(frame) == 0


def test_parquet_round_trip_and_max_rows(tmp_path: Path):
    df = pd.DataFrame({"a": np.arange(10), "s": [f"v{i}" for i in range(10)]})
    path = tmp_path / "d.parquet"
    df.to_parquet(path)
    back = readers.read_data(path, max_rows=4)
    assert back["a"].tolist() == [0, 1, 2, 3]
    assert [len(b) for b in readers.iter_batches(path, batch_rows=4)] == [4, 4, 2]


@pytest.mark.parametrize(
    "doc",
    [
        [{"a": 1, "b": "x"}, {"a": 2, "b": None}],
        {"columns": ["a", "b"], "data": [[1, "x"], [2, None]]},
        {"dataframe_split": {"columns": ["a", "b"], "data": [[1, "x"], [2, None]]}},
        {"dataframe_records": [{"a": 1, "b": "x"}, {"a": 2}]},
        {"a": {"0": 1, "1": 2}, "b": {"0": "x", "1": None}},
        {"a": [1, 2], "b": ["x", None]},
        {"inputs": {"a": [1, 2], "b": ["x", None]}},
    ],
)
def test_json_forms_give_the_same_frame(tmp_path: Path, doc):
    frame = readers.read_data(_write(tmp_path / "d.json", json.dumps(doc)))
    assert list(frame.columns) == ["a", "b"]
    assert frame["a"].tolist() == [1, 2]
    assert frame["b"].tolist()[0] == "x" and pd.isna(frame["b"].tolist()[1])


def test_json_tensor_forms(tmp_path: Path):
    arr = readers.read_data(_write(tmp_path / "t.json", json.dumps({"inputs": [[1.0, 2.0], [3.0, 4.0]]})))
    assert isinstance(arr, np.ndarray) and arr.shape == (2, 2)
    values = readers.read_data(_write(tmp_path / "v.json", json.dumps({"data": [[1, 2], [3, 4]]})))
    assert list(values.columns) == [0, 1]  # values orient keeps integer names, as pandas does


def test_json_mixed_column_names_examples(tmp_path: Path):
    path = _write(tmp_path / "m.json", json.dumps([{"a": 1}, {"a": 2}, {"a": "x"}]))
    with pytest.raises(DataFormatError) as info:
        readers.read_data(path)
    assert "column 'a' mixes value types" in info.value.message
    assert "1 at row 0" in info.value.message and "'x' at row 2" in info.value.message


def test_json_split_ragged_row(tmp_path: Path):
    path = _write(tmp_path / "s.json", json.dumps({"columns": ["a", "b"], "data": [[1, 2], [3]]}))
    with pytest.raises(DataFormatError, match="row 1 has 1 fields, expected 2"):
        readers.read_data(path)


def test_jsonl_keeps_columns_seen_earlier_and_later(tmp_path: Path):
    lines = [json.dumps({"a": i}) for i in range(5)] + [json.dumps({"a": 5, "b": "late"})]
    path = _write(tmp_path / "d.jsonl", "\n".join(lines) + "\n")
    batches = list(readers.iter_arrow_batches(path, batch_rows=2))
    assert [b.offset for b in batches] == [0, 2, 4]
    assert batches[-1].batch.schema.names == ["a", "b"]
    frame = readers.read_data(path)
    assert frame["b"].isna().sum() == 5 and frame["b"].tolist()[-1] == "late"


def test_npy_npz_and_batches(tmp_path: Path):
    arr = np.arange(12, dtype="float32").reshape(6, 2)
    np.save(tmp_path / "a.npy", arr)
    np.savez(tmp_path / "b.npz", x=arr, y=np.arange(6))
    assert np.array_equal(readers.read_data(tmp_path / "a.npy"), arr)
    assert readers.read_data(tmp_path / "a.npy", max_rows=2).shape == (2, 2)
    archive = readers.read_data(tmp_path / "b.npz")
    assert sorted(archive) == ["x", "y"]
    assert [len(b) for b in readers.iter_batches(tmp_path / "a.npy", batch_rows=4)] == [4, 2]


def test_iter_arrow_batches_offsets_and_max_rows(tmp_path: Path):
    rows = ["a,b"] + [f"{i},{i * 2}" for i in range(1000)]
    path = _write(tmp_path / "a.csv", "\n".join(rows) + "\n")
    capped = list(readers.iter_arrow_batches(path, max_rows=10))
    assert sum(b.batch.num_rows for b in capped) == 10
    assert all(b.text_source for b in capped)
    with pytest.raises(DataFormatError, match="hold arrays, not tables"):
        list(readers.iter_arrow_batches(path, fmt="npy"))


def _two_block_csv(path: Path, late_value: str, rows: int = 120_000) -> Path:
    """A CSV bigger than one 1 MiB block whose column 'n' changes type near the end."""
    lines = ["id,n,s"] + [f"{i},{i % 97},some text {i}" for i in range(rows)]
    lines[rows - 5] = f"{rows - 6},{late_value},late"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_csv_type_change_late_in_file_resumes_as_text(tmp_path: Path):
    path = _two_block_csv(tmp_path / "late.csv", "abc")
    batches = list(readers.iter_arrow_batches(path))
    assert len(batches) > 1
    assert sum(b.batch.num_rows for b in batches) == 120_000
    assert "n" in batches[-1].text_columns and "n" not in batches[0].text_columns
    frame = readers.read_data(path)  # one consistent type for the whole column
    assert len(frame) == 120_000
    assert frame["n"].tolist()[-6] == "abc" and frame["n"].tolist()[0] == "0"


def test_csv_column_empty_in_first_block_gets_its_type_later(tmp_path: Path):
    lines = ["a,b"] + [f"{i}," for i in range(150_000)] + [f"{i},{i}.5" for i in range(10)]
    path = _write(tmp_path / "late.csv", "\n".join(lines) + "\n")
    frame = readers.read_data(path)
    assert frame["b"].dtype == np.float64
    assert frame["b"].notna().sum() == 10 and frame["b"].tolist()[-1] == 9.5


def test_text_column_type_order():
    import pyarrow as pa

    def kind(values):
        return str(readers.text_column_type(pa.array(values, pa.string())))

    assert kind(["1", "2", None]) == "int64"
    assert kind(["1", "2.5"]) == "double"
    assert kind(["true", "False"]) == "bool"
    # Dates and times stay text, as pandas.read_csv leaves them.
    assert kind(["2024-01-02", "2024-02-03"]) == "string"
    assert kind(["2024-01-02T10:00:00", "2024-01-02"]) == "string"
    assert kind(["1", "x"]) == "string"
    assert kind([None, None]) == "null"


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_text_that_is_not_utf8_is_a_clear_error(tmp_path: Path, suffix: str) -> None:
    from modelpack.schema.infer import infer_file

    path = tmp_path / f"latin{suffix}"
    path.write_bytes(b"\xff\xfe\x00a,b\n1,2\n")
    with pytest.raises(DataFormatError, match="not UTF-8"):
        infer_file(path)


def test_parquet_pandas_metadata_that_contradicts_the_column_is_ignored(tmp_path: Path):
    # The file's pandas metadata says 'color' is text; the column holds lists. Reading it must
    # not crash converting (it did, with ArrowNotImplementedError): the column keeps its Arrow
    # type, for the signature check to report.
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(
        pd.DataFrame({"count": [1, 2], "color": ["red", "blue"]}), preserve_index=False
    )
    table = table.set_column(1, "color", pa.array([[1, 2], [3]]))
    path = tmp_path / "listed.parquet"
    pq.write_table(table, path)
    (frame,) = list(readers.iter_batches(path))
    assert list(frame.columns) == ["count", "color"]
    assert [list(v) for v in frame["color"]] == [[1, 2], [3]]


def test_parquet_with_corrupt_pages_is_a_data_error(tmp_path: Path):
    # The footer reads fine, the column data does not: that was an OSError (exit 70) from
    # inside the batch loop; it is the same clean error as a file that does not open.
    import pyarrow as pa
    import pyarrow.parquet as pq

    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"x": [f"value-{i}" for i in range(500)]}), good, compression="snappy")
    data = good.read_bytes()
    bad = tmp_path / "bad.parquet"
    for offset in range(4, len(data) // 2):  # within the first column chunk, before the footer
        bad.write_bytes(data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1 :])
        try:
            pq.ParquetFile(bad)
            list(pq.ParquetFile(bad).iter_batches())
        except (pa.ArrowException, OSError):
            try:
                pq.ParquetFile(bad)
            except (pa.ArrowException, OSError):
                continue
            break  # opens, then fails while reading: the case under test
    else:
        pytest.fail("no single flipped byte corrupts the pages of this file")
    with pytest.raises(DataFormatError, match="not a readable Parquet file"):
        list(readers.iter_batches(bad))
