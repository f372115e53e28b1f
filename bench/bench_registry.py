"""Registry benchmarks: is the cost of each command independent of the registry's size, how does
registering a large model compare with copying and hashing it, and how fast do commands start.

Writes a list of rows to bench/results/registry.json, each
``{"name", "command", "median_s", "peak_mb", "reference", "reference_command", "ratio", "goal", "note"}``
where ``reference`` is the median seconds of ``reference_command`` and ``ratio`` is
``median_s / reference``. Data (registries, model folders) goes to bench/data/, which is not
committed. Every timed command is a fresh process, timed from spawn to exit; peak_mb is its
maximum resident set size.

    python bench/bench_registry.py            # 10,000 versions, a 1 GiB model
    python bench/bench_registry.py --quick    # small sizes, for a smoke run
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import pickle
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from modelpack.package.manifest import write_manifest  # noqa: E402
from modelpack.registry import FileRegistry  # noqa: E402

DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "results" / "registry.json"


# ---------------------------------------------------------------------- model folders


def write_model(folder: Path, seed: int, *, weights: list[int] | None = None) -> Path:
    """A small MLmodel folder (distinct per seed), optionally with large random weight files."""
    folder.mkdir(parents=True, exist_ok=True)
    mlmodel = {
        "artifact_path": "model",
        "flavors": {
            "python_function": {
                "loader_module": "mlflow.sklearn",
                "model_path": "model.pkl",
                "python_version": "3.11.7",
                "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
            }
        },
        "model_uuid": f"{seed:032x}",
        "signature": {
            "inputs": json.dumps([{"type": "double", "name": f"f{i}", "required": True} for i in range(4)]),
            "outputs": json.dumps([{"type": "long", "required": True}]),
            "params": None,
        },
        "utc_time_created": "2025-01-01 00:00:00.000000",
    }
    (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel, sort_keys=True))
    (folder / "model.pkl").write_bytes(pickle.dumps({"seed": seed, "coef": [seed * 0.1] * 32}))
    (folder / "conda.yaml").write_text("dependencies:\n- python=3.11\n- pip:\n  - scikit-learn\nname: env\n")
    (folder / "python_env.yaml").write_text("python: 3.11.7\ndependencies: [-r requirements.txt]\n")
    (folder / "requirements.txt").write_text("scikit-learn\n")
    for index, size in enumerate(weights or []):
        chunk = 64 << 20
        with (folder / f"weights-{index}.bin").open("wb") as fh:
            left = size
            while left:
                n = min(chunk, left)
                fh.write(random.randbytes(n))
                left -= n
    write_manifest(folder)
    return folder


def build_registry(home: Path, models: int, versions: int, *, label: str) -> None:
    """Fill a registry through the Python API (without fsync: it is throwaway data)."""
    shutil.rmtree(home, ignore_errors=True)
    registry = FileRegistry(home, durable=False)
    src = DATA / f"src-{label}"
    seed = 0
    start = time.perf_counter()
    for m in range(models):
        name = f"model-{m:03d}"
        for v in range(1, versions + 1):
            seed += 1
            write_model(src, seed)
            registry.register(src, name=name, description=f"bench {v}", tags={"run": str(seed)})
            if v % 10 == 0:
                registry.promote(name, v, stage="Production")
        registry.promote(name, versions, stage="Staging")
        registry.promote(name, max(1, versions - 1), alias="champion")
        if (m + 1) % 10 == 0:
            rate = seed / (time.perf_counter() - start)
            print(f"  {label}: {seed} versions ({rate:.0f}/s)", file=sys.stderr)
    solo_src = DATA / f"src-{label}-solo"
    write_model(solo_src, 10_000_000)
    registry.register(solo_src, name="solo", alias="champion")


# ---------------------------------------------------------------------- timing


def child_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["MODELPACK_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure with byte code cached, as installed
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "120"
    return env


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MB) and CPU seconds (user + system) of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {err}")
    return elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


class Timing:
    """Median wall and CPU seconds and the largest peak RSS over several runs."""

    def __init__(self) -> None:
        self.walls: list[float] = []
        self.cpus: list[float] = []
        self.peaks: list[float] = []

    def add(self, sample: tuple[float, float, float]) -> None:
        self.walls.append(sample[0])
        self.peaks.append(sample[1])
        self.cpus.append(sample[2])

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus)

    @property
    def peak(self) -> float:
        return max(self.peaks)


def measure(argvs: list[list[str]], env: dict[str, str], *, before: Any = None) -> Timing:
    timing = Timing()
    for argv in argvs:
        if before is not None:
            before()
        timing.add(run_once(argv, env))
    return timing


def measure_pair(
    subject: list[list[str]],
    subject_env: dict[str, str],
    reference: list[list[str]],
    reference_env: dict[str, str],
) -> tuple[Timing, Timing]:
    """Alternate subject and reference runs, so a change in machine load hits both alike."""
    a, b = Timing(), Timing()
    for argv_a, argv_b in zip(subject, reference, strict=True):
        a.add(run_once(argv_a, subject_env))
        b.add(run_once(argv_b, reference_env))
    return a, b


def mp(*args: str) -> list[str]:
    return [sys.executable, "-m", "modelpack", *args]


def row(
    name: str,
    command: str,
    subject: Timing | float,
    reference: Timing | float | None,
    reference_command: str | None,
    goal: float | None,
    note: str = "",
) -> dict[str, Any]:
    wall = subject.wall if isinstance(subject, Timing) else subject
    ref_wall = reference.wall if isinstance(reference, Timing) else reference
    result: dict[str, Any] = {
        "name": name,
        "command": command,
        "median_s": round(wall, 6),
        "peak_mb": round(subject.peak, 1) if isinstance(subject, Timing) else None,
        "reference": None if ref_wall is None else round(ref_wall, 6),
        "reference_command": reference_command,
        "ratio": None if not ref_wall else round(wall / ref_wall, 3),
        "goal": goal,
        "cpu_s": round(subject.cpu, 4) if isinstance(subject, Timing) else None,
        "reference_cpu_s": round(reference.cpu, 4) if isinstance(reference, Timing) else None,
        "note": note,
    }
    ratio = "" if result["ratio"] is None else f"  ratio {result['ratio']:.3f}"
    goal_text = "" if goal is None else f" (goal <= {goal})"
    print(f"{name:62s} {wall:9.4f}s{ratio}{goal_text}", file=sys.stderr)
    return result


def disk_bytes(root: Path) -> int:
    """Allocated bytes under ``root``, each inode counted once (like du)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            st = (Path(dirpath) / name).lstat()
            key = (st.st_dev, st.st_ino)
            if key not in seen:
                seen.add(key)
                total += st.st_blocks * 512
    return total


