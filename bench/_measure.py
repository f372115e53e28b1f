"""Measuring helpers shared by the ``bench/bench_*.py`` scripts.

Contract between ``bench/run.py`` and a bench script ``bench/bench_<area>.py``:

- run.py starts it as ``python bench/bench_<area>.py`` from the repository root, with the
  project's venv interpreter (modelpack installed). Environment: ``BENCH_QUICK=1`` asks for a
  smoke run (fewer, smaller runs); ``MODELPACK_BENCH_MLFLOW_PYTHON`` names an interpreter that has
  MLflow, for reference measurements.
- The script writes ``bench/results/<area>.json``: a JSON list of rows, each
  ``{"name", "command", "median_s", "peak_mb", "reference", "ratio", "goal"}``.
  ``reference`` is the name of another row (or a list of names, or free text, or null);
  ``ratio`` is ``median_s / reference median_s`` (a number, or a list in the order of
  ``reference``, or null). Optional keys: ``runs`` (how many timed runs), ``goal_met`` (bool),
  ``headline`` (bool: quote it in the README), ``note``.
- Generated inputs go under ``bench/data/`` (git-ignored), never into git.

Timing is wall-clock of a real child process; peak memory is the child's maximum resident set
size from ``os.wait4`` (it covers the child and every descendant it waited for).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DATA = ROOT / "bench" / "data"
ENV_QUICK = "BENCH_QUICK"
ENV_MLFLOW_PYTHON = "MODELPACK_BENCH_MLFLOW_PYTHON"
DEFAULT_MLFLOW_PYTHON = ROOT / ".venv-interop" / "bin" / "python"


class BenchError(RuntimeError):
    """A measured command failed, so its numbers would mean nothing."""


def quick() -> bool:
    """Whether this is a smoke run (``BENCH_QUICK=1``)."""
    return os.environ.get(ENV_QUICK, "") not in ("", "0")


def mlflow_python() -> Path:
    """The interpreter with MLflow used for reference measurements."""
    path = Path(os.environ.get(ENV_MLFLOW_PYTHON) or DEFAULT_MLFLOW_PYTHON)
    # Relative to the repository root (make passes .venv-interop/bin/python); never resolve()
    # it, which would follow the venv's symlink out of the venv.
    path = path if path.is_absolute() else ROOT / path
    if not path.exists():
        raise BenchError(
            f"no MLflow interpreter at {path}; run `make .venv-interop/.installed` or set {ENV_MLFLOW_PYTHON}"
        )
    return path


def mlflow_cli() -> Path:
    """The ``mlflow`` console script next to the MLflow interpreter."""
    return mlflow_python().parent / "mlflow"


def modelpack_argv() -> list[str]:
    """How a user starts modelpack here: the console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "modelpack"
    return [str(script)] if script.exists() else [sys.executable, "-m", "modelpack"]


def display(argv: Sequence[str | Path], env: Mapping[str, str] | None = None) -> str:
    """A shell command line for the docs: paths relative to the repository root."""

    def rel(word: str) -> str:
        root = str(ROOT) + os.sep
        return word.replace(root, "") if root in word else word

    prefix = [f"{k}={shlex.quote(rel(v))}" for k, v in (env or {}).items()]
    return " ".join([*prefix, *(shlex.quote(rel(str(a))) for a in argv)])


@dataclass(frozen=True)
class Measurement:
    """Timed runs of one command."""

    runs_s: list[float]
    peak_mb: float

    @property
    def median_s(self) -> float:
        return statistics.median(self.runs_s)


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every measured command gets: no colour, no telemetry, no stray paths.

    Bytecode caching stays on (the warm-up run fills it), as for an installed tool: with
    PYTHONDONTWRITEBYTECODE our own modules would be recompiled on every run while the
    references' installed modules load from their caches.
    """
    drop = ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", ENV_QUICK)
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update({"NO_COLOR": "1", "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"})
    env.update(extra or {})
    return env


def run_once(
    argv: Sequence[str | Path], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> tuple[float, float]:
    """Run ``argv`` once; return (wall seconds, peak RSS in MB). A non-zero exit raises."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=child_env(env),
            cwd=cwd or ROOT,
        )
        # os.wait4 reaps the child and hands back its rusage, which Popen.wait would discard.
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-2000:]
            raise BenchError(f"{display(argv)} exited {proc.returncode}:\n{tail}")
    # Linux reports ru_maxrss in KiB.
    return elapsed, usage.ru_maxrss / 1024


