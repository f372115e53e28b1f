"""Check data against a schema, and conform it for the model.

Two faces over one set of rules:

- :func:`check` / :func:`check_file` return *every* violation (a query; files are streamed).
- :func:`conform` converts data for the model with the casts allowed below, or raises
  :class:`~modelpack.errors.SchemaViolationError` listing what it refuses (a command).

Rules (MLflow's enforcement, FORMAT.md section 4, with the differences stated):

- Columns are matched by name and reordered to schema order. A missing *required* column is an
  error; a missing optional column is skipped. An extra column is a **warning**
  (``column_unexpected``): MLflow drops it, and so does :func:`conform`.
- Unnamed schemas only check the column count and use the first N columns.
- ``required`` also means "no missing values" here (MLflow only checks presence): a required
  column holding nulls/NaN is a ``null_in_required`` error. Inference marks every column that had
  missing values as optional, so its own signatures never trip on this.
- Casts are allowed when they lose nothing, judged on the values: narrower ints to wider ints;
  ints to ``double`` while they fit in 53 bits (MLflow in-process refuses int64 -> double even
  for small values; its serving path accepts it); whole-number floats to ``long``; ``float64``
  to ``float`` only when exact; ISO text to ``datetime``; text of numbers/booleans from CSV.
  Everything else (1.5 to ``long``, ``bool`` to ``long``, ``long`` to ``string``) is a
  ``type_mismatch`` listing example values and row numbers.
- Integer and boolean columns with missing values (``required: false``): conform gives
  ``float64`` with NaN for ints and an ``object`` column of True/False/NaN for booleans (what
  ``pandas.read_csv`` gives, and scikit-learn's imputers count NaN, not None, as missing), from
  any source: a CSV sample, a Parquet or JSON file, the saved JSON example; without missing
  values they become ``int64`` / ``bool``. Inference writes integers with gaps as
  ``double``, so a ``long`` column with gaps comes from a declared schema or an older package.
- Tensors: the number of dims must match and fixed dims must be equal (``shape_mismatch``);
  dtypes convert when numpy calls it safe and, for int -> float, the values fit
  (``dtype_mismatch`` otherwise). MLflow in-process requires the exact dtype.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from modelpack.errors import DataFormatError, SchemaViolationError
from modelpack.schema.signature import ColSpec, Schema, TensorSpec, TypeSpec, type_text

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

logger = logging.getLogger(__name__)

MAX_EXAMPLES: Final = 5
ERROR: Final = "error"
WARNING: Final = "warning"

_INT_BOUNDS: Final = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_EXACT_FLOAT_INT: Final = {"double": 2**53, "float": 2**24}
_FLOAT_TEXT: Final = (
    r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$|^\s*[+-]?(inf|Inf|INF|infinity|Infinity)\s*$"
)
_ISO_TEXT: Final = r"^\s*\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})?\s*$"
_BOOL_TOKENS: Final = ("true", "True", "TRUE", "false", "False", "FALSE", "1", "0")


@dataclass(frozen=True)
class Violation:
    """One way data breaks a schema.

    Attributes:
        kind: ``column_missing``, ``column_unexpected``, ``type_mismatch``, ``null_in_required``,
            ``shape_mismatch`` or ``dtype_mismatch``.
        column: Column or tensor name (position for unnamed schemas), or None for the whole input.
        message: One readable sentence.
        rows: The first few offending rows (0-based data rows).
        examples: Offending values at those rows (JSON-friendly).
        count: How many rows are affected (0 when not row-based, e.g. a missing column).
        severity: ``error`` (fails validation) or ``warning`` (e.g. an extra column MLflow drops).
    """

    kind: str
    column: str | int | None
    message: str
    rows: list[int] = field(default_factory=list)
    examples: list[Any] = field(default_factory=list)
    count: int = 0
    severity: str = ERROR

    def __hash__(self) -> int:
        return hash((self.kind, self.column, self.message, self.count, self.severity))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "column": self.column,
            "message": self.message,
            "rows": list(self.rows),
            "examples": list(self.examples),
            "count": self.count,
            "severity": self.severity,
        }


@dataclass(frozen=True)
class CheckReport:
    """Result of checking a data file against a schema."""

    path: str
    format: str
    rows_checked: int
    violations: tuple[Violation, ...]

    @property
    def errors(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == ERROR]

    @property
    def warnings(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == WARNING]

    @property
    def ok(self) -> bool:
        """True when nothing of severity ``error`` was found."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "rows_checked": self.rows_checked,
            "ok": self.ok,
            "error_count": len(self.errors),
            "warning_count": len(self.warnings),
            "violations": [v.to_dict() for v in self.violations],
        }


