"""``validate``: check a model folder and report each check as passed, failed, warned or skipped.

The checks, in report order:

1. structure: MLmodel against the JSON Schema shipped as ``modelpack/package/mlmodel.schema.json``; the signature
   parses; every file MLmodel names exists inside the folder.
2. integrity: every file against the sha256 manifest ``pack`` wrote. No manifest (an MLflow
   folder) is a warning; a symlink leaving the folder is a failure.
3. safety: the static pickle scan (``modelpack.safety``); nothing is unpickled.
4. load: only when 1-3 did not fail and loading was not turned off. Loads through the flavor's
   loader (which scans again), predicts on the saved input example, checks the outputs.
5. data: the ``--data`` file against the input signature, streamed; then predictions on it and
   their check against the output schema (when the model was loaded).
6. environment: recorded Python and library versions against the running ones.

Checks 1-3 and 6 import none of numpy, pandas or scikit-learn, so ``--no-load`` stays fast.
A check that cannot run is reported, never raised: a validator's job is to say what is wrong.
"""

from __future__ import annotations

import json
import platform
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from modelpack import _html
from modelpack._html import one_line
from modelpack._text import plural
from modelpack.errors import ExitCode, ModelpackError, NotFoundError
from modelpack.package.files import named_files
from modelpack.package.integrity import Recorded
from modelpack.package.mlmodel import MLMODEL_FILE, PYFUNC, MLmodel, read_mlmodel
from modelpack.progress import SILENT, Reporter
from modelpack.safety.trust import TrustRecord
from modelpack.serving.scoring import PackageChecks

if TYPE_CHECKING:
    from modelpack.schema.signature import Schema

PASSED: Final = "passed"
FAILED: Final = "failed"
WARNED: Final = "warned"
SKIPPED: Final = "skipped"
STATUSES: Final = (PASSED, FAILED, WARNED, SKIPPED)
CHECKS: Final = ("structure", "integrity", "safety", "load", "data", "environment")
SCHEMA_RESOURCE: Final = ("modelpack.package", "mlmodel.schema.json")
# Libraries whose major.minor must match for a pickle to load reliably (estimator internals and
# the unpicklers themselves change between minor releases).
UNPICKLING_LIBRARIES: Final = ("scikit-learn", "numpy", "skops", "cloudpickle")
MAX_ERRORS_SHOWN: Final = 20
LOADABLE_FLAVORS: Final = ("sklearn", "modelpack", PYFUNC)


@dataclass(frozen=True)
class Check:
    """One line of the report.

    Attributes:
        name: one of ``CHECKS``.
        status: ``passed``, ``failed``, ``warned`` or ``skipped``.
        reason: one sentence saying why.
        details: everything the check found, for ``--json``.
    """

    name: str
    status: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return one_line(f"<Check {self.name}: {self.status}: {self.reason}>")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "reason": self.reason, "details": self.details}


@dataclass(frozen=True)
class ValidationReport:
    """Every check with its status; exit code 3 when any failed."""

    path: str
    uri: str | None
    checks: list[Check]
    registry: dict[str, Any] | None = None

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAILED]

    @property
    def exit_code(self) -> int:
        return int(ExitCode.VALIDATION_FAILED) if self.failed else int(ExitCode.OK)

    @property
    def status(self) -> str:
        return "failed" if self.failed else "ok"

    @property
    def warnings(self) -> list[str]:
        # Warned checks are part of the checklist already; repeating them would say it twice.
        return []

    def check(self, name: str) -> Check:
        """The check called ``name``."""
        return next(c for c in self.checks if c.name == name)

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for c in self.checks if c.status == s) for s in STATUSES}

    def __repr__(self) -> str:
        counts = ", ".join(f"{n} {s}" for s, n in self.counts().items() if n)
        failed = f"; failed: {', '.join(c.name for c in self.failed)}" if self.failed else ""
        return one_line(f"<ValidationReport {self.uri or self.path}: {self.status} ({counts}{failed})>")

    def _repr_html_(self) -> str:
        head = _html.para(f"{self.uri or self.path}: {self.status}")
        rows = [(c.name, c.status, c.reason) for c in self.checks]
        return head + _html.table(("check", "status", "reason"), rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "uri": self.uri,
            "registry": self.registry,
            "passed": not self.failed,
            "counts": self.counts(),
            "checks": [c.to_dict() for c in self.checks],
        }


