"""``pack``: turn a model and a sample data file into an MLflow model folder.

The folder is built in a temp dir beside the output and renamed into place only when every file,
the MLmodel and the manifest are written, so a failure or Ctrl-C leaves nothing behind.

Packing is reproducible: the same model and sample give byte-identical folders, so ``register``
(which recognises content by its digest) adds no version for a re-pack. The MLmodel's
``model_uuid`` is derived from the folder's content and ``utc_time_created`` is a fixed time.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from modelpack import __version__
from modelpack._fs import folder_is_empty, staged_dir
from modelpack.contents import inside
from modelpack.errors import (
    ConflictError,
    InputFileError,
    InvalidModelError,
    NotFoundError,
    SchemaViolationError,
    UsageError,
)
from modelpack.package import card as model_card
from modelpack.package.mlmodel import (
    FITTED_FEATURE_NAMES,
    FORMAT_VERSION,
    MLFLOW_FORMAT_VERSION,
    MLMODEL_FILE,
    MODELPACK_KEY,
    NOT_RECORDED_TIME,
    PYFUNC,
    dump_yaml,
)
from modelpack.progress import SILENT, Reporter
from modelpack.provenance.record import PROVENANCE_KEY

if TYPE_CHECKING:
    from modelpack.package.manifest import Manifest
    from modelpack.package.model_source import LoadedModel
    from modelpack.provenance.record import ProvenanceRequest

# Namespace of model_uuid, a uuid5 of the sha256 of everything else in the folder.
_MODEL_UUID_NAMESPACE: Final = uuid.UUID("0b6e3f7e-5a31-4d86-9f5c-9c1e8f2d4a77")

# Rows the model predicts on to learn the output schema; inference of the input schema reads the
# whole file regardless (streaming).
PREDICT_ROWS_DEFAULT = 10_000


@dataclass(frozen=True)
class Annotations:
    """What MLmodel records about the model for people: ``modelpack.name``, ``.description`` and
    the free-form ``metadata``."""

    name: str | None = None
    description: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SchemaFiles:
    """Declared schemas that replace inference: a whole MLflow signature, or the inputs, the
    outputs or both as schema JSON lists."""

    signature: Path | None = None
    inputs: Path | None = None
    outputs: Path | None = None


@dataclass(frozen=True)
class PackOptions:
    """How to pack. ``sample`` is a data file, or None when ``sample_data`` holds the sample in
    memory (a pandas DataFrame, a numpy array or a dict of them, a pyarrow Table)."""

    sample: Path | None
    output: Path
    flavor: str | None = None
    annotations: Annotations = field(default_factory=Annotations)
    serialization: str = "auto"
    method: str = "predict"
    example_rows: int = 5
    sample_rows: int | None = None
    sample_format: str | None = None
    schema_files: SchemaFiles = field(default_factory=SchemaFiles)
    card: Path | None = None  # the user's model card (Markdown), written as README.md
    generate_card: bool = False  # generate the card's sections (after the user's body, if any)
    trusted: tuple[str, ...] = ()
    trust_home: Path | None = None  # where 'modelpack trust' records live; None consults none
    force: bool = False
    sample_data: Any = None
    # What MLmodel records of where the model came from; None records nothing (a package
    # byte-identical on every machine).
    provenance: ProvenanceRequest | None = None

    @property
    def sample_label(self) -> str:
        """How messages name the sample."""
        return self.sample.name if self.sample is not None else "the sample"


@dataclass(frozen=True)
class PackResult:
    output: str
    flavor: str
    serialization: str
    serialization_reason: str
    model_file: str
    signature: dict[str, Any]
    requirements: list[str]
    digest: str
    files: int
    size_bytes: int
    card: str | None = None  # the model card's file in the folder, when one was written
    warnings: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"<PackResult {self.output}: {self.flavor} ({self.serialization}), {self.files} files, "
            f"{self.size_bytes} bytes, {self.digest[:19]}…>"
        )

    def _repr_html_(self) -> str:
        from modelpack import _html
        from modelpack.schema.signature import signature_html

        rows = [
            ("folder", self.output),
            ("flavor", f"{self.flavor} ({self.serialization}: {self.serialization_reason})"),
            ("files", f"{self.files} ({self.size_bytes} bytes)"),
            ("digest", self.digest),
            ("requirements", ", ".join(self.requirements)),
        ]
        parts = [_html.fields(rows), signature_html(self.signature)]
        return _html.page(parts, self.warnings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "flavor": self.flavor,
            "serialization": self.serialization,
            "serialization_reason": self.serialization_reason,
            "model_file": self.model_file,
            "card": self.card,
            "signature": self.signature,
            "requirements": self.requirements,
            "digest": self.digest,
            "files": self.files,
            "size_bytes": self.size_bytes,
            "provenance": self.provenance,
        }


def pack_model(
    model_ref: str | LoadedModel, options: PackOptions, *, reporter: Reporter = SILENT
) -> PackResult:
    """Build an MLmodel folder at ``options.output`` from MODEL and a sample (file or in memory).

    ``model_ref`` is MODEL as the command line gives it, or a model already in memory
    (``model_source.object_source``).

    Raises:
        NotFoundError: MODEL or the sample does not exist.
        UsageError: the output is inside or contains a registry or its trust records, is a
            symbolic link, or is on a kernel filesystem (/proc, /sys).
        ConflictError: the output exists and is not empty, without ``force``; with ``force``,
            it is not a model folder or holds one of the inputs.
        InputFileError: the output folder cannot be written (the OS error says why); nothing
            is left behind.
        UnsafeModelError: the model file's pickle imports globals outside the allowlist.
        InvalidModelError: MODEL is not a model, or it cannot predict on the sample.
        DataFormatError: the sample is empty, corrupt or of an unknown format.
    """
    from modelpack.package import environment, example, flavors, requirements
    from modelpack.package.manifest import scan_folder, write_manifest
    from modelpack.package.model_source import LoadedModel, load_model_source
    from modelpack.schema import infer, signature

    output = options.output
    _check_output(output, options, model_ref)
    if options.sample is None and options.sample_data is None:
        raise InvalidModelError("pack needs a sample: a data file or data in memory")
    if options.sample is not None and not options.sample.exists():
        raise NotFoundError(f"sample file not found: {options.sample}", path=str(options.sample))
    user_card = None if options.card is None else model_card.read_user_card(options.card)
    warnings: list[str] = []
    provenance = _provenance(options, model_ref, reporter)

    with reporter.step("loading model"):
        if isinstance(model_ref, LoadedModel):
            loaded = model_ref
        else:
            loaded = load_model_source(model_ref, trusted=options.trusted, trust_home=options.trust_home)
    if loaded.trust is not None:
        warnings.append(
            f"{loaded.source} fails the safety scan; loaded because you trusted its exact bytes "
            f"({loaded.trust.digest[:19]}…, by {loaded.trust.user} at {loaded.trust.trusted_at})"
        )
    flavor = flavors.choose_flavor(loaded.model, options.flavor)
    if not callable(getattr(loaded.model, options.method, None)):
        raise InvalidModelError(f"the model has no {options.method} method")

    schema_files = options.schema_files
    declared = signature.load_signature_file(schema_files.signature) if schema_files.signature else None
    with reporter.step("reading sample"):
        input_schema = _input_schema(options, warnings)
        predict_rows = options.sample_rows or PREDICT_ROWS_DEFAULT
        data = _sample_input(options, declared.inputs if declared else input_schema, predict_rows)

    with reporter.step("predicting on the sample"):
        predictions = _predict(loaded.model, options.method, data, options.sample_label)
    output_schema = (
        signature.load_schema_file(schema_files.outputs)
        if schema_files.outputs
        else infer.infer_output_schema(predictions, input_schema)
    )
    if declared is not None:
        sig = declared
    else:
        sig = signature.Signature(inputs=input_schema, outputs=output_schema)

    for module in loaded.by_value_modules:
        import cloudpickle

        from modelpack.package.flavors._deterministic import pin_class_ids

        if module.__name__ != "__main__":  # cloudpickle pickles __main__ by value already
            cloudpickle.register_pickle_by_value(module)
        pin_class_ids(module)

    with _output_errors(output), staged_dir(output, replace=options.force) as tmp:
        with reporter.step("writing model"):
            saved = flavors.save_model(
                loaded.model,
                tmp,
                flavor=flavor,
                serialization=options.serialization,
                predict_fn=options.method,
            )
        example_info = example.write_example(tmp, data, options.example_rows)
        size = sum(p.stat().st_size for p in tmp.iterdir() if p.is_file())
        reqs = requirements.infer_requirements(tmp / saved.model_file, saved.base_requirements)
        if flavor == flavors.GENERIC:
            reqs = sorted({*reqs, f"modelpack=={__version__}"}, key=str.lower)
        environment.write_environment(tmp, reqs)
        mlmodel = _mlmodel_dict(saved, sig, example_info, size, options.annotations)
        if provenance:
            mlmodel[MODELPACK_KEY][PROVENANCE_KEY] = provenance
            run_id = provenance.get("mlflow", {}).get("run_id")
            if run_id:  # MLflow's own key, as it writes it for a model logged in a run
                mlmodel["run_id"] = run_id
        fitted = flavors.fitted_feature_names(loaded.model)
        if fitted is not None:  # lets diff and the promote gate tell which inputs it reads
            mlmodel[MODELPACK_KEY][FITTED_FEATURE_NAMES] = fitted
        if options.card is not None or options.generate_card:
            _write_card(tmp, mlmodel, loaded.model, user_card, options.generate_card)
        with reporter.step("hashing files"):
            others = scan_folder(tmp)
            mlmodel["model_uuid"] = content_uuid(others, mlmodel)
            (tmp / MLMODEL_FILE).write_text(dump_yaml(mlmodel))
            manifest = write_manifest(tmp, known=others)
        if loaded.trust is not None or loaded.by_value_modules:
            warnings.extend(
                _refused_package_warning(tmp / saved.model_file, output, loaded.trust is not None)
            )

    return PackResult(
        output=str(output),
        flavor=flavor,
        serialization=saved.serialization,
        serialization_reason=saved.serialization_reason,
        model_file=saved.model_file,
        card=mlmodel[MODELPACK_KEY].get(model_card.CARD_KEY),
        signature=sig.to_dict(),
        requirements=reqs,
        digest=manifest.digest,
        files=len(manifest.files),  # the package's files: what the manifest lists
        size_bytes=manifest.total_size,
        warnings=warnings,
        provenance=provenance,
    )


def _provenance(options: PackOptions, model_ref: str | LoadedModel, reporter: Reporter) -> dict[str, Any]:
    """The provenance options ask for, of the repository the model file is in (the working
    directory's for a model in memory or an installed module's ``package.module:attr``)."""
    if options.provenance is None:
        return {}
    from modelpack.provenance.record import build

    start = Path.cwd()
    if isinstance(model_ref, str):
        model = Path(model_ref)
        if not model.exists() and ":" in model_ref:
            model = Path(model_ref.rpartition(":")[0])
        if model.exists():
            start = model.resolve().parent
    if options.provenance.training_data is None:
        return build(options.provenance, start)
    with reporter.step("hashing the training data"):
        return build(options.provenance, start)


def _refused_package_warning(model_file: Path, output: Path, file_trusted: bool) -> list[str]:
    """Say up front when validate and predict will refuse the package, and what the user can do."""
    from modelpack import safety

    findings = safety.scan_file(model_file).findings
    if not findings:
        return []
    carry = " (trusting the model file does not carry over to the package)" if file_trusted else ""
    return [f"validate and predict will refuse {output}{carry}: {safety.trust_advice(findings, str(output))}"]


#: Kernel filesystems: files there are views of the kernel, never a place to write a package.
_KERNEL_FILESYSTEMS: Final = (Path("/proc"), Path("/sys"))


def _check_output(output: Path, options: PackOptions, model_ref: str | LoadedModel) -> None:
    """Refuse an output that pack cannot own: it only ever creates a new folder, fills an empty
    one, or (with ``force``) replaces a model folder, never anything of the registry's."""
    if output.is_symlink():
        raise UsageError(
            f"output {output} is a symbolic link (to {output.readlink()})",
            hint="give the folder it points to, or a new path",
            path=str(output),
        )
    where = _resolve(output, "output")
    for root in _KERNEL_FILESYSTEMS:
        if inside(where, root):
            raise UsageError(
                f"output {output} is on the kernel filesystem {root}, which holds no files",
                hint="choose a folder on a real filesystem",
                path=str(output),
            )
    for home in _protected_homes(options):
        _check_not_registry(output, where, home)
    if output.exists() and not output.is_dir():
        raise ConflictError(f"output {output} exists and is not a folder", hint="choose another --output")
    if not output.is_dir() or folder_is_empty(output):
        return
    if not options.force:
        raise ConflictError(
            f"output {output} exists and is not empty",
            hint="pass --force to replace it, or choose another --output",
        )
    mlmodel = output / MLMODEL_FILE
    if not mlmodel.is_file() or mlmodel.is_symlink():
        raise ConflictError(
            f"output {output} is not a model folder (it has no {MLMODEL_FILE}); --force only replaces a model folder",
            hint="choose an empty or new folder, or remove it yourself",
            path=str(output),
        )
    for source in _input_files(options, model_ref):
        if inside(source.resolve(), where):
            raise ConflictError(
                f"output {output} holds {source}, which this pack reads; --force would delete it",
                hint="choose another --output, or move the input out of it",
                path=str(output),
            )


