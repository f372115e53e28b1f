"""Command-line interface: a thin layer that parses arguments, calls the core and renders.

Each command lives in its own module and registers itself on ``app``; importing them here is
cheap because every heavy import happens inside command bodies.

May import: anything in modelpack (it goes through ``modelpack.api`` for the work); typer here
and rich through ``modelpack.render`` only. Nothing below this layer imports either.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from modelpack import __version__, render
from modelpack.cli import _run
from modelpack.cli._app import app, invoked_app


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
    serve_cmd,
    stages_cmd,
    trust_cmd,
    validate_cmd,
)


def _global_flags_first(args: list[str]) -> list[str]:
    """Move ``--traceback`` before the command, wherever it was given.

    Every error hint says "rerun with --traceback", and people append it to the command they
    just ran; the parser only knows it as an option of the root. Arguments after ``--`` are
    left alone.
    """
    end = args.index("--") if "--" in args else len(args)
    head = [a for a in args[:end] if a != "--traceback"]
    if len(head) == end:
        return args
    return ["--traceback", *head, *args[end:]]


def main() -> None:
    """Console-script entry point.

    The parser runs in non-standalone mode so that its errors (exit 2) come out as every other
    error does: one ``error:`` line (with Click's "did you mean" suggestion) and a hint on stderr,
    or, with ``--json``, the JSON error envelope on stdout.
    """
    args = _global_flags_first(sys.argv[1:])
    json_output = "--json" in args[: args.index("--")] if "--" in args else "--json" in args
    try:
        result = invoked_app(args)(args=args, standalone_mode=False)
    except Exception as exc:
        exit_code = getattr(exc, "exit_code", None)
        format_message = getattr(exc, "format_message", None)
        if not isinstance(exit_code, int) or format_message is None:
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare ``modelpack``: the help, as before
            exc.show()  # type: ignore[attr-defined]
            sys.exit(exit_code)
        message = " ".join(str(format_message()).split())
        ctx = getattr(exc, "ctx", None)
        command_path = getattr(ctx, "command_path", None) or "modelpack"
        if json_output:
            command = command_path.split()[-1] if " " in command_path else "modelpack"
            _run.write_json_or_drop(
                render.envelope(
                    command,
                    status="error",
                    exit_code=exit_code,
                    errors=[{"code": "usage", "message": message}],
                )
            )
        else:
            render.error_line(message, f"'{command_path} --help' shows the usage")
        sys.exit(exit_code)
    sys.exit(result if isinstance(result, int) else 0)
