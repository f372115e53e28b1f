"""Schema inference: from data files (streaming, via Arrow) and from in-memory objects.

The rules are MLflow's (``mlflow.models.infer_signature`` on what pandas reads from the same
file), so a signature records the form the model was trained on and MLflow can enforce it:

- integers with missing values are ``double`` (optional): pandas holds them as float64 with
  NaN, and MLflow cannot put a missing value into a ``long`` column; booleans with missing
  values stay ``boolean`` (optional), as in MLflow;
- text in CSV/TSV/JSON/JSONL is ``string``, ISO dates included (pandas leaves them as text);
  Parquet/Arrow timestamps and dates are ``datetime``.

With these fixes:

- a column with missing values is ``required: false``, whatever its type;
- a column whose values have different types is an error naming the column with examples,
  instead of MLflow's silent fallback of the *whole* schema to one unnamed ``any`` column;
- ``uint64`` columns are ``long`` when their values fit (MLflow gives up on the whole schema).

Files are read batch by batch, so memory stays bounded whatever the file size. Per-batch types
are merged: ``integer`` + ``long`` -> ``long``, integers + floats -> ``double``, a column that is
only missing so far takes the next type it meets; anything else that disagrees is the mixed-type
error (or, for CSV text, ``string``, as pandas would read a column that is not all numbers).
"""

from __future__ import annotations

import datetime as _dt
import decimal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from modelpack.errors import DataFormatError
from modelpack.schema.signature import ColSpec, Schema, TensorSpec, TypeSpec, type_text

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from modelpack.schema.readers import ArrowBatch

_INT_RANK: Final = {"integer": 0, "long": 1}
_FLOAT_RANK: Final = {"float": 0, "double": 1}
_INT64_MAX: Final = 2**63 - 1
_NUMBER: Final = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"


class _Mixed(Exception):
    """Two types in one column that cannot be merged."""


# --------------------------------------------------------------------------------------------------
# Arrow type -> MLflow type


def arrow_to_type(dtype: pa.DataType, column: Any = None) -> TypeSpec | None:
    """The MLflow column type of an Arrow type; None for the null type (no values seen).

    Raises:
        DataFormatError: For types MLflow signatures cannot describe (time of day, durations...).
    """
    import pyarrow as pa

    t = pa.types
    if t.is_null(dtype):
        return None
    if t.is_boolean(dtype):
        return "boolean"
    if t.is_integer(dtype):
        # As MLflow: itemsize < 4, and int32, are "integer"; unsigned 32-bit needs "long".
        if dtype.bit_width < 32 or dtype == pa.int32():
            return "integer"
        return "long"
    if t.is_float16(dtype) or t.is_float32(dtype):
        return "float"
    if t.is_float64(dtype) or t.is_decimal(dtype):
        return "double"
    if t.is_string(dtype) or t.is_large_string(dtype) or _is_string_view(dtype):
        return "string"
    if t.is_binary(dtype) or t.is_large_binary(dtype) or t.is_fixed_size_binary(dtype):
        return "binary"
    if t.is_timestamp(dtype) or t.is_date(dtype):
        return "datetime"
    if t.is_dictionary(dtype):
        return arrow_to_type(dtype.value_type, column)
    if t.is_list(dtype) or t.is_large_list(dtype) or t.is_fixed_size_list(dtype) or _is_list_view(dtype):
        return {"type": "array", "items": _item(arrow_to_type(dtype.value_type, column))}
    if t.is_map(dtype):
        if not (t.is_string(dtype.key_type) or t.is_large_string(dtype.key_type)):
            raise DataFormatError(f"column {column!r}: map keys must be strings, got {dtype.key_type}")
        return {"type": "map", "values": _item(arrow_to_type(dtype.item_type, column))}
    if t.is_struct(dtype):
        if dtype.num_fields == 0:
            return "any"
        props = {}
        for i in range(dtype.num_fields):
            fld = dtype.field(i)
            props[fld.name] = {**_item(arrow_to_type(fld.type, column)), "required": True}
        return {"type": "object", "properties": props}
    raise DataFormatError(
        f"column {column!r} has type {dtype}, which MLflow signatures cannot describe",
        hint="convert it to text, a number or a timestamp first",
    )