def _protected_homes(options: PackOptions) -> list[Path]:
    """The registries (with their trust records) an output must neither be inside nor contain:
    the one whose trust records this pack consults, and the one the environment names."""
    from modelpack.config import resolve_home

    given = [] if options.trust_home is None else [options.trust_home]
    env_home = resolve_home(None)
    local = [env_home] if isinstance(env_home, Path) else []
    return list(dict.fromkeys([*given, *local]))


def _check_not_registry(output: Path, where: Path, home: Path) -> None:
    from modelpack.safety.trust import TRUST_FILE

    registry = _resolve(home.expanduser(), "registry home")
    if inside(where, registry) or inside(registry, where):
        relation = "is" if where == registry else "is inside" if inside(where, registry) else "contains"
        raise UsageError(
            f"output {output} {relation} the registry at {home}; pack never writes there",
            hint="pack into a folder outside the registry, then 'modelpack register' it",
            path=str(output),
        )
    trust = _resolve(registry / TRUST_FILE, "trust records")
    if inside(trust, where):
        raise UsageError(
            f"output {output} contains the trust records {trust}; pack never writes there",
            hint="choose another --output",
            path=str(output),
        )


def _resolve(path: Path, what: str) -> Path:
    """``path`` with every symbolic link followed (it need not exist)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:  # a link loop: RuntimeError before Python 3.13
        raise UsageError(f"{what} {path} cannot be resolved: {exc}", path=str(path)) from None


def _input_files(options: PackOptions, model_ref: str | LoadedModel) -> list[Path]:
    """The files this pack reads from the user: MODEL (a file, or a ``file.py:attr``'s file;
    none for a model in memory), the sample, the signature files and the model card."""
    declared = options.schema_files
    files = [options.sample, declared.signature, declared.inputs, declared.outputs, options.card]
    if isinstance(model_ref, str):
        model = Path(model_ref)
        if not model.exists() and ":" in model_ref:
            model = Path(model_ref.rpartition(":")[0])
        files.append(model)
    return [f for f in files if f is not None and f.exists()]


@contextlib.contextmanager
def _output_errors(output: Path) -> Iterator[None]:
    """An OS error writing the package (the staging folder beside the output, the files in it,
    the final rename: EXDEV, EPERM, ENOTDIR, EROFS, ENOSPC...) as one line naming the path.
    ``staged_dir`` has already removed whatever it created."""
    try:
        yield
    except OSError as exc:
        filename = exc.filename if exc.filename is not None else str(output)
        if not inside(Path(filename).resolve(), output.resolve().parent):
            raise  # not the output's: some input could not be read
        reason = exc.strerror or type(exc).__name__
        raise InputFileError(
            f"cannot write the output folder {output}: {reason} ({filename})",
            hint="choose an --output on a writable filesystem with free space",
            path=str(output),
        ) from exc


def _input_schema(options: PackOptions, warnings: list[str]) -> Any:
    from modelpack.schema import infer, signature

    if options.schema_files.signature:
        return None
    if options.schema_files.inputs:
        return signature.load_schema_file(options.schema_files.inputs)
    if options.sample is None:
        return infer.infer_sample(options.sample_data, sample_rows=options.sample_rows)
    found = infer.infer_file(options.sample, fmt=options.sample_format, sample_rows=options.sample_rows)
    warnings.extend(found.warnings)
    return found.schema


def _sample_input(options: PackOptions, schema: Any, rows: int) -> Any:
    """The sample as ``predict`` and ``validate`` will hand it to the model: read as the input
    schema types it, then conformed, so the signature describes the form the model was checked on."""
    from modelpack.schema import enforce, infer, readers

    if options.sample is None:
        data = infer.sample_head(options.sample_data, rows)
        return data if schema is None else enforce.conform(data, schema)
    if schema is None:
        return readers.read_data(options.sample, fmt=options.sample_format, max_rows=rows)
    batches = []
    taken = 0
    for batch in readers.input_batches(
        options.sample, schema=schema, fmt=options.sample_format, batch_rows=rows
    ):
        batches.append(batch)
        taken += len(next(iter(batch.values()))) if isinstance(batch, dict) else len(batch)
        if taken >= rows:
            break
    data = _head(batches, rows)
    return enforce.conform(data, schema)


def _head(batches: list[Any], rows: int) -> Any:
    import numpy as np
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    first = batches[0]
    if isinstance(first, pd.DataFrame):
        frame = first if len(batches) == 1 else pd.concat(batches, ignore_index=True)
        return frame.head(rows)
    if isinstance(first, dict):
        return {k: np.concatenate([b[k] for b in batches])[:rows] for k in first}
    return np.concatenate(batches)[:rows] if len(batches) > 1 else first[:rows]


def _predict(model: Any, method: str, data: Any, sample: str) -> Any:
    try:
        return getattr(model, method)(data)
    except Exception as exc:
        message = " ".join(str(exc).split())[:300]
        raise SchemaViolationError(
            f"the model cannot {method} on {sample}: {type(exc).__name__}: {message}",
            hint="the sample must have the columns and types the model was trained on",
        ) from exc


def _mlmodel_dict(
    saved: Any, sig: Any, example_info: dict[str, Any], size: int, annotations: Annotations
) -> dict[str, Any]:
    from modelpack.package import environment

    flavors_conf = {k: dict(v) for k, v in saved.flavors.items()}
    pyfunc = flavors_conf[PYFUNC]
    pyfunc["python_version"] = environment.python_version()
    pyfunc["env"] = {"conda": environment.CONDA_FILE, "virtualenv": environment.PYTHON_ENV_FILE}
    doc: dict[str, Any] = {
        "flavors": flavors_conf,
        "is_signature_from_type_hint": False,
        "mlflow_version": MLFLOW_FORMAT_VERSION,
        "model_id": None,
        "model_size_bytes": size,
        "model_uuid": None,  # content_uuid() fills it in once every other file is written
        "prompts": None,
        "saved_input_example_info": example_info,
        "signature": sig.to_mlmodel(),
        "type_hint_from_example": False,
        "utc_time_created": NOT_RECORDED_TIME,
        MODELPACK_KEY: {
            "format_version": FORMAT_VERSION,
            "version": __version__,
            "name": annotations.name,
            "description": annotations.description,
            "serialization_reason": saved.serialization_reason,
        },
    }
    if annotations.metadata:
        doc["metadata"] = dict(annotations.metadata)
    return doc


def _write_card(
    folder: Path, mlmodel: dict[str, Any], model: Any, user_card: str | None, generate: bool
) -> None:
    """Write the model card from the MLmodel as it stands (provenance included) and name it there."""
    mlmodel[MODELPACK_KEY][model_card.CARD_KEY] = model_card.CARD_FILE
    estimator, task = model_card.describe_estimator(model)
    facts = model_card.facts_for_folder(folder, mlmodel, estimator=estimator, task=task)
    text = model_card.render_card(facts, user_card=user_card, generate=generate)
    (folder / model_card.CARD_FILE).write_bytes(text.encode("utf-8"))


def content_uuid(others: Manifest, mlmodel: dict[str, Any]) -> str:
    """``model_uuid`` as MLflow writes it (32 lowercase hex), derived from the content.

    MLflow mints a uuid4 per save; nothing in MLflow needs it random (3.x ``log_model`` replaces
    it with the LoggedModel id, ``evaluate`` uses it as a key). Derived from every other file
    (``others``, their manifest) and the rest of the MLmodel, it differs whenever the package
    does and never otherwise.
    """
    content = hashlib.sha256()
    content.update(others.digest.encode())
    content.update(dump_yaml({k: v for k, v in mlmodel.items() if k != "model_uuid"}).encode())
    return uuid.uuid5(_MODEL_UUID_NAMESPACE, content.hexdigest()).hex
