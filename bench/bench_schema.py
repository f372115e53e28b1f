"""Benchmark: schema inference and checking of a large CSV, against pyarrow alone and MLflow.

Generates a CSV of N rows x 20 columns (6 ints, 6 floats with missing values, 4 strings,
3 booleans, 1 timestamp) in bench/data/, then times, each in a fresh child process:

- the floor: pyarrow's CSV reader alone (streaming ``open_csv`` and whole-file ``read_csv``);
- ``modelpack schema FILE --json`` (inference) and ``check_file`` against the inferred schema;
- MLflow's path: ``pandas.read_csv`` + ``mlflow.models.infer_signature`` (and MLflow's own
  enforcement for the check), run by the interpreter in MODELPACK_BENCH_MLFLOW_PYTHON
  (default ``.venv-mlflow/bin/python``); skipped if that interpreter does not exist;
- inference again on a file 5x larger, to show that peak memory does not grow with the file.

Wall time is the median of --repeat runs of the whole child process (imports included);
peak memory is the child's max RSS from ``os.wait4``. Results go to bench/results/schema.json as
a list of {"name", "command", "median_s", "peak_mb", "reference", "ratio", "goal", "met"}.

Usage: python bench/bench_schema.py [--rows 1000000] [--repeat 3] [--big-factor 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "results" / "schema.json"

FLOOR_STREAM = """
import sys, pyarrow.csv as pc
rows = 0
for batch in pc.open_csv(sys.argv[1]):
    rows += batch.num_rows