# --------------------------------------------------------------------------------------------------
# accumulating violations (across batches)


@dataclass
class _Acc:
    kind: str
    column: str | int | None
    reason: str
    severity: str = ERROR
    rows: list[int] = field(default_factory=list)
    examples: list[Any] = field(default_factory=list)
    count: int = 0
    row_based: bool = True

    def violation(self) -> Violation:
        message = self.reason
        if self.row_based and self.count:
            shown = ", ".join(
                f"{_show(v)} at row {r}" for r, v in zip(self.rows, self.examples, strict=False)
            )
            noun = "row" if self.count == 1 else "rows"
            message = f"{self.reason} in {self.count} {noun}" + (f" (e.g. {shown})" if shown else "")
        return Violation(self.kind, self.column, message, self.rows, self.examples, self.count, self.severity)


def _show(value: Any) -> str:
    return repr(value) if not isinstance(value, float) or math.isfinite(value) else str(value)


class _Collector:
    def __init__(self) -> None:
        self._accs: dict[tuple[str, str | int | None, str], _Acc] = {}

    def add(
        self,
        kind: str,
        column: str | int | None,
        reason: str,
        *,
        severity: str = ERROR,
        rows: Iterable[int] = (),
        examples: Iterable[Any] = (),
        count: int = 0,
        row_based: bool = True,
    ) -> None:
        key = (kind, column, reason)
        acc = self._accs.get(key)
        if acc is None:
            acc = self._accs[key] = _Acc(kind, column, reason, severity, row_based=row_based)
        acc.count += count
        room = MAX_EXAMPLES - len(acc.rows)
        if room > 0:
            acc.rows.extend(list(rows)[:room])
            acc.examples.extend(list(examples)[:room])

    def has(self, kind: str, column: str | int | None) -> bool:
        return any(k == kind and c == column for k, c, _ in self._accs)

    def result(self) -> list[Violation]:
        order = {"column_missing": 0, "column_unexpected": 3}
        accs = sorted(self._accs.values(), key=lambda a: order.get(a.kind, 1))
        return [a.violation() for a in accs]


# --------------------------------------------------------------------------------------------------
# value-level rules on Arrow arrays


def _jsonable(value: Any) -> Any:
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item())
    return value


def _type_name(arr: Any) -> str:
    import pyarrow as pa

    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "text"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "datetime"
    return str(t)