@dataclass(frozen=True)
class Command:
    """A command to measure, with what it needs around each run."""

    argv: Sequence[str | Path]
    env: Mapping[str, str] | None = None
    before_each: Callable[[int], None] | None = None  # e.g. empty an output folder; not timed


def measure_interleaved(
    commands: Mapping[str, Command], *, runs: int, warmup: int = 1, cwd: Path | None = None
) -> dict[str, Measurement]:
    """Measure several commands in rounds: each round runs every command once, in order.

    Interleaving spreads any slowdown of a shared machine over every command alike, so the
    ratios between them hold even when absolute times drift. The first ``warmup`` rounds are not
    timed (they fill the page cache); the peak RSS covers every run.
    """
    times: dict[str, list[float]] = {name: [] for name in commands}
    peaks: dict[str, float] = dict.fromkeys(commands, 0.0)
    for i in range(warmup + runs):
        for name, command in commands.items():
            if command.before_each is not None:
                command.before_each(i)
            elapsed, rss = run_once(command.argv, env=command.env, cwd=cwd)
            peaks[name] = max(peaks[name], rss)
            if i >= warmup:
                times[name].append(elapsed)
    return {name: Measurement(times[name], peaks[name]) for name in commands}


def measure(
    argv: Command | Sequence[str | Path],
    *,
    runs: int,
    warmup: int = 1,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    before_each: Callable[[int], None] | None = None,
) -> Measurement:
    """Measure one command: ``warmup`` untimed runs, then ``runs`` timed ones.

    ``argv`` is a Command, or an argument list completed by ``env`` and ``before_each(i)``
    (which runs before every run, warm-up included, outside the timing).
    """
    command = argv if isinstance(argv, Command) else Command(argv, env=env, before_each=before_each)
    return measure_interleaved({"": command}, runs=runs, warmup=warmup, cwd=cwd)[""]


@dataclass
class Row:
    """One line of the benchmark table."""

    name: str
    command: str
    measurement: Measurement
    goal: str
    reference: list[str] = field(default_factory=list)
    ratio: list[float] = field(default_factory=list)
    goal_met: bool | None = None
    headline: bool = False
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "name": self.name,
            "command": self.command,
            "median_s": round(self.measurement.median_s, 4),
            "peak_mb": round(self.measurement.peak_mb, 1),
            "reference": self.reference or None,
            "ratio": [round(r, 4) for r in self.ratio] or None,
            "goal": self.goal,
            "runs": len(self.measurement.runs_s),
            "runs_s": [round(t, 4) for t in self.measurement.runs_s],
            "goal_met": self.goal_met,
            "headline": self.headline,
        }
        if self.note:
            row["note"] = self.note
        return row


def compare(row: Row, *references: Row) -> Row:
    """Fill in ``row``'s references and ratios (its median over each reference's median)."""
    row.reference = [r.name for r in references]
    row.ratio = [row.measurement.median_s / r.measurement.median_s for r in references]
    return row


def write_rows(area: str, rows: Sequence[Row | Mapping[str, Any]]) -> Path:
    """Write ``bench/results/<area>.json``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{area}.json"
    payload = [r.to_json() if isinstance(r, Row) else dict(r) for r in rows]
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def fresh_dir(path: Path) -> Path:
    """Empty ``path`` (removing it first if it exists) and return it."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path
