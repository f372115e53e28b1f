"""Load a model folder and score data with it: the one path ``validate`` and ``predict`` share.

The order is the point. ``flavors.load_model`` runs the static safety scan before a single byte is
unpickled; input is conformed to the signature before the model sees it, so a bad data file ends
in a violation report instead of an exception from deep inside the model; outputs are checked
against the output schema the package recorded.

Predictions become a table with one column per output: a 1-D result is one column named after the
output schema's column (or ``prediction``), class probabilities get one ``proba_<class>`` column
per class, and rows keep the input order.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final

from modelpack._text import plural
from modelpack.errors import InvalidModelError, ModelpackError, SchemaViolationError, UsageError
from modelpack.package.integrity import Recorded
from modelpack.package.mlmodel import MLmodel, read_mlmodel
from modelpack.progress import SILENT, Reporter
from modelpack.safety.trust import TrustRecord
from modelpack.schema.signature import ColSpec, Schema, Signature

if TYPE_CHECKING:
    import pandas as pd

PREDICT_METHODS: Final = ("predict", "predict_proba", "predict_log_proba")
BATCH_ROWS: Final = 65_536
# How many rows and values one merged violation keeps (the count stays exact).
MAX_ROWS_SHOWN: Final = 10
MAX_EXAMPLES_SHOWN: Final = 5
_PROBA_PREFIX: Final = {"predict_proba": "proba_", "predict_log_proba": "log_proba_"}


@dataclass(frozen=True)
class Scorer:
    """A loaded model plus what the package says about calling it.

    Attributes:
        folder: the model folder.
        model: the loaded object (an estimator, a generic model, or MLflow's PyFuncModel).
        method: the method ``predict`` calls (``predict_fn`` unless overridden).
        recorded_method: the ``predict_fn`` the package recorded; the output schema describes it.
        input_schema: the signature's inputs, or None when the package has none.
        output_schema: the signature's outputs, or None.
    """

    folder: Path
    model: Any
    method: str
    recorded_method: str
    input_schema: Schema | None
    output_schema: Schema | None

    @property
    def model_class(self) -> str:
        kind = type(self.model)
        return f"{kind.__module__}.{kind.__qualname__}"

    @property
    def classes(self) -> list[Any] | None:
        """Class labels of a classifier (``classes_``), used to name probability columns."""
        try:
            classes = getattr(self.model, "classes_", None)
        except Exception:  # a property that raises on an unfitted step: no labels then
            return None
        if classes is None:
            return None
        try:
            return list(classes)
        except TypeError:
            return None

    @property
    def output_check_schema(self) -> Schema | None:
        """The output schema, when it describes the method being called."""
        return self.output_schema if self.method == self.recorded_method else None

    def conform(self, data: Any, *, warnings: list[str] | None = None) -> Any:
        """Cast ``data`` to the input signature (MLflow's rules); unchanged when there is none.

        Args:
            data: a DataFrame, ndarray or dict of arrays.
            warnings: collects notes about tolerated differences (extra columns dropped).

        Raises:
            SchemaViolationError: the data does not satisfy the input signature.
        """
        if self.input_schema is None:
            return data
        from modelpack.schema import enforce

        return enforce.conform(data, self.input_schema, warnings=warnings)

    def predict(self, data: Any, *, first_row: int = 0) -> Any:
        """Call the model on conformed data; a failure inside the model becomes one error line.

        Raises:
            InvalidModelError: the model raised.
        """
        try:
            return getattr(self.model, self.method)(data)
        except ModelpackError:
            raise
        except Exception as exc:
            rows = _row_count(data)
            where = f"rows {first_row}-{first_row + rows - 1}" if rows else "the input"
            message = " ".join(str(exc).split())[:300]
            raise InvalidModelError(
                f"the model failed in {self.method} on {where}: {type(exc).__name__}: {message}",
                hint="the data passed the signature check; the model itself rejected it",
            ) from None

    def frame(self, raw: Any) -> pd.DataFrame:
        """The model's raw output as a table (see the module docstring for column names)."""
        return output_frame(
            raw, method=self.method, output_schema=self.output_check_schema, classes=self.classes
        )

    def check_outputs(self, raw: Any, frame: pd.DataFrame) -> list[dict[str, Any]]:
        """Violations of the output schema by one batch of outputs (empty when there is no schema)."""
        schema = self.output_check_schema
        if schema is None:
            return []
        from modelpack.schema import enforce

        data: Any = frame
        if schema.is_tensor_spec():
            import numpy as np

            data = raw if isinstance(raw, (np.ndarray, dict)) else np.asarray(raw)
        return [v.to_dict() for v in enforce.check(data, schema)]


def parse_signature(mlmodel: MLmodel) -> Signature | None:
    """The package's signature, or None when MLmodel records none.

    Raises:
        SignatureError: the recorded signature is malformed.
    """
    if not mlmodel.signature:
        return None
    if not any(mlmodel.signature.get(k) for k in ("inputs", "outputs", "params")):
        return None
    return Signature.from_mlmodel(mlmodel.signature)


def recorded_method(mlmodel: MLmodel) -> str:
    """The prediction method the package records (``predict_fn``), ``predict`` by default."""
    for conf in (mlmodel.pyfunc, mlmodel.flavors.get("modelpack")):
        if isinstance(conf, dict) and isinstance(conf.get("predict_fn"), str) and conf["predict_fn"]:
            return str(conf["predict_fn"])
    return "predict"


def load_scorer(
    folder: Path,
    mlmodel: MLmodel | None = None,
    *,
    method: str | None = None,
    trusted: Iterable[str] = (),
    package_trusted: bool = False,
    target: str | None = None,
) -> Scorer:
    """Scan, then load the model in ``folder`` and get ready to score.

    Args:
        folder: a model folder.
        mlmodel: its parsed MLmodel (read from ``folder`` when omitted).
        method: the method to call instead of the recorded ``predict_fn``.
        trusted: modules (or ``module.qualname``) trusted beyond the allowlist for this load.
        package_trusted: the user trusted this exact content (``modelpack trust``).
        target: how the user named the folder (a ``models:/`` URI), for a refusal's message.

    Returns:
        A Scorer.

    Raises:
        UnsafeModelError: the safety scan found globals outside the allowlist; nothing was loaded.
        InvalidModelError: no loadable flavor, or the model lacks the method.
        UsageError: ``method`` is not a prediction method.
        SignatureError: the recorded signature is malformed.
    """
    from modelpack.package import flavors

    mlmodel = mlmodel if mlmodel is not None else read_mlmodel(folder)
    recorded = recorded_method(mlmodel)
    chosen = method or recorded
    if chosen not in PREDICT_METHODS and chosen != recorded:
        raise UsageError(f"--method {chosen} is not one of {', '.join(PREDICT_METHODS)}")
    signature = parse_signature(mlmodel)
    model = flavors.load_model(
        folder, mlmodel, trusted=tuple(trusted), package_trusted=package_trusted, target=target
    )
    if not callable(getattr(model, chosen, None)):
        raise InvalidModelError(
            f"the model ({type(model).__qualname__}) has no {chosen} method",
            hint="predict_proba needs a classifier" if chosen != "predict" else None,
        )
    return Scorer(
        folder=folder,
        model=model,
        method=chosen,
        recorded_method=recorded,
        input_schema=signature.inputs if signature else None,
        output_schema=signature.outputs if signature else None,
    )


# --------------------------------------------------------------------------------------------------
# outputs as a table


def output_frame(
    raw: Any,
    *,
    method: str = "predict",
    output_schema: Schema | None = None,
    classes: Sequence[Any] | None = None,
) -> pd.DataFrame:
    """A model's raw output as a DataFrame with stable column names, in input row order.

    Args:
        raw: what the model returned (ndarray, list, Series, DataFrame, dict of arrays).
        method: the method that produced it; probabilities get one column per class.
        output_schema: the output schema describing ``raw``, used for column names.
        classes: class labels (``classes_``) for probability columns.

    Returns:
        The outputs as a DataFrame with a fresh 0..n-1 index.
    """
    import numpy as np
    import pandas as pd

    if isinstance(raw, pd.DataFrame):
        out = raw.reset_index(drop=True)
        out.columns = [str(c) for c in out.columns]
        return out
    if isinstance(raw, pd.Series):
        name = str(raw.name) if raw.name is not None else _single_name(output_schema)
        return raw.reset_index(drop=True).to_frame(name)
    if isinstance(raw, Mapping):
        return pd.DataFrame({str(k): _as_column(np.asarray(v)) for k, v in raw.items()})
    arr = np.asarray(raw)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim == 1:
        return pd.DataFrame({_single_name(output_schema): arr})
    if arr.ndim == 2:
        names = _column_names(arr.shape[1], method, output_schema, classes)
        return pd.DataFrame(arr, columns=names)
    return pd.DataFrame({_single_name(output_schema): _as_column(arr)})


def _as_column(arr: Any) -> Any:
    # Cells of a >1-D output become lists, one per row, so every format can hold them.
    return arr if arr.ndim <= 1 else [row.tolist() for row in arr]


def _single_name(schema: Schema | None) -> str:
    if schema is not None and len(schema) == 1 and schema.specs[0].name is not None:
        return str(schema.specs[0].name)
    return "prediction"


def _column_names(width: int, method: str, schema: Schema | None, classes: Sequence[Any] | None) -> list[str]:
    prefix = _PROBA_PREFIX.get(method)
    if prefix is not None:
        labels = list(classes) if classes is not None and len(classes) == width else list(range(width))
        return [f"{prefix}{label}" for label in labels]
    if (
        schema is not None
        and len(schema) == width
        and all(isinstance(s, ColSpec) and s.name is not None for s in schema.specs)
    ):
        return [str(s.name) for s in schema.specs]
    return [f"prediction_{i}" for i in range(width)]


# --------------------------------------------------------------------------------------------------
# violations


# enforce writes "<reason> in <n> rows (e.g. <value> at row <r>, ...)"; merged violations get the
# same form rebuilt from the summed count and the file-wide rows.
_ROWS_SUFFIX: Final = re.compile(r" in \d+ rows?(?: \(e\.g\. .*\))?$", re.S)


def _rows_message(reason: str, count: int, rows: Sequence[int], examples: Sequence[Any]) -> str:
    if not count:
        return reason
    shown = ", ".join(f"{e!r} at row {r}" for r, e in zip(rows, examples, strict=False))
    noun = "row" if count == 1 else "rows"
    return f"{reason} in {count} {noun}" + (f" (e.g. {shown})" if shown else "")


def merge_violations(batches: Iterable[tuple[int, Sequence[Mapping[str, Any]]]]) -> list[dict[str, Any]]:
    """Merge per-batch violation dicts into one per kind, column and reason, numbering rows file-wide.

    Args:
        batches: (offset of the batch's first row, its violations as ``Violation.to_dict()``).

    Returns:
        Violation dicts with summed ``count``, the first rows (shifted by the offset), the first
        example values, and a message that says the same.
    """
    merged: dict[tuple[str, str, str], dict[str, Any]] = {}
    for offset, violations in batches:
        for v in violations:
            reason = _ROWS_SUFFIX.sub("", str(v.get("message") or ""))
            key = (str(v.get("kind")), str(v.get("column")), reason)
            rows = [r + offset for r in v.get("rows") or [] if isinstance(r, int)]
            examples = list(v.get("examples") or [])
            into = merged.setdefault(key, {**v, "rows": [], "examples": [], "count": 0})
            room = MAX_ROWS_SHOWN - len(into["rows"])
            into["rows"].extend(rows[:room])
            into["examples"].extend(examples[: max(room, 0)])
            into["count"] += int(v.get("count") or 0)
            into["message"] = _rows_message(reason, into["count"], into["rows"], into["examples"])
    return list(merged.values())


def is_error(violation: Mapping[str, Any]) -> bool:
    """A violation that fails a check (anything but a warning, e.g. an ignored extra column)."""
    return str(violation.get("severity") or "error") != "warning"


def format_violation(violation: Mapping[str, Any]) -> str:
    """One line for a violation: its message, plus the column, rows and examples it does not name."""
    column = violation.get("column")
    text = str(violation.get("message") or violation.get("kind") or "violation")
    if column not in (None, "") and repr(column) not in text and f"column {column}" not in text:
        text = f"column {column!r}: {text}"
    if " row" in text:
        return text
    extras = []
    count = violation.get("count")
    rows = violation.get("rows") or []
    if isinstance(count, int) and count:
        extras.append(f"{count} row{'s' if count != 1 else ''}")
    if rows:
        shown = ", ".join(str(r) for r in rows[:MAX_ROWS_SHOWN])
        more = "" if not isinstance(count, int) or count <= len(rows) else ", ..."
        extras.append(f"rows {shown}{more}")
    examples = violation.get("examples") or []
    if examples:
        extras.append("e.g. " + ", ".join(repr(e) for e in examples[:MAX_EXAMPLES_SHOWN]))
    return text + (f" ({'; '.join(extras)})" if extras else "")


def violation_error(source: str, violations: Sequence[Mapping[str, Any]]) -> SchemaViolationError:
    """The error ``predict`` raises for data that breaks the signature, listing every violation."""
    errors = [v for v in violations if is_error(v)] or list(violations)
    lines = "\n".join(f"  - {format_violation(v)}" for v in errors)
    noun = "violation" if len(errors) == 1 else "violations"
    return SchemaViolationError(
        f"{source} does not match the model's input signature ({len(errors)} {noun}):\n{lines}",
        violations=[dict(v) for v in errors],
        hint="fix the data, or run 'modelpack validate TARGET --data FILE' for the full report",
    )


# --------------------------------------------------------------------------------------------------
# batches


@dataclass
class BatchScore:
    """One scored batch: the raw output, its table form and the row offset of its first row."""

    offset: int
    raw: Any
    frame: pd.DataFrame


def score_batches(
    scorer: Scorer,
    batches: Iterable[Any],
    *,
    reporter: Reporter = SILENT,
    description: str = "predicting",
    total_rows: int | None = None,
    warnings: list[str] | None = None,
) -> Iterator[BatchScore]:
    """Conform, predict and tabulate each batch in turn (memory holds one batch at a time).

    Notes about tolerated differences (e.g. extra columns dropped) are appended to ``warnings``.

    Raises:
        SchemaViolationError: a batch does not satisfy the input signature; its row numbers are
            relative to that batch (the caller re-checks the whole file for the full report).
        InvalidModelError: the model raised, or returned a different number of rows.
    """
    offset = 0
    for batch in batches:
        rows = _row_count(batch)
        conformed = scorer.conform(batch, warnings=warnings)
        raw = scorer.predict(conformed, first_row=offset)
        frame = scorer.frame(raw)
        if len(frame) != rows:
            raise InvalidModelError(
                f"the model returned {plural(len(frame), 'prediction')} for {plural(rows, 'row')} (rows {offset}-{offset + rows - 1})"
            )
        yield BatchScore(offset=offset, raw=raw, frame=frame)
        offset += len(frame)
        reporter.advance(description, offset, total_rows)


def score_data(
    scorer: Scorer, data: Any, *, source: str = "data", warnings: list[str] | None = None
) -> BatchScore:
    """Conform, predict and tabulate data held in memory (a DataFrame, ndarray, dict or records).

    The in-memory counterpart of ``predict_folder``'s batches: the same conforming, the same
    model call and the same table, with one error listing every violation.

    Raises:
        SchemaViolationError: the data does not satisfy the input signature (every violation).
        InvalidModelError: the model raised, or returned a different number of rows.
    """
    try:
        scored = next(score_batches(scorer, [data], warnings=warnings))
    except SchemaViolationError as exc:
        violations = [dict(v) for v in exc.violations]
        raise violation_error(source, violations) from None
    return scored


# What the CSV parser should produce for each signature type: the same reading enforce.check_file
# uses, so the rows the model sees are the rows the check accepted ("02134" stays text for a string
# column, a long column is never guessed as a date).
_SNIFF_BYTES: Final = 1 << 20


def estimate_rows(path: Path, *, fmt: str | None = None) -> int | None:
    """Rows in a data file for the progress bar: exact for Parquet and NPY, estimated from the
    first MiB for uncompressed text files, None when it cannot be told cheaply."""
    from modelpack.schema import readers

    try:
        name = readers.detect_format(path, fmt)
        if name == "parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        if name == "npy":
            return int(readers.load_npy(path, mmap=True).shape[0])
        if name in ("csv", "tsv", "jsonl") and path.suffix.lower() != ".gz":
            size = path.stat().st_size
            with path.open("rb") as fh:
                head = fh.read(_SNIFF_BYTES)
            lines = head.count(b"\n")
            if not lines:
                return None
            header = 1 if name != "jsonl" else 0
            return max(round(lines * size / len(head)) - header, 0)
    except (ModelpackError, OSError, ValueError):
        return None
    return None


def _row_count(data: Any) -> int:
    if isinstance(data, Mapping):
        for value in data.values():
            return len(value)
        return 0
    shape = getattr(data, "shape", None)
    if shape:
        return int(shape[0])
    try:
        return len(data)
    except TypeError:
        return 1


# --------------------------------------------------------------------------------------------------
# predict


@dataclass(frozen=True)
class PredictResult:
    """What ``predict`` did: rows scored, where the predictions went, which columns they have."""

    path: str
    uri: str | None
    data: str
    output: str
    output_format: str
    method: str
    rows: int
    columns: list[str]
    seconds: float
    predictions: list[dict[str, Any]] | None = None
    warnings: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        # Never the predictions themselves: a notebook would print every row.
        from modelpack._html import one_line

        where = "in .predictions" if self.predictions is not None else f"to {self.output}"
        return one_line(
            f"<PredictResult {self.uri or self.path}: {plural(self.rows, 'row')} ({self.method}) {where}, "
            f"columns {', '.join(self.columns)}>"
        )

    def _repr_html_(self) -> str:
        from modelpack import _html

        rows = [
            ("model", self.uri or self.path),
            ("data", self.data),
            ("output", self.output if self.predictions is None else "in .predictions"),
            ("method", self.method),
            ("rows", self.rows),
            ("seconds", round(self.seconds, 3)),
        ]
        parts = [_html.fields(rows)]
        if self.predictions:
            shown = self.predictions[:10]
            parts.append(_html.heading(f"first {len(shown)} of {self.rows} rows"))
            parts.append(_html.table(self.columns, [[r.get(c) for c in self.columns] for r in shown]))
        return _html.page(parts, self.warnings)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "uri": self.uri,
            "data": self.data,
            "output": self.output,
            "output_format": self.output_format,
            "method": self.method,
            "rows": self.rows,
            "columns": self.columns,
            "seconds": round(self.seconds, 3),
        }
        if self.predictions is not None:
            out["predictions"] = self.predictions
        return out


@dataclass(frozen=True)
class PackageChecks:
    """What a package is held to before it loads, in ``predict`` and ``validate`` alike."""

    trusted: tuple[str, ...] = ()  # modules (or module.qualname) trusted beyond the allowlist
    # Where 'modelpack trust' records are looked up, by the digest the integrity check computed.
    trust_home: Path | None = None
    # What the registry recorded for the version (a models:/ target): the files must match it.
    recorded: Recorded | None = None


@dataclass(frozen=True)
class PredictOptions:
    """How to read the input and where to write predictions.

    ``output`` is a file path (format from its suffix unless ``output_format`` says), a binary
    stream (CSV unless ``output_format`` says), or None to return the predictions in the result.
    """

    data: Path
    output: Path | BinaryIO | None = None
    method: str | None = None
    data_format: str | None = None
    output_format: str | None = None
    batch_rows: int = BATCH_ROWS
    force: bool = False  # replace an existing output file
    checks: PackageChecks = field(default_factory=lambda: PackageChecks())


def predict_folder(
    folder: Path,
    options: PredictOptions,
    *,
    uri: str | None = None,
    reporter: Reporter = SILENT,
) -> PredictResult:
    """Score a data file with the model in ``folder``, streaming batch by batch.

    Before anything is loaded the folder is checked against its manifest and, for a registry
    version, against the digest the registry recorded (the files are hashed once; that digest
    is the one looked up in the trust records); then the safety scan runs. Every batch is conformed to the input signature before
    the model sees it; the first bad batch stops scoring, the whole file is then checked so the
    error lists every violation, and no partial output file is left behind (a stream keeps the
    rows written before the bad batch; the exit code says they are incomplete).

    Raises:
        NotFoundError: the data file does not exist.
        InvalidModelError: the files do not match the manifest or the registry's record (exit 3);
            nothing was loaded.
        UnsafeModelError: the package failed the safety scan; nothing was loaded.
        SchemaViolationError: the data does not satisfy the input signature (exit 3).
        InvalidModelError: the model cannot be loaded, or failed while predicting.
        DataFormatError: the data file cannot be read.
        ConflictError: the output file exists and ``options.force`` is false.
    """
    from modelpack.errors import NotFoundError
    from modelpack.schema import readers, writers

    if not options.data.exists():
        raise NotFoundError(f"data file not found: {options.data}", path=str(options.data))
    output = options.output
    if isinstance(output, Path):
        out_format = writers.output_format(output, options.output_format)
        out_name = str(output)
        writers.check_output_file(output, replace=options.force)  # before the slow part
    else:
        out_format = writers.output_format(None, options.output_format)
        out_name = "-"
    started = time.perf_counter()
    with reporter.step("verifying file hashes"):
        trust = check_package(folder, options.checks, target=uri)
    with reporter.step("scanning and loading the model"):
        scorer = load_scorer(
            folder,
            method=options.method,
            trusted=options.checks.trusted,
            package_trusted=trust is not None,
            target=uri,
        )

    rows = 0
    columns: list[str] = []
    notes: list[str] = []
    collector = writers.RecordCollector() if output is None else None
    sink: Any = collector if collector is not None else output
    batches = readers.input_batches(
        options.data, schema=scorer.input_schema, fmt=options.data_format, batch_rows=options.batch_rows
    )
    try:
        with writers.open_writer(sink, out_format, replace=options.force) as writer:
            total = estimate_rows(options.data, fmt=options.data_format)
            for scored in score_batches(scorer, batches, reporter=reporter, warnings=notes, total_rows=total):
                writer.write(scored.frame)
                rows = scored.offset + len(scored.frame)
                if not columns:
                    columns = [str(c) for c in scored.frame.columns]
    except SchemaViolationError as exc:
        raise _full_report(scorer, options, exc) from None
    return PredictResult(
        path=str(folder),
        uri=uri,
        data=str(options.data),
        output=out_name if collector is None else "(result)",
        output_format=out_format,
        method=scorer.method,
        rows=rows,
        columns=columns,
        seconds=time.perf_counter() - started,
        predictions=collector.records if collector is not None else None,
        warnings=list(dict.fromkeys(notes)),
    )


def check_package(folder: Path, checks: PackageChecks, *, target: str | None = None) -> TrustRecord | None:
    """Refuse a folder that is not what was packed or registered; return the user's trust of it
    (looked up in ``checks.trust_home`` by the digest just computed, so the files are hashed once).

    Raises:
        InvalidModelError: a file differs from the manifest or from the registry's record, is
            missing or unexpected, or is not package content (exit 3).
    """
    from modelpack.package.integrity import verify_package

    result = verify_package(folder, recorded=checks.recorded)
    if not result.ok:
        raise result.error(target or str(folder))
    if checks.trust_home is None:
        return None
    from modelpack.safety.trust import find_trust

    return find_trust(folder, checks.trust_home, digest=result.digest)


def _full_report(scorer: Scorer, options: PredictOptions, exc: SchemaViolationError) -> SchemaViolationError:
    """Check the whole file so the error names every violation, not just the first batch's."""
    from modelpack.schema import enforce

    if scorer.input_schema is None:
        return exc
    report = enforce.check_file(
        options.data, scorer.input_schema, fmt=options.data_format, batch_rows=options.batch_rows
    )
    violations = [v.to_dict() for v in report.violations]
    if not any(is_error(v) for v in violations):
        violations = list(exc.violations)
    return violation_error(options.data.name, violations)