def _bad_mask(arr: pa.Array, target: TypeSpec, text: bool) -> tuple[pa.Array | None, str] | None:
    """Which non-null values cannot become ``target`` without loss; None when all can.

    Returns (mask, reason); a None mask means every non-null value is bad (a type-level mismatch).
    """
    import pyarrow as pa

    t = arr.type
    types = pa.types
    if types.is_null(t) or target == "any":
        return None
    if _same_kind(t, target):
        return None
    import pyarrow.compute as pc

    expected = type_text(target)
    if not isinstance(target, str) or target == "sparkml_vector":
        return _complex_mismatch(arr, target)
    whole = (None, f"expected {expected}, got {_type_name(arr)}")
    is_text = types.is_string(t) or types.is_large_string(t)
    if target == "string":
        return None if is_text else whole
    if target == "binary":
        return (
            None
            if (is_text or types.is_binary(t) or types.is_large_binary(t) or types.is_fixed_size_binary(t))
            else whole
        )
    if target == "boolean":
        if types.is_boolean(t):
            return None
        if is_text and text:
            mask = pc.invert(pc.is_in(arr, value_set=_token_set()))
            return (mask, f"expected {expected}, got text that is not true/false") if _any(mask) else None
        return whole
    if target in _INT_BOUNDS:
        low, high = _INT_BOUNDS[target]
        if types.is_integer(t):
            signed = types.is_signed_integer(t)
            width = t.bit_width
            if width < 32 or (width == 32 and (signed or target == "long")) or (signed and target == "long"):
                return None
            # Compare in the array's own type (a uint64 array against an int64 bound would be cast).
            if signed:
                mask = pc.or_(pc.less(arr, pa.scalar(low, t)), pc.greater(arr, pa.scalar(high, t)))
            else:
                mask = pc.greater(arr, pa.scalar(high, t))
            return (mask, f"expected {expected}, got values out of its range") if _any(mask) else None
        if types.is_floating(t) or types.is_decimal(t):
            values = arr.cast(pa.float64()) if types.is_decimal(t) else arr
            not_nan = pc.invert(pc.is_nan(values))
            fractional = pc.and_(not_nan, pc.not_equal(values, pc.floor(values)))
            out_of_range = pc.and_(
                not_nan, pc.or_(pc.less(values, float(low)), pc.greater(values, float(high)))
            )
            mask = pc.or_(fractional, out_of_range)
            return (
                (mask, f"expected {expected}, got numbers with a fraction or out of range")
                if _any(mask)
                else None
            )
        if is_text and text:
            # As for floats: "3" and "3.0" are whole numbers, "3.5" and "x" are not.
            numeric = pc.match_substring_regex(arr, _FLOAT_TEXT)
            values = pc.if_else(numeric, arr, pa.scalar("0")).cast(pa.float64())
            fractional = pc.not_equal(values, pc.floor(values))
            out_of_range = pc.or_(pc.less(values, float(low)), pc.greater(values, float(high)))
            mask = pc.or_kleene(pc.invert(numeric), pc.or_(fractional, out_of_range))
            return (mask, f"expected {expected}, got text that is not a whole number") if _any(mask) else None
        return whole
    if target in ("double", "float"):
        limit = _EXACT_FLOAT_INT[target]
        if types.is_floating(t):
            if target == "double" or t.bit_width <= 32:
                return None
            back = arr.cast(pa.float32(), safe=False).cast(pa.float64())
            mask = pc.and_(pc.invert(pc.is_nan(arr)), pc.not_equal(back, arr))
            return (
                (mask, "expected float (32-bit), got 64-bit values that would lose precision")
                if _any(mask)
                else None
            )
        if types.is_decimal(t):
            return None
        if types.is_integer(t):
            if t.bit_width <= (32 if target == "double" else 16):
                return None
            if types.is_signed_integer(t):
                mask = pc.or_(pc.greater(arr, pa.scalar(limit, t)), pc.less(arr, pa.scalar(-limit, t)))
            else:
                mask = pc.greater(arr, pa.scalar(limit, t))
            return (
                (mask, f"expected {expected}, got integers too large to convert exactly")
                if _any(mask)
                else None
            )
        if is_text and text:
            mask = pc.invert(pc.match_substring_regex(arr, _FLOAT_TEXT))
            return (mask, f"expected {expected}, got text that is not a number") if _any(mask) else None
        return whole
    if target == "datetime":
        if types.is_timestamp(t) or types.is_date(t):
            return None
        if is_text:  # JSON and CSV carry dates as text; MLflow's serving path parses them too
            mask = pc.invert(pc.match_substring_regex(arr, _ISO_TEXT))
            return (
                (mask, f"expected {expected}, got text that is not an ISO date/time") if _any(mask) else None
            )
        return whole
    return whole  # pragma: no cover - every scalar type is handled above


def _same_kind(t: pa.DataType, target: TypeSpec) -> bool:
    """The Arrow type already is the target type: nothing to look at value by value."""
    import pyarrow as pa

    types = pa.types
    if target == "string":
        return bool(types.is_string(t) or types.is_large_string(t))
    if target == "long":
        return bool(types.is_signed_integer(t))
    if target == "double":
        return bool(types.is_floating(t))
    if target == "boolean":
        return bool(types.is_boolean(t))
    if target == "datetime":
        return bool(types.is_timestamp(t) or types.is_date(t))
    if target == "binary":
        return bool(types.is_binary(t) or types.is_large_binary(t))
    return False


def _token_set() -> pa.Array:
    import pyarrow as pa

    return pa.array(list(_BOOL_TOKENS), pa.string())