def _is_string_view(dtype: pa.DataType) -> bool:
    check = getattr(__import__("pyarrow").types, "is_string_view", None)
    return bool(check(dtype)) if check else False


def _is_list_view(dtype: pa.DataType) -> bool:
    import pyarrow as pa

    checks = [getattr(pa.types, n, None) for n in ("is_list_view", "is_large_list_view")]
    return any(bool(c(dtype)) for c in checks if c is not None)


def _item(spec: TypeSpec | None) -> dict[str, Any]:
    if spec is None:
        return {"type": "any"}
    return {"type": spec} if isinstance(spec, str) else dict(spec)


def _array_type(arr: pa.Array | pa.ChunkedArray, column: Any) -> TypeSpec | None:
    """Type of one Arrow array, with object properties marked optional where values miss."""
    spec = arrow_to_type(arr.type, column)
    if isinstance(spec, dict):
        spec = _refine_nested(arr, spec)
    return spec


def _refine_nested(arr: Any, spec: dict[str, Any]) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    kind = spec["type"]
    if kind == "object" and pa.types.is_struct(arr.type):
        valid = arr.is_valid()
        props = dict(spec["properties"])
        for i in range(arr.type.num_fields):
            name = arr.type.field(i).name
            child = pc.struct_field(arr, [i])
            child_spec = (
                _refine_nested(child, props[name])
                if props[name]["type"] in ("object", "array", "map")
                else props[name]
            )
            missing = pc.sum(pc.and_(valid, child.is_null())).as_py() or 0
            props[name] = {**child_spec, "required": bool(props[name].get("required", True)) and missing == 0}
        return {"type": "object", "properties": props}
    if kind == "array" and hasattr(arr, "flatten") and isinstance(spec["items"], dict):
        items = spec["items"]
        if items.get("type") in ("object", "array", "map"):
            inner = _refine_nested(arr.flatten(), {k: v for k, v in items.items() if k != "required"})
            return {"type": "array", "items": inner}
    if kind == "map" and pa.types.is_map(arr.type):
        values = spec["values"]
        if values.get("type") in ("object", "array", "map"):
            inner = _refine_nested(arr.items, {k: v for k, v in values.items() if k != "required"})
            return {"type": "map", "values": inner}
    return spec


def _missing(arr: pa.Array | pa.ChunkedArray) -> int:
    """Nulls plus float NaNs (MLflow, through pandas, counts NaN as missing)."""
    import pyarrow as pa

    count: int = arr.null_count
    if pa.types.is_floating(arr.type) and len(arr) > count:
        chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
        count += sum(nan_count(chunk) for chunk in chunks)
    return count


def nan_count(arr: pa.Array) -> int:
    """NaN values among the valid entries of a float array.

    Reads the buffers with numpy: ``pyarrow.compute`` costs a noticeable import on the
    ``modelpack schema`` path and ``to_numpy`` on an array with nulls pulls in pandas.
    """
    import numpy as np

    buffers = arr.buffers()
    if len(arr) == 0 or buffers[1] is None:
        return 0
    width = {16: np.float16, 32: np.float32, 64: np.float64}[arr.type.bit_width]
    values = np.frombuffer(buffers[1], dtype=width)[arr.offset : arr.offset + len(arr)]
    nan = np.isnan(values)
    if arr.null_count and buffers[0] is not None:
        bits = np.unpackbits(np.frombuffer(buffers[0], dtype=np.uint8), bitorder="little")
        nan &= bits[arr.offset : arr.offset + len(arr)].astype(bool)
    return int(nan.sum())


# --------------------------------------------------------------------------------------------------
# merging


