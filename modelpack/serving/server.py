"""``modelpack serve``: MLflow's scoring protocol over HTTP, as an ASGI app served by uvicorn.

The protocol is the one ``mlflow models serve`` speaks (MLflow 3's ``pyfunc/scoring_server``):
``GET /ping`` and ``/health`` answer 200 with ``"\\n"``; ``POST /invocations`` takes
``application/json`` (exactly one of ``dataframe_split``, ``dataframe_records``, ``instances``,
``inputs``, plus optional ``params``), ``text/csv`` or ``application/vnd.apache.parquet`` and
answers ``{"predictions": ...}`` shaped as MLflow shapes the model's output; errors are MLflow's
JSON body (``error_code``, ``message``). Additions: ``GET /version`` names the model version that
answers, every response carries it in ``X-Modelpack-Version``, ``GET /metrics`` is Prometheus
text, each request is one JSON line on the ``modelpack.serving.access`` logger, bodies are capped
(413) and predictions time out (504).

The model is loaded before the server listens, by a ``Loader`` the caller supplies (the facade
resolves the target and runs every check of the trust boundary); predictions run in a thread pool
so the event loop keeps answering. With a ``Follower``, the server re-resolves its target and
switches to a new version (loaded and checked beside the old one) between requests.

starlette and uvicorn are imported here at module level; only the ``serve`` command imports this
module.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Generator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, NoReturn

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelpack.errors import InvalidModelError, ModelpackError, SchemaViolationError
from modelpack.package.mlmodel import MLmodel
from modelpack.schema.signature import ColSpec, Signature
from modelpack.serving.scoring import Scorer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path
    from types import FrameType

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("modelpack.serving.access")

CONTENT_TYPE_JSON: Final = "application/json"
CONTENT_TYPE_CSV: Final = "text/csv"
CONTENT_TYPE_PARQUET: Final = "application/vnd.apache.parquet"
CONTENT_TYPES: Final = (CONTENT_TYPE_CSV, CONTENT_TYPE_JSON, CONTENT_TYPE_PARQUET)
INPUT_KEYS: Final = ("dataframe_split", "dataframe_records", "instances", "inputs")
VERSION_HEADER: Final = "X-Modelpack-Version"
_VERSION_HEADER_BYTES: Final = VERSION_HEADER.lower().encode()
_JSON_BYTES: Final = CONTENT_TYPE_JSON.encode()
# A Parquet body may state (and decompress to) at most this many times its size (or 1 MiB).
PARQUET_EXPANSION: Final = 32
# A request body this small is parsed and conformed on the event loop (a few hundred µs); larger
# ones, and every model call, run in the thread pool.
INLINE_BODY_BYTES: Final = 4096
# A JSON body up to this size is parsed on the event loop too, and when it takes the fast path
# (fast_columns: about 0.5 ms for 64 KiB) conformed there; otherwise conformed in the thread pool.
INLINE_JSON_BYTES: Final = 64 * 1024
DEFAULT_MAX_BODY_BYTES: Final = 64 * 1024 * 1024
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# The longest wait before loading again a version that failed to load (--follow), unless the
# follow interval is longer.
MAX_RETRY_DELAY: Final = 3600.0
_ROUTES: Final = ("/ping", "/health", "/version", "/invocations", "/metrics")


@dataclass(frozen=True)
class Served:
    """A loaded, checked model and the names it answers by.

    Attributes:
        scorer: conforms input to the signature and calls the model.
        mlmodel: the package's MLmodel (the compatibility gate compares two of them).
        signature: its signature, or None.
        label: the version that answers, for the header, ``/version``, logs and metrics:
            ``models:/NAME/VERSION`` for a registry version, ``sha256:<digest>`` for a folder.
        uri: the ``models:/`` URI it was loaded by (pinned to its version), or None.
        name: the registered name, or None.
        version: the registry version, or None.
        digest: the folder digest, or None for a folder without a manifest.
    """

    scorer: Scorer
    mlmodel: MLmodel
    signature: Signature | None
    label: str
    uri: str | None = None
    name: str | None = None
    version: int | None = None
    digest: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.label,
            "uri": self.uri,
            "name": self.name,
            "version": self.version,
            "digest": self.digest,
        }


@dataclass(frozen=True)
class ServeOptions:
    """How the server listens and limits requests."""

    host: str = "127.0.0.1"
    port: int = 5000
    timeout: float = 60.0  # seconds a prediction may take before the answer is 504
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    follow_interval: float | None = None  # seconds between re-resolutions (with a follower)
    max_batch_rows: int = 10_000  # concurrent requests predicted in one call, up to this many rows (0: never)
    server_version: str = ""  # modelpack's version, for /version


# --------------------------------------------------------------------------------------------------
# errors: MLflow's JSON body


class RequestError(Exception):
    """A request the server refuses: its HTTP status, MLflow's error code and one message."""

    def __init__(self, status: int, message: str, error_code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code


# --------------------------------------------------------------------------------------------------
# request bodies to model input


def parse_content_type(header: str | None) -> str:
    """The media type of a request, refusing what MLflow refuses (415).

    Raises:
        RequestError: no content type, one the scoring protocol does not take, a charset other
            than UTF-8, or parameters other than ``charset``.
    """
    if not header:
        raise RequestError(
            415, f"a Content-Type header is required; supported types: {', '.join(CONTENT_TYPES)}"
        )
    parts = [p.strip() for p in header.split(";")]
    mime = parts[0].lower()
    params = {
        k.strip().lower(): v.strip().strip('"') for k, _, v in (p.partition("=") for p in parts[1:] if p)
    }
    if mime not in CONTENT_TYPES:
        raise RequestError(
            415, f"unsupported Content-Type '{header}'; supported types: {', '.join(CONTENT_TYPES)}"
        )
    charset = params.pop("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise RequestError(415, f"the scoring server only supports UTF-8, not charset={charset}")
    if params:
        raise RequestError(415, f"unrecognized Content-Type parameters: {', '.join(sorted(params))}")
    return mime


def parse_body(body: bytes, mime: str, served: Served) -> tuple[Any, Any]:
    """The model input and params a request carries, as MLflow's scoring server reads them.

    Raises:
        RequestError: the body is empty, not valid in its format, or not one of the protocol's
            JSON shapes (400).
    """
    if not body.strip():
        raise RequestError(400, "the request body is empty")
    if mime == CONTENT_TYPE_JSON:
        return _parse_json(body)
    if mime == CONTENT_TYPE_CSV:
        return _parse_csv(body, served), None
    return _parse_parquet(body), None


def _parse_json(body: bytes) -> tuple[Any, Any]:
    return _json_input(_load_json(body))


def _load_json(body: bytes, *, check_depth: bool = True) -> Any:
    """The parsed body; without ``check_depth`` the caller checks the nesting (:func:`_check_depth`)."""
    from modelpack._json import MAX_DEPTH, JSONDocumentError, loads

    try:
        return loads(body, allow_nan=True, max_depth=MAX_DEPTH if check_depth else None)
    except (JSONDocumentError, UnicodeDecodeError) as exc:
        raise _invalid_json(exc) from None


def _check_depth(value: Any) -> None:
    """Refuse a parsed body nested too deeply, as :func:`_load_json` does."""
    from modelpack._json import JSONDocumentError, check_depth

    try:
        check_depth(value)
    except JSONDocumentError as exc:
        raise _invalid_json(exc) from None


def _invalid_json(exc: Exception) -> RequestError:
    return RequestError(
        400, f"Invalid input. Ensure that input is a valid JSON formatted string. Error: {exc}"
    )


def _json_input(doc: Any) -> tuple[Any, Any]:
    """The model input and params of a parsed JSON body (one of the protocol's shapes)."""
    required = f"The input must be a JSON dictionary with exactly one of the input fields {set(INPUT_KEYS)}"
    if not isinstance(doc, dict):
        raise RequestError(400, f"Invalid input. {required}. Received a {type(doc).__name__}.")
    keys = [k for k in INPUT_KEYS if k in doc]
    if len(keys) != 1:
        raise RequestError(400, f"{required}. Received dictionary with input fields: {list(doc)}.")
    key = keys[0]
    value = doc[key]
    params = doc.get("params")
    if params is not None and not isinstance(params, dict):
        raise RequestError(400, f"'params' must be a JSON dictionary, got {_kind(params)}")
    try:
        if key == "dataframe_split":
            return _split_frame(value), params
        if key == "dataframe_records":
            return _records_frame(value), params
        return _tf_serving(value), params
    except RequestError:
        raise
    except (ValueError, TypeError) as exc:
        raise RequestError(
            400, f"Invalid input. '{key}' cannot be read as a table: {_one_line(exc)}"
        ) from None


def _kind(value: Any) -> str:
    names: dict[type, str] = {dict: "an object", list: "a list", str: "a string"}
    return names.get(type(value), type(value).__name__)


def _split_frame(value: Any) -> Any:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    if not isinstance(value, dict) or "data" not in value:
        raise RequestError(
            400,
            "Invalid input. 'dataframe_split' must be an object with 'data' (and optionally 'columns', 'index')",
        )
    extra = set(value) - {"data", "columns", "index"}
    if extra:
        raise RequestError(400, f"Invalid input. unexpected keys in 'dataframe_split': {sorted(extra)}")
    data = value["data"]
    if not isinstance(data, list):
        raise RequestError(
            400, f"Invalid input. 'dataframe_split.data' must be a list of rows, got {_kind(data)}"
        )
    columns = value.get("columns")
    if columns is not None and not isinstance(columns, list):
        raise RequestError(400, "Invalid input. 'dataframe_split.columns' must be a list of names")
    if columns is not None and data and any(not isinstance(r, list) or len(r) != len(columns) for r in data):
        raise RequestError(
            400, f"Invalid input. every row of 'dataframe_split.data' must be a list of {len(columns)} values"
        )
    return pd.DataFrame(data=data, columns=columns, index=value.get("index"))


def _records_frame(value: Any) -> Any:
    import pandas as pd

    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise RequestError(400, "Invalid input. 'dataframe_records' must be a list of objects, one per row")
    return pd.DataFrame(value)


def _tf_serving(value: Any) -> Any:
    """``instances`` / ``inputs`` (TF serving's forms), as MLflow's ``parse_tf_serving_input``."""
    import numpy as np
    import pandas as pd

    if isinstance(value, dict):
        return {str(k): np.asarray(v) for k, v in value.items()}
    if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
        return pd.DataFrame(value)
    if isinstance(value, list):
        arr = np.asarray(value)
        if arr.dtype == object and arr.ndim > 1:
            raise RequestError(400, "Invalid input. the rows of the input have different lengths")
        return arr
    raise RequestError(
        400, f"Invalid input. 'inputs'/'instances' must be a list or an object, got {_kind(value)}"
    )


def _parse_csv(body: bytes, served: Served) -> Any:
    import pandas as pd

    from modelpack.schema.signature import ColSpec

    schema = served.scorer.input_schema
    dtypes: dict[str, Any] = {}
    if schema is not None and not schema.is_tensor_spec():
        # text columns stay text ("02134" is not the number 2134); the rest is cast by the signature
        dtypes = {
            str(s.name): str for s in schema.specs if isinstance(s, ColSpec) and str(s.type) == "string"
        }
    try:
        body.decode("utf-8")
        return pd.read_csv(io.BytesIO(body), dtype=dtypes or None)
    except Exception as exc:
        raise RequestError(
            400,
            f"Failed to parse input as a table. Ensure that the input is valid CSV with a header row. Error: {_one_line(exc)}",
        ) from None


def _parse_parquet(body: bytes) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pfile = pq.ParquetFile(pa.BufferReader(body))
        meta = pfile.metadata
        # Compressed pages can expand far beyond the body limit: refuse a table whose stated size
        # is out of proportion before decoding it.
        stated = max(
            sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)),
            meta.num_rows * meta.num_columns * 8,  # a cell takes 8 bytes or more once decoded
        )
        if stated > PARQUET_EXPANSION * max(len(body), 1 << 20):
            raise RequestError(
                413,
                f"the Parquet body expands to {stated} bytes, more than {PARQUET_EXPANSION}x its size",
                "RESOURCE_EXHAUSTED",
            )
        return pfile.read().to_pandas()
    except RequestError:
        raise
    except Exception as exc:
        raise RequestError(
            400, f"Failed to parse input as a Parquet table. Error: {_one_line(exc)}"
        ) from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:500]


