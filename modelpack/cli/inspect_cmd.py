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
    card: Annotated[
        bool,
        typer.Option(
            "--card",
            help="Print the whole model card (README.md, with its front matter) instead of the summary.",
        ),
    ] = False,
    home: _run.HomeOption = None,
    json_output: _run.JsonFlag = False,
) -> None:
    """Show a model's flavors, signature, example, model card, files and versions without loading it."""
    from modelpack import api

    def action() -> InspectReport:
        report = api.inspect(target, home=resolve_home(home))
        if card and not json_output and (report.card is None or report.card.text is None):
            from modelpack.errors import NotFoundError

            if report.card is None:
                message = f"{target} names no model card"
            else:  # the warning says why it cannot be shown (too large, not UTF-8, missing)
                why = next((w for w in report.warnings if "model card" in w), "the model card is unreadable")
                message = f"{target}: {why}"
            raise NotFoundError(
                message,
                hint="'modelpack pack --card FILE' or '--generate-card' writes one",
            )
        return report

    _run.run("inspect", json_output, action, _card_text if card else _human)


def _card_text(report: InspectReport) -> None:
    assert report.card is not None and report.card.text is not None
    render.plain("\n".join(render.printable_lines(report.card.text.rstrip("\n"))))


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
        extra = {k: v for k, v in report.registry.items() if k not in ("uri", "provenance")}
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
    if report.card is not None:
        _card_section(report)
    render.heading("files")
    render.columns(["path", "bytes"], [(f["path"], f["size"]) for f in report.files])


def _serialization_line(report: InspectReport) -> str:
    if report.serialization is None:
        return "unknown"
    if report.loading_runs_code:
        return f"{report.serialization} (loading runs code: validate scans it first)"
    return f"{report.serialization} (loading runs no code)"


def _card_section(report: InspectReport) -> None:
    from modelpack.package.card import body_preview, key_facts

    card = report.card
    assert card is not None
    render.heading(f"model card ({card.path})")
    if card.metadata:
        render.key_values([(render.printable(k), v) for k, v in key_facts(card.metadata)])
    if card.body is None:
        render.plain("  (not shown: see the warning)")
        return
    lines, more = body_preview(card.body)
    shown = [f"    {line}".rstrip() for line in render.printable_lines("\n".join(lines))]
    if more:
        shown.append(f"  ... {more} more lines: 'modelpack inspect --card' prints the whole card")
    render.plain("\n".join(shown))
