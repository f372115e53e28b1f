"""The error funnel: each error class maps to its exit code and one stderr line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from modelpack import api
from modelpack.cli import app
from modelpack.errors import (
    ConflictError,
    ExitCode,
    InvalidModelError,
    ModelpackError,
    NotFoundError,
    SchemaViolationError,
)

runner = CliRunner()


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (ModelpackError("plain failure"), ExitCode.ERROR),
        (NotFoundError("no such thing", hint="look elsewhere"), ExitCode.NOT_FOUND),
        (ConflictError("already there"), ExitCode.CONFLICT),
        (InvalidModelError("broken"), ExitCode.VALIDATION_FAILED),
        (
            SchemaViolationError("bad data", violations=[{"kind": "column_missing"}]),
            ExitCode.VALIDATION_FAILED,
        ),
    ],
)
def test_error_classes_map_to_exit_codes(
    monkeypatch: pytest.MonkeyPatch, exc: ModelpackError, code: int
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise exc

    monkeypatch.setattr(api, "inspect", boom)
    result = runner.invoke(app, ["inspect", "x"])
    assert result.exit_code == code
    assert result.stdout == ""
    assert result.stderr.splitlines()[0] == f"error: {exc.message}"
    if exc.hint:
        assert result.stderr.splitlines()[1] == f"hint: {exc.hint}"

    result = runner.invoke(app, ["inspect", "x", "--json"])
    assert result.exit_code == code
    doc = json.loads(result.stdout)
    assert doc["status"] == "error" and doc["exit_code"] == code
    assert doc["errors"][0]["code"] == exc.code and doc["errors"][0]["message"] == exc.message
    assert doc["data"] is None


def test_unexpected_exception_is_internal_70_without_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("kaput")

    monkeypatch.setattr(api, "inspect", boom)
    result = runner.invoke(app, ["inspect", "x"])
    assert result.exit_code == 70
    assert "internal error: RuntimeError: kaput" in result.stderr
    assert "--traceback" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bug_while_rendering_is_internal_70_without_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    # The result is computed, then the human renderer fails: still one line and exit 70, not a
    # traceback with exit 1 (an input example whose rows were wider than its columns did this).
    from modelpack.cli import inspect_cmd

    monkeypatch.setattr(api, "inspect", lambda *args, **kwargs: object())

    def broken(result: object) -> None:
        raise ValueError("zip() argument 2 is shorter than argument 1")

    monkeypatch.setattr(inspect_cmd, "_human", broken)
    result = runner.invoke(app, ["inspect", "x"])
    assert result.exit_code == 70
    assert result.stderr.splitlines()[0] == (
        "internal error: ValueError: zip() argument 2 is shorter than argument 1"
    )
    assert "Traceback" not in result.stderr
    monkeypatch.setenv("MODELPACK_DEBUG", "1")
    assert isinstance(runner.invoke(app, ["inspect", "x"]).exception, ValueError)


def test_debug_env_reraises(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("kaput")

    monkeypatch.setattr(api, "inspect", boom)
    monkeypatch.setenv("MODELPACK_DEBUG", "1")
    result = runner.invoke(app, ["inspect", "x"])
    assert isinstance(result.exception, RuntimeError)


def test_interrupt_is_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "inspect", boom)
    result = runner.invoke(app, ["inspect", "x"])
    assert result.exit_code == 130
    assert "interrupted" in result.stderr