# --------------------------------------------------------------------------------------------------
# the fast path: a JSON body straight to the conformed columns

# Signature types whose conformed column is one NumPy array built straight from the JSON values,
# and the one Python type each value must have for that (anything else takes the general path).
_FAST_TYPES: Final[dict[str, tuple[type, Any]]] = {
    "long": (int, "int64"),
    "double": (float, "float64"),
    "boolean": (bool, "bool"),
    "string": (str, "object"),  # a column of text becomes pandas' text dtype, as read_csv gives
}


@dataclass(frozen=True)
class Columns:
    """A request's rows as one array per signature column, in the signature's order, holding
    what :func:`conform` would give: the common JSON request without any intermediate DataFrame.
    Concurrent requests' columns are concatenated before the one DataFrame the model gets."""

    arrays: dict[str, Any]
    rows: int

    def __len__(self) -> int:
        return self.rows

    def frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.arrays)


def fast_columns(served: Served, doc: Any) -> Columns | None:
    """The conformed columns of a parsed JSON body, when the request is the common, already
    correct case: a named column signature of long, double, boolean and string columns, every
    column given (no other), each value of exactly its column's Python type (no null, NaN or
    infinity), in ``dataframe_split`` (no index), ``dataframe_records``, or ``instances`` /
    ``inputs`` as records or as columns. None for anything else: the general path then parses,
    checks and reports it as before, so this path never changes an answer, only its cost.
    """
    import numpy as np

    schema = served.scorer.input_schema
    if schema is None or schema.is_tensor_spec() or not schema.has_names() or type(doc) is not dict:
        return None
    specs = [spec for spec in schema.specs if isinstance(spec, ColSpec)]
    names = [str(spec.name) for spec in specs]
    if (
        len(specs) != len(schema.specs)
        or not all(type(s.name) is str and type(s.type) is str and s.type in _FAST_TYPES for s in specs)
        or len(set(names)) != len(names)
    ):
        return None
    keys = [k for k in INPUT_KEYS if k in doc]
    if len(keys) != 1 or len(doc) != (2 if "params" in doc else 1):
        return None
    params = doc.get("params")
    if params is not None and type(params) is not dict:
        return None
    values = _fast_values(keys[0], doc[keys[0]], names)
    if values is None:
        return None
    rows = len(values[0])
    if not rows:
        return None
    arrays: dict[str, Any] = {}
    for spec, column in zip(specs, values, strict=True):
        kind, dtype = _FAST_TYPES[str(spec.type)]
        if len(column) != rows or set(map(type, column)) != {kind}:
            return None
        try:
            array = np.array(column, dtype=dtype)
        except OverflowError:  # an integer beyond 64 bits
            return None
        if kind is float and not np.isfinite(array).all():
            return None
        arrays[str(spec.name)] = array
    return Columns(arrays, rows)