def merge_types(a: TypeSpec | None, b: TypeSpec | None, *, text: bool = False) -> TypeSpec | None:
    """Merge the types of two parts of one column (None = only missing values so far).

    Raises:
        _Mixed: The types disagree (in text sources this never happens: text wins).
    """
    if a is None:
        return b
    if b is None or a == b:
        return a
    if isinstance(a, str) and isinstance(b, str):
        if a in _INT_RANK and b in _INT_RANK:
            return "long"
        if a in _FLOAT_RANK and b in _FLOAT_RANK:
            return "double"
        if {a, b} <= {*_INT_RANK, *_FLOAT_RANK}:
            return "double"
        if "any" in (a, b):
            return b if a == "any" else a
        if text:
            return "string"
        raise _Mixed
    if isinstance(a, dict) and isinstance(b, dict) and a["type"] == b["type"]:
        try:
            return _merge_complex(a, b)
        except _Mixed:
            if text:
                return "string"
            raise
    if text:
        return "string"
    raise _Mixed


def _merge_complex(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    kind = a["type"]
    if kind in ("array", "map"):
        key = "items" if kind == "array" else "values"
        merged = merge_types(_unwrap(a[key]), _unwrap(b[key]))
        return {"type": kind, key: _item(merged)}
    pa_, pb = a["properties"], b["properties"]
    props: dict[str, Any] = {}
    for name in sorted(set(pa_) | set(pb)):
        if name in pa_ and name in pb:
            merged = merge_types(_unwrap(pa_[name]), _unwrap(pb[name]))
            required = bool(pa_[name]["required"] and pb[name]["required"])
        else:
            merged = _unwrap((pa_ if name in pa_ else pb)[name])
            required = False
        props[name] = {**_item(merged), "required": required}
    return {"type": "object", "properties": props}


def _unwrap(nested: Mapping[str, Any]) -> TypeSpec:
    name = nested["type"]
    if name in ("array", "object", "map"):
        return {k: v for k, v in nested.items() if k != "required"}
    return str(name)


# --------------------------------------------------------------------------------------------------
# files


@dataclass
class _Column:
    name: str
    type: TypeSpec | None = None
    missing: int = 0
    first_row: int = 0
    settled_text: bool = False
    last_arrow: Any = None  # the Arrow type of the previous batch, when it settled nothing new
    examples: dict[str, tuple[int, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class FileInference:
    """What inference found in a data file.

    Attributes:
        schema: The inferred schema.
        rows: Rows read (all of them unless ``sample_rows`` capped it).
        format: The data format read.
        warnings: Things worth knowing (e.g. a CSV column typed as text because of a few values).
    """

    schema: Schema
    rows: int
    format: str
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema.to_list(),
            "rows": self.rows,
            "format": self.format,
        }


def infer_file(
    path: Path, *, fmt: str | None = None, sample_rows: int | None = None, batch_rows: int = 65536
) -> FileInference:
    """Infer the schema of a data file, streaming over it in batches.

    Args:
        path: CSV/TSV/Parquet/JSON/JSONL/NPY/NPZ file.
        fmt: Format name overriding the suffix.
        sample_rows: Read at most this many rows (default: the whole file).
        batch_rows: Rows per batch (bounds memory).

    Raises:
        NotFoundError: The file does not exist.
        DataFormatError: The file cannot be read, has no rows, or a column mixes value types.
    """
    from modelpack.schema import readers

    name = readers.detect_format(path, fmt)
    if name in ("npy", "npz"):
        return _infer_array_file(path, name)
    if name == "json":
        value = readers.read_data(path, fmt=name, max_rows=sample_rows)
        if _is_ndarray(value):
            return FileInference(_tensor_schema(value), len(value), name)
        # Records: go through Arrow like the other formats.
    columns: dict[str, _Column] = {}
    rows = 0
    text_source = False
    names_order: list[str] = []
    for item in readers.iter_arrow_batches(path, fmt=name, batch_rows=batch_rows, max_rows=sample_rows):
        text_source = item.text_source
        _absorb(path, item, columns, names_order)
        rows = item.offset + item.batch.num_rows
    if not names_order:
        raise DataFormatError(f"{path.name} has no columns", path=str(path))
    if rows == 0:
        raise DataFormatError(
            f"{path.name} has column names but no data rows; cannot infer column types", path=str(path)
        )
    specs = []
    warnings: list[str] = []
    for col_name in names_order:
        col = columns[col_name]
        col_type = col.type
        if col_type is None:
            # Nothing but missing values: pandas reads such a CSV column as float NaN, and MLflow
            # calls an all-None column "any".
            col_type = "double" if text_source else "any"
            warnings.append(f"column {col_name!r} has no values; typed as {col_type}")
        if col.settled_text and len(col.examples) > 1:
            shown = ", ".join(
                f"{kind} (e.g. {value!r} at row {row})" for kind, (row, value) in col.examples.items()
            )
            warnings.append(f"column {col_name!r} typed as string because it mixes {shown}")
        required = col.missing == 0 and col.first_row == 0
        specs.append(ColSpec(_with_gaps(col_type, required), col_name, required))
    return FileInference(Schema(specs), rows, name, tuple(warnings))


def _with_gaps(spec: TypeSpec, required: bool) -> TypeSpec:
    """Integers with missing values are ``double``: the float64-with-NaN column pandas gives the
    model, and the only numeric type MLflow's enforcement lets hold a missing value."""
    return "double" if not required and isinstance(spec, str) and spec in _INT_RANK else spec


def infer_schema_from_file(path: Path, *, fmt: str | None = None, sample_rows: int | None = None) -> Schema:
    """Infer the schema of a data file (see :func:`infer_file`), streaming over the whole file.

    Raises:
        NotFoundError: The file does not exist.
        DataFormatError: The file cannot be read, has no rows, or a column mixes value types.
    """
    return infer_file(path, fmt=fmt, sample_rows=sample_rows).schema


def _absorb(path: Path, item: ArrowBatch, columns: dict[str, _Column], order: list[str]) -> None:
    from modelpack.schema import readers

    batch = item.batch
    present = set(batch.schema.names)
    for name in order:  # a column absent from this batch (JSONL) is missing in all its rows
        if name not in present:
            columns[name].missing += batch.num_rows
    for idx, name in enumerate(batch.schema.names):
        col = columns.get(name)
        if col is None:
            col = columns[name] = _Column(name, first_row=item.offset)
            order.append(name)
        arr = batch.column(idx)
        col.missing += _missing(arr)
        if col.settled_text:
            continue  # already text: later values cannot change it
        if name in item.text_columns:
            arr_type = _type_of(readers.text_column_type(arr), name, path)
        elif arr.type == col.last_arrow:
            continue  # same flat Arrow type as before: same MLflow type (most batches of a file)
        else:
            arr_type = _batch_type(arr, name, path)
            if _is_flat(arr.type):
                col.last_arrow = arr.type
        if arr_type is None or arr_type == col.type:
            continue
        _note_example(col, arr, arr_type, item.offset, text=name in item.text_columns)
        try:
            col.type = merge_types(col.type, arr_type, text=item.text_source)
        except _Mixed:
            shown = ", ".join(
                f"{kind} (e.g. {value!r} at row {row})" for kind, (row, value) in col.examples.items()
            )
            raise DataFormatError(
                f"{path.name}: column {name!r} mixes value types: {shown}",
                path=str(path),
                hint="give every value of a column one type",
            ) from None
        if item.text_source and col.type == "string":
            col.settled_text = True


def _is_flat(dtype: pa.DataType) -> bool:
    """Types whose MLflow type depends on the Arrow type alone (not on values)."""
    import pyarrow as pa

    t = pa.types
    return not (t.is_nested(dtype) or t.is_uint64(dtype) or t.is_null(dtype))


def _type_of(dtype: pa.DataType, name: str, path: Path) -> TypeSpec | None:
    try:
        return arrow_to_type(dtype, name)
    except DataFormatError as exc:
        raise DataFormatError(f"{path.name}: {exc.message}", path=str(path), hint=exc.hint) from None


def _batch_type(arr: pa.Array, name: str, path: Path) -> TypeSpec | None:
    import pyarrow as pa

    spec = _type_of(arr.type, name, path)
    if isinstance(spec, dict):
        spec = _refine_nested(arr, spec)
    if pa.types.is_uint64(arr.type) and len(arr) > arr.null_count:
        import pyarrow.compute as pc

        top = pc.max(arr).as_py()
        if top is not None and top > _INT64_MAX:
            raise DataFormatError(
                f"{path.name}: column {name!r} holds unsigned values above the 64-bit signed range (e.g. {top})",
                path=str(path),
            )
    return spec


def _note_example(col: _Column, arr: pa.Array, arr_type: TypeSpec, offset: int, *, text: bool) -> None:
    kind = type_text(arr_type)
    if kind in col.examples or len(col.examples) >= 4:
        return
    if text and kind == "string":  # show a value that made the column text, not a number
        import pyarrow.compute as pc

        # Kleene logic keeps the mask free of nulls (fill_null would pull in pandas via pa.scalar).
        wanted = pc.and_kleene(arr.is_valid(), pc.invert(pc.match_substring_regex(arr, _NUMBER)))
        found = pc.indices_nonzero(wanted)
        idx = found[0].as_py() if len(found) else None
    else:  # the first value present; a plain scan keeps pyarrow.compute off the common path
        idx = next((i for i in range(len(arr)) if arr[i].is_valid), None)
    if idx is not None:
        col.examples[kind] = (offset + idx, arr[idx].as_py())


def _infer_array_file(path: Path, name: str) -> FileInference:
    from modelpack.schema import readers

    value = readers.read_data(path, fmt=name) if name == "npz" else _mmap_npy(path)
    schema = _tensor_schema(value)
    rows = len(next(iter(value.values()))) if isinstance(value, dict) else len(value)
    return FileInference(schema, rows, name)


def _mmap_npy(path: Path) -> np.ndarray:
    from modelpack.schema import readers

    return readers.load_npy(path, mmap=True)


# --------------------------------------------------------------------------------------------------
# in-memory objects


def _is_ndarray(value: Any) -> bool:
    import numpy as np

    return isinstance(value, np.ndarray)


def numpy_dtype_name(dtype: np.dtype[Any]) -> str:
    """MLflow's tensor dtype name: unsized ``str``/``bytes`` for flexible dtypes."""
    if dtype.kind == "U":
        return "str"
    if dtype.kind == "S":
        return "bytes"
    return str(dtype.name)


def _tensor_spec(arr: np.ndarray, name: str | None = None) -> TensorSpec:
    shape = (-1, *arr.shape[1:]) if arr.ndim else ()
    return TensorSpec(numpy_dtype_name(arr.dtype), shape, name)


def _tensor_schema(value: Any) -> Schema:
    if isinstance(value, dict):
        if not value:
            raise DataFormatError("the archive holds no arrays")
        return Schema([_tensor_spec(arr, str(key)) for key, arr in value.items()])
    return Schema([_tensor_spec(value)])


def infer_schema(data: Any) -> Schema:
    """Infer a schema from an in-memory object, as MLflow's ``infer_signature`` (with the fixes above).

    - DataFrame: one ColSpec per column (names kept, also integer names).
    - Series / 1-D ndarray / list of scalars: one ColSpec (named if the Series is), as MLflow
      turns a 1-D prediction into a Series.
    - ndarray with 2+ dims: one TensorSpec with the first dim -1 (e.g. probabilities ``[-1, n]``).
    - dict of ndarrays: named TensorSpecs; dict of scalars/lists: one record of named ColSpecs.
    - list of dicts: records; list of lists: one ``array`` ColSpec.
    - scalar: one ColSpec.

    Raises:
        DataFormatError: A column mixes value types, holds unsupported values, or the data is empty.
    """
    import numpy as np
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]
    import pyarrow as pa

    if isinstance(data, pd.DataFrame):
        return _frame_schema(data)
    if isinstance(data, pd.Series):
        return _series_schema(data)
    if isinstance(data, np.ndarray):
        if data.ndim == 1:
            return _series_schema(pd.Series(data))
        if data.ndim == 0:
            return infer_schema(data.item())
        return Schema([_tensor_spec(data)])
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        return _arrow_schema(data, [str(n) for n in data.schema.names])
    if isinstance(data, Mapping):
        if not data:
            raise DataFormatError("cannot infer a schema from an empty dict")
        if all(isinstance(v, np.ndarray) for v in data.values()):
            return Schema([_tensor_spec(v, str(k)) for k, v in data.items()])
        return _records_schema([dict(data)], record_dict=True)
    if isinstance(data, (list, tuple)):
        if not data:
            return Schema([ColSpec("string")])  # MLflow's answer for an empty list
        if all(isinstance(r, Mapping) for r in data):
            return _records_schema(list(data), record_dict=False)
        values = [v.tolist() if isinstance(v, np.ndarray) else v for v in data]
        return _values_schema(values, None)
    return _values_schema([data], None)


def infer_sample(data: Any, *, sample_rows: int | None = None) -> Schema:
    """The input schema of a sample held in memory, by the rules ``pack`` applies to a file.

    A DataFrame follows what the same rows give when read from a file by pandas (a frame read
    with ``pandas.read_csv`` gets the schema its CSV gets); a numpy array or a dict of arrays
    is a tensor schema as for NPY/NPZ; a pyarrow Table or RecordBatch is typed as Parquet is.

    Raises:
        DataFormatError: the data is empty, of an unsupported kind, or a column mixes types.
    """
    import numpy as np
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]
    import pyarrow as pa

    if isinstance(data, (pa.Table, pa.RecordBatch)):
        data = data if sample_rows is None else data.slice(0, sample_rows)
    else:
        data = sample_head(data, sample_rows)
    if isinstance(data, np.ndarray) or (
        isinstance(data, Mapping) and data and all(isinstance(v, np.ndarray) for v in data.values())
    ):
        if _row_total(data) == 0:
            raise DataFormatError("the sample has no rows; cannot infer column types")
        return _tensor_schema(data)
    if isinstance(data, (pd.DataFrame, pa.Table, pa.RecordBatch)):
        if data.shape[0] == 0 if isinstance(data, pd.DataFrame) else data.num_rows == 0:
            raise DataFormatError("the sample has no rows; cannot infer column types")
        return infer_schema(data)
    raise DataFormatError(
        f"cannot use a {type(data).__module__}.{type(data).__qualname__} as a sample",
        hint="give a pandas DataFrame, a numpy array (or dict of arrays), a pyarrow Table, or a data file",
    )


