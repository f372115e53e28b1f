"""``modelpack schema FILE``: print the schema inferred from a data file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelpack import render
from modelpack.cli import _run
from modelpack.cli._app import app

if TYPE_CHECKING:
    from modelpack.schema.infer import FileInference


@dataclass(frozen=True)
class SchemaResult:
    """The inferred schema; ``to_dict`` is MLflow's ColSpec/TensorSpec list, ready for --input-schema."""

    path: Path
    inference: FileInference

    @property
    def warnings(self) -> list[str]:
        return list(self.inference.warnings)

    def to_dict(self) -> list[dict[str, Any]]:
        return self.inference.schema.to_list()


def _infer(path: Path, fmt: str | None, sample_rows: int | None) -> SchemaResult:
    from modelpack.schema.infer import infer_file

    return SchemaResult(path, infer_file(path, fmt=fmt, sample_rows=sample_rows))


def _show(result: SchemaResult) -> None:
    from modelpack.schema.signature import schema_rows

    inference = result.inference
    noun = "row" if inference.rows == 1 else "rows"
    title = f"{result.path.name} ({inference.format}, {inference.rows} {noun} read)"
    rows = [
        (name, kind, "yes" if required else "no") for name, kind, required in schema_rows(inference.schema)
    ]
    render.table(["name", "type", "required"], rows, title=title)


@app.command("schema")
def schema(
    file: Annotated[Path, typer.Argument(help="Data file: .csv .tsv .parquet .json .jsonl .npy .npz.")],
    json_output: _run.JsonFlag = False,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="Read the file as this format instead of going by its suffix "
            "(csv, tsv, parquet, json, jsonl, npy, npz).",
        ),
    ] = None,
    sample_rows: Annotated[
        int | None,
        typer.Option(
            "--sample-rows", min=1, help="Infer from the first N rows only (default: the whole file)."
        ),
    ] = None,
) -> None:
    """Print the signature schema inferred from a data file (name, type, required).

    The whole file is read in batches, so memory stays bounded. With --json, the envelope's data
    is MLflow's ColSpec/TensorSpec list, usable as an --input-schema file.
    """
    _run.run("schema", json_output, action=lambda: _infer(file, fmt, sample_rows), human=_show)