@dataclass(frozen=True)
class ValidateOptions:
    """What to run: ``data`` adds check 5, ``load=False`` skips loading (checks 4 and 5's predictions)."""

    data: Path | None = None
    data_format: str | None = None
    load: bool = True
    batch_rows: int = 65_536
    checks: PackageChecks = field(default_factory=lambda: PackageChecks())
    # Data held in memory (a DataFrame, ndarray, dict of columns, records) instead of a file.
    data_in_memory: Any = None


def validate_folder(
    folder: Path,
    options: ValidateOptions | None = None,
    *,
    uri: str | None = None,
    registry: dict[str, Any] | None = None,
    reporter: Reporter = SILENT,
) -> ValidationReport:
    """Run every check on ``folder`` and collect the results.

    Args:
        folder: the model folder.
        options: what to run (defaults: load the model, no data file).
        uri: the registry URI the folder was resolved from, for the report.
        registry: registry facts about the version, for the report.
        reporter: progress sink for the slow steps (hashing, loading, scoring).

    Returns:
        A ValidationReport; its exit_code is 3 when a check failed.

    Raises:
        NotFoundError: the folder or the ``--data`` file does not exist.
    """
    options = options or ValidateOptions()
    if not folder.is_dir():
        raise NotFoundError(f"model folder not found: {folder}", path=str(folder))
    if options.data is not None and not options.data.exists():
        raise NotFoundError(f"data file not found: {options.data}", path=str(options.data))

    mlmodel, structure = _structure(folder)
    with reporter.step("verifying file hashes"):
        integrity, digest = _integrity(folder, options.checks.recorded)
    trust = None
    if options.checks.trust_home is not None and integrity.status != FAILED:
        from modelpack.safety.trust import find_trust

        trust = find_trust(folder, options.checks.trust_home, digest=digest)
    with reporter.step("scanning pickles"):
        safety = _safety(folder, options.checks.trusted, trust, uri)
    environment = _environment(folder, mlmodel)

    blocking = [c.name for c in (structure, integrity, safety) if c.status == FAILED]
    scorer: Any = None
    if not options.load:
        load = Check("load", SKIPPED, "skipped: --no-load")
    elif blocking:
        load = Check("load", SKIPPED, f"skipped: {', '.join(blocking)} failed, so nothing is loaded")
    else:
        assert mlmodel is not None  # structure passed, so MLmodel parsed
        with reporter.step("loading the model"):
            load, scorer = _load(folder, mlmodel, options.checks.trusted, package_trusted=trust is not None)

    if options.data is None and options.data_in_memory is None:
        data = Check("data", SKIPPED, "skipped: no --data file given")
    else:
        data = _data(mlmodel, scorer, options, load, reporter)

    return ValidationReport(
        path=str(folder),
        uri=uri,
        registry=registry,
        checks=[structure, integrity, safety, load, data, environment],
    )


def _status(failures: list[str], warnings: list[str]) -> str:
    return FAILED if failures else WARNED if warnings else PASSED


# --------------------------------------------------------------------------------------------------
# 1. structure


def load_mlmodel_schema() -> dict[str, Any]:
    """The MLmodel JSON Schema shipped as package data."""
    from importlib.resources import files

    resource = files(SCHEMA_RESOURCE[0]) / SCHEMA_RESOURCE[1]
    loaded: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    return loaded


