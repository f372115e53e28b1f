"""Fast start-up by design: help and metadata-only commands import no heavy library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ASSET = Path(__file__).parent / "assets" / "print_modules.py"


def heavy_modules(*argv: str) -> list[str]:
    proc = subprocess.run([sys.executable, str(ASSET), *argv], capture_output=True, text=True, check=False)
    line = next(line for line in proc.stderr.splitlines() if line.startswith("HEAVY:"))
    return [m for m in line.removeprefix("HEAVY:").split(",") if m]


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["pack", "--help"], ["inspect", "--help"]])
def test_help_imports_nothing_heavy(argv: list[str]) -> None:
    assert heavy_modules(*argv) == []


def test_inspect_imports_nothing_heavy(packed: Path) -> None:
    assert heavy_modules("inspect", str(packed)) == []
    assert heavy_modules("inspect", str(packed), "--json") == []