def drop_dirty_pages() -> None:
    # Flush earlier runs' dirty pages so one run's write-back does not land in the next timing.
    os.sync()


# ---------------------------------------------------------------------- benchmarks


def bench_scaling(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    big, small = DATA / "reg-big", DATA / "reg-small"
    total = args.models * args.versions
    marker = DATA / f".built-{args.models}x{args.versions}"
    if not (args.reuse_data and marker.exists()):
        marker.unlink(missing_ok=True)
        print(f"building {total} versions across {args.models} models...", file=sys.stderr)
        build_step("registry", str(big), str(args.models), str(args.versions), "big")
        build_step("registry", str(small), "1", "1", "small")
        marker.write_text("")
    env_big, env_small = child_env(big), child_env(small)
    target_big, target_small = f"model-{args.models // 2:03d}", "model-000"
    reps = args.repeat
    label = f"{total:,} versions"

    # warm up: byte-compile and touch everything once
    compileall.compile_dir(ROOT / "modelpack", quiet=1)
    run_once(mp("list"), env_small)

    srcs = [write_model(DATA / f"reg-src-{i}", 20_000_000 + i) for i in range(2 * reps)]
    same = "same, registry holding one version"
    big_t, small_t = measure_pair(
        [mp("register", str(s), "--name", target_big) for s in srcs[:reps]],
        env_big,
        [mp("register", str(s), "--name", target_small) for s in srcs[reps:]],
        env_small,
    )
    rows.append(
        row(
            f"register (model with {args.versions} versions, {label})",
            "modelpack register DIR --name NAME",
            big_t,
            small_t,
            same,
            1.2,
        )
    )

    stages = ["Production", "Staging"] * reps
    big_t, small_t = measure_pair(
        [mp("promote", target_big, "1", "--stage", s, "--alias", "bench") for s in stages[:reps]],
        env_big,
        [mp("promote", target_small, "1", "--stage", s, "--alias", "bench") for s in stages[:reps]],
        env_small,
    )
    rows.append(
        row(
            f"promote + alias ({label})",
            "modelpack promote NAME 1 --stage S --alias A",
            big_t,
            small_t,
            same,
            1.2,
        )
    )

    uri_big, uri_small = f"models:/{target_big}@champion", f"models:/{target_small}@bench"
    big_t, small_t = measure_pair(
        [mp("list", uri_big, "--field", "version")] * reps,
        env_big,
        [mp("list", uri_small, "--field", "version")] * reps,
        env_small,
    )
    rows.append(
        row(
            f"resolve models:/NAME@ALIAS, CLI ({label})",
            "modelpack list models:/NAME@ALIAS --field version",
            big_t,
            small_t,
            same,
            1.2,
        )
    )
    rows.append(api_resolve(big, uri_big, small, uri_small, label))

    big_t, small_t = measure_pair(
        [mp("list", target_big)] * reps, env_big, [mp("list", target_small)] * reps, env_small
    )
    rows.append(
        row(
            f"list one model ({args.versions}+ versions, {label})",
            "modelpack list NAME",
            big_t,
            small_t,
            "same, one model with one version",
            1.2,
            note="the big listing prints every version of the model (a table of that many rows), the reference one row",
        )
    )
    big_t, small_t = measure_pair(
        [mp("list", "solo")] * reps, env_big, [mp("list", target_small)] * reps, env_small
    )
    rows.append(
        row(
            f"list a one-version model ({label})",
            "modelpack list solo",
            big_t,
            small_t,
            same,
            1.2,
            note="same output size, so this isolates the registry size",
        )
    )

    base = [sys.executable, "-c", "import typer, rich.console"]
    for label_cmd, argv in (
        ("list", mp("list")),
        ("promote", mp("promote", target_small, "1", "--stage", "Archived")),
        ("--help", mp("--help")),
    ):
        t, ref = measure_pair([argv] * reps, env_small, [base] * reps, env_small)
        rows.append(
            row(
                f"start-up: {label_cmd} (one-version registry)",
                " ".join(["modelpack", *argv[3:]]),
                t,
                ref,
                'python -c "import typer, rich.console"',
                None,
            )
        )


def api_resolve(big: Path, uri_big: str, small: Path, uri_small: str, label: str) -> dict[str, Any]:
    registries = [(FileRegistry(big), uri_big), (FileRegistry(small), uri_small)]
    samples: list[list[float]] = [[], []]
    for _ in range(15):
        for index, (registry, uri) in enumerate(registries):
            start = time.perf_counter()
            for _ in range(200):
                registry.resolve(uri)
            samples[index].append((time.perf_counter() - start) / 200)
    return row(
        f"resolve models:/NAME@ALIAS, Python API ({label})",
        "FileRegistry(home).resolve(uri)",
        statistics.median(samples[0]),
        statistics.median(samples[1]),
        "same, registry holding one version",
        1.2,
        note="per call, in-process, interleaved",
    )


def bench_large(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    size = args.large_mb << 20
    parts = 4
    folder = DATA / "large-model"
    marker = DATA / f".large-model-{size}"
    if not marker.exists():
        shutil.rmtree(folder, ignore_errors=True)
        print(f"writing a {args.large_mb} MiB model folder...", file=sys.stderr)
        build_step("large", str(folder), str(size // parts), str(parts))
        marker.write_text("")
    copy = DATA / "large-copy"
    home = DATA / "reg-large"
    env = child_env(home)
    files = sorted(str(p) for p in folder.iterdir() if p.is_file())
    reps = args.large_repeat

    def reset_copy() -> None:
        shutil.rmtree(copy, ignore_errors=True)
        drop_dirty_pages()

    def reset_home() -> None:
        shutil.rmtree(home, ignore_errors=True)
        drop_dirty_pages()

    reference_cmd = f"cp -r {folder} {copy} && sha256sum {' '.join(files)} > /dev/null"
    openssl_cmd = f"cp -r {folder} {copy} && openssl dgst -sha256 {' '.join(files)} > /dev/null"
    ref_openssl = Timing()
    have_openssl = shutil.which("openssl") is not None
    reg = Timing()
    ref = Timing()
    ref_sync = Timing()
    for _ in range(reps):
        reset_copy()
        ref.add(run_once(["bash", "-c", reference_cmd], env))
        reset_copy()
        ref_sync.add(run_once(["bash", "-c", reference_cmd + " && sync"], env))
        if have_openssl:
            reset_copy()
            ref_openssl.add(run_once(["bash", "-c", openssl_cmd], env))
        reset_copy()
        reset_home()
        reg.add(run_once(mp("register", str(folder), "--name", "large"), env))
    reset_copy()
    rows.append(
        row(
            f"register a {args.large_mb} MiB model folder",
            "modelpack register DIR --name large",
            reg,
            ref,
            "cp -r DIR COPY && sha256sum DIR/*",
            1.3,
            note=(
                f"register fsyncs what it stores; cp -r + sha256sum + sync takes {ref_sync.wall:.3f}s "
                f"(ratio {reg.wall / ref_sync.wall:.2f})"
                + (
                    f"; with openssl dgst -sha256 (the hash code Python uses) instead of coreutils "
                    f"sha256sum, cp -r + hash takes {ref_openssl.wall:.3f}s (ratio {reg.wall / ref_openssl.wall:.2f})"
                    if have_openssl
                    else ""
                )
            ),
        )
    )

    before_bytes = disk_bytes(home)
    again, hashing = measure_pair(
        [mp("register", str(folder), "--name", "large")] * reps, env, [["sha256sum", *files]] * reps, env
    )
    added = disk_bytes(home) - before_bytes
    rows.append(
        row(
            f"register the same {args.large_mb} MiB content again",
            "modelpack register DIR --name large (already registered)",
            again,
            hashing,
            "sha256sum DIR/*",
            None,
            note=f"returns the existing version; the registry grew by {added} bytes on disk (no second copy)",
        )
    )
    renamed, hashing = measure_pair(
        [mp("register", str(folder), "--name", f"large-copy-{i}") for i in range(reps)],
        env,
        [["sha256sum", *files]] * reps,
        env,
    )
    added = disk_bytes(home) - before_bytes
    rows.append(
        row(
            f"register the same {args.large_mb} MiB content under new names",
            "modelpack register DIR --name OTHER",
            renamed,
            hashing,
            "sha256sum DIR/*",
            None,
            note=f"{reps} new models share the stored files; the registry grew by {added} bytes on disk",
        )
    )


def build_step(*args: str) -> None:
    """Run a data-building step in a child process.

    A child's peak RSS as the kernel reports it includes its parent's high-water mark at fork
    time, so the measuring process must never grow: the big allocations happen in a child.
    """
    subprocess.run([sys.executable, __file__, "--build-step", *args], check=True)


def run_build_step(args: list[str]) -> None:
    kind, *rest = args
    if kind == "registry":
        home, models, versions, label = rest
        build_registry(Path(home), int(models), int(versions), label=label)
    elif kind == "large":
        folder, part, parts = rest
        write_model(Path(folder), 7, weights=[int(part)] * int(parts))
    else:
        raise SystemExit(f"unknown build step {kind}")


def main() -> None:
    if sys.argv[1:2] == ["--build-step"]:
        run_build_step(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes for a fast smoke run")
    parser.add_argument("--models", type=int, default=None)
    parser.add_argument("--versions", type=int, default=None)
    parser.add_argument("--large-mb", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument(
        "--reuse-data",
        action="store_true",
        help="keep registries built by an earlier run with the same sizes",
    )
    args = parser.parse_args()
    args.models = args.models or (10 if args.quick else 100)
    args.versions = args.versions or (20 if args.quick else 100)
    args.large_mb = args.large_mb or (64 if args.quick else 1024)
    args.repeat = args.repeat or (3 if args.quick else 7)
    args.large_repeat = 3
    random.seed(1)
    DATA.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    bench_scaling(rows, args)
    bench_large(rows, args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