def infer_any(data: Any, *, fmt: str | None = None, sample_rows: int | None = None) -> Schema:
    """The schema ``pack`` would record for ``data``: a data file, or data held in memory.

    Files follow :func:`infer_file`; DataFrames, numpy arrays and pyarrow Tables follow
    :func:`infer_sample` (the file rules); anything else (a dict, a list of records, a Series)
    follows :func:`infer_schema`.
    """
    import numpy as np
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]
    import pyarrow as pa

    if isinstance(data, (str, Path)):
        return infer_file(Path(data), fmt=fmt, sample_rows=sample_rows).schema
    if isinstance(data, (pd.DataFrame, np.ndarray, pa.Table, pa.RecordBatch)) or (
        isinstance(data, Mapping) and data and all(isinstance(v, np.ndarray) for v in data.values())
    ):
        return infer_sample(data, sample_rows=sample_rows)
    return infer_schema(data)


def sample_head(data: Any, rows: int | None) -> Any:
    """The first ``rows`` rows of an in-memory sample (all of it for None); Arrow becomes the
    DataFrame the model is fed, as when the same table is read from Parquet."""
    import pyarrow as pa

    from modelpack.schema.readers import batch_to_pandas

    if isinstance(data, (pa.Table, pa.RecordBatch)):
        data = batch_to_pandas(data if rows is None else data.slice(0, rows))
        return data
    if rows is None:
        return data
    if isinstance(data, Mapping):
        return {k: v[:rows] for k, v in data.items()}
    head = getattr(data, "head", None)
    return head(rows) if callable(head) else data[:rows]


