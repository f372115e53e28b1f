"""``inspect``: describe a model folder from its metadata alone.

It reads MLmodel with a safe YAML loader, the example as JSON and hashes files; it never
unpickles, and it imports none of numpy, pandas or scikit-learn.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelpack import _html, contents
from modelpack._html import one_line
from modelpack.digest import MANIFEST_FILE
from modelpack.package.card import CARD_KEY, CardView, read_card
from modelpack.package.environment import pinned_versions, read_requirements
from modelpack.package.manifest import read_manifest, scan_folder
from modelpack.package.mlmodel import read_mlmodel
from modelpack.provenance.record import from_mlmodel
from modelpack.provenance.record import lines as provenance_lines


@dataclass(frozen=True)
class InspectReport:
    path: str
    uri: str | None
    flavors: dict[str, Any]
    loader_module: str | None
    model_files: list[str]
    serialization: str | None
    loading_runs_code: bool | None
    signature: dict[str, Any] | None
    signature_rows: dict[str, list[tuple[str, str, bool]]]
    example_columns: list[str]
    example_rows: list[list[Any]]
    files: list[dict[str, Any]]
    digest: str
    has_manifest: bool
    created: str | None
    python_version: str | None
    libraries: dict[str, str]
    name: str | None
    description: str | None
    metadata: dict[str, Any]
    card: CardView | None = None  # the model card MLmodel names (modelpack.card), when it names one
    registry: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    # Where the model came from: git, CI, training data, metrics, params (``provenance.record``).
    provenance: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        inputs = self.signature_rows.get("inputs")
        cols = f", {len(inputs)} inputs" if inputs is not None else ", no signature"
        return one_line(
            f"<InspectReport {self.uri or self.path}: {', '.join(self.flavors) or 'no flavor'}"
            f" ({self.serialization or '-'}){cols}, {len(self.files)} files, {self.digest[:19]}…>"
        )

    def _repr_html_(self) -> str:
        from modelpack.schema.signature import signature_html

        rows: list[tuple[str, object]] = [
            ("model", self.uri or self.path),
            ("name", self.name),
            ("description", self.description),
            ("flavors", ", ".join(self.flavors)),
            ("serialization", self.serialization),
            ("loading runs code", {None: "-", True: "yes", False: "no"}[self.loading_runs_code]),
            ("digest", self.digest + ("" if self.has_manifest else " (no manifest)")),
            ("created", self.created),
            ("python", self.python_version),
            ("libraries", ", ".join(f"{k}=={v}" for k, v in self.libraries.items())),
            ("model card", None if self.card is None else self.card.path),
        ]
        if self.registry:
            rows += [(f"registry {k}", v) for k, v in self.registry.items()]
        rows += provenance_lines(self.provenance)
        parts = [_html.fields(rows), signature_html(self.signature)]
        parts.append(
            _html.heading("files")
            + _html.table(("path", "bytes"), [(f["path"], f["size"]) for f in self.files])
        )
        return _html.page(parts, self.warnings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "uri": self.uri,
            "flavors": self.flavors,
            "loader_module": self.loader_module,
            "model_files": self.model_files,
            "serialization": self.serialization,
            "loading_runs_code": self.loading_runs_code,
            "signature": self.signature,
            "input_example": {"columns": self.example_columns, "rows": self.example_rows},
            "files": self.files,
            "digest": self.digest,
            "has_manifest": self.has_manifest,
            "created": self.created,
            "python_version": self.python_version,
            "libraries": self.libraries,
            "name": self.name,
            "description": self.description,
            "metadata": self.metadata,
            "card": None if self.card is None else self.card.to_dict(),
            "registry": self.registry,
            "provenance": self.provenance,
        }


def inspect_folder(
    folder: Path,
    *,
    uri: str | None = None,
    registry: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
) -> InspectReport:
    """Describe the model folder at ``folder`` without loading the model.

    ``provenance`` (a version record's) replaces what the MLmodel records, when it holds any.

    Raises:
        NotFoundError: no folder.
        InvalidModelError: no MLmodel (not a model) or an unreadable one.
        InvalidModelError: MLmodel is not valid YAML or has no flavors.
    """
    from modelpack.package import flavors as flavor_mod
    from modelpack.package.example import EXAMPLE_FILE, preview, read_example_json
    from modelpack.schema import signature as sig_mod

    mlmodel = read_mlmodel(folder)
    warnings: list[str] = []

    signature_dict: dict[str, Any] | None = None
    rows: dict[str, list[tuple[str, str, bool]]] = {}
    if mlmodel.signature:
        try:
            sig = sig_mod.Signature.from_mlmodel(mlmodel.signature)
            signature_dict = sig.to_dict()
            for side in ("inputs", "outputs"):
                schema = getattr(sig, side)
                if schema is not None:
                    rows[side] = sig_mod.schema_rows(schema)
        except Exception as exc:  # a bad signature is reported, not fatal, for inspect
            warnings.append(f"the MLmodel signature cannot be parsed: {exc}")

    example_columns: list[str] = []
    example_rows: list[list[Any]] = []
    info = mlmodel.input_example_info
    if info:
        # An example outside the folder, a FIFO or a device is refused (exit 3), never read;
        # one that is only missing or malformed is a warning.
        name = info.get("artifact_path") or EXAMPLE_FILE
        key = "MLmodel saved_input_example_info.artifact_path"
        if contents.locate(folder, name if isinstance(name, str) else "", key=key, missing_ok=True) is None:
            warnings.append(f"the input example {contents.shown(str(name))} is missing")
        else:
            try:
                example_columns, example_rows = preview(read_example_json(folder, info), info)
            except (OSError, ValueError) as exc:
                warnings.append(f"the input example cannot be read: {exc}")

    manifest = read_manifest(folder)
    listing = contents.walk(folder)
    if manifest is None:
        manifest = scan_folder(folder)
        has_manifest = False
        warnings.append("no integrity manifest (not packed by modelpack); digest computed from the files")
    else:
        has_manifest = True
    shown = sorted([*listing.files, *((rel, folder / rel) for rel in listing.escaping_links)])
    files = [{"path": rel, "size": p.lstat().st_size} for rel, p in shown if rel != MANIFEST_FILE]

    serialization = flavor_mod.serialization_of(mlmodel)
    extra = mlmodel.modelpack_info
    card = None
    if CARD_KEY in extra:  # a README.md that MLmodel does not name is a file, not a card
        card, card_warnings = read_card(folder, extra[CARD_KEY])
        warnings.extend(card_warnings)
    metadata = mlmodel.raw.get("metadata") if isinstance(mlmodel.raw.get("metadata"), dict) else {}
    pyfunc = mlmodel.pyfunc or {}
    return InspectReport(
        path=str(folder),
        uri=uri,
        flavors=json.loads(json.dumps(mlmodel.flavors, default=str)),
        loader_module=pyfunc.get("loader_module"),
        model_files=flavor_mod.model_files(mlmodel),
        serialization=serialization,
        # skops builds only types it trusts; every pickle flavour can run code (the scanner's rule,
        # not imported here: the scanner module would cost inspect's start-up).
        loading_runs_code=None if serialization is None else serialization != "skops",
        signature=signature_dict,
        signature_rows=rows,
        example_columns=example_columns,
        example_rows=example_rows,
        files=files,
        digest=manifest.digest,
        has_manifest=has_manifest,
        created=mlmodel.created_utc,
        python_version=mlmodel.python_version,
        libraries=_libraries(folder, mlmodel.flavors),
        name=extra.get("name"),
        description=extra.get("description"),
        metadata=json.loads(json.dumps(metadata, default=str)),
        card=card,
        registry=registry,
        warnings=warnings,
        provenance=json.loads(json.dumps(provenance or from_mlmodel(mlmodel.raw), default=str)),
    )


def _libraries(folder: Path, flavors: dict[str, Any]) -> dict[str, str]:
    libs = pinned_versions(read_requirements(folder))
    sk = flavors.get("sklearn")
    if isinstance(sk, dict) and sk.get("sklearn_version"):
        libs.setdefault("scikit-learn", str(sk["sklearn_version"]))
    return dict(sorted(libs.items()))
