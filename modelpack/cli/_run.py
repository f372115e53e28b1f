"""The one funnel every command body runs through.

It calls the core, renders the result (human or ``--json``), and maps failures to exit codes:
a ``ModelpackError`` becomes one stderr line (or the JSON error envelope) with its exit code,
Ctrl-C exits 130, a stdout closed by its reader (``| head``) ends the command quietly with 141,
anything else is a bug (exit 70, trace only with ``--traceback`` or ``MODELPACK_DEBUG=1``).
"""

from __future__ import annotations

import os
import select
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from modelpack import render
from modelpack.config import ENV_HOME, is_debug
from modelpack.errors import ExitCode, ModelpackError

if TYPE_CHECKING:
    from modelpack.provenance.record import ProvenanceRequest

T = TypeVar("T")

JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print one JSON document (the result envelope) on stdout.")
]
HomeOption = Annotated[
    str | None,
    typer.Option(
        "--home",
        envvar=ENV_HOME,
        show_envvar=True,
        help="Registry root: a folder (default ~/.modelpack) or s3://BUCKET/PREFIX.",
    ),
]


TrustPickleOption = Annotated[
    list[str] | None,
    typer.Option(
        "--trust-pickle",
        help="Trust MODULE (or module.Name) beyond the allowlist for this run (repeatable).",
    ),
]


MetricOption = Annotated[
    list[str] | None,
    typer.Option("--metric", metavar="KEY=NUMBER", help="A metric recorded as provenance (repeatable)."),
]
ParamOption = Annotated[
    list[str] | None,
    typer.Option(
        "--param", metavar="KEY=VALUE", help="A parameter or setting recorded as provenance (repeatable)."
    ),
]
TrainingDataOption = Annotated[
    Path | None,
    typer.Option(
        "--training-data",
        metavar="FILE",
        help="Record this data file's name, sha256, size and inferred schema as provenance.",
    ),
]
NoProvenanceFlag = Annotated[
    bool,
    typer.Option(
        "--no-provenance",
        help="Record no git commit, CI run or MLflow run (recorded by default); --metric, --param and --training-data still are.",
    ),
]


def provenance_pairs(
    metrics: list[str] | None, params: list[str] | None
) -> tuple[dict[str, str], dict[str, str]]:
    """``--metric`` and ``--param`` as dicts (before the funnel: a malformed item is Typer's
    usage error, as for ``--tag``)."""
    return parse_key_values(metrics, "--metric"), parse_key_values(params, "--param")


def provenance_request(
    pairs: tuple[dict[str, str], dict[str, str]], training_data: Path | None, no_provenance: bool
) -> ProvenanceRequest:
    """The provenance options of ``pack`` and ``register`` as one request (see ``api.provenance_request``)."""
    from modelpack.api import provenance_request as request

    metrics, params = pairs
    return request(metrics=metrics, params=params, training_data=training_data, capture=not no_provenance)


class OutputFormat(str, Enum):
    """``predict --output-format`` choices (modelpack.schema.writers.OUTPUT_FORMATS), listed in help and completion."""

    CSV = "csv"
    PARQUET = "parquet"
    JSON = "json"
    JSONL = "jsonl"


class Serialization(str, Enum):
    """``pack --serialization`` choices."""

    AUTO = "auto"
    SKOPS = "skops"
    CLOUDPICKLE = "cloudpickle"
    PICKLE = "pickle"


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


def stdout_is_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (a write there fails with EPIPE).

    A BrokenPipeError can also come from some other pipe; only a closed stdout is the quiet case.
    """
    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, 0)  # POLLERR and POLLHUP are reported whatever the mask
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def _silence_stdout() -> None:
    # Point stdout at /dev/null so that the interpreter's last flush of buffered output cannot
    # fail again and print "Exception ignored ... BrokenPipeError" at exit.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def exit_stdout_closed() -> NoReturn:
    """End quietly because the reader of stdout went away (``modelpack list | head -n 1``)."""
    _silence_stdout()
    raise typer.Exit(int(ExitCode.STDOUT_CLOSED))


def write_json_or_drop(document: dict[str, Any]) -> None:
    """Write an error envelope; a closed stdout drops it (the exit code still tells the failure)."""
    try:
        render.write_json(document)
    except BrokenPipeError:
        _silence_stdout()


def _report_error(
    command: str, json_output: bool, code: int, entry: dict[str, Any], line: Callable[[], None]
) -> None:
    """The one way an error reaches the user: the error envelope with --json, else ``line()``."""
    if json_output:
        write_json_or_drop(render.envelope(command, status="error", exit_code=code, errors=[entry]))
    else:
        line()


def fail(command: str, json_output: bool, exc: ModelpackError) -> None:
    """Report an expected error and exit with its code."""
    code = int(exc.exit_code)
    _report_error(
        command, json_output, code, _error_entry(exc), lambda: render.error_line(exc.message, exc.hint)
    )
    raise typer.Exit(code)


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
    except BrokenPipeError:
        # e.g. predict streaming to stdout: the output file, if any, was never published.
        if not stdout_is_closed() or STATE.traceback or is_debug():
            raise
        exit_stdout_closed()
    except ModelpackError as exc:
        if STATE.traceback or is_debug():
            raise
        fail(command, json_output, exc)
        return
    except KeyboardInterrupt:
        _report_error(
            command,
            json_output,
            int(ExitCode.INTERRUPTED),
            {"code": "interrupted", "message": "interrupted"},
            lambda: render.error_line("interrupted"),
        )
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    except typer.Exit:
        raise
    except Exception as exc:  # a bug: say so, hide the trace unless asked
        _internal_error(command, json_output, exc)

    exit_code = int(getattr(result, "exit_code", 0))
    warnings: list[str] = list(getattr(result, "warnings", []) or [])
    try:
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
    except BrokenPipeError:
        exit_stdout_closed()
    except Exception as exc:  # rendering is no different: a bug is one line and exit 70
        _internal_error(command, json_output, exc)
    if exit_code:
        raise typer.Exit(exit_code)


def _internal_error(command: str, json_output: bool, exc: Exception) -> NoReturn:
    """Report a bug (exit 70): one line, the trace only with ``--traceback`` or MODELPACK_DEBUG."""
    if STATE.traceback or is_debug():
        raise exc
    bug = f"{type(exc).__name__}: {exc}"
    _report_error(
        command,
        json_output,
        int(ExitCode.INTERNAL),
        {"code": "internal", "message": f"internal error: {bug}"},
        lambda: render.error_line(
            bug,
            "this is a bug in modelpack; rerun with --traceback and report it",
            prefix="internal error",
        ),
    )
    raise typer.Exit(int(ExitCode.INTERNAL)) from None


def parse_key_values(items: list[str] | None, option: str) -> dict[str, str]:
    """``KEY=VALUE`` options to a dict; a malformed item is a usage error naming the option."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=option)
        out[key.strip()] = value
    return out
