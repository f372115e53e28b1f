"""``modelpack pack``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelpack import render
from modelpack._text import plural
from modelpack.cli import _run
from modelpack.cli._app import app
from modelpack.config import local_home, resolve_home

if TYPE_CHECKING:
    from modelpack.package.packer import PackResult


@app.command()
def pack(
    model: Annotated[
        str,
        typer.Argument(
            help="Model file (pickle, joblib, cloudpickle) or a reference 'package.module:attr' / 'file.py:attr'."
        ),
    ],
    sample: Annotated[
        Path,
        typer.Option("--sample", "-s", help="Sample data file: CSV, TSV, Parquet, JSON, JSONL, NPY or NPZ."),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Folder to create (must be absent or empty, and outside the registry).",
        ),
    ],
    flavor: Annotated[
        str | None, typer.Option(help="Flavor: 'sklearn' or 'modelpack' (generic). Detected when omitted.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Model name recorded in MLmodel.")] = None,
    description: Annotated[str | None, typer.Option(help="Description recorded in MLmodel.")] = None,
    metadata: Annotated[
        list[str] | None,
        typer.Option("--metadata", "-m", help="KEY=VALUE added to MLmodel metadata (repeatable)."),
    ] = None,
    card: Annotated[
        Path | None,
        typer.Option(
            help="Markdown model card written into the folder as README.md: its text is kept, and its "
            "YAML front matter gets the keys modelpack knows that it does not set.",
        ),
    ] = None,
    generate_card: Annotated[
        bool,
        typer.Option(
            "--generate-card",
            help="Write a model card (README.md) describing the model, its signature, example, "
            "provenance and metrics; with --card, after that card's text.",
        ),
    ] = False,
    serialization: Annotated[
        _run.Serialization,
        typer.Option(
            help="auto: skops when skops trusts every type, else cloudpickle.", case_sensitive=False
        ),
    ] = _run.Serialization.AUTO,
    method: Annotated[
        str, typer.Option(help="Prediction method recorded as predict_fn (e.g. predict_proba).")
    ] = "predict",
    example_rows: Annotated[
        int, typer.Option(min=1, help="Rows of the sample saved as the input example.")
    ] = 5,
    sample_rows: Annotated[
        int | None, typer.Option(min=1, help="Read at most N rows of the sample (faster on huge files).")
    ] = None,
    sample_format: Annotated[
        str | None, typer.Option("--format", help="Sample format when the suffix does not say it.")
    ] = None,
    signature: Annotated[
        Path | None, typer.Option(help="MLflow signature JSON that replaces inference.")
    ] = None,
    input_schema: Annotated[
        Path | None, typer.Option(help="Input schema JSON that replaces inference.")
    ] = None,
    output_schema: Annotated[
        Path | None, typer.Option(help="Output schema JSON that replaces inference.")
    ] = None,
    trust_pickle: _run.TrustPickleOption = None,
    metric: _run.MetricOption = None,
    param: _run.ParamOption = None,
    training_data: _run.TrainingDataOption = None,
    no_provenance: _run.NoProvenanceFlag = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing model folder (one with an MLmodel file).")
    ] = False,
    home: _run.HomeOption = None,
    json_output: _run.JsonFlag = False,
) -> None:
    """Package a trained model as an MLflow model folder with an inferred signature.

    A model file the safety scan refuses loads when you trusted its exact bytes with
    'modelpack trust FILE' (records under --home).

    MLmodel records where the model came from: the git commit, branch, dirty flag and remote of
    the repository the model file is in, and the CI run (GitHub Actions, GitLab CI, Jenkins,
    Buildkite, CircleCI, Azure Pipelines), unless --no-provenance.
    """
    from modelpack.package.packer import Annotations, PackOptions, SchemaFiles, pack_model

    meta = _run.parse_key_values(metadata, "--metadata")
    pairs = _run.provenance_pairs(metric, param)
    reporter = render.StderrReporter(enabled=not json_output)

    def action() -> PackResult:
        request = _run.provenance_request(pairs, training_data, no_provenance)
        options = PackOptions(
            sample=sample,
            output=output,
            flavor=flavor,
            annotations=Annotations(name, description, meta),
            card=card,
            generate_card=generate_card,
            serialization=serialization.value,
            method=method,
            example_rows=example_rows,
            sample_rows=sample_rows,
            sample_format=sample_format,
            schema_files=SchemaFiles(signature, input_schema, output_schema),
            trusted=tuple(trust_pickle or ()),
            trust_home=local_home(resolve_home(home)),
            force=force,
            provenance=request,
        )
        return pack_model(model, options, reporter=reporter)

    _run.run("pack", json_output, action, _human, reporter=reporter)


def _human(result: PackResult) -> None:
    render.summary_line(
        f"packed {result.output} ({result.flavor}, {result.serialization}, {plural(result.files, 'file')}, {result.digest[:19]}…)"
    )
    if result.card:
        render.summary_line(f"model card: {result.card}")
    render.summary_line(f"serialization: {result.serialization}, because {result.serialization_reason}")
    if result.provenance:
        from modelpack.provenance.record import short_text

        render.summary_line(f"provenance: {short_text(result.provenance) or 'recorded'}")