def _any(mask: pa.Array) -> bool:
    import pyarrow as pa

    chunks = mask.chunks if isinstance(mask, pa.ChunkedArray) else [mask]
    return any(int(c.true_count) for c in chunks)


def _complex_mismatch(arr: pa.Array, target: TypeSpec) -> tuple[pa.Array | None, str] | None:
    from modelpack.schema.infer import _array_type

    try:
        got = _array_type(arr, None)
    except DataFormatError as exc:
        return None, exc.message
    problem = _compatible(got, target, "")
    return (None, f"expected {type_text(target)}, got {problem}") if problem else None


def _compatible(got: TypeSpec | None, want: TypeSpec, where: str) -> str | None:
    """Type-level compatibility of nested types; a reason when incompatible."""
    if got is None or want == "any":
        return None
    if isinstance(want, str):
        if got == want:
            return None
        if isinstance(got, str) and _scalar_widens(got, want):
            return None
        return f"{type_text(got)}{where}"
    if not isinstance(got, dict) or got["type"] != want["type"]:
        return f"{type_text(got)}{where}"
    kind = want["type"]
    if kind in ("array", "map"):
        key = "items" if kind == "array" else "values"
        return _compatible(_unwrap(got[key]), _unwrap(want[key]), f"{where} ({key})")
    got_props, want_props = got["properties"], want["properties"]
    extra = sorted(set(got_props) - set(want_props))
    if extra:
        return f"properties not in the schema: {', '.join(extra)}"
    for name, spec in want_props.items():
        if name not in got_props:
            if spec.get("required", True):
                return f"objects without required property {name!r}"
            continue
        if spec.get("required", True) and not got_props[name].get("required", True):
            return f"objects missing required property {name!r} in some rows"
        problem = _compatible(_unwrap(got_props[name]), _unwrap(spec), f"{where}.{name}")
        if problem:
            return problem
    return None


def _scalar_widens(got: str, want: str) -> bool:
    ints = ("integer", "long")
    return (got, want) in {("integer", "long"), ("float", "double")} or (got in ints and want == "double")


def _unwrap(nested: Mapping[str, Any]) -> TypeSpec:
    name = nested["type"]
    if name in ("array", "object", "map"):
        return {k: v for k, v in nested.items() if k != "required"}
    return str(name)


def _check_column(
    out: _Collector, arr: Any, spec: ColSpec, column: str | int, offset: int, *, text: bool
) -> None:
    import pyarrow as pa

    from modelpack.schema.infer import _missing

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    # A clean column of the expected type costs no pyarrow.compute work (nor its import).
    has_missing = _missing(arr) > 0
    if spec.required and has_missing:
        import pyarrow.compute as pc

        _add_rows(
            out,
            "null_in_required",
            column,
            f"column {column!r} is required but has missing values",
            pc.is_null(arr, nan_is_null=True),
            arr,
            offset,
        )
    problem = _bad_mask(arr, spec.type, text)
    if problem is None:
        return
    import pyarrow.compute as pc

    missing = pc.is_null(arr, nan_is_null=True)
    mask, reason = problem
    mask = pc.invert(missing) if mask is None else pc.and_kleene(mask, pc.invert(missing))
    if _any(mask):
        _add_rows(out, "type_mismatch", column, f"column {column!r}: {reason}", mask, arr, offset)


def _add_rows(
    out: _Collector, kind: str, column: str | int, reason: str, mask: Any, arr: Any, offset: int
) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    chunks = mask.chunks if isinstance(mask, pa.ChunkedArray) else [mask]
    count = sum(int(c.true_count) for c in chunks)
    idx = pc.indices_nonzero(mask)[:MAX_EXAMPLES]
    rows = [int(i) for i in idx.to_numpy(zero_copy_only=False)]
    examples = [_jsonable(arr[i].as_py()) for i in rows] if kind != "null_in_required" else [None] * len(rows)
    out.add(kind, column, reason, rows=[offset + r for r in rows], examples=examples, count=count)


# --------------------------------------------------------------------------------------------------
# columns of in-memory data


