"""Test isolation: every test gets its own MODELPACK_HOME, no colour, a fixed width."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "mp-home"
    monkeypatch.setenv("MODELPACK_HOME", str(home))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("TERM", "unknown")
    monkeypatch.delenv("MODELPACK_DEBUG", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    # Subprocesses must import this checkout even when it is not installed.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    return home


def modelpack_cmd(*args: str) -> list[str]:
    """argv for running the CLI in a real subprocess."""
    return [sys.executable, "-m", "modelpack", *args]
