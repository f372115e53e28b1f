"""``modelpack validate``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelpack import render
from modelpack.cli import _run
from modelpack.cli._app import app
from modelpack.config import resolve_home

if TYPE_CHECKING:
    from modelpack.serving.validator import Check, ValidationReport

# Detail lines per check in the human checklist; --json carries all of them.
MAX_DETAIL_LINES = 12


@app.command()
def validate(
    target: Annotated[str, typer.Argument(help="Model folder, or a registry URI such as models:/NAME/3.")],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            "-d",
            help="Also check this data file (CSV, TSV, Parquet, JSON, JSONL, NPY, NPZ) against the "
            "input signature, then predict on it.",
        ),
    ] = None,
    data_format: Annotated[
        str | None, typer.Option("--format", help="Format of --data when its suffix does not say it.")
    ] = None,
    no_load: Annotated[
        bool,
        typer.Option(
            "--no-load",
            help="Never load the model: run only the structure, integrity, safety and environment checks.",
        ),
    ] = False,
    trust_pickle: _run.TrustPickleOption = None,
    home: _run.HomeOption = None,
    json_output: _run.JsonFlag = False,
) -> None:
    """Check a model folder: structure, integrity, safety, loading, data and environment.

    Loading a model runs code from it; validate scans every pickle statically first and loads
    only when the structure, integrity and safety checks pass. Exit 3 when a check failed.
    """
    from modelpack import api

    reporter = render.StderrReporter(enabled=not json_output)

    def action() -> ValidationReport:
        return api.validate(
            target,
            data=data,
            data_format=data_format,
            load=not no_load,
            trusted=trust_pickle or (),
            home=resolve_home(home),
            reporter=reporter,
        )

    _run.run("validate", json_output, action, _human, reporter=reporter)


def _human(report: ValidationReport) -> None:
    out = render.console()
    out.print(f"validate {report.uri or report.path}", markup=False, highlight=False)
    render.checklist([(c.status, c.name.ljust(11), c.reason) for c in report.checks])
    for check in report.checks:
        lines = detail_lines(check)
        if not lines:
            continue
        out.print(f"\n{check.name}:", markup=False, highlight=False)
        for line in lines[:MAX_DETAIL_LINES]:
            out.print(f"  {line}", markup=False, highlight=False)
        if len(lines) > MAX_DETAIL_LINES:
            out.print(
                f"  ... {len(lines) - MAX_DETAIL_LINES} more (see --json)", markup=False, highlight=False
            )
    counts = report.counts()
    tally = ", ".join(f"{counts[s]} {s}" for s in ("passed", "warned", "failed", "skipped") if counts[s])
    verdict = "validation failed" if report.failed else "validation passed"
    out.print(f"\n{verdict}: {tally}", markup=False, highlight=False)


def detail_lines(check: Check) -> list[str]:
    """Lines that explain a failed or warned check beyond its one-line reason."""
    from modelpack.serving.scoring import format_violation

    if check.status not in ("failed", "warned"):
        return []
    details = check.details
    lines: list[str] = []
    if check.name == "structure":
        lines.extend(str(p) for p in details.get("problems", [])[1:])
    elif check.name == "integrity":
        for key, label in (
            ("changed", "changed"),
            ("missing", "missing"),
            ("extra", "not in the manifest"),
            ("escaping_links", "symlink outside the folder"),
        ):
            lines.extend(f"{label}: {name}" for name in details.get(key) or [])
    elif check.name == "safety":
        lines.extend(str(line) for line in details.get("findings") or [])
    elif check.name in ("load", "data"):
        for key, side in (("violations", "input"), ("output_violations", "output")):
            for v in details.get(key) or []:
                label = "note" if v.get("severity") == "warning" else side
                lines.append(f"{label}: {format_violation(v)}")
    elif check.name == "environment":
        for name, row in (details.get("libraries") or {}).items():
            if row.get("state") in ("differs", "not installed"):
                lines.append(
                    f"{name}: recorded {row.get('recorded')}, running {row.get('running') or 'none'}"
                )
    return lines