def _as_frame(data: Any) -> Any:
    """MLflow's input coercion for column schemas (FORMAT.md 4.1), to a DataFrame."""
    import numpy as np
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]
    import pyarrow as pa

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame(name=data.name if data.name is not None else 0)
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        return data.to_pandas()
    if isinstance(data, Mapping):
        if all(np.isscalar(v) or v is None for v in data.values()):
            return pd.DataFrame([dict(data)])
        return pd.DataFrame(dict(data))
    if isinstance(data, np.ndarray):
        return pd.DataFrame(data if data.ndim > 1 else data.reshape(-1, 1))
    if isinstance(data, (list, tuple)):
        if data and all(isinstance(r, Mapping) for r in data):
            return pd.DataFrame(list(data))
        return pd.DataFrame(list(data))
    if np.isscalar(data):
        return pd.DataFrame([data])
    raise DataFormatError(f"cannot check data of type {type(data).__name__} against a column schema")


def _frame_arrays(frame: Any) -> Iterator[tuple[str | int, Any, list[Any] | None]]:
    """(name, Arrow array or None, raw values when Arrow cannot hold the column) per column."""
    import pyarrow as pa

    for position, name in enumerate(frame.columns):
        series = frame.iloc[:, position]
        try:
            yield name, pa.array(series, from_pandas=True), None
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, TypeError):
            yield name, None, series.tolist()


_PY_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "boolean": (bool,),
    "integer": (int,),
    "long": (int,),
    "float": (float, int),
    "double": (float, int),
    "string": (str,),
    "binary": (bytes, bytearray, str),
    "datetime": (_dt.date, _dt.datetime),
}


def _check_raw(out: _Collector, values: list[Any], spec: ColSpec, column: str | int, offset: int) -> None:
    """Fallback for object columns that mix Python types: check value by value."""
    if spec.type == "any":
        return
    wanted = _PY_TYPES.get(spec.type) if isinstance(spec.type, str) else None
    rows: list[int] = []
    examples: list[Any] = []
    null_rows: list[int] = []
    count = nulls = 0
    for i, value in enumerate(values):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            nulls += 1
            if len(null_rows) < MAX_EXAMPLES:
                null_rows.append(offset + i)
            continue
        ok = (
            wanted is not None
            and isinstance(value, wanted)
            and not (isinstance(value, bool) and bool not in wanted)
        )
        if not ok:
            count += 1
            if len(rows) < MAX_EXAMPLES:
                rows.append(offset + i)
                examples.append(_jsonable(value))
    if spec.required and nulls:
        out.add(
            "null_in_required",
            column,
            f"column {column!r} is required but has missing values",
            rows=null_rows,
            examples=[None] * len(null_rows),
            count=nulls,
        )
    if count:
        out.add(
            "type_mismatch",
            column,
            f"column {column!r}: expected {type_text(spec.type)}, got mixed values",
            rows=rows,
            examples=examples,
            count=count,
        )


def _check_columns(
    out: _Collector,
    columns: list[tuple[str | int, Any, list[Any] | None]],
    schema: Schema,
    offset: int,
    *,
    text: bool,
    first: bool,
) -> None:
    """Column-schema checks of one batch; column-level findings only on the first batch."""
    specs = [s for s in schema.specs if isinstance(s, ColSpec)]
    if schema.has_names():
        by_name = {c[0]: c for c in columns}
        by_str = {str(c[0]): c for c in columns}
        missing = []
        pairs = []
        for spec in specs:
            found = by_name.get(spec.name) if spec.name in by_name else by_str.get(str(spec.name))
            if found is None:
                if spec.required:
                    missing.append(spec.name)
                continue
            pairs.append((spec, found))
        if first:
            for name in missing:
                out.add("column_missing", name, f"required column {name!r} is missing", row_based=False)
            _warn_unexpected(out, [c[0] for c in columns], specs, "column")
    else:
        if len(columns) < len(specs) and first:
            out.add(
                "column_missing",
                None,
                f"the schema has {len(specs)} unnamed columns but the data has {len(columns)}",
                row_based=False,
            )
        pairs = list(zip(specs, columns, strict=False))
    for spec, (name, arr, raw) in pairs:
        label = name if schema.has_names() else (spec.name if spec.name is not None else name)
        if arr is None:
            _check_raw(out, raw or [], spec, label, offset)
        else:
            _check_column(out, arr, spec, label, offset, text=text)


# --------------------------------------------------------------------------------------------------
# tensors


