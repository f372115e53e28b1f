"""``modelpack stages``: show the registry's stages, or declare its own with ``stages set``.

One command (``stages`` shows, ``stages set NAME...`` declares), so it starts as fast as the
other registry commands; the work is ``store.set_stages`` through the ``_run`` funnel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelpack import render
from modelpack.cli import _run
from modelpack.cli._app import app
from modelpack.cli._run import JsonFlag
from modelpack.errors import UsageError

if TYPE_CHECKING:
    from modelpack.names import StageSet
    from modelpack.registry.records import StagesResult


class _Shown:
    """``modelpack stages``: the stages as a result the funnel renders."""

    def __init__(self, stages: StageSet) -> None:
        self.stages = stages

    def to_dict(self) -> dict[str, Any]:
        from modelpack.registry.records import stages_to_dict

        return stages_to_dict(self.stages)


def _describe(stages: StageSet) -> list[str]:
    lines = []
    for stage in stages.all:
        if stage == "None":
            role = "no stage (always exists)"
        elif stage == stages.archive:
            role = "archive: previous holders of an active stage move here"
        elif stage in stages.active:
            role = "active: one version, gated"
            if stage == stages.protected:
                role += ", delete needs --force"
        else:
            role = "any number of versions"
        lines.append(f"{stage:<16} {role}")
    lines.append(
        "MLflow's stages (the default)" if stages.is_default else f"declared (generation {stages.generation})"
    )
    return lines


@app.command()
def stages(
    action: Annotated[
        list[str] | None,
        typer.Argument(
            help="Nothing to show the stages; 'set NAME...' to declare them in order "
            "(e.g. set Prototype Testing Production Retired --archive Retired).",
            show_default=False,
        ),
    ] = None,
    archive: Annotated[
        str | None,
        typer.Option("--archive", help="With set: the stage previous holders of an active stage move to."),
    ] = None,
    active: Annotated[
        list[str] | None,
        typer.Option(
            "--active",
            help="With set: an active stage (one version, archived on promotion, gated); repeatable. "
            "Default: every stage but the archive.",
        ),
    ] = None,
    mapping: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="With set: OLD=NEW moves the versions of stage OLD to NEW (or None); needed for "
            "every stage holding versions that is not kept. Repeatable.",
        ),
    ] = None,
    json_output: JsonFlag = False,
    home: _run.HomeOption = None,
) -> None:
    """Show the registry's stages, or declare its own (MLflow's four by default).

    'None' always exists. Declared stages are ordered; one is the archive, and the active ones
    (every other by default) hold one version each, move their previous holder to the archive
    on promotion and are protected by 'promote --require-compatible'. Redeclaring is refused
    (exit 5) while a stage holding versions is neither kept nor mapped with --map OLD=NEW;
    mapped versions move in one change, each recorded in its model's history.
    """
    words = list(action or [])
    if words and words[0] != "set":
        raise typer.BadParameter(f"expected nothing or 'set NAME...', got {words[0]!r}", param_hint="ACTION")
    setting = bool(words)
    command = "stages set" if setting else "stages"
    maps = _run.parse_key_values(mapping, "--map")

    def registry() -> Any:
        from modelpack.cli.registry_cmds import _registry

        return _registry(home)

    if not setting:
        if archive is not None or active or maps:
            _run.fail(command, json_output, UsageError("--archive, --active and --map go with 'stages set'"))

        def show() -> _Shown:
            return _Shown(registry().stages)

        _run.run(command, json_output, show, lambda shown: render.plain("\n".join(_describe(shown.stages))))
        return

    def declare() -> StagesResult:
        if len(words) < 2 or archive is None:
            raise UsageError(
                "'stages set' needs the stages in order and --archive",
                hint="e.g. modelpack stages set Prototype Testing Production Retired --archive Retired",
            )
        result: StagesResult = registry().set_stages(words[1:], archive=archive, active=active, mapping=maps)
        return result

    def human(result: StagesResult) -> None:
        if not result.changed:
            render.plain(f"stages unchanged: {', '.join(result.stages.all)}")
            return
        render.plain(
            f"stages: {', '.join(result.stages.all)} (archive {result.stages.archive}, "
            f"generation {result.stages.generation})"
        )
        for line in result.moved:
            render.plain(f"moved {line}")

    _run.run(command, json_output, declare, human)
