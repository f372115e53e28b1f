"""``diff``: what changed between two model folders (or registry versions), and does it break callers.

Reads metadata only (MLmodel, requirements, manifest or file hashes); never loads a model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelpack import _html, contents
from modelpack._html import one_line
from modelpack.errors import ExitCode, InvalidModelError
from modelpack.package.environment import pinned_versions, read_requirements
from modelpack.package.manifest import Manifest, read_manifest, scan_folder
from modelpack.package.mlmodel import MLmodel, read_mlmodel
from modelpack.schema.compat import WARNING, Change, Reads, compare_signatures, is_breaking
from modelpack.schema.signature import Signature


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class DiffReport:
    a: str
    b: str
    signature_changes: list[Change]
    flavor_changes: list[FieldChange]
    environment_changes: list[FieldChange]
    file_changes: list[FieldChange]
    metadata_changes: list[FieldChange]
    digest_a: str
    digest_b: str
    warnings: list[str] = field(default_factory=list)

    @property
    def breaking(self) -> bool:
        return is_breaking(self.signature_changes)

    @property
    def exit_code(self) -> int:
        return int(ExitCode.VALIDATION_FAILED) if self.breaking else 0

    @property
    def status(self) -> str:
        return "failed" if self.breaking else "ok"

    @property
    def identical(self) -> bool:
        return self.digest_a == self.digest_b

    def __repr__(self) -> str:
        if self.identical:
            verdict = "identical"
        else:
            changes = len(self.signature_changes) + len(self.flavor_changes) + len(self.environment_changes)
            changes += len(self.file_changes) + len(self.metadata_changes)
            verdict = f"{'breaking' if self.breaking else 'compatible'}, {changes} changes"
        return one_line(f"<DiffReport {self.a} -> {self.b}: {verdict}>")

    def _repr_html_(self) -> str:
        verdict = "identical" if self.identical else ("breaking" if self.breaking else "compatible")
        parts = [
            _html.fields(
                [
                    ("A", f"{self.a} ({self.digest_a})"),
                    ("B", f"{self.b} ({self.digest_b})"),
                    ("verdict", verdict),
                ]
            )
        ]
        if self.signature_changes:
            rows = [
                (c.side, c.column, c.kind, c.severity, c.before, c.after, c.message)
                for c in self.signature_changes
            ]
            headers = ("side", "column", "change", "severity", "before", "after", "message")
            parts.append(_html.heading("signature") + _html.table(headers, rows))
        for label, changes in (
            ("flavors", self.flavor_changes),
            ("environment", self.environment_changes),
            ("files", self.file_changes),
            ("metadata", self.metadata_changes),
        ):
            if changes:
                rows2 = [(c.field, _shown(c.before), _shown(c.after)) for c in changes]
                parts.append(_html.heading(label) + _html.table(("field", "A", "B"), rows2))
        return _html.page(parts, self.warnings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "compatible": not self.breaking,
            "identical": self.identical,
            "digest_a": self.digest_a,
            "digest_b": self.digest_b,
            "signature": [c.to_dict() for c in self.signature_changes],
            "flavors": [c.to_dict() for c in self.flavor_changes],
            "environment": [c.to_dict() for c in self.environment_changes],
            "files": [c.to_dict() for c in self.file_changes],
            "metadata": [c.to_dict() for c in self.metadata_changes],
        }


def _shown(value: Any) -> str:
    """A changed value as table text (a missing one as ``-``)."""
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)


def load_signature(mlmodel: MLmodel, label: str) -> Signature | None:
    if not mlmodel.signature:
        return None
    try:
        return Signature.from_mlmodel(mlmodel.signature)
    except Exception as exc:
        raise InvalidModelError(f"the signature of {label} cannot be parsed: {exc}") from exc


def _manifest(folder: Path) -> Manifest:
    # Walked even when a manifest lists the files: a FIFO or device is not package content.
    contents.walk(folder)
    return read_manifest(folder) or scan_folder(folder)


def _changed(name: str, before: Any, after: Any) -> list[FieldChange]:
    return [] if before == after else [FieldChange(name, before, after)]


def _flavor_summary(mlmodel: MLmodel) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for flavor, conf in mlmodel.flavors.items():
        if not isinstance(conf, dict):
            continue
        keep = {k: conf[k] for k in ("loader_module", "serialization_format", "predict_fn") if k in conf}
        out[flavor] = keep
    return out


def diff_folders(a: Path, b: Path, *, label_a: str | None = None, label_b: str | None = None) -> DiffReport:
    """Compare model folder ``a`` (the version callers use now) with ``b`` (the candidate)."""
    la, lb = label_a or str(a), label_b or str(b)
    ma, mb = read_mlmodel(a), read_mlmodel(b)
    changes = compare_signatures(
        load_signature(ma, la),
        load_signature(mb, lb),
        reads=Reads(ma.fitted_feature_names, mb.fitted_feature_names),
    )

    flavors: list[FieldChange] = []
    fa, fb = _flavor_summary(ma), _flavor_summary(mb)
    for name in sorted(set(fa) | set(fb)):
        flavors += _changed(f"flavor {name}", fa.get(name), fb.get(name))

    env = _changed("python", ma.python_version, mb.python_version)
    pa, pb = pinned_versions(read_requirements(a)), pinned_versions(read_requirements(b))
    for lib in sorted(set(pa) | set(pb)):
        env += _changed(lib, pa.get(lib), pb.get(lib))

    mana, manb = _manifest(a), _manifest(b)
    ha = {f.path: f.sha256 for f in mana.files}
    hb = {f.path: f.sha256 for f in manb.files}
    files = []
    for path in sorted(set(ha) | set(hb)):
        if ha.get(path) != hb.get(path):
            files.append(FieldChange(path, _short(ha.get(path)), _short(hb.get(path))))

    meta: list[FieldChange] = []
    xa, xb = ma.modelpack_info, mb.modelpack_info
    for key in ("name", "description"):
        meta += _changed(key, xa.get(key), xb.get(key))
    meta += _changed("metadata", ma.raw.get("metadata"), mb.raw.get("metadata"))

    warnings = [c.message for c in changes if c.severity == WARNING]
    return DiffReport(
        a=la,
        b=lb,
        signature_changes=changes,
        flavor_changes=flavors,
        environment_changes=env,
        file_changes=files,
        metadata_changes=meta,
        digest_a=mana.digest,
        digest_b=manb.digest,
        warnings=warnings,
    )


def _short(digest: str | None) -> str | None:
    return None if digest is None else digest[:12]