def _row_total(data: Any) -> int:
    if isinstance(data, Mapping):
        return min(len(v) for v in data.values())
    return len(data)


def infer_output_schema(predictions: Any, input_schema: Schema | None) -> Schema:
    """Output schema from a model's predictions, as MLflow does when saving with an input example.

    A 1-D prediction is a column (e.g. ``long`` labels) for column-based inputs and a ``[-1]``
    tensor for tensor inputs; 2-D predictions (probabilities, multi-output) are ``[-1, n]`` tensors.
    """
    import numpy as np

    is_1d = isinstance(predictions, np.ndarray) and predictions.ndim == 1
    if is_1d and input_schema is not None and input_schema.is_tensor_spec():
        return Schema([_tensor_spec(predictions)])
    return infer_schema(predictions)


def _frame_schema(frame: Any) -> Schema:
    import pyarrow as pa

    if frame.shape[1] == 0:
        raise DataFormatError("cannot infer a schema from a DataFrame without columns")
    names = [n if isinstance(n, (str, int)) and not isinstance(n, bool) else str(n) for n in frame.columns]
    specs = []
    for position, name in enumerate(names):
        series = frame.iloc[:, position]
        try:
            arr = pa.array(series, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, TypeError):
            raise _mixed_error(name, series) from None
        spec = _typed(arr, name)
        required = _missing(arr) == 0
        specs.append(ColSpec(_with_gaps(spec, required) if spec is not None else "any", name, required))
    return Schema(specs)


