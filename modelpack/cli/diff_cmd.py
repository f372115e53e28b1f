"""``modelpack diff``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from modelpack import render
from modelpack.cli import _run
from modelpack.cli._app import app
from modelpack.config import resolve_home

if TYPE_CHECKING:
    from modelpack.package.differ import DiffReport


@app.command()
def diff(
    a: Annotated[str, typer.Argument(help="The version callers use now: a folder or models:/ URI.")],
    b: Annotated[str, typer.Argument(help="The candidate: a folder or models:/ URI.")],
    home: _run.HomeOption = None,
    json_output: _run.JsonFlag = False,
) -> None:
    """Compare two models; exit 3 when B's signature would break callers of A."""
    from modelpack import api

    _run.run("diff", json_output, lambda: api.diff(a, b, home=resolve_home(home)), _human)


def _human(report: DiffReport) -> None:
    rows = [
        (f"{c.side}: {c.column or '-'}", c.before or "", c.after or "", c.severity)
        for c in report.signature_changes
    ]
    rows += [(c.field, _text(c.before), _text(c.after), "") for c in report.flavor_changes]
    rows += [(f"env: {c.field}", _text(c.before), _text(c.after), "") for c in report.environment_changes]
    rows += [(f"meta: {c.field}", _text(c.before), _text(c.after), "") for c in report.metadata_changes]
    rows += [(f"file: {c.field}", _text(c.before), _text(c.after), "") for c in report.file_changes]
    if rows:
        render.table(["what", "A", "B", "verdict"], rows, title=f"A = {report.a}\nB = {report.b}")
    # Verdicts the signatures alone could not decide say which rule did.
    for c in report.signature_changes:
        if c.rule is not None:
            render.summary_line(f"{c.severity}: {c.message}")
    if report.identical:
        render.summary_line("identical: same files, same digest")
    elif report.breaking:
        render.summary_line("breaking: B would break callers of A")
    else:
        render.summary_line("compatible: B accepts what A accepted and returns what A returned")


def _text(value: object) -> str:
    return "-" if value is None else str(value)
