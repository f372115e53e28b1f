"""Input examples: ``input_example.json`` and ``serving_input_example.json`` as MLflow writes them.

Values are written as strict JSON (missing values become ``null``, not the bare ``NaN`` token
MLflow emits with pandas 3), and read back accepting either. Reading is bounded like every JSON
modelpack reads (:mod:`modelpack._json`): an example nested too deeply is a ``ValueError``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from modelpack import _json

if TYPE_CHECKING:
    from modelpack.schema.signature import Schema

EXAMPLE_FILE = "input_example.json"
SERVING_EXAMPLE_FILE = "serving_input_example.json"


def _plain(value: Any) -> Any:
    """A JSON-safe Python value for one cell (numpy scalars, NaN/NaT, datetimes, bytes)."""
    if value is None:
        return None
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, (list, dict, str, bytes)):
        with contextlib.suppress(ValueError, TypeError):
            value = item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, bytes):
        import base64

        return base64.encodebytes(value).decode("ascii")
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    return value


def build_example(data: Any, rows: int) -> tuple[Any, dict[str, Any], Any]:
    """(input_example content, saved_input_example_info, serving example) for the first rows."""
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        head = data.head(rows)
        records = [[_plain(v) for v in row] for row in head.itertuples(index=False, name=None)]
        named = not all(isinstance(c, int) for c in head.columns)
        if named:
            content: Any = {"columns": [_plain(c) for c in head.columns], "data": records}
            serving: Any = {"dataframe_split": {"columns": content["columns"], "data": records}}
        else:
            content = {"data": records}
            serving = {"dataframe_split": {"data": records}}
        info = {
            "artifact_path": EXAMPLE_FILE,
            "pandas_orient": "split" if named else "values",
            "serving_input_path": SERVING_EXAMPLE_FILE,
            "type": "dataframe",
        }
        return content, info, serving
    if isinstance(data, dict):
        content = {str(k): _plain(np.asarray(v)[:rows]) for k, v in data.items()}
    else:
        content = _plain(np.asarray(data)[:rows])
    info = {"artifact_path": EXAMPLE_FILE, "serving_input_path": SERVING_EXAMPLE_FILE, "type": "ndarray"}
    return content, info, {"inputs": content}


def write_example(folder: Path, data: Any, rows: int) -> dict[str, Any]:
    content, info, serving = build_example(data, rows)
    (folder / EXAMPLE_FILE).write_text(json.dumps(content, allow_nan=False))
    (folder / SERVING_EXAMPLE_FILE).write_text(json.dumps(serving, indent=2, allow_nan=False))
    return info


def read_example_json(folder: Path, info: dict[str, Any]) -> Any:
    """The raw JSON of a saved example (MLflow's bare NaN tokens are accepted).

    The file is opened through ``modelpack.contents``'s gate, so an ``artifact_path`` outside the
    folder, a FIFO or a device is refused (``InvalidModelError``) and a huge file is not read.

    Raises:
        InvalidModelError: the path is not package content (outside the folder, not a regular file).
        ValueError: the file is not UTF-8 JSON, or is nested too deeply.
    """
    from modelpack import contents

    name = info.get("artifact_path") or EXAMPLE_FILE
    key = "MLmodel saved_input_example_info.artifact_path"
    text = contents.read_text(folder, name if isinstance(name, str) else "", key=key)
    return _json.loads(text, allow_nan=True)


# What building a frame or an array raises on JSON of the wrong shape (rows that are numbers,
# a dict where a list belongs): the example is read from the package, so it is malformed input.
_SHAPE_ERRORS: Final = (TypeError, KeyError, IndexError, AttributeError)


def example_to_data(raw: Any, info: dict[str, Any], schema: Schema | None = None) -> Any:
    """Turn a saved example back into what the model takes (DataFrame or ndarray).

    A tensor example is read with its tensor's dtype, as MLflow reads it: a float tensor's
    missing values are saved as ``null`` and must come back as NaN, not make an object array.

    Raises:
        ValueError: the example's JSON does not have the shape its type says.
    """
    try:
        return _example_to_data(raw, info, schema)
    except _SHAPE_ERRORS as exc:
        raise ValueError(f"it does not have the shape of a {info.get('type')} example: {exc}") from None


def _example_to_data(raw: Any, info: dict[str, Any], schema: Schema | None) -> Any:
    import numpy as np
    import pandas as pd

    kind = info.get("type")
    if kind == "dataframe":
        if isinstance(raw, dict) and "dataframe_split" in raw:
            raw = raw["dataframe_split"]
        columns = raw.get("columns") if isinstance(raw, dict) else None
        rows = raw.get("data", []) if isinstance(raw, dict) else raw
        return pd.DataFrame(rows, columns=columns)
    if kind == "ndarray":
        if isinstance(raw, dict) and "inputs" in raw:
            raw = raw["inputs"]
        dtypes = _tensor_dtypes(schema)
        if isinstance(raw, dict):
            return {k: np.asarray(v, dtype=dtypes.get(k)) for k, v in raw.items()}
        return np.asarray(raw, dtype=dtypes.get(None))
    return raw


def _tensor_dtypes(schema: Schema | None) -> dict[str | None, Any]:
    """Tensor name (None for a lone unnamed tensor) -> numpy dtype, for the float tensors.

    Only floats hold missing values (saved as null); other tensors keep numpy's reading of the
    JSON values, so a null in an integer or boolean tensor is reported, not cast to 0 or False.
    """
    from modelpack.schema.signature import TensorSpec

    if schema is None:
        return {}
    out: dict[str | None, Any] = {}
    for spec in schema.specs:
        if isinstance(spec, TensorSpec) and spec.dtype.startswith("float"):
            out[spec.name] = spec.dtype
    return out


def preview(raw: Any, info: dict[str, Any], rows: int = 5) -> tuple[list[str], list[list[Any]]]:
    """Column names and first rows of an example for display, without numpy or pandas.

    Raises:
        ValueError: the example's JSON has a shape no example has.
    """
    try:
        return _preview(raw, rows)
    except _SHAPE_ERRORS as exc:
        raise ValueError(f"it has an unexpected shape: {exc}") from None


def _preview(raw: Any, rows: int) -> tuple[list[str], list[list[Any]]]:
    if isinstance(raw, dict) and "dataframe_split" in raw:
        raw = raw["dataframe_split"]
    if isinstance(raw, dict) and "data" in raw:
        data = raw["data"][:rows]
        width = len(data[0]) if data else 0
        columns = [str(c) for c in raw.get("columns", range(width))]
        return columns, [list(r) if isinstance(r, list) else [r] for r in data]
    if isinstance(raw, list):
        data = raw[:rows]
        width = len(data[0]) if data and isinstance(data[0], list) else 1
        return [str(i) for i in range(width)], [r if isinstance(r, list) else [r] for r in data]
    if isinstance(raw, dict):
        return list(raw), [[json.dumps(v)[:60] for v in raw.values()]]
    return ["value"], [[raw]]