def schema_errors(raw: Mapping[str, Any]) -> list[str]:
    """Every way ``raw`` (a parsed MLmodel) breaks the MLmodel JSON Schema, as ``path: message``."""
    import jsonschema

    # YAML gives datetimes and other non-JSON scalars; validate what JSON would carry.
    document = json.loads(json.dumps(raw, default=str))
    validator = jsonschema.Draft202012Validator(load_mlmodel_schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{'.'.join(str(p) for p in e.absolute_path) or '(top level)'}: {e.message}" for e in errors]


def _structure(folder: Path) -> tuple[MLmodel | None, Check]:
    from modelpack import contents
    from modelpack.package.example import read_example_json
    from modelpack.package.files import named_problems
    from modelpack.schema.signature import Signature

    if not (folder / MLMODEL_FILE).is_file():
        return None, Check("structure", FAILED, f"no {MLMODEL_FILE} file in the folder")
    try:
        mlmodel = read_mlmodel(folder)
    except ModelpackError as exc:
        return None, Check("structure", FAILED, exc.message)

    failures: list[str] = []
    warnings: list[str] = []
    errors = schema_errors(mlmodel.raw)
    failures.extend(f"MLmodel {e}" for e in errors[:MAX_ERRORS_SHOWN])
    if len(errors) > MAX_ERRORS_SHOWN:
        failures.append(f"... and {len(errors) - MAX_ERRORS_SHOWN} more schema errors")

    files = named_files(mlmodel.raw)
    outside, missing = named_problems(folder, mlmodel.raw)
    if outside:
        failures.append(
            f"MLmodel names paths outside the folder or that are not regular files: {', '.join(outside)}"
        )
    if missing:
        failures.append(f"MLmodel names files that do not exist: {', '.join(missing)}")

    signature = None
    if mlmodel.signature:
        try:
            signature = Signature.from_mlmodel(mlmodel.signature).to_dict()
        except ModelpackError as exc:
            failures.append(f"the signature does not parse: {exc.message}")
    else:
        warnings.append("no signature recorded, so inputs and outputs cannot be checked")

    info = mlmodel.input_example_info
    example = info.get("artifact_path") if info else None
    if isinstance(
        example, str
    ) and f"saved_input_example_info.artifact_path={contents.shown(example)}" not in (outside + missing):
        try:
            read_example_json(folder, info or {})
        except (ValueError, UnicodeDecodeError) as exc:
            failures.append(f"the input example {contents.shown(example)} is not JSON: {exc}")
        except ModelpackError as exc:
            failures.append(exc.message)

    if not any(f in mlmodel.flavors for f in LOADABLE_FLAVORS):
        warnings.append(
            f"no flavor modelpack or MLflow's pyfunc can load (flavors: {', '.join(mlmodel.flavors)})"
        )
    elif PYFUNC not in mlmodel.flavors:
        warnings.append("no python_function flavor: mlflow.pyfunc.load_model cannot load it")

    details = {
        "flavors": sorted(mlmodel.flavors),
        "schema_errors": errors,
        "named_files": [{"key": w, "path": contents.shown(p)} for w, p in files],
        "missing": missing,
        "outside": outside,
        "signature": signature,
        "problems": failures,
        "warnings": warnings,
    }
    status = _status(failures, warnings)
    if failures:
        reason = "; ".join(failures)
    elif warnings:
        reason = "; ".join(warnings)
    else:
        reason = "MLmodel matches the schema and every file it names exists"
    return mlmodel, Check("structure", status, reason, details)


# --------------------------------------------------------------------------------------------------
# 2. integrity


def _integrity(folder: Path, recorded: Recorded | None = None) -> tuple[Check, str | None]:
    """The integrity check, and the folder digest it computed (None when it hashed nothing)."""
    from modelpack.digest import MANIFEST_FILE
    from modelpack.package.integrity import verify_package

    result = verify_package(folder, recorded=recorded)
    details = result.details()
    if not result.ok:
        return Check("integrity", FAILED, result.describe(), details), None
    if result.manifest is None:
        return (
            Check(
                "integrity",
                WARNED,
                f"no {MANIFEST_FILE} (not packed by modelpack, e.g. saved by MLflow); file hashes not checked",
                details,
            ),
            None,
        )
    count = len(result.manifest.files)
    against = f" and the registry's record of {recorded.uri}" if recorded is not None else ""
    reason = f"every file matches the manifest{against} ({plural(count, 'file')})"
    return Check("integrity", PASSED, reason, details), result.digest


# --------------------------------------------------------------------------------------------------
# 3. safety


def _safety(
    folder: Path, trusted: tuple[str, ...], trust: TrustRecord | None = None, target: str | None = None
) -> Check:
    from modelpack import safety

    try:
        scanned = safety.scan_folder(folder, trusted=trusted)
    except OSError as exc:
        reason = f"the scan could not read a file: {exc.strerror or exc}"
        return Check("safety", FAILED, reason, {"trusted": list(trusted)})
    except ModelpackError as exc:  # not package content (a FIFO, a device...): nothing was read
        return Check("safety", FAILED, f"not scanned: {exc.message}", {"trusted": list(trusted)})
    details: dict[str, Any] = {"trusted": list(trusted), "files": [r.to_dict() for r in scanned]}
    bad = [r for r in scanned if not r.ok]
    if bad:
        findings = [f for r in bad for f in r.findings]
        names = list(dict.fromkeys(str(f.global_name) for f in findings))
        shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
        files = ", ".join(r.file for r in bad)
        details["findings"] = [_describe(f) for f in findings]
        if trust is not None:
            details["trust"] = trust.to_dict()
            return Check(
                "safety",
                PASSED,
                f"{files} would run what the allowlist does not cover ({shown}), but you trusted this exact "
                f"content ({trust.digest[:19]}…, by {trust.user} at {trust.trusted_at})",
                details,
            )
        advice = safety.trust_advice(findings, target or str(folder))
        return Check(
            "safety",
            FAILED,
            f"{files} would run what the allowlist does not cover: {shown}; nothing was loaded ({advice})",
            details,
        )
    if not scanned:
        return Check("safety", PASSED, "no pickle-based files to scan", details)
    seen = sorted({str(g) for r in scanned for g in (r.globals_seen or [])})
    described = ", ".join(f"{r.file} ({r.format})" for r in scanned)
    return Check(
        "safety",
        PASSED,
        f"no unsafe globals found in {described}; {plural(len(seen), 'global')} seen, all allowlisted"
        + (f" or trusted ({', '.join(trusted)})" if trusted else ""),
        details,
    )


def _describe(finding: Any) -> str:
    describe = getattr(finding, "describe", None)
    if callable(describe):
        return str(describe())
    return f"{finding.file}: {finding.global_name} ({finding.reason})"


# --------------------------------------------------------------------------------------------------
# 4. load and predict on the example


def _load(
    folder: Path, mlmodel: MLmodel, trusted: tuple[str, ...], *, package_trusted: bool = False
) -> tuple[Check, Any]:
    from modelpack.serving import scoring

    try:
        scorer = scoring.load_scorer(folder, mlmodel, trusted=trusted, package_trusted=package_trusted)
    except ModelpackError as exc:
        return Check("load", FAILED, f"cannot load: {exc.message}", _error_details(exc)), None
    except Exception as exc:  # unpickling raises anything (missing classes, version skew)
        return Check("load", FAILED, f"cannot load: {type(exc).__name__}: {exc}"), None

    details: dict[str, Any] = {"model_class": scorer.model_class, "method": scorer.method}
    info = mlmodel.input_example_info
    if not info:
        return Check(
            "load", WARNED, "loaded; no input example saved, so prediction was not tried", details
        ), scorer
    try:
        example = _example_data(folder, info, scorer.input_schema)
    except ModelpackError as exc:
        return Check("load", FAILED, f"the input example cannot be read: {exc.message}", details), scorer
    except (OSError, ValueError) as exc:
        return Check("load", FAILED, f"loaded, but the input example cannot be read: {exc}", details), scorer
    try:
        conformed = scorer.conform(example)
    except ModelpackError as exc:
        details.update(_error_details(exc))
        return Check(
            "load", FAILED, f"loaded, but the input example breaks the signature: {exc.message}", details
        ), scorer
    try:
        raw = scorer.predict(conformed)
        frame = scorer.frame(raw)
        output_violations = scorer.check_outputs(raw, frame)
    except ModelpackError as exc:
        return Check("load", FAILED, f"loaded, but {exc.message}", details), scorer
    except Exception as exc:  # a failure while tabulating or checking outputs
        return Check("load", FAILED, f"loaded, but {type(exc).__name__}: {exc}", details), scorer

    from modelpack.schema.writers import frame_records

    details.update(
        {
            "example_rows": len(frame),
            "output_columns": [str(c) for c in frame.columns],
            "predictions": frame_records(frame.head(5)),
            "output_violations": output_violations,
        }
    )
    errors = [v for v in output_violations if _is_error(v)]
    if errors:
        return Check(
            "load", FAILED, f"the outputs break the output schema: {_summary(errors)}", details
        ), scorer
    checked = (
        "checked against the output schema" if scorer.output_check_schema else "no output schema to check"
    )
    return (
        Check(
            "load",
            PASSED,
            f"loaded {scorer.model_class}; {scorer.method} on the {len(frame)}-row example; {checked}",
            details,
        ),
        scorer,
    )


def _example_data(folder: Path, info: dict[str, Any], schema: Schema | None) -> Any:
    from modelpack.package.example import example_to_data, read_example_json

    return example_to_data(read_example_json(folder, info), info, schema)


def _error_details(exc: ModelpackError) -> dict[str, Any]:
    out: dict[str, Any] = {"error": {"code": exc.code, "message": exc.message}}
    for key in ("violations", "findings"):
        if getattr(exc, key, None):
            out[key] = getattr(exc, key)
    return out


def _is_error(violation: Mapping[str, Any]) -> bool:
    from modelpack.serving.scoring import is_error

    return is_error(violation)


def _summary(violations: list[dict[str, Any]]) -> str:
    """Which columns, briefly; the detail lines and --json carry the full messages."""
    columns = list(dict.fromkeys(str(v.get("column")) for v in violations if v.get("column") is not None))
    noun = "violation" if len(violations) == 1 else "violations"
    where = f" in column{'s' if len(columns) != 1 else ''} {', '.join(columns)}" if columns else ""
    return f"{len(violations)} {noun}{where}"


# --------------------------------------------------------------------------------------------------
# 5. data


def _data(
    mlmodel: MLmodel | None, scorer: Any, options: ValidateOptions, load: Check, reporter: Reporter
) -> Check:
    from modelpack.schema import enforce
    from modelpack.serving.scoring import merge_violations, parse_signature

    path = options.data
    label = path.name if path is not None else "the data"
    details: dict[str, Any] = {"file": str(path) if path is not None else "(in memory)"}
    if mlmodel is None:
        return Check("data", SKIPPED, "skipped: MLmodel cannot be read, so there is no signature", details)
    try:
        signature = parse_signature(mlmodel)
    except ModelpackError as exc:
        return Check("data", SKIPPED, f"skipped: the signature does not parse ({exc.message})", details)
    schema = signature.inputs if signature else None

    violations: list[dict[str, Any]] = []
    if schema is not None:
        try:
            with reporter.step(f"checking {label} against the signature"):
                report = (
                    enforce.check_file(path, schema, fmt=options.data_format, batch_rows=options.batch_rows)
                    if path is not None
                    else enforce.check_report(options.data_in_memory, schema)
                )
        except ModelpackError as exc:
            return Check("data", FAILED, f"cannot read {label}: {exc.message}", details)
        violations = [v.to_dict() for v in report.violations]
        details["rows_checked"] = report.rows_checked
    details["violations"] = violations
    errors = [v for v in violations if _is_error(v)]
    warnings = [v for v in violations if not _is_error(v)]
    if errors:
        reason = f"the data breaks the input signature: {_summary(errors)}"
        return Check("data", FAILED, reason, details)

    checked = (
        f"{plural(details['rows_checked'], 'row')} "
        + ("matches" if details["rows_checked"] == 1 else "match")
        + " the input signature"
        if schema is not None
        else "no input signature to check against"
    )
    notes = f" (note: {'; '.join(str(v.get('message')) for v in warnings)})" if warnings else ""
    if scorer is None:
        why = "--no-load" if not options.load else f"the model did not load ({load.status})"
        status = WARNED if warnings or schema is None else PASSED
        return Check("data", status, f"{checked}; predictions not tried: {why}{notes}", details)

    from modelpack.schema.readers import input_batches

    output_batches: list[tuple[int, list[dict[str, Any]]]] = []
    rows = 0
    try:
        batches = (
            input_batches(path, schema=schema, fmt=options.data_format, batch_rows=options.batch_rows)
            if path is not None
            else [options.data_in_memory]
        )
        for scored in _scored(scorer, batches, reporter, details.get("rows_checked")):
            found = scorer.check_outputs(scored.raw, scored.frame)
            if found:
                output_batches.append((scored.offset, found))
            rows = scored.offset + len(scored.frame)
    except ModelpackError as exc:
        details.update(_error_details(exc))
        return Check("data", FAILED, f"{checked}, but predicting failed: {exc.message}", details)
    output_violations = merge_violations(output_batches)
    details.update({"rows_predicted": rows, "output_violations": output_violations})
    output_errors = [v for v in output_violations if _is_error(v)]
    if output_errors:
        return Check(
            "data",
            FAILED,
            f"{checked}; the outputs break the output schema: {_summary(output_errors)}",
            details,
        )
    status = WARNED if warnings or schema is None else PASSED
    outputs = "outputs match the output schema" if scorer.output_check_schema else "no output schema to check"
    return Check(
        "data", status, f"{checked}; {scorer.method} on {plural(rows, 'row')}, {outputs}{notes}", details
    )


def _scored(scorer: Any, batches: Iterable[Any], reporter: Reporter, total: int | None) -> Iterable[Any]:
    from modelpack.serving.scoring import score_batches

    return score_batches(
        scorer, batches, reporter=reporter, description="predicting on the data", total_rows=total
    )


# --------------------------------------------------------------------------------------------------
# 6. environment


_VERSION_RE: Final = re.compile(r"(\d+)\.(\d+)")


def major_minor(version: str | None) -> tuple[int, int] | None:
    """(major, minor) of a version string, or None when it has none."""
    match = _VERSION_RE.match(str(version or "").strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def recorded_versions(folder: Path, mlmodel: MLmodel | None) -> tuple[str | None, dict[str, str]]:
    """The Python version and library pins a package records (requirements.txt, MLmodel)."""
    from modelpack.package.environment import pinned_versions, read_requirements

    libs = {_normalize(k): v for k, v in pinned_versions(read_requirements(folder)).items()}
    python = None
    if mlmodel is not None:
        python = mlmodel.python_version
        sk = mlmodel.flavors.get("sklearn")
        if isinstance(sk, dict) and sk.get("sklearn_version"):
            # The version that pickled the estimator decides whether it unpickles.
            libs["scikit-learn"] = str(sk["sklearn_version"])
        conf = mlmodel.pyfunc or {}
        if conf.get("cloudpickle_version"):
            libs.setdefault("cloudpickle", str(conf["cloudpickle_version"]))
    return python, dict(sorted(libs.items()))


def compare_versions(
    python: str | None,
    libraries: Mapping[str, str],
    *,
    running_python: str | None = None,
    installed: Callable[[str], str | None] | None = None,
) -> tuple[list[str], dict[str, Any]]:
    """Warnings for version skew that can break unpickling, and the full comparison.

    Args:
        python: the recorded Python version.
        libraries: recorded library pins (normalized names to versions).
        running_python: the running Python version (this interpreter's when omitted).
        installed: how to look up an installed version.

    Returns:
        (warnings, details): a warning per differing major.minor of Python or of a library in
        ``UNPICKLING_LIBRARIES`` (or one missing); details list every library with both versions.
    """
    from modelpack.package.requirements import installed_version

    lookup = installed or installed_version
    running = running_python or platform.python_version()
    warnings: list[str] = []
    if python is None:
        warnings.append(f"no Python version recorded (running {running})")
    elif major_minor(python) != major_minor(running):
        warnings.append(f"Python {python} recorded, {running} running")
    rows: dict[str, Any] = {}
    for name, version in libraries.items():
        current = lookup(name)
        if current is None:
            state = "not installed"
        elif current == version:
            state = "same"
        elif major_minor(current) == major_minor(version):
            state = "same major.minor"
        else:
            state = "differs"
        rows[name] = {"recorded": version, "running": current, "state": state}
        if name in UNPICKLING_LIBRARIES and state in ("differs", "not installed"):
            shown = "not installed" if current is None else current
            warnings.append(f"{name} {version} recorded, {shown} running")
    details = {"python": {"recorded": python, "running": running}, "libraries": rows}
    return warnings, details


def _environment(folder: Path, mlmodel: MLmodel | None) -> Check:
    try:
        python, libs = recorded_versions(folder, mlmodel)
    except ModelpackError as exc:  # requirements.txt refused by the gate (outside, a FIFO...)
        return Check("environment", FAILED, exc.message)
    warnings, details = compare_versions(python, libs)
    if warnings:
        return Check("environment", WARNED, "; ".join(warnings) + " (unpickling may break)", details)
    states: dict[str, int] = {}
    for row in details["libraries"].values():
        states[row["state"]] = states.get(row["state"], 0) + 1
    tally = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    libs_text = f"{len(libs)} recorded libraries ({tally})" if libs else "no library versions recorded"
    return Check(
        "environment",
        PASSED,
        f"Python {python} recorded, {details['python']['running']} running; {libs_text};"
        " nothing that affects unpickling differs",
        details,
    )
