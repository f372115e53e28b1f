"""Write predictions batch by batch: CSV, Parquet, JSON (one array) or JSONL.

Memory holds one batch at a time. A file is written under a temporary name beside its target and
renamed into place when the last batch is in, so a failure, Ctrl-C or a closed pipe never leaves
half a file behind. An existing file is replaced only when asked (``--force``), as ``pack`` does.
Floats keep every digit (CSV and Parquet through pyarrow, JSON through Python's shortest
round-trip repr); missing values become empty CSV cells, Parquet nulls or JSON ``null``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final

from modelpack.errors import ConflictError, InputFileError, InvalidModelError, UsageError

if TYPE_CHECKING:
    import pandas as pd

OUTPUT_FORMATS: Final = ("csv", "parquet", "json", "jsonl")
SUFFIX_FORMATS: Final = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
DEFAULT_STREAM_FORMAT: Final = "csv"


def output_format(path: Path | None, fmt: str | None) -> str:
    """The output format: ``fmt`` when given, else from the file suffix, else CSV for streams.

    Raises:
        UsageError: an unknown format, or a suffix that names none.
    """
    if fmt is not None:
        chosen = fmt.lower().lstrip(".")
        if chosen not in OUTPUT_FORMATS:
            raise UsageError(f"unknown output format {fmt!r} (choose from {', '.join(OUTPUT_FORMATS)})")
        return chosen
    if path is None:
        return DEFAULT_STREAM_FORMAT
    found = SUFFIX_FORMATS.get(path.suffix.lower())
    if found is None:
        raise UsageError(
            f"cannot tell the output format from {path.name!r}",
            hint=f"use one of the suffixes {', '.join(SUFFIX_FORMATS)}",
        )
    return found


class RecordCollector:
    """A destination that keeps predictions in memory as JSON-ready records."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []


class FrameWriter:
    """Base class: ``write`` one DataFrame per batch, then ``finish``."""

    def write(self, frame: pd.DataFrame) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Write whatever closes the document (footer, closing bracket)."""


class _ArrowWriter(FrameWriter):
    """Streams batches through a pyarrow writer opened on the first batch's schema."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._writer: Any = None
        self._schema: Any = None

    def write(self, frame: pd.DataFrame) -> None:
        table = _to_arrow(frame, self._schema)
        if self._writer is None:
            self._schema = table.schema
            self._writer = self._open(table.schema)
        self._writer.write_table(table)

    def _open(self, schema: Any) -> Any:
        raise NotImplementedError

    def finish(self) -> None:
        if self._writer is not None:
            self._writer.close()


class _CsvWriter(_ArrowWriter):
    def _open(self, schema: Any) -> Any:
        import pyarrow.csv as pa_csv

        # pyarrow quotes every header name; a csv-module header quotes only when needed.
        header = io.StringIO()
        csv.writer(header, lineterminator="\n").writerow(list(schema.names))
        self._stream.write(header.getvalue().encode("utf-8"))
        options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
        return pa_csv.CSVWriter(self._stream, schema, write_options=options)


class _ParquetWriter(_ArrowWriter):
    def _open(self, schema: Any) -> Any:
        import pyarrow.parquet as pq

        return pq.ParquetWriter(self._stream, schema)

    def finish(self) -> None:
        if self._writer is None:  # no rows at all: still a valid (empty) Parquet file
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.table({}), self._stream)
            return
        super().finish()


class _JsonLinesWriter(FrameWriter):
    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def write(self, frame: pd.DataFrame) -> None:
        lines = [json.dumps(record, allow_nan=False) for record in frame_records(frame)]
        if lines:
            self._stream.write(("\n".join(lines) + "\n").encode("utf-8"))