def _series_schema(series: Any) -> Schema:
    import pyarrow as pa

    name = series.name
    if name is not None and (isinstance(name, bool) or not isinstance(name, (str, int))):
        name = str(name)
    try:
        arr = pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, TypeError):
        raise _mixed_error(name if name is not None else "values", series) from None
    spec = _typed(arr, name)
    # Unnamed columns cannot be optional (an MLflow schema rule), so only named ones say so.
    required = name is None or _missing(arr) == 0
    if spec is not None and _missing(arr):
        spec = _with_gaps(spec, False)
    return Schema([ColSpec(spec if spec is not None else "any", name, required)])


def _arrow_schema(table: Any, names: list[str]) -> Schema:
    specs = []
    for idx, name in enumerate(names):
        arr = table.column(idx)
        spec = _typed(arr, name)
        required = _missing(arr) == 0
        specs.append(ColSpec(_with_gaps(spec, required) if spec is not None else "any", name, required))
    return Schema(specs)


def _typed(arr: Any, name: Any) -> TypeSpec | None:
    import pyarrow as pa
    import pyarrow.compute as pc

    spec = _array_type(arr, name)
    if pa.types.is_uint64(arr.type) and len(arr) > arr.null_count:
        top = pc.max(arr).as_py()
        if top is not None and top > _INT64_MAX:
            raise DataFormatError(
                f"column {name!r} holds unsigned values above the 64-bit signed range (e.g. {top})"
            )
    return spec