def _check_tensor(
    out: _Collector, arr: Any, spec: TensorSpec, label: str | int | None, *, first: bool
) -> None:
    import numpy as np

    from modelpack.schema.infer import numpy_dtype_name

    arr = np.asarray(arr)
    shape = tuple(arr.shape)
    if first or len(shape) != len(spec.shape):
        want = tuple(spec.shape)
        bad = len(shape) != len(want) or any(w != -1 and w != g for w, g in zip(want, shape, strict=False))
        if bad:
            out.add(
                "shape_mismatch",
                label,
                f"{_tensor_label(label)} has shape {list(shape)}, expected {list(want)} (-1 = any size)",
                row_based=False,
            )
    got = numpy_dtype_name(arr.dtype)
    if got == spec.dtype:
        return
    problem = _dtype_problem(arr, spec.dtype)
    if problem:
        out.add(
            "dtype_mismatch",
            label,
            f"{_tensor_label(label)} has dtype {got}, expected {spec.dtype}{problem}",
            row_based=False,
        )


def _tensor_label(label: str | int | None) -> str:
    return "the input" if label is None else f"tensor {label!r}"


def _dtype_problem(arr: np.ndarray, want: str) -> str:
    """'' when ``arr`` converts to ``want`` without loss, else the reason."""
    import numpy as np

    try:
        target = np.dtype(want)
    except TypeError:
        return " (unknown dtype)"
    if target.kind in "US":
        return "" if arr.dtype.kind == target.kind else " (no conversion to text)"
    if not np.can_cast(arr.dtype, target, casting="safe"):
        return " (the conversion could lose information)"
    if arr.dtype.kind in "iu" and target.kind == "f" and arr.size:
        limit = 2**53 if target.itemsize >= 8 else 2**24
        if np.abs(arr).max() > limit:
            return " (integers too large to convert exactly)"
    return ""


def _check_tensors(out: _Collector, data: Any, schema: Schema, *, first: bool) -> None:
    import numpy as np
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    specs = [s for s in schema.specs if isinstance(s, TensorSpec)]
    if not schema.has_names():
        spec = specs[0]
        if isinstance(data, pd.DataFrame):
            data = data.to_numpy()
        elif isinstance(data, Mapping):
            if len(data) != 1:
                out.add(
                    "column_missing",
                    None,
                    "the schema has one unnamed tensor; pass one array",
                    row_based=False,
                )
                return
            data = next(iter(data.values()))
        elif isinstance(data, (list, tuple)):
            out.add(
                "dtype_mismatch",
                None,
                "the schema is a tensor; pass a numpy array, not a Python list",
                row_based=False,
            )
            return
        _check_tensor(out, data, spec, None, first=first)
        return
    if isinstance(data, pd.DataFrame):
        data = {str(c): data[c].to_numpy() for c in data.columns}
    if isinstance(data, np.ndarray) and len(specs) == 1:
        data = {specs[0].name: data}
    if not isinstance(data, Mapping):
        out.add(
            "column_missing", None, "the schema has named tensors; pass a dict of arrays", row_based=False
        )
        return
    for spec in specs:
        if spec.name not in data:
            if first:
                out.add("column_missing", spec.name, f"tensor {spec.name!r} is missing", row_based=False)
            continue
        if isinstance(data[spec.name], list):
            out.add(
                "dtype_mismatch",
                spec.name,
                f"tensor {spec.name!r} must be an array, not a list",
                row_based=False,
            )
            continue
        _check_tensor(out, data[spec.name], spec, spec.name, first=first)
    if first:
        _warn_unexpected(out, list(data), specs, "tensor")


def _warn_unexpected(out: _Collector, present: list[Any], specs: list[Any], noun: str) -> None:
    """A warning for each input the schema does not name: conforming drops it."""
    known = {str(s.name) for s in specs}
    for name in present:
        if str(name) not in known:
            out.add(
                "column_unexpected",
                name,
                f"{noun} {name!r} is not in the schema (it will be dropped)",
                severity=WARNING,
                row_based=False,
            )


# --------------------------------------------------------------------------------------------------
# public API


