"""The MLflow interoperability suite: real MLflow in-process and real CLI subprocesses.

`make interop` runs it in .venv-interop, which has MLflow 3.x next to an editable modelpack.
Anywhere MLflow is not importable (e.g. `make test` in .venv), every test here is skipped with one
clear reason instead of failing on the import. Test modules therefore import MLflow inside
fixtures and tests, never at module level.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, modelpack_cmd

HAVE_MLFLOW = importlib.util.find_spec("mlflow") is not None
SKIP_REASON = "MLflow is not importable here; `make interop` runs this suite in .venv-interop with MLflow 3.x"
HERE = Path(__file__).resolve().parent

# MLflow and pandas 3 emit hints and deprecations we cannot act on (integer-column hints, the
# pickle-format caution, Pandas4Warning, FutureWarnings about stages); the root config turns every
# warning into an error, which would make this suite test MLflow's warning hygiene.
_WARNING_FILTERS = (
    "ignore::Warning:mlflow",
    "ignore::Warning:pandas",
    "ignore::UserWarning",
    "ignore::FutureWarning",
    "ignore::DeprecationWarning",
    "ignore::ResourceWarning",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE not in Path(str(item.path)).parents:
            continue
        for spec in _WARNING_FILTERS:
            item.add_marker(pytest.mark.filterwarnings(spec))
        if not HAVE_MLFLOW:
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


@pytest.fixture(autouse=True)
def _mlflow_isolation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # MLflow may create ./mlflow.db or ./mlruns when anything touches tracking; keep it in tmp.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")


@dataclass(frozen=True)
class Completed:
    """A finished CLI subprocess."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.stdout)
        return parsed

    def explain(self) -> str:
        return f"{' '.join(self.argv)} -> {self.returncode}\nstdout:\n{self.stdout[-3000:]}\nstderr:\n{self.stderr[-3000:]}"


def run_cli(argv: list[str], *, cwd: Path | None = None, timeout: float = 600) -> Completed:
    """Run a command with the test environment (MODELPACK_HOME etc.) and capture its output."""
    proc = subprocess.run(
        argv, capture_output=True, text=True, cwd=cwd, timeout=timeout, env=os.environ.copy()
    )
    return Completed(argv, proc.returncode, proc.stdout, proc.stderr)


def modelpack(*args: str, cwd: Path | None = None) -> Completed:
    """``python -m modelpack ARGS`` in a real subprocess."""
    return run_cli(modelpack_cmd(*args), cwd=cwd)


def mlflow_cli() -> str:
    """The ``mlflow`` console script of the interpreter running the suite."""
    script = Path(sys.executable).parent / "mlflow"
    if not script.exists():
        pytest.skip(f"no mlflow console script next to {sys.executable}")
    return str(script)


@functools.cache
def _has_command(command: str) -> bool:
    return modelpack(command, "--help").returncode == 0


def require_command(*names: str) -> None:
    """Skip the calling test until every named CLI command exists in this checkout.

    The check runs the real CLI (``modelpack NAME --help``), so the skip lifts by itself once
    the command lands.
    """
    missing = [name for name in names if not _has_command(name)]
    if missing:
        pytest.skip(f"modelpack has no {', '.join(missing)} command yet")


@dataclass(frozen=True)
class SampleModels:
    """The models and data files that sample_models/train.py writes."""

    root: Path

    def path(self, relative: str) -> Path:
        return self.root / relative


@pytest.fixture(scope="session")
def sample_models(tmp_path_factory: pytest.TempPathFactory) -> SampleModels:
    """Train the sample models once per session, with this interpreter's scikit-learn."""
    out = tmp_path_factory.mktemp("sample_models")
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "sample_models" / "train.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return SampleModels(out)


def read_sample(path: Path) -> Any:
    """Read a sample file the way a user of pandas/numpy would hand it to MLflow."""
    import numpy as np
    import pandas as pd

    readers: dict[str, Callable[[Path], Any]] = {
        ".csv": pd.read_csv,
        ".parquet": pd.read_parquet,
        ".json": lambda p: pd.read_json(p, orient="records"),
        ".npy": np.load,
    }
    return readers[path.suffix](path)