def _records_schema(records: list[Any], *, record_dict: bool) -> Schema:
    import pyarrow as pa

    names: dict[str, None] = {}
    for record in records:
        for key in record:
            names.setdefault(key, None)
    specs = []
    for name in names:
        present = [r for r in records if name in r]
        values = [r.get(name) for r in records]
        try:
            arr = pa.array(values, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
            raise _mixed_error(name, values) from None
        spec = _typed(arr, name)
        required = len(present) == len(records) and _missing(arr) == 0
        if spec is None:
            spec, required = "any", False
        else:
            spec = _with_gaps(spec, required)
        specs.append(ColSpec(spec, name, required))
    return Schema(specs)


def _values_schema(values: Sequence[Any], name: Any) -> Schema:
    import pyarrow as pa

    cleaned = [_plain(v) for v in values]
    try:
        arr = pa.array(cleaned, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
        raise _mixed_error(name if name is not None else "values", cleaned) from None
    spec = _typed(arr, name)
    return Schema([ColSpec(spec if spec is not None else "any", name)])


def _plain(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        return _dt.datetime(value.year, value.month, value.day)
    return value


def _mixed_error(name: Any, values: Any) -> DataFormatError:
    from modelpack.schema.readers import mixed_types_error

    items = list(values.tolist() if hasattr(values, "tolist") else values)
    exc = mixed_types_error("data", name, items)
    return DataFormatError(exc.message.removeprefix("data: "), hint=exc.hint)