def check(data: Any, schema: Schema) -> list[Violation]:
    """Every way ``data`` breaks ``schema``.

    Args:
        data: A DataFrame (or what MLflow coerces to one: Series, dict, list of records, ndarray),
            or for tensor schemas an ndarray / dict of ndarrays.
        schema: The input schema.

    Returns:
        Violations, errors first; an empty list when the data conforms.
    """
    out = _Collector()
    if schema.is_tensor_spec():
        _check_tensors(out, data, schema, first=True)
        return out.result()
    frame = _as_frame(data)
    _check_columns(out, list(_frame_arrays(frame)), schema, 0, text=False, first=True)
    return out.result()


def _csv_types(schema: Schema) -> dict[str, pa.DataType]:
    """What the CSV parser should expect for each named column of a schema."""
    import pyarrow as pa

    mapping = {
        "boolean": pa.bool_(),
        "integer": pa.int64(),
        "long": pa.int64(),
        "float": pa.float64(),
        "double": pa.float64(),
        "string": pa.string(),
        "binary": pa.string(),
        "datetime": pa.timestamp("ns"),
    }
    if not schema.has_names() or schema.is_tensor_spec():
        return {}
    return {
        str(s.name): mapping[s.type]
        for s in schema.specs
        if isinstance(s, ColSpec) and isinstance(s.type, str) and s.type in mapping
    }


def check_file(path: Path, schema: Schema, *, fmt: str | None = None, batch_rows: int = 65536) -> CheckReport:
    """Check a data file against a schema, streaming in batches; row numbers are global.

    Raises:
        NotFoundError: The file does not exist.
        DataFormatError: The file cannot be read.
    """
    from modelpack.schema import readers

    name = readers.detect_format(path, fmt)
    out = _Collector()
    rows = 0
    if name in ("npy", "npz", "json") and (schema.is_tensor_spec() or name != "json"):
        first = True
        for value in readers.iter_batches(path, fmt=name, batch_rows=batch_rows):
            if schema.is_tensor_spec():
                _check_tensors(out, value, schema, first=first)
            else:
                _check_columns(
                    out, list(_frame_arrays(_as_frame(value))), schema, rows, text=False, first=first
                )
            rows += len(next(iter(value.values()))) if isinstance(value, dict) else len(value)
            first = False
        return CheckReport(str(path), name, rows, tuple(out.result()))
    if schema.is_tensor_spec():  # a table checked against tensors: batch by batch
        first = True
        for frame in readers.iter_batches(path, fmt=name, batch_rows=batch_rows):
            _check_tensors(out, frame, schema, first=first)
            rows += len(frame)
            first = False
        return CheckReport(str(path), name, rows, tuple(out.result()))
    first = True
    for item in readers.iter_arrow_batches(
        path, fmt=name, batch_rows=batch_rows, column_types=_csv_types(schema)
    ):
        batch = item.batch
        columns = [(n, batch.column(i), None) for i, n in enumerate(batch.schema.names)]
        _check_columns(
            out, _restore_int_names(columns, schema), schema, item.offset, text=item.text_source, first=first
        )
        rows = item.offset + batch.num_rows
        first = False
    return CheckReport(str(path), name, rows, tuple(out.result()))


def check_report(data: Any, schema: Schema) -> CheckReport:
    """:func:`check` for data held in memory, as the report :func:`check_file` gives for a file."""
    import numpy as np

    violations = check(data, schema)
    if isinstance(data, Mapping):
        scalars = all(np.isscalar(v) or v is None for v in data.values())
        rows = 1 if scalars else min((len(v) for v in data.values()), default=0)
    else:
        shape = getattr(data, "shape", None)
        if shape:
            rows = int(shape[0])
        elif isinstance(data, (list, tuple)) or (shape is None and hasattr(data, "__len__")):
            rows = len(data)
        else:  # a scalar (or a 0-d array): one value, which the violations describe
            rows = 1
    return CheckReport("(in memory)", type(data).__name__, rows, tuple(violations))


def _restore_int_names(columns: list[tuple[Any, Any, Any]], schema: Schema) -> list[tuple[Any, Any, Any]]:
    """File columns are text; a schema with integer names (0, 1, ...) still matches them."""
    if not schema.has_names():
        return columns
    ints = {str(n): n for n in schema.input_names() if isinstance(n, int)}
    return [(ints.get(str(n), n), a, r) for n, a, r in columns]


