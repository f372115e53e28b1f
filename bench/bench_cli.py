"""CLI start-up and ``pack`` against their references, measured in the same run.

Rows:
- start-up of ``modelpack --help``, ``inspect``, ``list`` and ``promote`` against
  ``python -c "import typer, rich.console"`` (the floor for any Typer + rich CLI) and against
  ``mlflow --help``;
- ``modelpack pack`` of the wifi sample against ``bench/mlflow_save.py`` (mlflow.sklearn.save_model
  with infer_signature and an input example).

Writes bench/results/cli.json (see bench/_measure.py for the row format).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from _measure import (
    DATA,
    ROOT,
    BenchError,
    Row,
    compare,
    display,
    fresh_dir,
    measure,
    mlflow_cli,
    mlflow_python,
    modelpack_argv,
    quick,
    write_rows,
)

AREA = "cli"
STARTUP_GOAL_S = 0.150
STARTUP_GOAL = "under 150 ms"
PACK_GOAL = "faster than MLflow's save_model (ratio < 1)"

SAMPLES = DATA / "samples"
PACKED = DATA / "packed"
HOME = DATA / "home"
WORK = DATA / "work"
WIFI_MODEL = SAMPLES / "wifi" / "model.joblib"
WIFI_SAMPLE = SAMPLES / "wifi" / "sample.csv"


def _setup(argv: Sequence[str | Path], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    from _measure import child_env

    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, env=child_env(env), cwd=ROOT, check=False
    )


def _has_command(name: str) -> bool:
    return _setup([*modelpack_argv(), name, "--help"]).returncode == 0


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
    if _has_command("register"):
        fresh_dir(HOME)
        for name in ("wifi", "iris"):
            proc = _setup(
                [*modelpack_argv(), "register", PACKED / name, "--name", name],
                env={"MODELPACK_HOME": str(HOME)},
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


def main() -> None:
    startup_runs, heavy_runs = (3, 1) if quick() else (9, 3)
    WORK.mkdir(parents=True, exist_ok=True)
    rows: list[Row | dict[str, object]] = []

    def startup(name: str, argv: list[str | Path], env: dict[str, str] | None = None) -> Row:
        m = measure(argv, runs=startup_runs, warmup=1, env=env, cwd=WORK)
        return Row(name, display(argv, env), m, goal="reference")

    baseline = startup("python -c pass", [sys.executable, "-c", "pass"])
    typer_rich = startup(
        'python -c "import typer, rich.console"', [sys.executable, "-c", "import typer, rich.console"]
    )
    mlflow_help = startup("mlflow --help", [mlflow_cli(), "--help"])
    rows += [baseline, typer_rich, mlflow_help]

    problem = _prepare()
    mp = modelpack_argv()
    home_env = {"MODELPACK_HOME": str(HOME)}
    stages = ("Staging", "Production")
    cases: list[tuple[str, list[str | Path], dict[str, str] | None, str | None]] = [
        ("modelpack --help", [*mp, "--help"], None, None),
        ("modelpack inspect (wifi folder)", [*mp, "inspect", PACKED / "wifi"], None, problem),
        ("modelpack list", [*mp, "list"], home_env, problem),
        ("modelpack promote", [*mp, "promote", "wifi", "1", "--stage", "Staging"], home_env, problem),
    ]
    for name, argv, env, why in cases:
        command = name.split()[1]
        if why is None and command not in ("--help", "inspect") and not _has_command(command):
            why = f"modelpack has no {command} command yet"
        if why is not None:
            rows.append(_skipped(name, display(argv, env), STARTUP_GOAL, why))
            continue
        before = None
        if command == "promote":
            # Alternate the stage so every run is a real transition, not a no-op.
            def before(i: int, argv: list[str | Path] = argv) -> None:
                argv[-1] = stages[i % 2]

        m = measure(argv, runs=startup_runs, warmup=1, env=env, cwd=WORK, before_each=before)
        row = Row(name, display(argv, env), m, goal=STARTUP_GOAL, headline=command in ("--help", "inspect"))
        compare(row, typer_rich, mlflow_help)
        row.goal_met = m.median_s < STARTUP_GOAL_S
        rows.append(row)

    mlflow_out = WORK / "mlflow-save"
    mlflow_argv: list[str | Path] = [
        mlflow_python(),
        ROOT / "bench" / "mlflow_save.py",
        WIFI_MODEL,
        WIFI_SAMPLE,
        mlflow_out,
    ]
    pack_out = WORK / "modelpack-pack"
    pack_argv: list[str | Path] = [*mp, "pack", WIFI_MODEL, "--sample", WIFI_SAMPLE, "--output", pack_out]
    if problem is None:
        ref = measure(
            mlflow_argv,
            runs=heavy_runs,
            warmup=0,
            cwd=WORK,
            before_each=lambda i: fresh_dir(mlflow_out).rmdir(),
        )
        ref_row = Row(
            "MLflow save_model + infer_signature (wifi)", display(mlflow_argv), ref, goal="reference"
        )
        m = measure(
            pack_argv, runs=heavy_runs, warmup=0, cwd=WORK, before_each=lambda i: fresh_dir(pack_out).rmdir()
        )
        row = Row("modelpack pack (wifi, CSV sample)", display(pack_argv), m, goal=PACK_GOAL, headline=True)
        compare(row, ref_row)
        row.goal_met = row.ratio[0] < 1
        rows += [ref_row, row]
    else:
        rows.append(_skipped("modelpack pack (wifi, CSV sample)", display(pack_argv), PACK_GOAL, problem))

    path = write_rows(AREA, rows)
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    try:
        main()
    except BenchError as exc:
        sys.exit(f"bench_cli: {exc}")
