"""``modelpack predict``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelpack import render
from modelpack._text import plural
from modelpack.cli import _run
from modelpack.cli._app import app
from modelpack.config import resolve_home

if TYPE_CHECKING:
    from modelpack.serving.scoring import PredictResult


@app.command()
def predict(
    target: Annotated[str, typer.Argument(help="Model folder, or a registry URI such as models:/NAME/3.")],
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            "-d",
            help="Input data: CSV, TSV, Parquet, JSON, JSONL, NPY or NPZ (streamed in batches).",
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="Where predictions go: a .csv, .parquet, .json or .jsonl file, or - for stdout (CSV).",
        ),
    ] = "-",
    method: Annotated[
        str | None,
        typer.Option(
            help="predict or predict_proba (default: the method the package records as predict_fn)."
        ),
    ] = None,
    data_format: Annotated[
        str | None, typer.Option("--format", help="Format of --data when its suffix does not say it.")
    ] = None,
    output_format: Annotated[
        _run.OutputFormat | None,
        typer.Option(help="Output format instead of the one the suffix implies.", case_sensitive=False),
    ] = None,
    batch_rows: Annotated[
        int, typer.Option(min=1, help="Rows per batch; memory holds one batch at a time.")
    ] = 65_536,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing --output file (else exit 5).")
    ] = False,
    trust_pickle: _run.TrustPickleOption = None,
    home: _run.HomeOption = None,
    json_output: _run.JsonFlag = False,
) -> None:
    """Score a data file with a model; the package is scanned before it is loaded.

    The input is checked against the model's signature first: data that breaks it exits 3 with
    every violation listed. With --json and no --output file, the predictions are in the JSON.
    An --output file appears only once complete; an existing one is replaced only with --force.
    """
    from modelpack import api

    reporter = render.StderrReporter(enabled=not json_output)
    destination: Any
    if output != "-":
        destination = Path(output)
    elif json_output:
        destination = None  # the predictions travel inside the one JSON document
    else:
        destination = sys.stdout.buffer

    def action() -> PredictResult:
        return api.predict(
            target,
            data=data,
            output=destination,
            method=method,
            data_format=data_format,
            output_format=output_format.value if output_format is not None else None,
            batch_rows=batch_rows,
            force=force,
            trusted=trust_pickle or (),
            home=resolve_home(home),
            reporter=reporter,
        )

    _run.run("predict", json_output, action, _human, reporter=reporter)


def _human(result: PredictResult) -> None:
    line = (
        f"predicted {plural(result.rows, 'row')} with {result.method} into {result.output} "
        f"({result.output_format}; columns: {', '.join(result.columns) or 'none'})"
    )
    if result.output == "-":
        # stdout carries the predictions themselves; the summary must not mix into them.
        render.console(stderr=True).print(line, markup=False, highlight=False)
    else:
        render.summary_line(line)
