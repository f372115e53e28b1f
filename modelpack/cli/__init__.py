"""Command-line interface: a thin layer that parses arguments, calls the core and renders.

Each command lives in its own module and registers itself on ``app``; importing them here is
cheap because every heavy import happens inside command bodies.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from modelpack import __version__, render
from modelpack.cli import _run
from modelpack.cli._app import app, invoked_app
from modelpack.errors import ExitCode


def _version_callback(value: bool) -> None:
    if value:
        render.plain(f"modelpack {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
    traceback: Annotated[
        bool, typer.Option("--traceback", hidden=True, help="Show full tracebacks for errors.")
    ] = False,
) -> None:
    """Package trained models as MLflow model folders and keep a local registry of their versions."""
    _run.STATE.traceback = traceback


# Command modules register themselves on import (one line per module, kept sorted).
from modelpack.cli import (  # noqa: E402,F401
    diff_cmd,
    inspect_cmd,
    pack_cmd,
    predict_cmd,
    registry_cmds,
    schema_cmd,
    trust_cmd,
    validate_cmd,
)


def main() -> None:
    """Console-script entry point.

    With ``--json`` even a usage error (exit 2) must come out as the JSON envelope, so the parser
    runs in non-standalone mode and its errors are rendered here.
    """
    selected = invoked_app(sys.argv[1:])
    if "--json" not in sys.argv[1:]:
        selected()
        return
    try:
        result = selected(standalone_mode=False)
    except Exception as exc:
        exit_code = getattr(exc, "exit_code", None)
        format_message = getattr(exc, "format_message", None)
        if exit_code != ExitCode.USAGE or format_message is None:
            raise
        command = next((a for a in sys.argv[1:] if not a.startswith("-")), "modelpack")
        render.write_json(
            render.envelope(
                command,
                status="error",
                exit_code=int(ExitCode.USAGE),
                errors=[{"code": "usage", "message": str(format_message())}],
            )
        )
        sys.exit(int(ExitCode.USAGE))
    sys.exit(result if isinstance(result, int) else 0)