def _fast_values(key: str, value: Any, names: list[str]) -> list[Any] | None:
    """The values of each named column, in ``names`` order, or None for another shape."""
    width = len(names)
    if key == "dataframe_split":
        if type(value) is not dict or set(value) != {"columns", "data"}:
            return None
        columns, data = value["columns"], value["data"]
        if type(columns) is not list or type(data) is not list or not data or len(columns) != width:
            return None
        if set(columns) != set(names) or set(map(type, data)) != {list} or set(map(len, data)) != {width}:
            return None
        by_name = dict(zip(columns, zip(*data, strict=True), strict=True))
        return [by_name[name] for name in names]
    if type(value) is dict and key in ("instances", "inputs"):  # columns: {"name": [values], ...}
        if len(value) != width or not all(type(value.get(name)) is list for name in names):
            return None
        return [value[name] for name in names]
    if type(value) is not list or not value:
        return None
    if set(map(type, value)) != {dict} or set(map(len, value)) != {width}:
        return None
    try:
        return [[record[name] for record in value] for name in names]
    except KeyError:
        return None


# --------------------------------------------------------------------------------------------------
# predicting and the response


def conform(served: Served, data: Any, params: Any, *, params_only: bool = False) -> Any:
    """Check params and conform the input to the signature: what the model will be called with
    (None with ``params_only``, which checks the params alone).

    Raises:
        RequestError: a signature or params violation, every one listed (400).
    """
    from modelpack.schema.params import enforce_params
    from modelpack.serving.scoring import violation_error

    try:
        enforce_params(params, served.signature.params if served.signature is not None else None)
    except SchemaViolationError as exc:  # the message names each param and what is wrong with it
        raise RequestError(400, exc.message, "INVALID_PARAMETER_VALUE") from None
    if params_only:
        return None
    try:
        return served.scorer.conform(data)
    except SchemaViolationError as exc:
        violations = [dict(v) for v in exc.violations]
        message = violation_error("the request", violations).message if violations else exc.message
        # MLflow: a value that cannot be converted fails while parsing (BAD_REQUEST); anything
        # else fails schema enforcement (INVALID_PARAMETER_VALUE).
        converting = any(v.get("kind") in ("type_mismatch", "null_in_required") for v in violations)
        raise RequestError(400, message, "BAD_REQUEST" if converting else "INVALID_PARAMETER_VALUE") from None