def _refuse(violations: list[Violation]) -> SchemaViolationError:
    errors = [v for v in violations if v.severity == ERROR]
    head = "; ".join(v.message for v in errors[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return SchemaViolationError(
        f"data does not match the model's input schema: {head}{more}",
        violations=[v.to_dict() for v in violations],
    )


def conform(data: Any, schema: Schema, *, warnings: list[str] | None = None) -> Any:
    """Data converted for the model: schema column order, extras dropped, allowed casts applied.

    Args:
        data: As for :func:`check`.
        schema: The input schema.
        warnings: If given, messages about dropped columns are appended here (they are also
            logged at debug level on ``modelpack.schema.enforce``).

    Returns:
        A DataFrame for column schemas; an ndarray or dict of ndarrays for tensor schemas.

    Raises:
        SchemaViolationError: Anything :func:`check` reports as an error; ``violations`` holds
            all of them as dicts.
    """
    violations = check(data, schema)
    for v in violations:
        if v.severity == WARNING:
            logger.debug(v.message)  # returned through ``warnings``; no stray stderr lines
            if warnings is not None:
                warnings.append(v.message)
    if any(v.severity == ERROR for v in violations):
        raise _refuse(violations)
    if schema.is_tensor_spec():
        return _conform_tensors(data, schema)
    frame = _as_frame(data)
    specs = [s for s in schema.specs if isinstance(s, ColSpec)]
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    if not schema.has_names():
        picked = frame.iloc[:, : len(specs)]
        return pd.DataFrame(
            {
                col: _convert(picked.iloc[:, i], spec)
                for i, (col, spec) in enumerate(zip(picked.columns, specs, strict=True))
            }
        )
    lookup = {str(c): c for c in frame.columns}
    out = {}
    for spec in specs:
        key = spec.name if spec.name in frame.columns else lookup.get(str(spec.name))
        if key is None:
            continue  # optional and absent
        out[spec.name] = _convert(frame[key], spec)
    return pd.DataFrame(out, index=frame.index)


def _convert(series: Any, spec: ColSpec) -> Any:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    target = spec.type
    if not isinstance(target, str) or target in ("any", "binary", "sparkml_vector"):
        return series
    has_missing = bool(series.isna().any())
    if target in ("long", "integer", "double", "float"):
        # Object columns holding numbers pass check (as in MLflow); make them numeric first.
        numeric = pd.to_numeric(series) if series.dtype == object else series
        if target in ("double", "float"):
            return numeric.astype("float64" if target == "double" else "float32")
        if has_missing:  # documented choice: NaN in float64, what pandas and scikit-learn use
            return numeric.astype("float64")
        return numeric.astype("int64" if target == "long" else "int32")
    if target == "boolean":
        if has_missing:  # NaN, as pandas.read_csv gives and scikit-learn counts as missing
            return series.astype(object).where(series.notna(), float("nan"))
        return series.astype(bool)
    if target == "datetime":
        # Offsets are converted to UTC and dropped: MLflow accepts only timezone-naive values.
        text = series.dtype == object or pd.api.types.is_string_dtype(series.dtype)
        converted = pd.to_datetime(series, format="ISO8601" if text else None, utc=True)
        return converted.dt.tz_localize(None).astype("datetime64[ns]")
    return series  # string: pandas' own text dtypes are what models receive from read_csv


def _conform_tensors(data: Any, schema: Schema) -> Any:
    import numpy as np
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    specs = [s for s in schema.specs if isinstance(s, TensorSpec)]

    def cast(value: Any, spec: TensorSpec) -> np.ndarray:
        arr: np.ndarray = np.asarray(value)
        if spec.dtype in ("str", "bytes") or arr.dtype == np.dtype(spec.dtype):
            return arr
        converted: np.ndarray = arr.astype(np.dtype(spec.dtype))
        return converted

    if not schema.has_names():
        if isinstance(data, pd.DataFrame):
            data = data.to_numpy()
        elif isinstance(data, Mapping):
            data = next(iter(data.values()))
        return cast(data, specs[0])
    if isinstance(data, pd.DataFrame):
        data = {str(c): data[c].to_numpy() for c in data.columns}
    if isinstance(data, np.ndarray):
        data = {specs[0].name: data}
    return {spec.name: cast(data[spec.name], spec) for spec in specs if spec.name in data}
