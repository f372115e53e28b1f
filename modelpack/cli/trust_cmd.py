"""``modelpack trust``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from modelpack import render
from modelpack.cli import _run
from modelpack.cli._app import app
from modelpack.config import resolve_home

if TYPE_CHECKING:
    from modelpack.trust import TrustResult


@app.command()
def trust(
    target: Annotated[
        str, typer.Argument(help="Model folder or models:/ URI whose exact content you vouch for.")
    ],
    remove: Annotated[bool, typer.Option("--remove", help="Stop trusting this content.")] = False,
    home: _run.HomeOption = None,
    json_output: _run.JsonFlag = False,
) -> None:
    """Trust a package's exact content, so validate and predict load it even when the scan cannot clear it.

    Use it for packages you built yourself whose pickles carry code on purpose (a model class
    pickled by value). The record is keyed by the digest of the files; any change ends the trust.
    """
    from modelpack import api

    root = resolve_home(home)
    _run.run("trust", json_output, lambda: api.trust(target, home=root, remove=remove), _human)


def _human(result: TrustResult) -> None:
    record = result.record
    if result.action == "untrusted":
        render.summary_line(f"no longer trusted: {record.source} ({record.digest[:19]}…)")
    elif result.action == "unchanged":
        render.summary_line(
            f"already trusted: {record.source} ({record.digest[:19]}…, since {record.trusted_at})"
        )
    else:
        render.summary_line(
            f"trusted {record.source} ({record.digest[:19]}…); any change to its files ends the trust"
        )