def call_model(served: Served, conformed: Any) -> Any:
    """The model's raw output for conformed input.

    Raises:
        RequestError: the model raised (400, as MLflow answers).
    """
    try:
        return served.scorer.predict(conformed)
    except InvalidModelError as exc:
        raise RequestError(400, f"Encountered an error while evaluating the model: {exc.message}") from None


def predict(served: Served, data: Any, params: Any) -> Any:
    """Check params, conform the input to the signature and predict: the model's raw output.

    Raises:
        RequestError: a signature or params violation (every one listed), or the model raised (400).
    """
    return call_model(served, conform(served, data, params))


# --------------------------------------------------------------------------------------------------
# batching


def batchable(served: Served) -> bool:
    """Whether concurrent requests may share one model call: a scikit-learn model (its predict
    works row by row) with a column signature (every request becomes a DataFrame of the same
    columns). Any other model is called once per request, as MLflow does."""
    schema = served.scorer.input_schema
    return "sklearn" in served.mlmodel.flavors and schema is not None and not schema.is_tensor_spec()


@dataclass
class _Pending:
    served: Served
    frame: Any
    future: asyncio.Future[bytes]


class Batcher:
    """Runs the model for the requests waiting while the previous call ran, in one call.

    Nothing waits on purpose: a request arriving at an idle server is predicted at once; the
    requests that arrive while the model is busy are concatenated (up to ``max_rows`` rows) and
    predicted together, then their outputs are split again by row. A batch the model rejects is
    retried request by request, so each error goes to the request that caused it.
    """

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self.pending: list[_Pending] = []
        self.busy = False

    async def predict(self, served: Served, frame: Any) -> bytes:
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.pending.append(_Pending(served, frame, future))
        if not self.busy:
            self.busy = True
            asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self.pending:
                batch = self._take()
                outcomes = await run_in_threadpool(_predict_batch, batch)
                for item, outcome in zip(batch, outcomes, strict=True):
                    if item.future.done():  # timed out meanwhile
                        continue
                    if isinstance(outcome, BaseException):
                        item.future.set_exception(outcome)
                    else:
                        item.future.set_result(outcome)
        except BaseException as exc:  # never leave a request waiting forever
            for item in self.pending:
                if not item.future.done():
                    item.future.set_exception(exc)
            self.pending.clear()
            raise
        finally:
            self.busy = False

    def _take(self) -> list[_Pending]:
        first = self.pending[0]
        batch, rows = [first], len(first.frame)
        for item in self.pending[1:]:
            if item.served is not first.served or rows + len(item.frame) > self.max_rows:
                break
            batch.append(item)
            rows += len(item.frame)
        del self.pending[: len(batch)]
        return [item for item in batch if not item.future.done()] or batch[:1]


def _batch_input(parts: list[Any]) -> Any:
    """One model input holding every request's rows in order: the columns concatenated before
    the one DataFrame when every request came by the fast path, else the DataFrames concatenated."""
    import pandas as pd

    if all(isinstance(part, Columns) for part in parts):
        import numpy as np

        names = parts[0].arrays
        return pd.DataFrame({name: np.concatenate([part.arrays[name] for part in parts]) for name in names})
    return pd.concat([_model_input(part) for part in parts], ignore_index=True)


def _predict_batch(batch: list[_Pending]) -> list[bytes | BaseException]:
    served = batch[0].served
    if len(batch) > 1:
        sizes = [len(item.frame) for item in batch]
        try:
            raw = call_model(served, _batch_input([item.frame for item in batch]))
        except RequestError:
            raw = None  # one request's rows broke the model: find which, one by one
        if (
            raw is not None
            and hasattr(raw, "__len__")
            and len(raw) == sum(sizes)
            and not isinstance(raw, dict)
        ):
            out: list[bytes | BaseException] = []
            start = 0
            for size in sizes:
                part = raw.iloc[start : start + size] if hasattr(raw, "iloc") else raw[start : start + size]
                out.append(predictions_body(part))
                start += size
            return out
    results: list[bytes | BaseException] = []
    for item in batch:
        try:
            results.append(predictions_body(call_model(item.served, _model_input(item.frame))))
        except Exception as exc:
            results.append(exc)
    return results


def predictions_body(raw: Any) -> bytes:
    """``{"predictions": ...}`` as MLflow writes it: DataFrames and Series as records, arrays as lists."""
    import pandas as pd

    out: Any
    if isinstance(raw, pd.DataFrame):
        out = raw.to_dict(orient="records")
    elif isinstance(raw, pd.Series):
        out = pd.DataFrame(raw).to_dict(orient="records")
    elif hasattr(raw, "tolist") and hasattr(raw, "dtype"):
        out = raw.tolist()
    else:
        out = raw
    return json.dumps({"predictions": out}, default=_jsonable).encode()


