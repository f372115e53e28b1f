"""What ``register`` learns from a model folder before storing it, without executing anything.

The MLmodel file is parsed with a safe YAML loader (via ``modelpack.package.mlmodel``) and its signature
JSON strings with ``json``; the model files themselves are only hashed, never unpickled. The
integrity manifest must list exactly the files present; their hashes are checked while they are
copied into the blob store (one read per file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelpack import _json, contents
from modelpack.digest import MANIFEST_FILE
from modelpack.errors import InvalidModelError, NotFoundError
from modelpack.package.manifest import IntegrityReport, Manifest, read_manifest, scan_folder


@dataclass(frozen=True)
class SourceModel:
    folder: Path
    manifest: Manifest
    flavors: list[str]
    signature: dict[str, Any] | None
    mlmodel: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    # What MLmodel records of where the model came from (``provenance.record.from_mlmodel``).
    provenance: dict[str, Any] = field(default_factory=dict)


def examine(folder: Path) -> SourceModel:
    """Check a model folder's structure and manifest listing (hashes are checked later).

    Raises:
        NotFoundError: the folder does not exist.
        InvalidModelError: no or unreadable MLmodel, a bad manifest, files missing from or not
            listed in the manifest, unsafe paths, or symlinks leaving the folder (exit 3).
    """
    if not folder.is_dir():
        if folder.exists():
            raise InvalidModelError(
                f"{folder} is not a folder",
                hint="give the folder that holds the MLmodel file",
                path=str(folder),
            )
        raise NotFoundError(f"model folder not found: {folder}", path=str(folder))
    from modelpack.package.mlmodel import read_mlmodel

    try:
        doc = read_mlmodel(folder)
    except NotFoundError as exc:
        raise InvalidModelError(exc.message, hint=exc.hint, path=exc.path) from exc
    from modelpack.package.files import check_named_files

    # Every path MLmodel names must stay inside the folder: what a later predict would load.
    check_named_files(folder, doc.raw)
    warnings: list[str] = []
    manifest = read_manifest(folder)
    if manifest is None:
        manifest = scan_folder(folder)
        warnings.append(
            f"{folder} has no {MANIFEST_FILE} (saved by MLflow?); its files were hashed as they are now"
        )
    else:
        check_listing(folder, manifest)
    if "python_function" not in doc.flavors:
        warnings.append("the model has no python_function flavor; mlflow.pyfunc cannot load it")
    signature, sig_warning = summarize_signature(doc.signature)
    if sig_warning:
        warnings.append(sig_warning)
    info = {
        key: str(doc.raw[key])
        for key in ("mlflow_version", "model_uuid", "utc_time_created")
        if doc.raw.get(key) is not None
    }
    from modelpack.provenance.record import from_mlmodel

    return SourceModel(
        folder=folder,
        manifest=manifest,
        flavors=sorted(str(k) for k in doc.flavors),
        signature=signature,
        mlmodel=info,
        warnings=warnings,
        provenance=from_mlmodel(doc.raw),
    )


def check_listing(folder: Path, manifest: Manifest) -> None:
    """The folder must hold exactly the manifest's files (content is checked on copy)."""
    unsafe = [
        f.path for f in manifest.files if not contents.is_safe_relative(f.path) or f.path == MANIFEST_FILE
    ]
    if unsafe:
        raise InvalidModelError(
            f"{folder / MANIFEST_FILE} lists paths outside the folder: {', '.join(unsafe)}",
            path=str(folder),
        )
    listing = contents.walk(folder)  # refuses FIFOs, devices, sockets, loops, non-UTF-8 names
    report = IntegrityReport(escaping_links=list(listing.escaping_links))
    present = {rel for rel, _path in listing.files if rel != MANIFEST_FILE}
    expected = {f.path for f in manifest.files}
    report.extra = sorted(present - expected)
    report.missing = sorted(expected - present)
    if not report.ok:
        raise integrity_failure(folder, report)


def integrity_failure(folder: Path, report: IntegrityReport) -> InvalidModelError:
    return InvalidModelError(
        f"integrity check failed for {folder}: {report.describe()}",
        hint="the files do not match modelpack.manifest.json; re-pack the model or restore the files",
        path=str(folder),
    )


def summarize_signature(signature: dict[str, Any] | None) -> tuple[dict[str, Any] | None, str | None]:
    """Names and types of a signature's inputs, outputs and params (MLflow stores JSON strings)."""
    if not signature:
        return None, None
    summary: dict[str, Any] = {}
    for part in ("inputs", "outputs", "params"):
        raw = signature.get(part)
        if raw is None:
            continue
        try:
            specs = _json.loads(raw, allow_nan=True) if isinstance(raw, str) else raw
            if not isinstance(specs, list):
                raise ValueError("not a list")
            summary[part] = [_spec(s) for s in specs]
        except (ValueError, TypeError, AttributeError):
            return None, f"the MLmodel signature's {part} could not be parsed; no signature recorded"
    return summary, None


def _spec(spec: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if spec.get("name") is not None:
        out["name"] = str(spec["name"])
    kind = str(spec.get("type"))
    out["type"] = kind
    if kind == "tensor" and isinstance(spec.get("tensor-spec"), dict):
        out["dtype"] = spec["tensor-spec"].get("dtype")
        out["shape"] = spec["tensor-spec"].get("shape")
    if spec.get("required") is False:
        out["required"] = False
    if "default" in spec:
        out["default"] = spec["default"]
    return out