print(rows)
"""

FLOOR_TABLE = """
import sys, pyarrow.csv as pc
print(pc.read_csv(sys.argv[1]).num_rows)
"""

OURS_CHECK = """
import sys
from pathlib import Path
from modelpack.schema.enforce import check_file
from modelpack.schema.signature import load_schema_file
report = check_file(Path(sys.argv[1]), load_schema_file(Path(sys.argv[2])))
print(report.rows_checked, len(report.violations))
"""

MLFLOW_INFER = """
import sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from mlflow.models import infer_signature
start = time.perf_counter()
frame = pd.read_csv(sys.argv[1])
signature = infer_signature(frame)
print(len(frame), f"{time.perf_counter() - start:.3f}", signature.inputs.to_json()[:80])
"""

MLFLOW_CHECK = """
import sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from mlflow.models import infer_signature
from mlflow.models.utils import _enforce_schema
frame = pd.read_csv(sys.argv[1])
schema = infer_signature(frame.head(1000)).inputs
start = time.perf_counter()
frame = pd.read_csv(sys.argv[1])
_enforce_schema(frame, schema)
print(len(frame), f"{time.perf_counter() - start:.3f}")
"""


def generate(path: Path, rows: int, seed: int = 0) -> None:
    """Write the benchmark CSV with pyarrow (fast and deterministic)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    words = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"])
    tmp = path.with_suffix(".tmp")
    chunk = 250_000
    writer = None
    try:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            cols: dict[str, pa.Array] = {}
            for i in range(6):
                cols[f"int_{i}"] = pa.array(rng.integers(0, 1_000_000, n))
            for i in range(6):
                values = rng.normal(size=n)
                missing = rng.random(n) < 0.05
                if i % 2:  # half the float columns hold NaN values, half hold empty cells
                    values[missing] = np.nan
                    cols[f"float_{i}"] = pa.array(values)
                else:
                    cols[f"float_{i}"] = pa.array(values, mask=missing)
            for i in range(4):
                cols[f"str_{i}"] = pa.array(words[rng.integers(0, len(words), n)])
            for i in range(3):
                cols[f"bool_{i}"] = pa.array(rng.random(n) < 0.5)
            seconds = rng.integers(0, 86_400 * 365, n).astype("timedelta64[s]")
            cols["ts"] = pa.array(np.datetime64("2024-01-01T00:00:00") + seconds)
            table = pa.table(cols)
            if writer is None:
                writer = pacsv.CSVWriter(str(tmp), table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    tmp.rename(path)


def generate_in_child(path: Path, rows: int) -> None:
    """Generate in a child: on Linux a child's peak RSS starts from its parent's (fork + exec),
    so this process must stay small for the measurements to be the children's own."""
    if path.exists():
        return
    print(f"generating {path.name} ...", file=sys.stderr)
    subprocess.run([sys.executable, __file__, "--generate", str(path), str(rows)], check=True)


def run_child(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB and stdout of one child process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=ROOT)
        # wait4 gives this child's own rusage (RUSAGE_CHILDREN would mix all children so far).
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode()
        if code not in (0, 3):
            raise RuntimeError(f"{argv[:3]} failed ({code}): {err.read().decode()[-2000:]}")
    per_mb = 1024 * 1024 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return wall, usage.ru_maxrss / per_mb, text


def measure_rounds(
    commands: dict[str, list[str]], env: dict[str, str], repeat: int
) -> dict[str, tuple[float, float, str]]:
    """Median wall time, max peak RSS and last stdout per command.

    Commands run interleaved (round after round) so that load from other work on the machine
    affects all of them alike, which keeps the ratios meaningful.
    """
    walls: dict[str, list[float]] = {name: [] for name in commands}
    peaks: dict[str, list[float]] = {name: [] for name in commands}
    outs: dict[str, str] = {}
    for round_no in range(repeat):
        for name, argv in commands.items():
            wall, peak, out = run_child(argv, env)
            walls[name].append(wall)
            peaks[name].append(peak)
            outs[name] = out
            print(f"  round {round_no + 1}: {name}: {wall:.2f}s {peak:.0f} MB", file=sys.stderr)
    return {name: (statistics.median(walls[name]), max(peaks[name]), outs[name]) for name in commands}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the generated CSV")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median is reported)")
    parser.add_argument(
        "--big-factor", type=int, default=5, help="size of the memory-growth file (0 skips it)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON rows")
    parser.add_argument("--generate", nargs=2, metavar=("PATH", "ROWS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate(Path(args.generate[0]), int(args.generate[1]))
        return 0

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("MODELPACK_DEBUG", None)
    py = sys.executable
    mlflow_py = os.environ.get("MODELPACK_BENCH_MLFLOW_PYTHON", ".venv-mlflow/bin/python")
    mlflow_path = Path(mlflow_py) if Path(mlflow_py).is_absolute() else ROOT / mlflow_py

    data = DATA / f"schema_{args.rows}.csv"
    generate_in_child(data, args.rows)
    schema_file = DATA / f"schema_{args.rows}.schema.json"
    rows: list[dict[str, object]] = []

    def row(
        name: str,
        command: str,
        median: float,
        peak: float,
        reference: str | None,
        ratio: float | None,
        goal: str,
        met: bool | None,
    ) -> None:
        entry = {
            "name": name,
            "command": command,
            "median_s": round(median, 3),
            "peak_mb": round(peak, 1),
            "reference": reference,
            "ratio": None if ratio is None else round(ratio, 2),
            "goal": goal,
            "met": met,
        }
        rows.append(entry)
        print(json.dumps(entry), file=sys.stderr)

    # The schema the check runs against: inferred once up front (not timed).
    first = run_child([py, "-m", "modelpack", "schema", str(data), "--json"], env)[2]
    schema_file.write_text(json.dumps(json.loads(first)["data"]))

    commands = {
        "floor_stream": [py, "-c", FLOOR_STREAM, str(data)],
        "floor_table": [py, "-c", FLOOR_TABLE, str(data)],
        "infer": [py, "-m", "modelpack", "schema", str(data), "--json"],
        "check": [py, "-c", OURS_CHECK, str(data), str(schema_file)],
    }
    has_mlflow = mlflow_path.exists()
    if has_mlflow:
        commands["mlflow_infer"] = [str(mlflow_path), "-c", MLFLOW_INFER, str(data)]
        commands["mlflow_check"] = [str(mlflow_path), "-c", MLFLOW_CHECK, str(data)]
    else:
        print(
            f"skipping MLflow: {mlflow_path} not found (set MODELPACK_BENCH_MLFLOW_PYTHON)", file=sys.stderr
        )
    m = measure_rounds(commands, env, args.repeat)

    stream_s, stream_mb, _ = m["floor_stream"]
    table_s, table_mb, _ = m["floor_table"]
    row(
        "pyarrow open_csv (floor)",
        "pyarrow.csv.open_csv, all batches",
        stream_s,
        stream_mb,
        None,
        None,
        "floor",
        None,
    )
    row("pyarrow read_csv (floor)", "pyarrow.csv.read_csv", table_s, table_mb, None, None, "floor", None)
    floor_s = min(stream_s, table_s)
    floor_name = "pyarrow open_csv (floor)" if stream_s <= table_s else "pyarrow read_csv (floor)"
    infer_s, infer_mb, _ = m["infer"]
    check_s, check_mb, _ = m["check"]
    for name, command, secs, peak in (
        ("modelpack schema (infer)", "modelpack schema FILE --json", infer_s, infer_mb),
        (
            "modelpack check_file (check)",
            "modelpack.schema.enforce.check_file(FILE, schema)",
            check_s,
            check_mb,
        ),
    ):
        row(name, command, secs, peak, floor_name, secs / floor_s, "<= 1.5x floor", secs / floor_s <= 1.5)

    if has_mlflow:
        ml_s, ml_mb, _ = m["mlflow_infer"]
        mlc_s, mlc_mb, _ = m["mlflow_check"]
        ml_infer = "mlflow read_csv + infer_signature"
        ml_check = "mlflow read_csv + _enforce_schema"
        row(
            ml_infer,
            "pandas.read_csv + mlflow.models.infer_signature",
            ml_s,
            ml_mb,
            None,
            None,
            "reference",
            None,
        )
        row(
            ml_check,
            "pandas.read_csv + mlflow.models.utils._enforce_schema",
            mlc_s,
            mlc_mb,
            None,
            None,
            "reference",
            None,
        )
        for label, secs, peak, ref, ref_s, ref_mb in (
            ("infer", infer_s, infer_mb, ml_infer, ml_s, ml_mb),
            ("check", check_s, check_mb, ml_check, mlc_s, mlc_mb),
        ):
            speed = ref_s / secs
            row(
                f"{label} speed-up vs mlflow",
                f"modelpack {label} vs {ref}",
                secs,
                peak,
                ref,
                speed,
                ">= 10x faster",
                speed >= 10,
            )
            row(
                f"{label} peak memory vs mlflow",
                f"modelpack {label} vs {ref}",
                secs,
                peak,
                ref,
                peak / ref_mb,
                "peak <= mlflow peak",
                peak <= ref_mb,
            )

    if args.big_factor > 1:
        big_rows = args.rows * args.big_factor
        big = DATA / f"schema_{big_rows}.csv"
        generate_in_child(big, big_rows)
        big_m = measure_rounds(
            {
                "infer": [py, "-m", "modelpack", "schema", str(big), "--json"],
                "check": [py, "-c", OURS_CHECK, str(big), str(schema_file)],
            },
            env,
            1,
        )
        for label, base_name, base_mb in (
            ("infer", "modelpack schema (infer)", infer_mb),
            ("check", "modelpack check_file (check)", check_mb),
        ):
            secs, peak, _ = big_m[label]
            growth = peak / base_mb
            row(
                f"modelpack {label}, {args.big_factor}x rows ({big_rows})",
                f"{label} on a {big_rows}-row file",
                secs,
                peak,
                base_name,
                growth,
                f"peak memory grows < {args.big_factor}x",
                growth < args.big_factor,
            )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
