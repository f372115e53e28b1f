"""The entry point builds only the command it runs; everything else still reaches the full app."""

from __future__ import annotations

import pytest

from modelpack.cli import app
from modelpack.cli._app import invoked_app


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["inspect", "folder"], "inspect"),
        (["--traceback", "inspect", "folder", "--json"], "inspect"),
        (["list", "--home", "/somewhere"], "list_cmd"),
        (["promote", "iris", "1", "--stage", "Production"], "promote"),
    ],
)
def test_a_named_command_gets_an_app_with_only_that_command(argv: list[str], name: str) -> None:
    selected = invoked_app(argv)
    assert selected is not app
    assert [info.callback.__name__ for info in selected.registered_commands if info.callback] == [name]
    assert selected.registered_callback is app.registered_callback  # root options still parse
    assert len(app.registered_commands) > 1  # the shared app is left whole


@pytest.mark.parametrize("argv", [[], ["--help"], ["--version"], ["inspec", "folder"]])
def test_help_version_and_typos_get_the_full_app(argv: list[str]) -> None:
    assert invoked_app(argv) is app  # help lists every command; a typo gets suggestions


def test_shell_completion_gets_the_full_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_MODELPACK_COMPLETE", "complete_bash")
    assert invoked_app(["inspect", "folder"]) is app
