"""The one funnel every command body runs through.

It calls the core, renders the result (human or ``--json``), and maps failures to exit codes:
a ``ModelpackError`` becomes one stderr line (or the JSON error envelope) with its exit code,
Ctrl-C exits 130, anything else is a bug (exit 70, trace only with ``--traceback`` or
``MODELPACK_DEBUG=1``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from modelpack import render
from modelpack.config import ENV_HOME, is_debug
from modelpack.errors import ExitCode, ModelpackError

T = TypeVar("T")

JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print one JSON document (the result envelope) on stdout.")
]
HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        envvar=ENV_HOME,
        show_envvar=True,
        help="Registry root folder (default ~/.modelpack).",
    ),
]


TrustPickleOption = Annotated[
    list[str] | None,
    typer.Option(
        "--trust-pickle",
        help="Trust MODULE (or module.Name) beyond the allowlist for this run (repeatable).",
    ),
]


@dataclass
class _State:
    traceback: bool = False


STATE = _State()


def _error_entry(exc: ModelpackError) -> dict[str, Any]:
    entry: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.path:
        entry["path"] = exc.path
    if exc.hint:
        entry["hint"] = exc.hint
    for extra in ("violations", "findings", "changes"):
        if getattr(exc, extra, None):
            entry[extra] = getattr(exc, extra)
    return entry


def fail(command: str, json_output: bool, exc: ModelpackError) -> None:
    """Report an expected error and exit with its code."""
    if json_output:
        render.write_json(
            render.envelope(
                command,
                status="error",
                exit_code=int(exc.exit_code),
                errors=[_error_entry(exc)],
            )
        )
    else:
        render.error_line(exc.message, exc.hint)
    raise typer.Exit(int(exc.exit_code))


def run(
    command: str,
    json_output: bool,
    action: Callable[[], T],
    human: Callable[[T], None],
    *,
    reporter: render.StderrReporter | None = None,
) -> None:
    """Run ``action`` and render its result; never lets an exception escape as a traceback.

    A result may carry ``exit_code`` (e.g. 3 when validation found problems), ``status``
    ("ok"/"failed") and ``warnings`` (list of str); ``to_dict()`` gives the JSON data.
    ``reporter``, when given, is closed before anything is rendered, whatever happened.
    """
    render.reset_consoles()
    try:
        try:
            result = action()
        finally:
            if reporter is not None:
                reporter.close()
    except ModelpackError as exc:
        if STATE.traceback or is_debug():
            raise
        fail(command, json_output, exc)
        return
    except KeyboardInterrupt:
        if json_output:
            render.write_json(
                render.envelope(
                    command,
                    status="error",
                    exit_code=int(ExitCode.INTERRUPTED),
                    errors=[{"code": "interrupted", "message": "interrupted"}],
                )
            )
        else:
            render.error_line("interrupted")
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    except typer.Exit:
        raise
    except Exception as exc:  # a bug: say so, hide the trace unless asked
        if STATE.traceback or is_debug():
            raise
        message = f"internal error: {type(exc).__name__}: {exc}"
        if json_output:
            render.write_json(
                render.envelope(
                    command,
                    status="error",
                    exit_code=int(ExitCode.INTERNAL),
                    errors=[{"code": "internal", "message": message}],
                )
            )
        else:
            render.error_line(
                f"{type(exc).__name__}: {exc}",
                "this is a bug in modelpack; rerun with --traceback and report it",
                prefix="internal error",
            )
        raise typer.Exit(int(ExitCode.INTERNAL)) from None

    exit_code = int(getattr(result, "exit_code", 0))
    warnings: list[str] = list(getattr(result, "warnings", []) or [])
    if json_output:
        status = getattr(result, "status", "ok" if exit_code == 0 else "failed")
        data = result.to_dict() if hasattr(result, "to_dict") else result
        render.write_json(
            render.envelope(command, status=status, exit_code=exit_code, data=data, warnings=warnings)
        )
    else:
        human(result)
        for message in warnings:
            render.warning_line(message)
    if exit_code:
        raise typer.Exit(exit_code)


def parse_key_values(items: list[str] | None, option: str) -> dict[str, str]:
    """``KEY=VALUE`` options to a dict; a malformed item is a usage error naming the option."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=option)
        out[key.strip()] = value
    return out
