"""``modelpack trust``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from modelpack import render
from modelpack.cli import _run
from modelpack.cli._app import app
from modelpack.config import resolve_home

if TYPE_CHECKING:
    from modelpack.safety.trust import TrustResult


@app.command()
def trust(
    target: Annotated[
        str,
        typer.Argument(
            help="Model folder, models:/ URI, or model file (for pack) whose exact content you vouch for."
        ),
    ],
    remove: Annotated[bool, typer.Option("--remove", help="Stop trusting this content.")] = False,
    home: _run.HomeOption = None,
    json_output: _run.JsonFlag = False,
) -> None:
    """Trust a package's or model file's exact content, so it loads even when the scan cannot clear it.

    Use it for models you built yourself whose pickles carry code on purpose (a model class
    pickled by value). A trusted folder loads in validate and predict; a trusted model file
    (pickle, joblib, cloudpickle, skops) loads in pack. The record is keyed by the digest of the
    bytes; any change ends the trust. Trusting a file does not trust the folder pack writes.
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
    elif record.kind == "file":
        render.summary_line(
            f"trusted {record.source} ({record.digest[:19]}…); pack loads these exact bytes, any change ends the trust"
        )
    else:
        render.summary_line(
            f"trusted {record.source} ({record.digest[:19]}…); any change to its files ends the trust"
        )
