"""The public Python API: one function per command, each returning a result object.

Everything heavy is imported inside the functions, so ``import modelpack.api`` stays cheap.

Example::

    from modelpack import api
    result = api.pack("model.pkl", sample="sample.csv", output="out/model")
    print(result.digest)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelpack.config import Home, local_home, parse_home
from modelpack.progress import SILENT, Reporter

if TYPE_CHECKING:
    from modelpack.package.differ import DiffReport
    from modelpack.package.inspector import InspectReport
    from modelpack.package.packer import PackResult
    from modelpack.provenance.record import ProvenanceRequest
    from modelpack.safety.trust import TrustResult


def pack(
    model: str | Path | Any,
    sample: str | Path | Any,
    output: str | Path,
    *,
    flavor: str | None = None,
    name: str | None = None,
    description: str | None = None,
    metadata: Mapping[str, str] | None = None,
    card: str | Path | None = None,
    generate_card: bool = False,
    serialization: str = "auto",
    method: str = "predict",
    example_rows: int = 5,
    sample_rows: int | None = None,
    sample_format: str | None = None,
    signature_file: str | Path | None = None,
    input_schema_file: str | Path | None = None,
    output_schema_file: str | Path | None = None,
    trusted: Iterable[str] = (),
    home: Home | None = None,
    force: bool = False,
    metrics: Mapping[str, float] | None = None,
    params: Mapping[str, str] | None = None,
    training_data: str | Path | None = None,
    provenance: bool = True,
    reporter: Reporter = SILENT,
) -> PackResult:
    """Package a model as an MLflow model folder.

    Args:
        model: a fitted model object (e.g. a scikit-learn estimator), a pickle/joblib/cloudpickle
            file, or ``package.module:attr`` / ``file.py:attr``. An object whose classes come
            from your own code (``__main__``, a module that is not installed) is pickled by
            value, as ``file.py:attr`` is.
        sample: data the model can predict on: a pandas DataFrame, a numpy array (or a dict of
            arrays), a pyarrow Table, or a data file (CSV, TSV, Parquet, JSON, JSONL, NPY, NPZ).
            A DataFrame gets the signature its CSV would get.
        output: the folder to create.
        flavor: ``sklearn`` or ``modelpack``; detected when omitted.
        name: a name recorded in MLmodel.
        description: a description recorded in MLmodel.
        metadata: free-form ``metadata`` entries for MLmodel.
        card: a Markdown model card to write into the folder as ``README.md`` (named in MLmodel as
            ``modelpack.card``): its text is kept, and its YAML front matter gets the keys
            modelpack knows (``library_name``, ``tags``, ``model-index``...) that it lacks.
        generate_card: write a generated model card (description, model details, signature,
            input example, provenance, metrics, how to load it); with ``card``, after its text.
        serialization: ``auto`` (skops when it can hold the model, else cloudpickle), ``skops``,
            ``cloudpickle`` or ``pickle``.
        method: the prediction method recorded as ``predict_fn``.
        example_rows: rows of the sample saved as the input example.
        sample_rows: cap on rows read for inference and prediction.
        sample_format: force the sample's format instead of using its suffix.
        signature_file: an MLflow signature JSON that replaces inference.
        input_schema_file: an input schema JSON list that replaces input inference.
        output_schema_file: an output schema JSON list that replaces output inference.
        trusted: modules (or module.qualname) trusted beyond the allowlist when unpickling MODEL.
        home: MODELPACK_HOME, whose trust records (``trust`` on a model file) let MODEL load
            although the scan refuses it; None consults no record. Either way the output may
            neither be inside nor contain ``home``, nor the registry MODELPACK_HOME (or
            ~/.modelpack) names.
        force: replace an existing model folder (one with an MLmodel file) at ``output``.
        metrics: numbers recorded as provenance (``--metric``).
        params: settings recorded as provenance (``--param``); values are kept as strings.
        training_data: a data file whose name, sha256, size and inferred schema are recorded.
        provenance: record the git commit, branch, dirty flag and remote of the repository the
            model file (or, for a model in memory, the working directory) is in, and the CI run
            from CI's own environment variables. False records none of it (metrics, params and
            training data still are).
        reporter: progress sink for slow steps.

    Returns:
        A PackResult describing the folder written.

    Raises:
        ModelpackError: see ``modelpack.package.packer.pack_model``.
    """
    from modelpack.package.model_source import object_source
    from modelpack.package.packer import Annotations, PackOptions, SchemaFiles, pack_model

    def _path(value: str | Path | None) -> Path | None:
        return None if value is None else Path(value)

    in_memory = not isinstance(sample, (str, Path))
    request = provenance_request(
        metrics=metrics, params=params, training_data=training_data, capture=provenance
    )
    options = PackOptions(
        sample=None if in_memory else Path(sample),
        sample_data=sample if in_memory else None,
        output=Path(output),
        flavor=flavor,
        annotations=Annotations(name, description, dict(metadata or {})),
        card=_path(card),
        generate_card=generate_card,
        serialization=serialization,
        method=method,
        example_rows=example_rows,
        sample_rows=sample_rows,
        sample_format=sample_format,
        schema_files=SchemaFiles(_path(signature_file), _path(input_schema_file), _path(output_schema_file)),
        trusted=tuple(trusted),
        trust_home=None if home is None else local_home(parse_home(home) if isinstance(home, str) else home),
        force=force,
        provenance=request,
    )
    source = str(model) if isinstance(model, (str, Path)) else object_source(model)
    return pack_model(source, options, reporter=reporter)


def provenance_request(
    *,
    metrics: Mapping[str, float | str] | None = None,
    params: Mapping[str, Any] | None = None,
    training_data: str | Path | None = None,
    capture: bool = True,
) -> ProvenanceRequest:
    """What ``pack`` and ``Registry.register`` record as provenance, with the CI variables of
    this process's environment that provenance may read (its allowlist, and nothing else).

    Raises:
        UsageError: a metric that is not a finite number, or a key MLflow would refuse.
    """
    import os

    from modelpack.provenance.ci import allowed_environment
    from modelpack.provenance.record import ProvenanceRequest, parse_metrics, parse_params

    return ProvenanceRequest(
        capture=capture,
        environ=allowed_environment(os.environ) if capture else {},
        metrics=parse_metrics({k: str(v) for k, v in (metrics or {}).items()}),
        params=parse_params({k: str(v) for k, v in (params or {}).items()}),
        training_data=None if training_data is None else Path(training_data),
    )


def inspect(target: str | Path, *, home: Home | None = None) -> InspectReport:
    """Describe a model folder (or registry URI) without loading the model.

    Args:
        target: a model folder, or a ``models:/`` URI resolved in the registry at ``home``.
        home: the registry root; needed only for URIs.

    Returns:
        An InspectReport; its ``provenance`` is the MLmodel's for a folder, the version
        record's for a URI (what register added included).

    Raises:
        NotFoundError: the folder, model, version, stage or alias does not exist.
        InvalidModelError: the MLmodel file is unreadable.
    """
    from modelpack.package.inspector import inspect_folder
    from modelpack.target import resolve_target

    resolved = resolve_target(str(target), home=home)
    return inspect_folder(
        resolved.path, uri=resolved.uri, registry=resolved.registry_info(), provenance=resolved.provenance
    )


def diff(a: str | Path, b: str | Path, *, home: Home | None = None) -> DiffReport:
    """Compare two model folders or registry versions; B is the candidate for A's callers.

    Args:
        a: the version callers use now (folder or ``models:/`` URI).
        b: the candidate (folder or ``models:/`` URI).
        home: the registry root; needed only for URIs.

    Returns:
        A DiffReport; ``report.breaking`` is true when B would break A's callers.

    Raises:
        NotFoundError: either target does not exist.
        InvalidModelError: an MLmodel or signature cannot be parsed.
    """
    from modelpack.package.differ import diff_folders
    from modelpack.target import resolve_target

    ta = resolve_target(str(a), home=home)
    tb = resolve_target(str(b), home=home)
    return diff_folders(ta.path, tb.path, label_a=str(a), label_b=str(b))


if TYPE_CHECKING:
    from typing import BinaryIO

    from pandas import DataFrame  # type: ignore[import-untyped, unused-ignore]

    from modelpack.serving.scoring import PredictResult
    from modelpack.serving.validator import ValidationReport


def validate(
    target: str | Path,
    *,
    data: str | Path | Any | None = None,
    data_format: str | None = None,
    load: bool = True,
    trusted: Iterable[str] = (),
    home: Home | None = None,
    batch_rows: int = 65_536,
    reporter: Reporter = SILENT,
) -> ValidationReport:
    """Check a model folder (or registry URI) and report every check.

    The checks are structure, integrity, safety, load (predicting on the saved example), data
    (when ``data`` is given) and environment. The model is loaded only after the structure,
    integrity and static safety checks pass, and never when ``load`` is false.

    Args:
        target: a model folder, or a ``models:/`` URI resolved in the registry at ``home``.
        data: data to check against the input signature and predict on: a data file, or a
            pandas DataFrame, numpy array, dict of columns or list of records.
        data_format: the format of ``data`` when its suffix does not say it.
        load: load the model and predict (False runs only the static checks).
        trusted: modules (or module.qualname) trusted beyond the allowlist for this run.
        home: the registry root; needed only for URIs.
        batch_rows: rows per batch when streaming ``data``.
        reporter: progress sink for slow steps.

    Returns:
        A ValidationReport; ``exit_code`` is 3 when a check failed.

    Raises:
        NotFoundError: the folder, registry entry or data file does not exist.
    """
    from modelpack.serving.scoring import PackageChecks
    from modelpack.serving.validator import ValidateOptions, validate_folder
    from modelpack.target import resolve_target

    resolved = resolve_target(str(target), home=home, reporter=reporter)
    options = ValidateOptions(
        data=_data_file(data),
        data_in_memory=_data_in_memory(data),
        data_format=data_format,
        load=load,
        batch_rows=batch_rows,
        checks=PackageChecks(tuple(trusted), local_home(home), resolved.recorded),
    )
    return validate_folder(
        resolved.path,
        options,
        uri=resolved.uri,
        registry=resolved.registry_info(),
        reporter=reporter,
    )


def predict(
    target: str | Path,
    data: str | Path | Any,
    *,
    output: str | Path | BinaryIO | None = None,
    method: str | None = None,
    data_format: str | None = None,
    output_format: str | None = None,
    trusted: Iterable[str] = (),
    home: Home | None = None,
    batch_rows: int = 65_536,
    force: bool = False,
    reporter: Reporter = SILENT,
) -> PredictResult | DataFrame:
    """Score data with a model folder (or registry URI): a file batch by batch, or data in memory.

    Before anything is loaded the files are checked against the manifest and, for a ``models:/``
    target, against the digest the registry recorded; then the package's pickles are scanned.
    The input is conformed to the signature before the model sees it.

    Args:
        target: a model folder, or a ``models:/`` URI resolved in the registry at ``home``.
        data: the input file (CSV, TSV, Parquet, JSON, JSONL, NPY, NPZ); or a pandas DataFrame,
            numpy array, dict of columns or list of records, for which the predictions come
            back as a DataFrame (the columns a file would get) and ``output``, ``data_format``,
            ``output_format``, ``batch_rows`` and ``force`` do not apply; ``home`` then defaults
            to MODELPACK_HOME as for ``load_model``.
        output: a file path (format from the suffix), a binary stream (CSV unless
            ``output_format`` says), or None to return the predictions in the result.
        method: ``predict`` or ``predict_proba``; the recorded ``predict_fn`` by default.
        data_format: the format of ``data`` when its suffix does not say it.
        output_format: ``csv``, ``parquet``, ``json`` or ``jsonl``, overriding the suffix.
        trusted: modules (or module.qualname) trusted beyond the allowlist for this run.
        home: the registry root; needed only for URIs.
        batch_rows: rows per batch; memory holds one batch at a time.
        force: replace an existing ``output`` file (else exit 5, like ``pack``).
        reporter: progress sink (rows scored).

    Returns:
        A PredictResult for a file; a pandas DataFrame for data in memory.

    Raises:
        NotFoundError: the folder, registry entry or data file does not exist.
        UnsafeModelError: the package failed the safety scan; nothing was loaded.
        SchemaViolationError: the data breaks the input signature (every violation is listed).
        InvalidModelError: the files are not what was packed or registered, MLmodel names a
            path outside the folder, or the model cannot be loaded or failed while predicting.
        ConflictError: the output file exists and ``force`` is false.
    """
    if _data_file(data) is None:
        return _predict_in_memory(target, data, method=method, trusted=trusted, home=home)
    from modelpack.serving.scoring import PackageChecks, PredictOptions, predict_folder
    from modelpack.target import resolve_target

    resolved = resolve_target(str(target), home=home, reporter=reporter)
    options = PredictOptions(
        data=Path(data),
        output=Path(output) if isinstance(output, (str, Path)) else output,
        method=method,
        data_format=data_format,
        output_format=output_format,
        batch_rows=batch_rows,
        force=force,
        checks=PackageChecks(tuple(trusted), local_home(home), resolved.recorded),
    )
    return predict_folder(resolved.path, options, uri=resolved.uri, reporter=reporter)


def trust(target: str | Path, *, home: Home, remove: bool = False) -> TrustResult:
    """Trust (or with ``remove`` stop trusting) the exact current content of a model package or file.

    For a folder or ``models:/`` URI, ``validate`` and ``predict`` then accept that content even
    when the safety scan cannot clear it (e.g. a model class pickled by value). For a model file
    (pickle, joblib, cloudpickle, skops), ``pack`` then loads those exact bytes. Any change to a
    byte ends the trust. Trusting a file does not trust the folder ``pack`` writes from it.

    Args:
        target: a model folder, a model file or a ``models:/`` URI.
        home: where the trust record lives (MODELPACK_HOME).
        remove: forget the trust instead.

    Returns:
        A TrustResult with the kind (folder or file), the digest and who trusted it when.

    Raises:
        NotFoundError: the target does not exist, or ``remove`` names content not trusted.
        InputFileError: the target is a file pack cannot read as a model.
        RegistryError: the trust record is corrupt or cannot be written.
    """
    from modelpack.safety.trust import trust_package
    from modelpack.uri import is_model_uri

    trust_home = local_home(home)
    assert trust_home is not None  # a home is given, so there is a local one

    if is_model_uri(str(target)):
        from modelpack.target import resolve_target

        resolved = resolve_target(str(target), home=home)
        return trust_package(resolved.path, trust_home, source=str(target), remove=remove)
    path = Path(target)
    return trust_package(path, trust_home, source=str(path.resolve()), remove=remove)


if TYPE_CHECKING:
    from modelpack.schema.signature import Schema


def infer_schema(data: Any, *, data_format: str | None = None, sample_rows: int | None = None) -> Schema:
    """Infer the input schema ``pack`` would record for ``data`` (also ``modelpack.schema(data)``).

    Args:
        data: a pandas DataFrame, numpy array (or dict of arrays), pyarrow Table, a dict or list
            of records, or a data file path.
        data_format: the file's format when its suffix does not say it.
        sample_rows: read at most this many rows.

    Returns:
        A Schema (``repr`` lists the columns; notebooks show a table).

    Raises:
        DataFormatError: the data is empty, or a column mixes value types.
        NotFoundError: the file does not exist.
    """
    from modelpack.schema.infer import infer_any

    return infer_any(data, fmt=data_format, sample_rows=sample_rows)


def _data_file(data: Any) -> Path | None:
    """DATA as a file path, or None when it is data held in memory (or absent)."""
    return Path(data) if isinstance(data, (str, Path)) else None


def _data_in_memory(data: Any) -> Any:
    return None if data is None or isinstance(data, (str, Path)) else data


def _predict_in_memory(
    target: str | Path, data: Any, *, method: str | None, trusted: Iterable[str], home: Home | None
) -> DataFrame:
    """``predict`` on data held in memory: ``load_model`` (same checks) and the table ``predict`` writes."""
    from modelpack.model import load_model

    if data is None:
        from modelpack.errors import UsageError

        raise UsageError("predict needs data: a file, or a DataFrame, array, dict of columns or records")
    return load_model(target, home=home, trusted=trusted, method=method).predict_frame(data)
