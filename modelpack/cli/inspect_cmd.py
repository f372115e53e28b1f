"""``modelpack inspect``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from modelpack import render
from modelpack.cli import _run
from modelpack.cli._app import app
from modelpack.config import resolve_home

if TYPE_CHECKING:
    from modelpack.package.inspector import InspectReport


@app.command()
def inspect(
    target: Annotated[str, typer.Argument(help="Model folder, or a registry URI such as models:/NAME/3.")],
    home: _run.HomeOption = None,
    json_output: _run.JsonFlag = False,
) -> None:
    """Show a model's flavors, signature, example, files and versions without loading it."""
    from modelpack import api

    _run.run(
        "inspect",
        json_output,
        lambda: api.inspect(target, home=resolve_home(home)),
        _human,
    )


def _human(report: InspectReport) -> None:
    render.key_values(
        [
            ("path", report.path),
            *([("uri", report.uri)] if report.uri else []),
            *([("name", report.name)] if report.name else []),
            *([("description", report.description)] if report.description else []),
            ("flavors", ", ".join(report.flavors)),
            ("loader", report.loader_module),
            ("model file", ", ".join(report.model_files)),
            ("serialization", _serialization_line(report)),
            ("created", report.created or "not recorded"),
            ("python", report.python_version),
            ("digest", report.digest + ("" if report.has_manifest else " (computed; no manifest)")),
        ],
        title="model",
    )
    if report.registry:
        extra = {k: v for k, v in report.registry.items() if k not in ("uri",)}
        render.heading("registry")
        render.key_values(list(extra.items()))
    if report.provenance:
        from modelpack.provenance.record import lines

        render.heading("provenance")
        render.key_values(lines(report.provenance))
    for side, rows in report.signature_rows.items():
        render.heading(f"signature {side}")
        render.columns(["name", "type", "required"], [(n, t, "yes" if r else "no") for n, t, r in rows])
    if not report.signature_rows:
        render.heading("signature")
        render.plain("  (none recorded)")
    if report.example_rows:
        render.heading("input example")
        render.columns(report.example_columns, report.example_rows)
    if report.libraries:
        render.heading("libraries")
        render.columns(["library", "version"], list(report.libraries.items()))
    render.heading("files")
    render.columns(["path", "bytes"], [(f["path"], f["size"]) for f in report.files])


def _serialization_line(report: InspectReport) -> str:
    if report.serialization is None:
        return "unknown"
    if report.loading_runs_code:
        return f"{report.serialization} (loading runs code: validate scans it first)"
    return f"{report.serialization} (loading runs no code)"
