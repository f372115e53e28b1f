"""CLI start-up and ``pack`` against their references, measured in the same run.

Rows:
- start-up of ``modelpack --help``, ``inspect``, ``list`` and ``promote`` against
  ``python -c "import typer, rich.console"`` (the floor for any Typer + rich CLI) and against
  ``mlflow --help``; ``inspect`` and ``list`` have goals relative to that floor;
- ``modelpack pack`` of the wifi sample against ``bench/mlflow_save.py`` (mlflow.sklearn.save_model
  with infer_signature and an input example).

Writes bench/results/cli.json (see bench/_measure.py for the row format).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from _measure import (
    DATA,
    ROOT,
    BenchError,
    Command,
    Row,
    compare,
    display,
    fresh_dir,
    measure_interleaved,
    mlflow_cli,
    mlflow_python,
    modelpack_argv,
    quick,
    write_rows,
)

AREA = "cli"
STARTUP_GOAL_S = 0.150
STARTUP_GOAL = "under 150 ms"
FLOOR = 'python -c "import typer, rich.console"'
# Metadata commands are held to the floor measured in the same run, which holds on any machine:
# inspect within 1.5x of it; list no slower than the 1.36x it measured when this goal was set.
RATIO_GOALS = {"modelpack inspect (wifi folder)": 1.5, "modelpack list": 1.3}
PACK_GOAL = "faster than MLflow's save_model (ratio < 1)"

SAMPLES = DATA / "samples"
PACKED = DATA / "packed"
HOME = DATA / "home"
WORK = DATA / "scratch"  # not "work": keeps doc paths clear of the absolute-path check
WIFI_MODEL = SAMPLES / "wifi" / "model.joblib"
WIFI_SAMPLE = SAMPLES / "wifi" / "sample.csv"


def _setup(argv: Sequence[str | Path], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    from _measure import child_env

    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, env=child_env(env), cwd=ROOT, check=False
    )


def _prepare() -> str | None:
    """Train the sample models, pack wifi and register models; return why it failed, if it did."""
    proc = _setup([sys.executable, ROOT / "sample_models" / "train.py", "--out", SAMPLES])
    if proc.returncode != 0:
        return f"training the sample models failed: {proc.stderr.strip()[-300:]}"
    for name, model, sample in (
        ("wifi", WIFI_MODEL, WIFI_SAMPLE),
        ("iris", SAMPLES / "iris" / "model.joblib", SAMPLES / "iris" / "sample.csv"),
    ):
        proc = _setup(
            [*modelpack_argv(), "pack", model, "--sample", sample, "--output", PACKED / name, "--force"]
        )
        if proc.returncode != 0:
            return f"modelpack pack failed: {proc.stderr.strip()[-300:]}"
    fresh_dir(HOME)
    for name in ("wifi", "iris"):
        proc = _setup(
            [*modelpack_argv(), "register", PACKED / name, "--name", name], env={"MODELPACK_HOME": str(HOME)}
        )
        if proc.returncode != 0:
            return f"modelpack register failed: {proc.stderr.strip()[-300:]}"
    return None


def _skipped(name: str, command: str, goal: str, why: str) -> dict[str, object]:
    return {
        "name": name,
        "command": command,
        "median_s": None,
        "peak_mb": None,
        "reference": None,
        "ratio": None,
        "goal": goal,
        "goal_met": None,
        "note": f"not measured: {why}",
    }


def _remove(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)


def main() -> None:
    startup_runs, heavy_runs = (3, 1) if quick() else (9, 3)
    WORK.mkdir(parents=True, exist_ok=True)
    problem = _prepare()
    mp = modelpack_argv()
    home_env = {"MODELPACK_HOME": str(HOME)}
    stages = ("Staging", "Production")

    def next_stage(i: int) -> None:
        # Alternate the stage so every run is a real transition, not a no-op.
        promote_argv[-1] = stages[i % 2]

    promote_argv: list[str | Path] = [*mp, "promote", "wifi", "1", "--stage", stages[0]]
    references = {
        "python -c pass": Command([sys.executable, "-c", "pass"]),
        FLOOR: Command([sys.executable, "-c", "import typer, rich.console"]),
        "mlflow --help": Command([mlflow_cli(), "--help"]),
    }
    candidates = {
        "modelpack --help": Command([*mp, "--help"]),
        "modelpack inspect (wifi folder)": Command([*mp, "inspect", PACKED / "wifi"]),
        "modelpack list": Command([*mp, "list"], env=home_env),
        "modelpack promote": Command(promote_argv, env=home_env, before_each=next_stage),
    }
    # Everything but --help needs the packed folders and the registry that _prepare makes.
    skipped = {name: problem for name in candidates if problem is not None and name != "modelpack --help"}
    measured = {name: c for name, c in candidates.items() if name not in skipped}
    results = measure_interleaved({**references, **measured}, runs=startup_runs, warmup=1, cwd=WORK)

    rows: list[Row | dict[str, object]] = []
    ref_rows = {}
    for name, command in references.items():
        ref_rows[name] = Row(name, display(command.argv, command.env), results[name], goal="reference")
        rows.append(ref_rows[name])
    for name, command in candidates.items():
        max_ratio = RATIO_GOALS.get(name)
        goal = STARTUP_GOAL if max_ratio is None else f"ratio ≤ {max_ratio:g}×"
        if name in skipped:
            rows.append(_skipped(name, display(command.argv, command.env), goal, skipped[name]))
            continue
        headline = name in ("modelpack --help", "modelpack inspect (wifi folder)")
        row = Row(name, display(command.argv, command.env), results[name], goal=goal, headline=headline)
        compare(row, ref_rows[FLOOR], ref_rows["mlflow --help"])
        if max_ratio is None:
            row.goal_met = row.measurement.median_s < STARTUP_GOAL_S
        else:
            row.goal_met = row.ratio[0] <= max_ratio
        rows.append(row)

    mlflow_out = WORK / "mlflow-save"
    pack_out = WORK / "modelpack-pack"
    heavy = {
        "MLflow save_model + infer_signature (wifi)": Command(
            [mlflow_python(), ROOT / "bench" / "mlflow_save.py", WIFI_MODEL, WIFI_SAMPLE, mlflow_out],
            before_each=lambda i: _remove(mlflow_out),
        ),
        "modelpack pack (wifi, CSV sample)": Command(
            [*mp, "pack", WIFI_MODEL, "--sample", WIFI_SAMPLE, "--output", pack_out],
            before_each=lambda i: _remove(pack_out),
        ),
    }
    (ref_name, ref_cmd), (pack_name, pack_cmd) = heavy.items()
    if problem is None:
        timed = measure_interleaved(heavy, runs=heavy_runs, warmup=0, cwd=WORK)
        ref_row = Row(ref_name, display(ref_cmd.argv), timed[ref_name], goal="reference")
        row = Row(pack_name, display(pack_cmd.argv), timed[pack_name], goal=PACK_GOAL, headline=True)
        compare(row, ref_row)
        row.goal_met = row.ratio[0] < 1
        rows += [ref_row, row]
    else:
        rows.append(_skipped(pack_name, display(pack_cmd.argv), PACK_GOAL, problem))

    path = write_rows(AREA, rows)
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    try:
        main()
    except BenchError as exc:
        sys.exit(f"bench_cli: {exc}")
