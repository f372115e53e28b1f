"""Read sample and data files: CSV/TSV, Parquet, JSON, JSONL, NPY/NPZ.

Tabular files are read with pyarrow and streamed as Arrow record batches
(:func:`iter_arrow_batches`); inference and checking work on those directly so they run at the
speed of the parser. :func:`read_data` and :func:`iter_batches` give what a model is fed
(pandas DataFrames, numpy arrays).

CSV details that matter for schemas:

- Every value in a CSV is text. pyarrow types each column from the first block; when a later
  block holds a value that does not fit (``abc`` in an int column, ``7`` in a column that was
  empty so far), the reader resumes at the same row with that column read as text, and the
  batch carries the column name in its ``text_columns``. Consumers parse such columns
  themselves (:func:`text_column_type`), so the result never depends on block boundaries.
- Missing-value tokens are pandas' defaults (``""``, ``NA``, ``null``, ``NaN``, ...), also for
  text columns, so a column is optional exactly when ``pandas.read_csv`` would see a NaN in it.
- Dates and times stay text unless the caller declares a column's type, and column names are
  pandas' (``Unnamed: 0`` for an empty header field, ``a.1`` for a repeated ``a``): models are
  trained on what ``pandas.read_csv`` gives, and a signature must describe that.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

from modelpack import _json
from modelpack.errors import DataFormatError, MissingDependencyError, NotFoundError
from modelpack.schema.signature import ColSpec, Schema

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]
    import pyarrow as pa

FORMATS: Final = ("csv", "tsv", "parquet", "json", "jsonl", "npy", "npz")
TABULAR_FORMATS: Final = ("csv", "tsv", "parquet", "json", "jsonl")
TEXT_FORMATS: Final = ("csv", "tsv")

_SUFFIXES: Final = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".npy": "npy",
    ".npz": "npz",
}
_FORMAT_ALIASES: Final = {"ndjson": "jsonl", "pq": "parquet", "txt": "csv"}

# pandas.read_csv's default missing-value tokens, so "required" means what it means for MLflow.
NULL_TOKENS: Final = (
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
)
TRUE_TOKENS: Final = ("true", "True", "TRUE")
FALSE_TOKENS: Final = ("false", "False", "FALSE")

_CONVERSION_ERROR: Final = re.compile(
    r"In CSV column #(\d+): CSV conversion error to (.+?): invalid value '(.*)'", re.DOTALL
)
_BYTES_PER_ROW_PROBE: Final = 1 << 16
# Measured on a 1M-row, 20-column file: 1 MiB blocks parse as fast as bigger ones and keep the
# peak memory near the size of one block's Arrow data.
_MIN_BLOCK: Final = 1 << 16
_MAX_BLOCK: Final = 1 << 20


def _usage_hint() -> str:
    return "use --format " + "|".join(FORMATS)


def detect_format(path: Path, fmt: str | None = None) -> str:
    """The data format of ``path``: ``fmt`` if given, else from the suffix (``.csv.gz`` is csv).

    Raises:
        DataFormatError: The format is unknown.
    """
    if fmt:
        name = _FORMAT_ALIASES.get(fmt.lower().lstrip("."), fmt.lower().lstrip("."))
        if name not in FORMATS:
            raise DataFormatError(f"unknown format {fmt!r} ({_usage_hint()})")
        return name
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    suffix = suffixes[-1] if suffixes else ""
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    shown = f"'{suffix}'" if suffix else "(no suffix)"
    raise DataFormatError(f"{path.name}: unknown format {shown} ({_usage_hint()})", path=str(path))


def _check_file(path: Path) -> None:
    if not path.exists():
        raise NotFoundError(f"{path} does not exist", path=str(path))
    if path.is_dir():
        raise DataFormatError(f"{path} is a directory, expected a data file", path=str(path))
    if path.stat().st_size == 0:
        raise DataFormatError(f"{path.name} is empty", path=str(path))


def _require_pyarrow(fmt: str) -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        raise MissingDependencyError(f"reading {fmt} files requires pyarrow") from None


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix.lower() == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig")
    return io.TextIOWrapper(path.open("rb"), encoding="utf-8-sig")


# --------------------------------------------------------------------------------------------------
# Arrow batches (the fast path)


@dataclass(frozen=True)
class ArrowBatch:
    """One batch of a tabular file.

    Attributes:
        batch: The Arrow record batch.
        offset: 0-based data row number of the batch's first row in the file.
        text_columns: Columns that hold unparsed CSV text (see the module docstring).
        text_source: True when every value came from text (CSV/TSV), so a string column may be
            parsed as numbers or dates by a consumer that needs them.
    """

    batch: pa.RecordBatch
    offset: int
    text_columns: frozenset[str] = frozenset()
    text_source: bool = False


def iter_arrow_batches(
    path: Path,
    *,
    fmt: str | None = None,
    batch_rows: int = 65536,
    max_rows: int | None = None,
    column_types: Mapping[str, pa.DataType] | None = None,
) -> Iterator[ArrowBatch]:
    """Stream a tabular file as Arrow record batches with memory bounded by ``batch_rows``.

    ``column_types`` tells the CSV parser what to expect (e.g. text for a column a schema says
    is a string, so ``02134`` keeps its leading zero); other formats carry their own types.

    Raises:
        NotFoundError: The file does not exist.
        DataFormatError: Empty, ragged, mis-encoded or unknown format, or not tabular.
    """
    _check_file(path)
    name = detect_format(path, fmt)
    if name not in TABULAR_FORMATS:
        raise DataFormatError(f"{path.name}: {name} files hold arrays, not tables", path=str(path))
    _require_pyarrow(name)
    source: Iterator[ArrowBatch]
    if name in TEXT_FORMATS:
        source = _csv_batches(path, "\t" if name == "tsv" else ",", batch_rows, column_types=column_types)
    elif name == "parquet":
        source = _parquet_batches(path, batch_rows)
    elif name == "jsonl":
        source = _jsonl_batches(path, batch_rows)
    else:
        table = _json_table(path)
        source = iter([ArrowBatch(b, 0) for b in _table_batches(table, batch_rows)])
    try:
        yield from _limit(source, max_rows)
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from None


def _not_utf8(path: Path, exc: UnicodeDecodeError) -> DataFormatError:
    return DataFormatError(
        f"{path.name} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); save it as UTF-8",
        path=str(path),
    )


def _table_batches(table: pa.Table, batch_rows: int) -> list[pa.RecordBatch]:
    batches: list[pa.RecordBatch] = table.to_batches(max_chunksize=max(1, batch_rows))
    if not batches:
        import pyarrow as pa

        batches = [pa.RecordBatch.from_pylist([], schema=table.schema)]
    return batches


def _limit(source: Iterator[ArrowBatch], max_rows: int | None) -> Iterator[ArrowBatch]:
    if max_rows is None:
        yield from source
        return
    for item in source:
        remaining = max_rows - item.offset
        if remaining <= 0:
            return
        if item.batch.num_rows > remaining:
            yield ArrowBatch(item.batch.slice(0, remaining), item.offset, item.text_columns, item.text_source)
            return
        yield item


def _block_size(path: Path, batch_rows: int) -> int:
    """Block size giving at most about ``batch_rows`` rows per CSV batch, from the first 64 KiB."""
    with path.open("rb") as fh:
        head = fh.read(_BYTES_PER_ROW_PROBE)
    lines = max(1, head.count(b"\n"))
    per_row = max(1, len(head) // lines)
    return max(_MIN_BLOCK, min(_MAX_BLOCK, per_row * batch_rows))


def _csv_batches(
    path: Path,
    delimiter: str,
    batch_rows: int,
    text_columns: frozenset[str] = frozenset(),
    *,
    column_types: Mapping[str, pa.DataType] | None = None,
) -> Iterator[ArrowBatch]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    parse = pacsv.ParseOptions(delimiter=delimiter)
    block = _block_size(path, batch_rows) if path.suffix.lower() != ".gz" else _MAX_BLOCK
    overrides: dict[str, pa.DataType] = {name: pa.string() for name in text_columns}
    declared: dict[str, pa.DataType] = dict(column_types or {})
    fixed: dict[str, pa.DataType] = dict(declared)
    names: list[str] | None = None
    renamed: list[str] | None = None  # pandas' names, when the header has empty or repeated ones
    done = 0
    while True:
        read = pacsv.ReadOptions(
            block_size=block,
            skip_rows_after_names=done,
            column_names=renamed,
            skip_rows=1 if renamed is not None else 0,
        )
        convert = pacsv.ConvertOptions(
            column_types={**fixed, **overrides},
            null_values=list(NULL_TOKENS),
            strings_can_be_null=True,
            true_values=list(TRUE_TOKENS) + ["1"],
            false_values=list(FALSE_TOKENS) + ["0"],
        )
        try:
            reader = pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert)
            if names is None:
                names = list(reader.schema.names)
                wanted = pandas_names(names)
                if renamed is None and wanted != names:
                    names, renamed = None, wanted
                    continue  # open again under pandas' names before reading any rows
                fixed = dict(zip(names, reader.schema.types, strict=True))
                _check_binary(path, reader.schema)
                # pandas.read_csv leaves dates and times as text, and models are trained on what
                # it gives: only a declared type (a schema's datetime) parses them.
                temporal = {n for n, t in fixed.items() if _is_temporal(t) and n not in declared}
                if temporal:
                    fixed.update({n: pa.string() for n in temporal})
                    continue
            produced = False
            for batch in reader:
                produced = True
                yield ArrowBatch(batch, done, frozenset(overrides), True)
                done += batch.num_rows
            if not produced and done == 0:  # a header and no rows: keep the column names
                yield ArrowBatch(pa.RecordBatch.from_pylist([], schema=reader.schema), 0, frozenset(), True)
            return
        except pa.ArrowInvalid as exc:
            # A row longer than a block: pyarrow says "straddling", or "empty block" for a header.
            if "straddling object" in str(exc) or "Empty CSV file or block" in str(exc):
                if block < _MAX_BLOCK:
                    block = _MAX_BLOCK
                    continue
                if "straddling object" in str(exc) or _long_line(path, _MAX_BLOCK) is not None:
                    raise _long_row_error(path, done) from None
            column = _culprit(path, exc, names or pandas_names(_header(path, delimiter)), done, delimiter)
            if column in overrides:  # pragma: no cover - text cannot fail to convert to text
                raise DataFormatError(f"{path.name}: {exc}", path=str(path)) from None
            overrides[column] = pa.string()


def _is_temporal(dtype: pa.DataType) -> bool:
    import pyarrow as pa

    t = pa.types
    return bool(t.is_timestamp(dtype) or t.is_date(dtype) or t.is_time(dtype))


def _header(path: Path, delimiter: str) -> list[str]:
    """Column names from the first line (only needed when the first block fails to convert)."""
    try:
        with _open_text(path) as fh:
            return next(csv.reader(fh, delimiter=delimiter), [])
    except (UnicodeDecodeError, csv.Error):
        return []


def _long_row_error(path: Path, done: int) -> DataFormatError:
    """A row longer than the largest block the CSV reader takes, found without parsing the file."""
    limit = _MAX_BLOCK
    line = _long_line(path, limit)
    where = f"line {line}" if line is not None else f"a row after data row {done}"
    return DataFormatError(
        f"{path.name}: {where} is longer than {limit // (1 << 20)} MiB, the longest CSV row modelpack "
        "reads (a missing newline or quote?)",
        path=str(path),
    )


def _long_line(path: Path, limit: int) -> int | None:
    """The 1-based number of the first line longer than ``limit`` bytes, or None."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    line_no, length = 1, 0
    with opener(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            start = 0
            while (end := chunk.find(b"\n", start)) != -1:
                if length + end - start > limit:
                    return line_no
                line_no, length, start = line_no + 1, 0, end + 1
            length += len(chunk) - start
            if length > limit:
                return line_no
    return None


def pandas_names(header: Sequence[str]) -> list[str]:
    """Column names as ``pandas.read_csv`` gives them for this header row.

    An empty name becomes ``Unnamed: N`` (N its 0-based position), and a repeated name ``a``
    becomes ``a.1``, ``a.2``..., skipping suffixes another header field already uses. Names
    written in the header win over generated ``Unnamed: N`` ones, as in pandas.
    """
    names = [name if name != "" else f"Unnamed: {i}" for i, name in enumerate(header)]
    if all(header) and len(set(names)) == len(names):
        return list(header)
    taken = set(names)
    counts: dict[str, int] = {}
    out = list(names)
    written = [i for i, name in enumerate(header) if name != ""]
    generated = [i for i, name in enumerate(header) if name == ""]
    for i in written + generated:
        name = names[i]
        if name not in counts:
            counts[name] = 1
            continue
        k = counts[name]
        while f"{name}.{k}" in taken:
            k += 1
        out[i] = f"{name}.{k}"
        taken.add(out[i])
        counts[name] = k + 1
    return out


def _check_binary(path: Path, schema: pa.Schema) -> None:
    import pyarrow as pa

    for field in schema:
        if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
            raise DataFormatError(
                f"{path.name}: column {field.name!r} is not valid UTF-8 text; save the file as UTF-8",
                path=str(path),
            )


def _culprit(path: Path, exc: Exception, names: list[str] | None, done: int, delimiter: str) -> str:
    """The column a CSV conversion error is about, or a DataFormatError for anything else."""
    message = str(exc)
    if message.startswith("Empty CSV file"):
        raise DataFormatError(f"{path.name} is empty", path=str(path)) from None
    if "CSV parse error" in message and "columns, got" in message:
        raise _ragged_error(path, delimiter, message) from None
    if "invalid UTF8" in message:
        col = re.search(r"column #(\d+)", message)
        which = f" in column {names[int(col.group(1))]!r}" if col and names else ""
        raise DataFormatError(
            f"{path.name}: text is not valid UTF-8{which} (after row {done}); save the file as UTF-8",
            path=str(path),
        ) from None
    match = _CONVERSION_ERROR.search(message)
    if match is None or not names or int(match.group(1)) >= len(names):
        raise DataFormatError(f"{path.name}: {_clip(message)}", path=str(path)) from None
    return names[int(match.group(1))]


def _ragged_error(path: Path, delimiter: str, fallback: str) -> DataFormatError:
    """Find the first row with the wrong number of fields (only on the error path)."""
    with _open_text(path) as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            header = next(reader, [])
            for row_no, row in enumerate(reader):
                if row and len(row) != len(header):
                    return DataFormatError(
                        f"{path.name}: row {row_no} (line {reader.line_num}) has {len(row)} fields, "
                        f"expected {len(header)}",
                        path=str(path),
                    )
        except csv.Error as exc:  # a field longer than the csv module takes
            return DataFormatError(
                f"{path.name}: a row does not have {len(header)} fields, and line {reader.line_num} "
                f"cannot be checked ({exc})",
                path=str(path),
            )
    return DataFormatError(f"{path.name}: {_clip(fallback)}", path=str(path))


def _parquet_batches(path: Path, batch_rows: int) -> Iterator[ArrowBatch]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pfile = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataFormatError(f"{path.name} is not a readable Parquet file: {exc}", path=str(path)) from None
    offset = 0
    produced = False
    try:
        # A valid footer says nothing about the pages: corrupt column data surfaces while reading.
        for batch in pfile.iter_batches(batch_size=batch_rows):
            produced = True
            yield ArrowBatch(batch, offset)
            offset += batch.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise DataFormatError(
            f"{path.name} is not a readable Parquet file (after row {offset}): {exc}", path=str(path)
        ) from None
    if not produced:
        yield ArrowBatch(pa.RecordBatch.from_pylist([], schema=pfile.schema_arrow), 0)


def _jsonl_batches(path: Path, batch_rows: int) -> Iterator[ArrowBatch]:
    """JSON Lines parsed with the stdlib in batches, typed column by column with Arrow.

    pyarrow's own JSON reader fixes column types from the first block and fails on a column that
    was null so far, so typing here follows the same merge rules as everything else.
    """
    offset = 0
    rows: list[dict[str, Any]] = []
    seen: dict[str, None] = {}
    for record in _jsonl_records(path):
        rows.append(record)
        if len(rows) >= batch_rows:
            yield ArrowBatch(_records_batch(path, rows, offset, seen), offset)
            offset += len(rows)
            rows = []
    if rows:
        yield ArrowBatch(_records_batch(path, rows, offset, seen), offset)
    elif offset == 0:
        raise DataFormatError(f"{path.name} is empty (no JSON records)", path=str(path))


def _jsonl_records(path: Path) -> Iterator[dict[str, Any]]:
    line_no = 0
    try:
        with _open_text(path) as fh:
            for line_no, line in enumerate(fh, start=1):  # noqa: B007 - used in the error below
                text = line.strip()
                if not text:
                    continue
                try:
                    record = _json.loads(text, allow_nan=True, max_depth=None)
                except ValueError as exc:
                    msg = getattr(exc, "msg", str(exc))
                    raise DataFormatError(
                        f"{path.name}: line {line_no} is not valid JSON ({msg})", path=str(path)
                    ) from None
                if not isinstance(record, dict):
                    raise DataFormatError(
                        f"{path.name}: line {line_no} is not a JSON object (JSON Lines holds one record per line)",
                        path=str(path),
                    )
                yield record
    except UnicodeDecodeError:
        raise DataFormatError(
            f"{path.name}: line {line_no + 1} is not valid UTF-8 text; save the file as UTF-8", path=str(path)
        ) from None


def _records_batch(
    path: Path, rows: list[dict[str, Any]], offset: int, seen: dict[str, None]
) -> pa.RecordBatch:
    """One batch of records; columns seen in earlier batches are kept (as nulls) in order."""
    names = seen
    for row in rows:
        for key in row:
            names.setdefault(key, None)
    columns = {name: [row.get(name) for row in rows] for name in names}
    return _columns_batch(path, columns, offset)


def _columns_batch(path: Path, columns: dict[Any, list[Any]], offset: int) -> pa.RecordBatch:
    import pyarrow as pa

    arrays = []
    for name, values in columns.items():
        _check_nesting(path, name, values)
        try:
            arrays.append(pa.array(values, from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
            raise mixed_types_error(path.name, name, values, offset) from None
    return pa.RecordBatch.from_arrays(arrays, names=[str(n) for n in columns])


def _check_nesting(path: Path, column: Any, values: list[Any]) -> None:
    """Refuse a column whose values nest lists or objects deeper than modelpack reads.

    Inference, conformance and pyarrow recurse once per level, so a value nested hundreds deep
    (which the JSON parser accepts) would crash them; one C-level pass finds the columns that
    hold any list or object at all, and only those are walked.
    """
    kinds = set(map(type, values))
    if list not in kinds and dict not in kinds:
        return
    try:
        _json.check_depth(values, _json.MAX_DEPTH)
    except ValueError:
        raise DataFormatError(
            f"{path.name}: column {column!r} holds values nested deeper than {_json.MAX_DEPTH - 1} levels",
            path=str(path),
        ) from None


def mixed_types_error(where: str, column: Any, values: Sequence[Any], offset: int = 0) -> DataFormatError:
    """The error for a column whose values have different types, with one example of each."""
    examples: dict[str, tuple[int, Any]] = {}
    for i, value in enumerate(values):
        if value is None or (isinstance(value, float) and value != value):
            continue
        kind = _kind(value)
        if kind not in examples:
            examples[kind] = (offset + i, value)
        if len(examples) >= 4:
            break
    if len(examples) < 2:
        big = [
            (offset + i, v) for i, v in enumerate(values) if isinstance(v, int) and not isinstance(v, bool)
        ]
        if big:
            row, value = max(big, key=lambda rv: abs(rv[1]))
            return DataFormatError(
                f"{where}: column {column!r} holds an integer too large for 64 bits ({value} at row {row})"
            )
        return DataFormatError(f"{where}: column {column!r} holds values of a type that cannot be read")
    shown = ", ".join(f"{kind} (e.g. {value!r} at row {row})" for kind, (row, value) in examples.items())
    return DataFormatError(
        f"{where}: column {column!r} mixes value types: {shown}",
        hint="give every value of a column one type (or quote numbers as text)",
    )


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


# --------------------------------------------------------------------------------------------------
# JSON documents


def _load_json(path: Path) -> Any:
    try:
        with _open_text(path) as fh:
            text = fh.read()
    except UnicodeDecodeError:
        raise DataFormatError(f"{path.name} is not valid UTF-8 text", path=str(path)) from None
    if not text.strip():
        raise DataFormatError(f"{path.name} is empty", path=str(path))
    try:
        return _json.loads(text, allow_nan=True, max_depth=None)
    except ValueError as exc:
        msg = getattr(exc, "msg", str(exc))
        line = getattr(exc, "lineno", None)
        at = f" at line {line}" if line else ""
        hint = "JSON Lines files should end in .jsonl" if "Extra data" in msg else None
        raise DataFormatError(
            f"{path.name} is not valid JSON{at} ({msg})", path=str(path), hint=hint
        ) from None


def _json_columns(path: Path, doc: Any, depth: int = 0) -> dict[Any, list[Any]] | None:
    """Columns of a JSON document in records, split, columns or serving-input form; None if a tensor."""
    if depth > 2:  # {"inputs": {"dataframe_split": ...}} is the deepest wrapping there is
        raise DataFormatError(f"{path.name}: the data is wrapped in too many objects", path=str(path))
    if isinstance(doc, dict):
        for key in ("dataframe_split", "dataframe_records"):
            if key in doc:
                return _json_columns(path, doc[key], depth + 1)
        for key in ("inputs", "instances"):
            if key in doc and len(doc) <= 2:  # {"inputs": ..., "params": ...}
                inner = doc[key]
                if isinstance(inner, dict) or (
                    isinstance(inner, list) and inner and isinstance(inner[0], dict)
                ):
                    return _json_columns(path, inner, depth + 1)
                return None
        if "columns" in doc and "data" in doc:
            return _split_columns(path, doc["columns"], doc["data"])
        if "data" in doc and isinstance(doc["data"], list) and set(doc) <= {"data", "index"}:
            rows = doc["data"]
            width = len(rows[0]) if rows and isinstance(rows[0], list) else 1
            return _split_columns(path, list(range(width)), rows)
        if doc and all(isinstance(v, dict) for v in doc.values()):  # pandas orient="columns"
            index: dict[str, None] = {}
            for col in doc.values():
                for key in col:
                    index.setdefault(key, None)
            return {name: [col.get(i) for i in index] for name, col in doc.items()}
        if doc and all(isinstance(v, list) for v in doc.values()):
            lengths = {len(v) for v in doc.values()}
            if len(lengths) > 1:
                raise DataFormatError(
                    f"{path.name}: columns have different lengths {sorted(lengths)}", path=str(path)
                )
            return dict(doc)
        if doc:
            return {name: [value] for name, value in doc.items()}  # one record
        raise DataFormatError(f"{path.name} holds an empty JSON object", path=str(path))
    if isinstance(doc, list):
        if not doc:
            raise DataFormatError(f"{path.name} holds an empty JSON list", path=str(path))
        if all(isinstance(r, dict) for r in doc):
            names: dict[str, None] = {}
            for record in doc:
                for key in record:
                    names.setdefault(key, None)
            return {name: [r.get(name) for r in doc] for name in names}
        if any(isinstance(r, dict) for r in doc):
            raise DataFormatError(
                f"{path.name}: a JSON list must hold only records (objects)", path=str(path)
            )
        return None
    raise DataFormatError(
        f"{path.name}: expected a JSON object or list, got {type(doc).__name__}", path=str(path)
    )


def _split_columns(path: Path, columns: Any, data: Any) -> dict[Any, list[Any]]:
    if not isinstance(columns, list) or not isinstance(data, list):
        raise DataFormatError(f"{path.name}: 'columns' and 'data' must be lists", path=str(path))
    if len(set(map(str, columns))) != len(columns):
        raise DataFormatError(f"{path.name}: duplicate names in 'columns'", path=str(path))
    out: dict[Any, list[Any]] = {name: [] for name in columns}
    for i, row in enumerate(data):
        if not isinstance(row, list):
            row = [row]
        if len(row) != len(columns):
            raise DataFormatError(
                f"{path.name}: row {i} has {len(row)} fields, expected {len(columns)}", path=str(path)
            )
        for name, value in zip(columns, row, strict=True):
            out[name].append(value)
    return out


def _json_table(path: Path) -> pa.Table:
    import pyarrow as pa

    doc = _load_json(path)
    columns = _json_columns(path, doc)
    if columns is None:
        raise DataFormatError(
            f"{path.name} holds an array, not records; use it as a tensor input (read_data)", path=str(path)
        )
    return pa.Table.from_batches([_columns_batch(path, columns, 0)])


def _json_value(path: Path, *, max_rows: int | None) -> pd.DataFrame | np.ndarray:
    import numpy as np

    doc = _load_json(path)
    columns = _json_columns(path, doc)
    if columns is not None:
        batch = _columns_batch(path, columns, 0)
        frame = batch_to_pandas(batch)
        _restore_names(frame, list(columns))
        return frame.head(max_rows) if max_rows is not None else frame
    inner = doc["inputs"] if isinstance(doc, dict) and "inputs" in doc else doc
    if isinstance(doc, dict) and "instances" in doc:
        inner = doc["instances"]
    try:
        arr = np.asarray(inner)
    except ValueError as exc:
        raise DataFormatError(f"{path.name}: nested lists are ragged ({exc})", path=str(path)) from None
    if arr.ndim == 0:
        raise DataFormatError(f"{path.name} holds a single value, not rows of input", path=str(path))
    return arr[:max_rows] if max_rows is not None else arr


def _restore_names(frame: pd.DataFrame, names: list[Any]) -> None:
    """Keep integer column names (values-orient JSON) as integers, as pandas and MLflow do."""
    if any(not isinstance(n, str) for n in names):
        frame.columns = names


# --------------------------------------------------------------------------------------------------
# pandas / numpy results


def batch_to_pandas(batch: pa.RecordBatch | pa.Table, *, text: bool = False) -> pd.DataFrame:
    """Arrow to the DataFrame a model is fed: as pandas reads the same file.

    Ints with missing values become float64 with NaN and text becomes pandas' default string
    dtype (``str`` in pandas 3, ``object`` before), both of which scikit-learn accepts. For
    CSV/TSV (``text``), a missing value in an ``object`` column (booleans with gaps, text before
    pandas 3) is NaN, as ``pandas.read_csv`` gives, not Arrow's None: imputers and tree models
    treat NaN as missing and may refuse None.

    The pandas metadata a Parquet file carries is a hint written by whoever made the file: when
    it names a dtype the column cannot take (a list column said to be text), the column is
    converted from its Arrow type instead, and the signature check reports the mismatch.
    """
    import pyarrow as pa

    try:
        frame: pd.DataFrame = batch.to_pandas()
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
        frame = batch.to_pandas(ignore_metadata=True)
    if text:
        for name in frame.columns:
            column = frame[name]
            if column.dtype == object and column.isna().any():
                frame[name] = column.where(column.notna(), float("nan"))
    return frame


def _arrays_value(path: Path, name: str) -> np.ndarray | dict[str, np.ndarray]:
    return load_npy(path) if name == "npy" else _load_npz(path)


def load_npy(path: Path, *, mmap: bool = False) -> np.ndarray:
    """The array of an ``.npy`` file (memory-mapped with ``mmap``), its header checked first.

    The header must be well formed, describe an array of at least one dimension holding no
    Python objects, and claim no more bytes than the file holds: a header claiming a shape of
    ``(10**12, 3)`` is refused before anything is allocated.

    Raises:
        NotFoundError: the file does not exist.
        DataFormatError: anything else wrong with the file.
    """
    import numpy as np

    _check_file(path)
    with path.open("rb") as fh:
        nbytes = _npy_header(fh, path.stat().st_size, path.name, path)
    try:
        if mmap and nbytes:
            mapped: np.ndarray = np.load(path, mmap_mode="r", allow_pickle=False)
            return mapped
        arr: np.ndarray = np.load(path, allow_pickle=False)
        return arr
    except (ValueError, OSError, EOFError) as exc:
        raise DataFormatError(
            f"{path.name} is not a valid .npy file: {_one_line(exc)}", path=str(path)
        ) from None


def _npy_header(fh: IO[bytes], size: int, what: str, path: Path) -> int:
    """Check the ``.npy`` header at the start of ``fh`` (``size`` bytes long); the data's size."""
    import numpy as np
    from numpy.lib import format as npy_format

    def bad(why: str) -> DataFormatError:
        return DataFormatError(f"{what} is not a valid .npy file: {why}", path=str(path))

    try:
        version = npy_format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = npy_format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, _, dtype = npy_format.read_array_header_2_0(fh)
        else:
            raise bad(f"format version {version[0]}.{version[1]} is not one modelpack reads")
    except (ValueError, EOFError, OSError, SyntaxError, TypeError) as exc:
        raise bad(f"malformed header ({_one_line(exc)})") from None
    if dtype.hasobject:
        raise DataFormatError(f"{what} holds Python objects (pickled); refusing to load it", path=str(path))
    if not shape:
        raise DataFormatError(
            f"{what} holds a single value (a 0-dimensional array), not rows of input", path=str(path)
        )
    if any(dim < 0 for dim in shape):
        raise bad(f"its header claims shape {tuple(shape)}")
    count = 1
    for dim in shape:
        count *= dim
    nbytes = count * dtype.itemsize
    available = size - fh.tell()
    if nbytes > available:
        raise bad(
            f"its header claims shape {tuple(shape)} of {np.dtype(dtype).name} ({nbytes} bytes) "
            f"but it holds {max(available, 0)} bytes of data"
        )
    return nbytes


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` archive, each member's header checked as in :func:`load_npy`."""
    import zipfile
    import zlib

    from numpy.lib import format as npy_format

    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            if not members:
                raise DataFormatError(f"{path.name} holds no arrays (an empty archive)", path=str(path))
            for info in members:
                what = f"{path.name}:{info.filename}"
                if not info.filename.endswith(".npy"):
                    raise DataFormatError(f"{what} is not an .npy array", path=str(path))
                with archive.open(info) as fh:
                    _npy_header(fh, info.file_size, what, path)
                with archive.open(info) as fh:
                    arrays[info.filename[: -len(".npy")]] = npy_format.read_array(fh, allow_pickle=False)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise DataFormatError(
            f"{path.name} is not a valid .npz file: {_one_line(exc)}", path=str(path)
        ) from None
    except (NotImplementedError, RuntimeError) as exc:  # an unknown compression, an encrypted member
        raise DataFormatError(f"{path.name} cannot be read: {_one_line(exc)}", path=str(path)) from None
    return arrays


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _clip(message: str, limit: int = 300) -> str:
    """A parser's message on one line and short: pyarrow quotes the offending row whole."""
    text = " ".join(message.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_data(
    path: Path, *, fmt: str | None = None, max_rows: int | None = None
) -> pd.DataFrame | np.ndarray | dict[str, np.ndarray]:
    """Read a whole data file as a model input.

    Returns:
        A DataFrame for CSV/TSV/Parquet/JSON records/JSONL, an ndarray for NPY (and JSON arrays),
        a dict of name to ndarray for NPZ.

    Raises:
        NotFoundError: The file does not exist.
        DataFormatError: Empty, ragged, mis-encoded, mixed-type or unknown format.
    """
    _check_file(path)
    name = detect_format(path, fmt)
    if name in ("npy", "npz"):
        value = _arrays_value(path, name)
        if max_rows is None:
            return value
        if isinstance(value, dict):
            return {k: v[:max_rows] for k, v in value.items()}
        return value[:max_rows]
    if name == "json":
        return _json_value(path, max_rows=max_rows)
    import pyarrow as pa

    batches = list(iter_arrow_batches(path, fmt=name, max_rows=max_rows))
    text = frozenset().union(*(b.text_columns for b in batches))
    if text:  # a column changed type mid-file: read it again as text from the start
        delimiter = "\t" if name == "tsv" else ","
        batches = list(_limit(_csv_batches(path, delimiter, 65536, text), max_rows))
    table = pa.Table.from_batches([b.batch for b in batches])
    if text:
        table = _settle_text_columns(table, text)
    return batch_to_pandas(table, text=name in TEXT_FORMATS)


def _settle_text_columns(table: pa.Table, text: frozenset[str]) -> pa.Table:
    """Give CSV columns that changed type mid-file one type for the whole table."""
    import pyarrow as pa

    for name in text:
        idx = table.schema.get_field_index(name)
        chunks = [c if pa.types.is_string(c.type) else c.cast(pa.string()) for c in table.column(idx).chunks]
        column = pa.chunked_array(chunks, type=pa.string())
        target = text_column_type(column.combine_chunks())
        table = table.set_column(idx, name, parse_text(column.combine_chunks(), target))
    return table


def iter_batches(
    path: Path, *, fmt: str | None = None, batch_rows: int = 65536
) -> Iterator[pd.DataFrame | np.ndarray | dict[str, np.ndarray]]:
    """Stream a data file in batches of at most about ``batch_rows`` rows.

    JSON documents are one batch. NPY files are memory-mapped and sliced.

    Raises:
        NotFoundError: The file does not exist.
        DataFormatError: As for :func:`read_data`.
    """
    _check_file(path)
    name = detect_format(path, fmt)
    if name == "json":
        yield _json_value(path, max_rows=None)
        return
    if name == "npy":
        import numpy as np

        arr = load_npy(path, mmap=True)
        for start in range(0, max(len(arr), 1), batch_rows):
            yield np.asarray(arr[start : start + batch_rows])
        return
    if name == "npz":
        yield _arrays_value(path, name)
        return
    for item in iter_arrow_batches(path, fmt=name, batch_rows=batch_rows):
        batch = item.batch
        for column in item.text_columns:
            idx = batch.schema.get_field_index(column)
            arr = batch.column(idx)
            batch = batch.set_column(idx, column, parse_text(arr, text_column_type(arr)))
        yield batch_to_pandas(batch, text=item.text_source)


# --------------------------------------------------------------------------------------------------
# text columns


def text_column_type(arr: pa.Array) -> pa.DataType:
    """The type the CSV reader gives this text, tried in pyarrow's order.

    null (all missing) -> int64 -> boolean -> float64 -> string. Dates and times stay text,
    as in ``pandas.read_csv`` (see :func:`_csv_batches`).
    """
    import pyarrow as pa

    if arr.null_count == len(arr):
        return pa.null()
    values = arr.drop_null()
    for target in (pa.int64(), pa.bool_()):
        if _parses(values, target):
            return target
    if _parses(values, pa.float64()):
        return pa.float64()
    return pa.string()


def _parses(values: pa.Array, target: pa.DataType) -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_boolean(target):
        allowed = pa.array(list(TRUE_TOKENS + FALSE_TOKENS + ("1", "0")))
        return bool(pc.all(pc.is_in(values, value_set=allowed)).as_py() is not False)
    try:
        values.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def parse_text(arr: pa.Array | pa.ChunkedArray, target: pa.DataType) -> pa.Array | pa.ChunkedArray:
    """Convert text to ``target`` (from :func:`text_column_type`); text stays text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(target):
        return arr
    if pa.types.is_null(target):
        return arr.cast(pa.float64())  # an all-missing CSV column is float NaN in pandas
    if pa.types.is_boolean(target):
        truthy = pc.is_in(arr, value_set=pa.array(list(TRUE_TOKENS) + ["1"]))
        return pc.if_else(pc.is_null(arr), pa.scalar(None, pa.bool_()), truthy)
    return arr.cast(target)


# ---------------------------------------------------------------------------------------------
# Input as a signature types it

_CSV_TYPES: Final = {
    "boolean": "bool_",
    "integer": "int64",
    "long": "int64",
    "float": "float64",
    "double": "float64",
    "string": "string",
    "binary": "string",
}


def _csv_column_types(schema: Schema | None) -> dict[str, Any]:
    if schema is None or schema.is_tensor_spec() or not schema.has_names():
        return {}
    import pyarrow as pa

    types: dict[str, Any] = {}
    for spec in schema.specs:
        if not isinstance(spec, ColSpec) or not isinstance(spec.type, str):
            continue
        if spec.type == "datetime":
            types[str(spec.name)] = pa.timestamp("ns")
        elif spec.type in _CSV_TYPES:
            types[str(spec.name)] = getattr(pa, _CSV_TYPES[spec.type])()
    return types


def input_batches(
    path: Path, *, schema: Schema | None, fmt: str | None = None, batch_rows: int
) -> Iterator[Any]:
    """A data file in batches, as a model will get them (before conforming): what ``predict``,
    ``validate`` and ``pack`` (for its sample) all read.

    CSV and TSV columns are parsed as the input signature types them; other formats carry
    their own types.

    Raises:
        NotFoundError: the file does not exist.
        DataFormatError: the file cannot be read.
    """
    name = detect_format(path, fmt)
    types = _csv_column_types(schema) if name in ("csv", "tsv") else {}
    if not types:
        yield from iter_batches(path, fmt=name, batch_rows=batch_rows)
        return
    for item in iter_arrow_batches(path, fmt=name, batch_rows=batch_rows, column_types=types):
        batch = item.batch
        for column in item.text_columns:
            idx = batch.schema.get_field_index(column)
            arr = batch.column(idx)
            batch = batch.set_column(idx, column, parse_text(arr, text_column_type(arr)))
        yield batch_to_pandas(batch, text=True)
