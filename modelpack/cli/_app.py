"""The Typer application object; command modules attach themselves to it."""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence

import typer

EXIT_CODES_HELP = (
    "Exit codes: 0 ok, 1 error, 2 usage, 3 validation failed, 4 not found, "
    "5 conflict, 70 internal bug, 130 interrupted, 141 stdout closed by its reader."
)

app = typer.Typer(
    name="modelpack",
    help="Package trained models as MLflow model folders and keep a local registry of their versions.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)


def invoked_app(argv: Sequence[str]) -> typer.Typer:
    """The app to run for ``argv``: one holding only the named command, when a command is named.

    Typer turns every registered command into a Click command (evaluating each signature's
    annotations) before it parses anything, which costs more than a metadata command's own work.
    The full app still serves top-level help, mistyped names (with suggestions) and completion.
    """
    if any(key.startswith("_") and key.endswith("_COMPLETE") for key in os.environ):
        return app
    # The root takes only flags, so the first non-option word is the command's name.
    name = next((arg for arg in argv if not arg.startswith("-")), None)
    for info in app.registered_commands:
        if info.callback is not None and name == (
            info.name or typer.main.get_command_name(info.callback.__name__)
        ):
            single = copy.copy(app)
            single.registered_commands = [info]
            return single
    return app