def _jsonable(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode("ascii")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# --------------------------------------------------------------------------------------------------
# metrics


class Metrics:
    """Request counters and a latency histogram, rendered in Prometheus' text format."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = {}
        self.buckets: dict[str, list[int]] = {}
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.switches = 0
        self.refused = 0
        self.in_flight = 0

    def started(self, path: str) -> None:
        if path == "/invocations":
            with self._lock:
                self.in_flight += 1

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        path = path if path in _ROUTES else "other"
        with self._lock:
            if path == "/invocations":
                self.in_flight -= 1
            key = (method, path, status)
            self.requests[key] = self.requests.get(key, 0) + 1
            counts = self.buckets.setdefault(path, [0] * len(LATENCY_BUCKETS))
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    counts[i] += 1
            self.sums[path] = self.sums.get(path, 0.0) + seconds
            self.counts[path] = self.counts.get(path, 0) + 1

    def render(self, served: Served) -> str:
        lines = [
            "# HELP modelpack_requests_total HTTP requests answered, by method, path and status.",
            "# TYPE modelpack_requests_total counter",
        ]
        with self._lock:
            requests = sorted(self.requests.items())
            buckets = {k: list(v) for k, v in self.buckets.items()}
            sums, counts = dict(self.sums), dict(self.counts)
            switches, refused, in_flight = self.switches, self.refused, self.in_flight
        for (method, path, status), n in requests:
            lines.append(f'modelpack_requests_total{{method="{method}",path="{path}",status="{status}"}} {n}')
        lines += [
            "# HELP modelpack_request_errors_total HTTP requests answered with a 4xx or 5xx status.",
            "# TYPE modelpack_request_errors_total counter",
        ]
        for (method, path, status), n in requests:
            if status >= 400:
                lines.append(
                    f'modelpack_request_errors_total{{method="{method}",path="{path}",status="{status}"}} {n}'
                )
        lines += [
            "# HELP modelpack_in_flight_requests /invocations requests being answered now.",
            "# TYPE modelpack_in_flight_requests gauge",
            f"modelpack_in_flight_requests {in_flight}",
            "# HELP modelpack_request_duration_seconds Time from request to response, by path.",
            "# TYPE modelpack_request_duration_seconds histogram",
        ]
        for path in sorted(buckets):
            for bound, n in zip(LATENCY_BUCKETS, buckets[path], strict=True):
                lines.append(f'modelpack_request_duration_seconds_bucket{{path="{path}",le="{bound}"}} {n}')
            lines.append(
                f'modelpack_request_duration_seconds_bucket{{path="{path}",le="+Inf"}} {counts[path]}'
            )
            lines.append(f'modelpack_request_duration_seconds_sum{{path="{path}"}} {sums[path]:.6f}')
            lines.append(f'modelpack_request_duration_seconds_count{{path="{path}"}} {counts[path]}')
        labels = ",".join(
            f'{key}="{_label_value(value)}"'
            for key, value in (
                ("model", served.label),
                ("name", served.name or ""),
                ("version", "" if served.version is None else served.version),
                ("digest", served.digest or ""),
            )
        )
        lines += [
            "# HELP modelpack_model_info The model version being served (value 1).",
            "# TYPE modelpack_model_info gauge",
            f"modelpack_model_info{{{labels}}} 1",
            "# HELP modelpack_model_switches_total Switches to a newly resolved version (--follow).",
            "# TYPE modelpack_model_switches_total counter",
            f"modelpack_model_switches_total {switches}",
            "# HELP modelpack_model_refused_total Newly resolved versions not switched to (--follow).",
            "# TYPE modelpack_model_refused_total counter",
            f"modelpack_model_refused_total {refused}",
        ]
        return "\n".join(lines) + "\n"


def _label_value(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# --------------------------------------------------------------------------------------------------
# following the registry


@dataclass
class Follower:
    """Re-resolves a ``models:/`` target and switches to the version it names now.

    ``resolve`` returns the pinned URI (``models:/NAME/VERSION``) the target names now; ``load``
    loads and checks the model at such a URI (integrity, safety scan) without touching the one
    being served. A candidate whose signature would break the serving version's callers is not
    switched to.
    """

    resolve: Callable[[], str]
    load: Callable[[str], Served]
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _refused: set[str] = field(default_factory=set)
    # versions whose load failed: (failed attempts, monotonic time of the next one)
    _failed: dict[str, tuple[int, float]] = field(default_factory=dict)

    def check(self, slot: ModelSlot, metrics: Metrics, *, interval: float = 30.0, now: bool = False) -> None:
        """Switch ``slot`` to the version the target names now, if it changed and passes.

        A version that would break the serving version's callers is never tried again (a
        version's content does not change). One that failed to load (unreadable, failed the
        integrity check or the safety scan, which a ``trust`` record may lift) is tried again
        after ``interval`` seconds, then after twice as long each time, up to an hour; ``now``
        (SIGHUP) tries it at once.
        """
        from modelpack.package.differ import load_signature
        from modelpack.schema.compat import Reads, compare_signatures, is_breaking

        if not self._lock.acquire(blocking=False):
            return  # a check is already running
        try:
            current = slot.current
            try:
                pinned = self.resolve()
            except ModelpackError as exc:
                _event("follow_error", level=logging.WARNING, model=current.label, error=exc.message)
                return
            if pinned == current.uri or pinned in self._refused:
                return
            attempts, retry_at = self._failed.get(pinned, (0, 0.0))
            if attempts:
                if not now and time.monotonic() < retry_at:
                    return
                _event("switch_retry", model=current.label, candidate=pinned, attempt=attempts + 1)
            try:
                candidate = self.load(pinned)
            except ModelpackError as exc:
                delay = min(interval * 2**attempts, max(interval, MAX_RETRY_DELAY))
                self._failed[pinned] = (attempts + 1, time.monotonic() + delay)
                metrics.refused += 1
                _event(
                    "switch_refused",
                    level=logging.WARNING,
                    model=current.label,
                    candidate=pinned,
                    reason=exc.message,
                    retry_in_s=round(delay, 3),
                )
                return
            self._failed.pop(pinned, None)
            changes = compare_signatures(
                load_signature(current.mlmodel, current.label),
                load_signature(candidate.mlmodel, candidate.label),
                reads=Reads(current.mlmodel.fitted_feature_names, candidate.mlmodel.fitted_feature_names),
            )
            if is_breaking(changes):
                self._refused.add(pinned)
                metrics.refused += 1
                breaking = [c.message for c in changes if c.severity == "breaking"]
                _event(
                    "switch_refused",
                    level=logging.WARNING,
                    model=current.label,
                    candidate=candidate.label,
                    reason="its signature would break the serving version's callers: " + "; ".join(breaking),
                )
                return
            slot.current = candidate  # one reference assignment: each request keeps the model it started with
            metrics.switches += 1
            _event("switched", model=candidate.label, previous=current.label)
        finally:
            self._lock.release()


@dataclass
class ModelSlot:
    """The model being served; replaced whole, never changed in place."""

    current: Served


def _event(event: str, *, level: int = logging.INFO, **fields: Any) -> None:
    logger.log(level, json.dumps({"ts": _now(), "event": event, **fields}, default=str))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"


# --------------------------------------------------------------------------------------------------
# the app


@dataclass
class ServerState:
    slot: ModelSlot
    options: ServeOptions
    metrics: Metrics = field(default_factory=Metrics)
    follower: Follower | None = None
    batcher: Batcher | None = None
    worker: bool = False  # one of several worker processes (see serve_workers)
    wake: asyncio.Event | None = None  # set to re-resolve now (SIGHUP)
    loop: asyncio.AbstractEventLoop | None = None

    def request_check(self) -> None:
        """Ask for a re-resolution now (safe from a signal handler or another thread)."""
        if self.loop is not None and self.wake is not None:
            self.loop.call_soon_threadsafe(self.wake.set)


def create_app(state: ServerState) -> Starlette:
    """The ASGI app serving ``state.slot``'s model."""
    options = state.options

    async def ping(request: Request) -> Response:
        return Response("\n", media_type=CONTENT_TYPE_JSON)

    async def version(request: Request) -> Response:
        served = state.slot.current
        body = {"modelpack_version": options.server_version, **served.describe()}
        return Response(json.dumps(body), media_type=CONTENT_TYPE_JSON)

    async def metrics(request: Request) -> Response:
        return Response(state.metrics.render(state.slot.current), media_type="text/plain; version=0.0.4")

    async def invocations(request: Request) -> Response:
        # POST /invocations is answered by _Observed without starlette (see invocation); this
        # route serves the app when it is called without that wrapper
        served = state.slot.current
        status, payload = await invocation(
            state,
            served,
            request.headers.get("content-type"),
            request.headers.get("content-length"),
            request.stream(),
        )
        return Response(
            payload, status_code=status, media_type=CONTENT_TYPE_JSON, headers={VERSION_HEADER: served.label}
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.loop = asyncio.get_running_loop()
        state.wake = asyncio.Event()
        if options.max_batch_rows > 0:
            state.batcher = Batcher(options.max_batch_rows)
        if state.worker and hasattr(signal, "SIGHUP"):
            # a worker process: the supervisor passes SIGHUP on; follow now (or ignore it)
            state.loop.add_signal_handler(signal.SIGHUP, state.request_check)
        task = asyncio.create_task(_follow_loop(state)) if state.follower is not None else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()

    app = Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/health", ping, methods=["GET"]),
            Route("/version", version, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/invocations", invocations, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    return _Observed(app, state)  # type: ignore[return-value]


def _score(served: Served, body: bytes, mime: str) -> bytes:
    return predictions_body(call_model(served, _model_input(_prepare(served, body, mime))))


def _prepare(served: Served, body: bytes, mime: str) -> Any:
    """The conformed input of one request: :class:`Columns` on the fast path, else what
    :func:`conform` gives."""
    if mime != CONTENT_TYPE_JSON or not body.strip():
        data, params = parse_body(body, mime, served)
        return conform(served, data, params)
    # Walking every value to check the nesting costs several times the parse: the fast path's
    # input is at most 4 deep by its shape, so only its params are walked.
    doc = _load_json(body, check_depth=False)
    return _prepare_json(served, doc, fast_columns(served, doc))


def _prepare_json(served: Served, doc: Any, fast: Columns | None) -> Any:
    """The conformed input of a parsed JSON body, given its :func:`fast_columns`."""
    if fast is None:
        _check_depth(doc)
        data, params = _json_input(doc)
        return conform(served, data, params)
    params = doc.get("params")
    _check_depth({"params": params})  # as deep as the whole body when params is the deepest part
    conform(served, None, params, params_only=True)
    return fast


def _model_input(conformed: Any) -> Any:
    return conformed.frame() if isinstance(conformed, Columns) else conformed


async def _answer(state: ServerState, served: Served, body: bytes, mime: str) -> bytes:
    """The response body for one request: predicted in the thread pool, alone or in a batch with
    concurrent requests (see :class:`Batcher`). A small body, or a JSON one up to 64 KiB that
    takes the fast path (:func:`fast_columns`), is parsed and conformed on the event loop: less
    than a thread hop costs; anything else in the thread pool."""
    if state.batcher is None or not batchable(served):
        return await run_in_threadpool(_score, served, body, mime)
    frame: Any
    if mime == CONTENT_TYPE_JSON and len(body) <= INLINE_JSON_BYTES and body.strip():
        doc = _load_json(body, check_depth=False)
        fast = fast_columns(served, doc)
        if fast is not None or len(body) <= INLINE_BODY_BYTES:
            frame = _prepare_json(served, doc, fast)
        else:
            frame = await run_in_threadpool(_prepare_json, served, doc, None)
    elif len(body) <= INLINE_BODY_BYTES:
        frame = _prepare(served, body, mime)  # well under a millisecond: not worth a thread hop
    else:
        frame = await run_in_threadpool(_prepare, served, body, mime)
    if len(frame) >= state.batcher.max_rows:
        return await run_in_threadpool(lambda: predictions_body(call_model(served, _model_input(frame))))
    return await state.batcher.predict(served, frame)


async def invocation(
    state: ServerState,
    served: Served,
    content_type: str | None,
    content_length: str | None,
    chunks: AsyncIterator[bytes],
) -> tuple[int, bytes]:
    """The status and JSON body answering one ``POST /invocations``: predictions, or MLflow's
    error body (never an exception, never a traceback to the client)."""
    options = state.options
    try:
        mime = parse_content_type(content_type)
        body = await _read_body(content_length, chunks, options.max_body_bytes)
        try:
            payload = await asyncio.wait_for(_answer(state, served, body, mime), timeout=options.timeout)
        except (asyncio.TimeoutError, TimeoutError):
            raise RequestError(
                504,
                f"the prediction took longer than the server's timeout of {options.timeout:g} s",
                "DEADLINE_EXCEEDED",
            ) from None
    except RequestError as exc:
        return exc.status, error_body(exc.message, exc.error_code)
    except Exception as exc:  # a bug: one line in the log, never a traceback to the client
        logger.exception("internal error answering /invocations")
        return 500, error_body(f"internal error: {type(exc).__name__}", "INTERNAL_ERROR")
    return 200, payload


def error_body(message: str, error_code: str) -> bytes:
    return json.dumps({"error_code": error_code, "message": message}).encode()


async def _read_body(length: str | None, stream: AsyncIterator[bytes], limit: int) -> bytes:
    too_large = f"the request body is larger than the server's limit of {limit} bytes"
    if length is not None and length.isdigit() and int(length) > limit:
        raise RequestError(413, too_large, "RESOURCE_EXHAUSTED")
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise RequestError(413, too_large, "RESOURCE_EXHAUSTED")
        chunks.append(chunk)
    return b"".join(chunks)


async def _follow_loop(state: ServerState) -> None:
    assert state.follower is not None and state.wake is not None
    follower = state.follower
    interval = state.options.follow_interval or 30.0
    woken = False
    while True:
        # at once first: a worker restarted by SIGHUP starts from the version checked at start-up
        try:
            await run_in_threadpool(follower.check, state.slot, state.metrics, interval=interval, now=woken)
        except Exception:
            logger.exception("internal error while following the registry")
        woken = False
        with suppress(asyncio.TimeoutError, TimeoutError):
            await asyncio.wait_for(state.wake.wait(), timeout=interval)
            woken = True  # SIGHUP: retry a version that failed to load at once
        state.wake.clear()


class _Observed:
    """ASGI wrapper: the version header on every response, the access log line and the metrics."""

    def __init__(self, app: Starlette, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        served = self.state.slot.current
        label = served.label
        status = 500
        sent = 0
        self.state.metrics.started(scope.get("path", ""))
        if scope.get("path") == "/invocations" and scope.get("method") == "POST":
            # the hot path, straight from the ASGI messages: no routing, middleware or Request
            try:
                status, payload = await self._invocation(served, scope, receive)
                await send(
                    {
                        "type": "http.response.start",
                        "status": status,
                        "headers": [
                            (_VERSION_HEADER_BYTES, label.encode()),
                            (b"content-length", str(len(payload)).encode()),
                            (b"content-type", _JSON_BYTES),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": payload})
                sent = len(payload)
            finally:
                self._observed(scope, status, started, sent, label)
            return

        async def observe(message: Any) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                if not any(k.lower() == VERSION_HEADER.lower().encode() for k, _ in headers):
                    headers.append((VERSION_HEADER.encode(), label.encode()))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            self._observed(scope, status, started, sent, label)

    async def _invocation(self, served: Served, scope: Any, receive: Any) -> tuple[int, bytes]:
        content_type = content_length = None
        for name, value in scope["headers"]:
            if name == b"content-type" and content_type is None:
                content_type = value.decode("latin-1")
            elif name == b"content-length" and content_length is None:
                content_length = value.decode("latin-1")
        return await invocation(self.state, served, content_type, content_length, _body_chunks(receive))

    def _observed(self, scope: Any, status: int, started: float, sent: int, label: str) -> None:
        """The request's metrics and its access log line."""
        seconds = time.perf_counter() - started
        path = scope.get("path", "")
        method = scope.get("method", "")
        self.state.metrics.observe(method, path, status, seconds)
        if access_logger.isEnabledFor(logging.INFO):
            client = scope.get("client")
            access_logger.info(
                json.dumps(
                    {
                        "ts": _now(),
                        "event": "request",
                        "method": method,
                        "path": path,
                        "status": status,
                        "ms": round(seconds * 1000, 3),
                        "bytes_out": sent,
                        "client": f"{client[0]}:{client[1]}" if client else None,
                        "model": label,
                    }
                )
            )


async def _body_chunks(receive: Any) -> AsyncIterator[bytes]:
    """The request body's chunks from the ASGI messages (as starlette's ``Request.stream``)."""
    from starlette.requests import ClientDisconnect

    while True:
        message = await receive()
        if message["type"] == "http.request":
            body = message.get("body", b"")
            if body:
                yield body
            if not message.get("more_body", False):
                return
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()


# --------------------------------------------------------------------------------------------------
# running


class _Server(uvicorn.Server):
    """uvicorn's server with modelpack's signals: SIGTERM and SIGINT stop it gracefully (in-flight
    requests finish) without being re-raised afterwards, SIGHUP asks the follower to re-resolve."""

    def __init__(self, config: uvicorn.Config, state: ServerState | None) -> None:
        super().__init__(config)
        self.state = state
        self.stopped_by: int | None = None

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = [signal.SIGINT, signal.SIGTERM]
        if hasattr(signal, "SIGHUP"):
            handled.append(signal.SIGHUP)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        if hasattr(signal, "SIGHUP") and sig == signal.SIGHUP:
            if self.state is not None:
                self.state.request_check()
            return
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True
        if self.stopped_by is None:
            self.stopped_by = sig


def listen(host: str, port: int) -> socket.socket:
    """A listening socket, bound before the server starts so a busy port is a clean error.

    Raises:
        OSError: the address cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: a response's header and body writes must not wait for the
    # client's delayed ACK (Nagle), which costs ~40 ms per keep-alive request.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _config(app: Any, options: ServeOptions, **extra: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=None,
        server_header=False,
        **extra,
    )


@dataclass(frozen=True)
class ServeSummary:
    """What a server run did, for ``--json``."""

    url: str
    model: dict[str, Any]
    workers: int
    seconds: float
    stopped_by: str | None
    requests: int | None  # None with several workers: each counts its own (GET /metrics)
    errors: int | None
    switches: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            **self.model,
            "workers": self.workers,
            "seconds": round(self.seconds, 3),
            "stopped_by": self.stopped_by,
            "requests": self.requests,
            "errors": self.errors,
            "switches": self.switches,
        }


def serve(
    served: Served,
    options: ServeOptions,
    *,
    sock: socket.socket,
    follower: Follower | None = None,
    on_started: Callable[[str], None] | None = None,
) -> ServeSummary:
    """Serve ``served`` on ``sock`` in this process until SIGTERM or SIGINT; return a summary."""
    state = ServerState(slot=ModelSlot(served), options=options, follower=follower)
    app = create_app(state)
    server = _Server(_config(app, options), state)
    url = _url(sock)
    started = time.perf_counter()
    _event("started", url=url, pid=_pid(), **served.describe())
    if on_started is not None:
        on_started(url)
    _freeze_heap()
    server.run(sockets=[sock])
    stopped = signal.Signals(server.stopped_by).name if server.stopped_by is not None else None
    _event("stopped", signal=stopped, model=state.slot.current.label)
    total = sum(state.metrics.requests.values())
    errors = sum(n for (_, _, status), n in state.metrics.requests.items() if status >= 400)
    return ServeSummary(
        url=url,
        model=state.slot.current.describe(),
        workers=1,
        seconds=time.perf_counter() - started,
        stopped_by=stopped,
        requests=total,
        errors=errors,
        switches=state.metrics.switches,
    )


# uvicorn's exit code for a worker that failed before serving (uvicorn.config.STARTUP_FAILURE)
WORKER_STARTUP_FAILURE: Final = 3


def worker_failed(failures: str, exc: BaseException) -> NoReturn:
    """End a worker process that could not load its model: its reason in the log and in the
    ``failures`` file :func:`serve_workers` reads, then uvicorn's start-up failure exit code."""
    import sys
    from pathlib import Path

    reason = exc.message if isinstance(exc, ModelpackError) else f"{type(exc).__name__}: {_one_line(exc)}"
    _event("worker_failed", level=logging.ERROR, pid=_pid(), error=reason)
    with Path(failures).open("a", encoding="utf-8") as out:
        out.write(json.dumps({"pid": _pid(), "error": reason}) + "\n")
    sys.exit(WORKER_STARTUP_FAILURE)


def serve_workers(
    factory: str,
    served: Served,
    options: ServeOptions,
    *,
    sock: socket.socket,
    workers: int,
    failures: Path,
) -> ServeSummary:
    """Serve with ``workers`` processes; each builds its app with ``factory`` (an import string of
    a zero-argument function returning the app), so each loads and checks the model itself.

    A worker that fails to start (it calls :func:`worker_failed`, which writes to ``failures``)
    stops them all: the other workers shut down gracefully, and this raises.

    Raises:
        ModelpackError: a worker failed to start.
    """
    from uvicorn.supervisors import Multiprocess

    config = _config(factory, options, factory=True, workers=workers)
    url = _url(sock)
    started = time.perf_counter()
    _event("started", url=url, pid=_pid(), workers=workers, **served.describe())
    import inspect

    class Supervisor(Multiprocess):
        """uvicorn's supervisor, but SIGHUP is passed on to the workers (each re-resolves its
        model with --follow) instead of restarting them, which would drop connections."""

        def handle_hup(self) -> None:
            for process in self.processes:
                pid = process.process.pid
                if pid is not None and process.process.exitcode is None:
                    os.kill(pid, signal.SIGHUP)

        def keep_subprocess_alive(self) -> None:
            # A worker that failed to start would fail the same way again: stop, never restart it
            # (uvicorn before 0.4x restarts any dead worker, forever).
            if _worker_failures(failures) or any(
                p.process.exitcode == WORKER_STARTUP_FAILURE for p in self.processes
            ):
                self.should_exit.set()
                return
            super().keep_subprocess_alive()

    if "target" in inspect.signature(Multiprocess).parameters:  # uvicorn before 0.36
        supervisor = Supervisor(config, target=_Server(config, None).run, sockets=[sock])  # type: ignore[call-arg, unused-ignore]
    else:
        supervisor = Supervisor(config, sockets=[sock])
    supervisor.run()
    failed = _worker_failures(failures)
    if failed or any(p.process.exitcode == WORKER_STARTUP_FAILURE for p in supervisor.processes):
        _event("stopped", model=served.label, reason="a worker failed to start")
        first = failed[0] if failed else {"pid": None, "error": "it exited during start-up"}
        raise ModelpackError(
            f"worker process {first['pid']} of {workers} failed to start: {first['error']}; "
            "every worker was stopped"
        )
    _event("stopped", model=served.label)
    return ServeSummary(
        url=url,
        model=served.describe(),
        workers=workers,
        seconds=time.perf_counter() - started,
        stopped_by=None,
        requests=None,
        errors=None,
        switches=None,
    )


def _worker_failures(failures: Path) -> list[dict[str, Any]]:
    """What the workers that failed to start wrote (see :func:`worker_failed`)."""
    try:
        text = failures.read_text(encoding="utf-8")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        with suppress(ValueError):
            out.append(json.loads(line))
    return out


def worker_app(served: Served, options: ServeOptions, follower: Follower | None) -> Any:
    """The app one worker process serves (see :func:`serve_workers`)."""
    _freeze_heap()
    return create_app(ServerState(slot=ModelSlot(served), options=options, follower=follower, worker=True))


def _freeze_heap() -> None:
    """Keep the loaded libraries and model out of every later garbage collection: a full
    collection would otherwise walk them all, a pause in the middle of some request. No
    collection first: it takes 0.1-0.3 s of start-up to free the few dozen unreachable objects
    loading leaves (measured with the benchmark's scikit-learn pipeline), which stay frozen."""
    import gc

    gc.freeze()


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def _pid() -> int:
    return os.getpid()