class _JsonArrayWriter(FrameWriter):
    """One JSON array of records, written incrementally: ``[`` first, ``]`` at the end."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._first = True
        self._stream.write(b"[")

    def write(self, frame: pd.DataFrame) -> None:
        parts = [json.dumps(record, allow_nan=False) for record in frame_records(frame)]
        if not parts:
            return
        lead = "\n" if self._first else ",\n"
        self._first = False
        self._stream.write((lead + ",\n".join(parts)).encode("utf-8"))

    def finish(self) -> None:
        self._stream.write(b"]\n" if self._first else b"\n]\n")


class _CollectingWriter(FrameWriter):
    def __init__(self, collector: RecordCollector) -> None:
        self._collector = collector

    def write(self, frame: pd.DataFrame) -> None:
        self._collector.records.extend(frame_records(frame))


_STREAM_WRITERS: Final = {
    "csv": _CsvWriter,
    "parquet": _ParquetWriter,
    "json": _JsonArrayWriter,
    "jsonl": _JsonLinesWriter,
}


@contextlib.contextmanager
def open_writer(
    dest: Path | BinaryIO | RecordCollector, fmt: str, *, replace: bool = False
) -> Iterator[FrameWriter]:
    """A writer for ``dest``: a file path (published atomically on success), a binary stream, or a collector.

    Args:
        dest: where predictions go.
        fmt: one of ``OUTPUT_FORMATS`` (ignored for a collector).
        replace: replace an existing file at ``dest`` (else it is refused).

    Yields:
        A FrameWriter; call ``write(frame)`` once per batch.

    Raises:
        InputFileError: the output file cannot be created.
        ConflictError: ``dest`` exists and ``replace`` is false.
    """
    if isinstance(dest, RecordCollector):
        writer: FrameWriter = _CollectingWriter(dest)
        yield writer
        writer.finish()
        return
    factory = _STREAM_WRITERS[fmt]
    if not isinstance(dest, Path):
        writer = factory(dest)
        yield writer
        writer.finish()
        dest.flush()
        return
    check_output_file(dest, replace=replace)
    # Ctrl-C raises KeyboardInterrupt between any two steps below, including right after the
    # temporary file appears. Its name is therefore chosen and recorded before it is created (a
    # name known only once ``mkstemp`` returned left the file behind when the signal came first),
    # and everything from then on is inside the block that removes it.
    tmp: str | None = None
    try:
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            while tmp is None:
                tmp = str(dest.parent / f".{dest.name}.{secrets.token_hex(8)}.partial")
                try:
                    # 0o666 less the umask, as any new file: not mkstemp's 0600, which would
                    # hide the output from everyone else.
                    fd = os.open(tmp, _CREATE_FLAGS, 0o666)
                except FileExistsError:
                    tmp = None  # never ours to remove
        except OSError as exc:
            raise InputFileError(f"cannot write {dest}: {exc.strerror}", path=str(dest)) from None
        with os.fdopen(fd, "wb") as stream:
            writer = factory(stream)
            yield writer
            writer.finish()
        _publish(Path(tmp), dest, replace=replace)
    except BaseException:
        while tmp is not None:
            try:
                os.unlink(tmp)  # a str path: no Python code runs before the file is gone
            except FileNotFoundError:
                pass
            except KeyboardInterrupt:
                continue  # a second Ctrl-C during the removal: finish it; the first one propagates
            tmp = None
        raise


_CREATE_FLAGS: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)


def check_output_file(dest: Path, *, replace: bool) -> None:
    """Refuse an output path that is a folder, or an existing file without ``replace``.

    Raises:
        ConflictError: the path is taken (exit 5).
    """
    if dest.is_dir():
        raise ConflictError(f"output {dest} is a folder", hint="give a file name", path=str(dest))
    if dest.exists() and not replace:
        raise ConflictError(
            f"output {dest} exists",
            hint="pass --force to replace it, or choose another --output",
            path=str(dest),
        )


def _publish(tmp: Path, dest: Path, *, replace: bool) -> None:
    """Move the finished file into place; without ``replace``, never over a file made meanwhile."""
    if replace:
        os.replace(tmp, dest)
        return
    try:
        os.link(tmp, dest)  # fails if dest appeared while the predictions were written
    except FileExistsError:
        raise ConflictError(
            f"output {dest} exists",
            hint="pass --force to replace it, or choose another --output",
            path=str(dest),
        ) from None
    except OSError:  # a filesystem without hard links
        check_output_file(dest, replace=False)
        os.replace(tmp, dest)
        return
    tmp.unlink()


def _to_arrow(frame: pd.DataFrame, schema: Any) -> Any:
    """One batch as an Arrow table, cast to the first batch's schema so the file stays uniform."""
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    if schema is None or table.schema.equals(schema):
        return table
    try:
        return table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
        # One file has one schema; a model whose output types drift between batches cannot fill it.
        raise InvalidModelError(
            f"the model's output types changed between batches ({schema} then {table.schema}): {exc}",
            hint="write JSON or JSONL output, which has no fixed column types",
        ) from None


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of ``frame`` as JSON-ready dicts: Python scalars, NaN/NaT as None, datetimes as ISO text."""
    names = [str(c) for c in frame.columns]
    columns = [_json_column(frame.iloc[:, i]) for i in range(frame.shape[1])]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _json_column(series: Any) -> list[Any]:
    import numpy as np

    if not isinstance(series.dtype, np.dtype):  # pandas extension types may hold pd.NA
        return [_json_value(v) for v in series.tolist()]
    kind = series.dtype.kind
    if kind in "iub":
        return list(series.tolist())
    if kind == "f":
        return [None if math.isnan(v) else v for v in series.tolist()]
    if kind == "M":
        return [None if v is None or v != v else v.isoformat() for v in series.tolist()]
    return [_json_value(v) for v in series.tolist()]


def _json_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    item = getattr(value, "item", None)
    if callable(item):
        return _json_value(item())
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return _json_value(tolist())
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
