"""``modelpack predict`` on a large CSV against the floor and against ``mlflow models predict``.

Rows (bench/results/predict.json, format in bench/_measure.py):
- the floor: one Python process that loads the same model (skops), reads the CSV with pyarrow into
  a DataFrame, calls ``model.predict`` and writes the predictions with pyarrow; no checks at all;
- ``mlflow models predict --env-manager local`` on the same folder (JSON output, MLflow's only
  kind), from the MLflow interpreter in MODELPACK_BENCH_MLFLOW_PYTHON;
- ``modelpack predict`` (CSV output), compared with both; goal: within 1.3x of the floor;
- ``modelpack predict`` on a quarter of the rows: peak memory must not grow with the file
  (batches of 65,536 rows), while the floor's grows with it.

The input has the wifi sample's columns (sample_models/train.py ``wifi_frame``); the data and the
packed model go under bench/data/ (git-ignored). Every measured command's predictions are checked
against the floor's before any number is written, so a fast wrong answer cannot pass.

Usage: python bench/bench_predict.py [--rows N] [--runs N]   (BENCH_QUICK=1: 20,000 rows, 1 run)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from _measure import (
    DATA,
    ROOT,
    BenchError,
    Command,
    Row,
    child_env,
    compare,
    display,
    measure,
    measure_interleaved,
    mlflow_cli,
    modelpack_argv,
    quick,
    write_rows,
)

AREA = "predict"
GOAL_RATIO = 1.3
SPEED_GOAL = f"within {GOAL_RATIO}x of the floor"
MEMORY_GOAL = "peak memory flat in the row count (batches of 65,536 rows)"
# How much the peak may grow from N/4 to N rows and still count as flat (allocator noise).
MEMORY_SLACK = 1.25
WORK = DATA / "predict"

FLOOR_CODE = """
import sys
import pyarrow as pa, pyarrow.csv as pa_csv
import skops.io as sio
model_file, data, out = sys.argv[1:4]
model = sio.load(model_file, trusted=sio.get_untrusted_types(file=model_file))
frame = pa_csv.read_csv(data).to_pandas()
pa_csv.write_csv(pa.table({"prediction": model.predict(frame)}), out)
"""


def _train_module() -> Any:
    spec = importlib.util.spec_from_file_location("sample_train", ROOT / "sample_models" / "train.py")
    if spec is None or spec.loader is None:
        raise BenchError("cannot import sample_models/train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(argv: list[str | Path]) -> None:
    proc = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, env=child_env(), cwd=ROOT, check=False
    )
    if proc.returncode != 0:
        raise BenchError(f"{display(argv)} exited {proc.returncode}: {proc.stderr.strip()[-1000:]}")


def prepare(rows: int) -> tuple[Path, Path, Path]:
    """Train and pack the wifi model; write the CSVs (N and N/4 rows). Returns (folder, data, small)."""
    train = _train_module()
    model_dir = WORK / "wifi"
    if not (model_dir / "model.joblib").exists():
        train.train_wifi(model_dir)
    folder = WORK / "packed-wifi"
    _run(
        [
            *modelpack_argv(),
            "pack",
            model_dir / "model.joblib",
            "--sample",
            model_dir / "sample.csv",
            "--output",
            folder,
            "--force",
        ]
    )
    data = WORK / f"wifi_{rows}.csv"
    small = WORK / f"wifi_{rows // 4}.csv"
    for path, n, seed in ((data, rows, 11), (small, rows // 4, 12)):
        if not path.exists():
            tmp = path.with_suffix(".partial")
            train.wifi_frame(n, seed=seed).to_csv(tmp, index=False)
            tmp.rename(path)
    return folder, data, small


def _predictions_csv(path: Path) -> list[int]:
    import pyarrow.csv as pa_csv

    return [int(v) for v in pa_csv.read_csv(path).column("prediction").to_pylist()]


def _predictions_mlflow(path: Path) -> list[int]:
    return [int(v) for v in json.loads(path.read_text())["predictions"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000 if quick() else 1_000_000, help="rows in the CSV")
    parser.add_argument("--runs", type=int, default=1 if quick() else 3, help="timed runs per command")
    args = parser.parse_args()
    if args.rows < 4:
        raise BenchError("--rows must be at least 4")
    WORK.mkdir(parents=True, exist_ok=True)
    folder, data, small = prepare(args.rows)
    label = f"{args.rows:,} rows"

    floor_out = WORK / "floor.csv"
    mlflow_out = WORK / "mlflow.json"
    ours_out = WORK / "modelpack.csv"
    small_out = WORK / "modelpack-small.csv"
    commands = {
        "floor": Command([sys.executable, "-c", FLOOR_CODE, folder / "model.skops", data, floor_out]),
        "mlflow": Command(
            [
                mlflow_cli(), "models", "predict", "-m", folder, "-i", data, "-t", "csv", "-o", mlflow_out,
                "--env-manager", "local",
            ]
        ),
        "modelpack": Command([*modelpack_argv(), "predict", folder, "--data", data, "--output", ours_out, "--force"]),
    }  # fmt: skip
    # Rounds of floor, MLflow, modelpack: a busy machine slows all three alike.
    measured = measure_interleaved(commands, runs=args.runs, warmup=1)
    shown_floor = [
        sys.executable,
        "-c",
        "<load skops; pyarrow read_csv; predict; write_csv>",
        *commands["floor"].argv[3:],
    ]
    floor = Row(
        f"floor: load model, pyarrow read, predict, write ({label})",
        display(shown_floor),
        measured["floor"],
        goal="reference",
        note="the script is FLOOR_CODE in bench/bench_predict.py; no signature check, whole file in memory",
    )
    mlflow_row = Row(
        f"mlflow models predict ({label})",
        display(commands["mlflow"].argv),
        measured["mlflow"],
        goal="reference",
    )
    compare(mlflow_row, floor)
    ours = Row(
        f"modelpack predict ({label})",
        display(commands["modelpack"].argv),
        measured["modelpack"],
        goal=SPEED_GOAL,
        headline=True,
    )
    compare(ours, floor, mlflow_row)
    ours.goal_met = ours.ratio[0] <= GOAL_RATIO

    expected = _predictions_csv(floor_out)
    if _predictions_mlflow(mlflow_out) != expected:
        raise BenchError("mlflow models predict disagrees with the floor")
    if _predictions_csv(ours_out) != expected:
        raise BenchError("modelpack predict disagrees with the floor")

    small_argv: list[str | Path] = [
        *modelpack_argv(),
        "predict",
        folder,
        "--data",
        small,
        "--output",
        small_out,
        "--force",
    ]
    small_row = Row(
        f"modelpack predict ({args.rows // 4:,} rows, memory check)",
        display(small_argv),
        measure(Command(small_argv), runs=1, warmup=0),
        goal=MEMORY_GOAL,
    )
    compare(small_row, ours)
    grown = ours.measurement.peak_mb / small_row.measurement.peak_mb
    small_row.goal_met = grown <= MEMORY_SLACK
    small_row.note = (
        f"peak {small_row.measurement.peak_mb:.0f} MB at {args.rows // 4:,} rows vs "
        f"{ours.measurement.peak_mb:.0f} MB at {args.rows:,} ({grown:.2f}x); the floor peaks at "
        f"{floor.measurement.peak_mb:.0f} MB because it holds the whole file"
    )

    rows = [floor, mlflow_row, ours, small_row]
    path = write_rows(AREA, rows)
    print(f"wrote {path.relative_to(ROOT)}")
    for row in rows:
        ratio = ", ".join(
            f"{r:.2f}x {n.split(' (')[0]}" for r, n in zip(row.ratio, row.reference, strict=True)
        )
        print(
            f"{row.name}: {row.measurement.median_s:.2f} s, {row.measurement.peak_mb:.0f} MB"
            + (f" ({ratio})" if ratio else "")
        )


if __name__ == "__main__":
    try:
        main()
    except BenchError as exc:
        sys.exit(f"bench_predict: {exc}")
