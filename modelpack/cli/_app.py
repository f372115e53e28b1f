"""The Typer application object; command modules attach themselves to it."""

from __future__ import annotations

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
