"""The registry in a bucket (``MODELPACK_HOME=s3://BUCKET/PREFIX``) against a real SeaweedFS.

One SeaweedFS (``tests/s3server.py``) is started by this script, holds every registry measured
here, and is stopped at the end, failure or not. Rows (bench/results/bucket.json, format in
bench/_measure.py):

- requests and time per operation, at a registry of 10,000 versions (100 models x 100 versions)
  against one holding a single version: register a small model, promote (``--stage`` and
  ``--alias``), resolve ``models:/NAME@ALIAS``, resolve ``models:/NAME/latest`` and the row
  ``modelpack list`` shows for one model (``summary``). Each operation runs in-process through
  ``S3Registry``, a fresh one per call as a new command would make, sharing one warm S3 client
  (so client start-up, the same for both, is not timed); ``S3Objects.requests`` counts the HTTP
  requests of each call. Goal: at 10,000 versions, at most 1.2x the requests and 1.2x the median
  time of the one-version registry. Register is measured last, so every other operation sees a
  registry that really holds one version.
- ``modelpack register`` of a 1 GiB folder (4 x 256 MiB random files and an MLmodel) into an
  empty bucket registry, against a boto3 script that sends the same files with ``upload_file``
  (default TransferConfig, one file after another); interleaved runs, goal ratio <= 1.2.
- ``modelpack predict models:/NAME@ALIAS`` from a warm cache against the same predict from a
  local registry holding the same model (the wifi model and CSV of bench_predict.py); goal ratio
  <= 1.1. Then, for information, the same predict with an empty cache each run (the first
  download), and ``modelpack list models:/NAME@ALIAS`` from each registry: the resolution alone.

The 10,000 versions are bulk-loaded, not registered one by one through the bucket (about 15
requests each, too slow for ``make bench``): ``S3Registry.register`` and ``promote`` run against
an in-memory stand-in for ``S3Objects`` (``MemoryObjects`` below), and the objects they wrote
(records, ``model.json``, events, digest entries, blobs) are then copied into the bucket in
parallel with boto3, byte for byte. The loaded registry is checked through real ``S3Registry``
reads (every model's version count) before anything is measured.

Usage: python bench/bench_bucket.py [--quick] [--models N] [--versions N] [--large-mb N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from _measure import (
    DATA,
    ROOT,
    BenchError,
    Command,
    Row,
    compare,
    display,
    measure_interleaved,
    modelpack_argv,
    quick,
    write_rows,
)

sys.path.insert(0, str(ROOT))

AREA = "bucket"
WORK = DATA / "bucket"
BUCKET = "bench"
SCALE_GOAL = 1.2
LARGE_GOAL = 1.2
PREDICT_GOAL = 1.1

DELETE_CODE = """
import sys, boto3
bucket, prefix = sys.argv[1:]
client = boto3.client("s3")
count = 0
for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
    keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
    count += len(keys)
    if keys:
        client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
for upload in client.list_multipart_uploads(Bucket=bucket, Prefix=prefix + "/").get("Uploads", []):
    client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
print(count)
"""

UPLOAD_CODE = """
import sys, boto3
from pathlib import Path
bucket, prefix, *files = sys.argv[1:]
client = boto3.client("s3")
for name in files:
    client.upload_file(name, bucket, prefix + "/" + Path(name).name)
"""


# ---------------------------------------------------------------------- the in-memory builder


class MemoryObjects:
    """S3Objects' calls answered from a dict: the bulk loader's scratch store, never measured.

    Create-only and compare-and-swap behave as the real store's, so ``S3Registry`` writes here
    exactly what it writes to a bucket; ``objects`` then holds every key, its bytes and metadata.
    """

    def __init__(self, home: Any, endpoint: str, preload: dict[str, bytes]) -> None:
        self.home = home
        self.if_match_form = "quoted"
        self.requests = 0
        self.client = SimpleNamespace(meta=SimpleNamespace(endpoint_url=endpoint))
        self.objects: dict[str, tuple[bytes, dict[str, str]]] = {k: (v, {}) for k, v in preload.items()}

    @staticmethod
    def _etag(data: bytes) -> str:
        return f'"{hashlib.md5(data).hexdigest()}"'

    def key(self, relative: str) -> str:
        return str(self.home.key(relative))

    def get(self, relative: str) -> Any:
        from modelpack.registry.objects import Stored

        found = self.objects.get(relative)
        return None if found is None else Stored(found[0], self._etag(found[0]))

    def head(self, relative: str) -> Any:
        from modelpack.registry.objects import ObjectInfo

        found = self.objects.get(relative)
        if found is None:
            return None
        return ObjectInfo(relative, len(found[0]), self._etag(found[0]), 0.0, dict(found[1]))

    def create(self, relative: str, data: bytes, *, metadata: dict[str, str] | None = None) -> str | None:
        if relative in self.objects:
            return None
        self.objects[relative] = (bytes(data), dict(metadata or {}))
        return self._etag(data)

    def replace(self, relative: str, data: bytes, etag: str) -> str | None:
        found = self.objects.get(relative)
        if found is None or self._etag(found[0]) != etag:
            return None
        self.objects[relative] = (bytes(data), {})
        return self._etag(data)

    def put(self, relative: str, data: bytes) -> None:
        self.objects[relative] = (bytes(data), {})

    def touch(self, relative: str, metadata: dict[str, str]) -> bool:
        """A blob reused by register is refreshed (a server-side copy onto itself in a bucket)."""
        found = self.objects.get(relative)
        if found is None:
            return False
        self.objects[relative] = (found[0], dict(metadata))
        return True

    def delete(self, relative: str) -> None:
        self.objects.pop(relative, None)

    def list(self, relative_prefix: str, *, start_after: str | None = None) -> Iterator[Any]:
        from modelpack.registry.objects import ObjectInfo

        for key in sorted(self.objects):
            if key.startswith(relative_prefix) and (start_after is None or key > start_after):
                data = self.objects[key][0]
                yield ObjectInfo(key, len(data), self._etag(data), 0.0)

    def list_folders(self, relative_prefix: str) -> Iterator[str]:
        seen = sorted(
            {
                k[len(relative_prefix) :].split("/", 1)[0]
                for k in self.objects
                if k.startswith(relative_prefix)
            }
        )
        yield from seen

    def probe_conditional_writes(self) -> dict[str, str]:
        raise BenchError("the bulk loader needs registry.json created in the bucket first")

    def upload(self, relative: str, path: Path, expected_sha256: str, *, progress: Any = None) -> str:
        data = path.read_bytes()
        actual = hashlib.sha256(data).hexdigest()
        if actual == expected_sha256:
            self.create(relative, data, metadata={"sha256": actual})
        return actual

    def download(self, relative: str, dest: Path, size: int, *, progress: Any = None) -> None:
        with dest.open("xb") as fh:
            fh.write(self.objects[relative][0])


def model_variant(folder: Path, seed: int) -> Path:
    """A small MLmodel folder whose model.pkl (and so its digest) differs per seed."""
    from bench_registry import write_model

    from modelpack.package.manifest import write_manifest

    if not (folder / "MLmodel").exists():
        write_model(folder, 0)
    (folder / "model.pkl").write_bytes(pickle.dumps({"seed": seed, "coef": [seed * 0.1] * 32}))
    write_manifest(folder)
    return folder


def build_models(job: dict[str, Any]) -> tuple[int, int]:
    """Register ``job['names']`` x ``job['versions']`` in memory, then copy the objects to the bucket.

    Runs in a worker process (environment: the server's AWS settings). Returns (versions, objects).
    """
    import boto3
    from botocore.config import Config

    from modelpack.config import parse_home
    from modelpack.registry.remote import S3Registry

    home = parse_home(job["home"])
    client = boto3.session.Session().client("s3", config=Config(max_pool_connections=32))
    preload = {"registry.json": job["registry_json"].encode()}
    objects = MemoryObjects(home, job["endpoint"], preload)
    registry = S3Registry(home, cache=Path(job["cache"]))
    registry.objects = objects  # type: ignore[assignment]
    src = Path(job["src"])
    seed = job["seed"]
    versions = job["versions"]
    for name in job["names"]:
        for v in range(1, versions + 1):
            seed += 1
            registry.register(model_variant(src, seed), name=name, description=f"bench {v}")
            if v % 10 == 0:
                registry.promote(name, v, stage="Production")
        registry.promote(name, versions, stage="Staging")
        registry.promote(name, max(1, versions - 1), alias="champion")
    items = [(k, v) for k, v in objects.objects.items() if k != "registry.json"]

    def send(item: tuple[str, tuple[bytes, dict[str, str]]]) -> None:
        key, (data, metadata) = item
        extra = {"Metadata": metadata} if metadata else {}
        client.put_object(Bucket=home.bucket, Key=home.key(key), Body=data, **extra)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(send, items))
    return len(job["names"]) * versions, len(items)


# ---------------------------------------------------------------------- helpers


def s3_registry(url: str, cache: Path) -> Any:
    from modelpack.config import parse_home
    from modelpack.registry.remote import S3Registry

    return S3Registry(parse_home(url), cache=cache)


def delete_prefix(prefix: str) -> int:
    """Remove every object under ``prefix/`` (untimed, between runs: keeps the server's disk small).

    In a child process, like every boto3 call of the measuring steps: see ``run_step``.
    Returns how many objects there were.
    """
    out = subprocess.run(
        [sys.executable, "-c", DELETE_CODE, BUCKET, prefix], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip() or 0)


def cli(*args: str | Path) -> list[str | Path]:
    return [*modelpack_argv(), *args]


def run_checked(argv: list[str | Path], env: dict[str, str]) -> str:
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        raise BenchError(f"{display(argv)} exited {proc.returncode}: {proc.stderr.strip()[-1000:]}")
    return proc.stdout


# ---------------------------------------------------------------------- 1. requests per operation


def build_big(server: Any, url: str, args: argparse.Namespace) -> float:
    """Bulk-load ``args.models`` x ``args.versions`` into ``url``; returns the seconds it took."""
    start = time.perf_counter()
    registry = s3_registry(url, WORK / "cache-build")
    registry._check_registry(create=True)  # registry.json through the real store probe
    registry_json = registry.objects.get("registry.json").data.decode()
    names = [f"model-{m:03d}" for m in range(args.models)]
    workers = 2
    jobs = [
        {
            "home": url,
            "endpoint": server.endpoint,
            "registry_json": registry_json,
            "cache": str(WORK / f"cache-build-{i}"),
            "src": str(WORK / f"src-build-{i}"),
            "names": names[i::workers],
            "versions": args.versions,
            "seed": 1_000_000 * (i + 1),
        }
        for i in range(workers)
    ]
    with ProcessPoolExecutor(workers) as pool:
        done = list(pool.map(build_models, jobs))
    seconds = time.perf_counter() - start
    print(
        f"bulk-loaded {sum(d[0] for d in done):,} versions ({sum(d[1] for d in done):,} objects) "
        f"in {seconds:.0f} s",
        file=sys.stderr,
    )
    return seconds


def check_big(url: str, args: argparse.Namespace) -> None:
    registry = s3_registry(url, WORK / "cache-check")
    summaries = registry.list_models()
    total = sum(s.version_count for s in summaries)
    expected = args.models * args.versions
    if len(summaries) != args.models or total != expected:
        raise BenchError(f"bulk load gave {len(summaries)} models, {total} versions; expected {expected}")
    versions = registry.list_versions(args.measured)
    if len(versions) != args.versions or versions[-1].version != args.versions:
        raise BenchError(f"{args.measured} lists {len(versions)} versions, expected {args.versions}")
    history = registry.history(args.measured)
    registered = sum(1 for e in history if e.get("event") == "registered")
    if registered != args.versions:
        raise BenchError(
            f"{args.measured} history holds {registered} registered events, expected {args.versions}"
        )


def bench_scaling(server: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    big_url, small_url = f"s3://{BUCKET}/big", f"s3://{BUCKET}/small"
    build_seconds = build_big(server, big_url, args)
    check_big(big_url, args)
    cache = WORK / "cache-api"
    shutil.rmtree(cache, ignore_errors=True)
    small_seed = 5_000_000
    small = s3_registry(small_url, cache)
    small.register(model_variant(WORK / "src-small", small_seed), name="model-000", alias="champion")
    total = args.models * args.versions
    label = f"{total:,} versions"

    # One warm client per home, shared by the fresh S3Registry each call makes.
    shared = {url: s3_registry(url, cache).objects for url in (big_url, small_url)}
    targets = {big_url: args.measured, small_url: "model-000"}
    sources = iter(range(1, 10_000))

    def fresh(url: str) -> Any:
        registry = s3_registry(url, cache)
        registry.objects = shared[url]
        return registry

    def op_promote(url: str, i: int) -> Any:
        stage = ("Production", "Staging")[i % 2]
        return fresh(url).promote(targets[url], 1, stage=stage, alias="bench")

    def op_resolve_alias(url: str, i: int) -> Any:
        return fresh(url).resolve(f"models:/{targets[url]}@champion")

    def op_resolve_latest(url: str, i: int) -> Any:
        return fresh(url).resolve(f"models:/{targets[url]}/latest")

    def op_summary(url: str, i: int) -> Any:
        return fresh(url).summary(targets[url])

    def op_register(url: str, i: int) -> Any:
        folder = model_variant(WORK / f"src-op-{url.rsplit('/', 1)[-1]}", 9_000_000 + next(sources))
        return fresh(url).register(folder, name=targets[url])

    ops: list[tuple[str, str, Callable[[str, int], Any]]] = [
        ("promote --stage S --alias A", "S3Registry(home).promote(NAME, 1, stage=S, alias=A)", op_promote),
        ("resolve models:/NAME@ALIAS", "S3Registry(home).resolve('models:/NAME@champion')", op_resolve_alias),
        ("resolve models:/NAME/latest", "S3Registry(home).resolve('models:/NAME/latest')", op_resolve_latest),
        ("list one model (its summary row)", "S3Registry(home).summary(NAME)", op_summary),
        ("register a small model", "S3Registry(home).register(DIR, name=NAME)", op_register),
    ]
    rows = []
    for title, command, op in ops:
        times: dict[str, list[float]] = {big_url: [], small_url: []}
        counts: dict[str, list[int]] = {big_url: [], small_url: []}
        for i in range(1 + args.repeat):  # round 0 warms connections and the manifest cache
            for url in (big_url, small_url):
                objects = shared[url]
                objects.requests = 0
                start = time.perf_counter()
                op(url, i)
                elapsed = time.perf_counter() - start
                if i:
                    times[url].append(elapsed)
                    counts[url].append(objects.requests)
        big_t, small_t = statistics.median(times[big_url]), statistics.median(times[small_url])
        big_n, small_n = statistics.median(counts[big_url]), statistics.median(counts[small_url])
        spread = {u: (min(c), max(c)) for u, c in counts.items()}
        time_ratio, request_ratio = big_t / small_t, big_n / small_n
        note = (
            f"requests ratio {request_ratio:.2f}"
            + (
                f" (per call {spread[big_url][0]}-{spread[big_url][1]} vs {spread[small_url][0]}-{spread[small_url][1]})"
                if spread[big_url][0] != spread[big_url][1] or spread[small_url][0] != spread[small_url][1]
                else ""
            )
            + "; in-process, a fresh S3Registry per call on one warm client, interleaved"
        )
        if op is op_register:
            note += (
                f"; measured last: each call adds a version ({args.measured} starts at {args.versions}, "
                "the one-version registry's model at 1)"
            )
        if title.startswith("promote"):
            note += "; promote HEADs each of the version's files to check it is stored"
        if not rows:
            note += (
                f"; the {label} were bulk-loaded in {build_seconds:.0f} s (register and promote run "
                "on an in-memory store, their objects copied to the bucket byte for byte) and checked "
                "by S3Registry reads"
            )
        rows.append(
            {
                "name": f"{title}, Python API, {label}: {big_n:g} requests (1 version: {small_n:g})",
                "command": command,
                "median_s": round(big_t, 6),
                "peak_mb": None,
                "reference": round(small_t, 6),
                "reference_command": "same, registry in the bucket holding one version",
                "ratio": round(time_ratio, 3),
                "goal": f"≤ {SCALE_GOAL}× the one-version registry, in requests and in time",
                "goal_met": request_ratio <= SCALE_GOAL and time_ratio <= SCALE_GOAL,
                "runs": args.repeat,
                "requests": big_n,
                "reference_requests": small_n,
                "note": note,
            }
        )
        print(
            f"{title}: {big_t * 1000:.1f} ms / {small_t * 1000:.1f} ms ({time_ratio:.2f}), "
            f"requests {big_n:g} / {small_n:g}",
            file=sys.stderr,
        )
    return rows


# ---------------------------------------------------------------------- 2. a 1 GiB register


def large_folder(args: argparse.Namespace) -> Path:
    """The 1 GiB folder bench_registry.py builds (4 random weight files and an MLmodel); shared."""
    size = args.large_mb << 20
    parts = 4
    folder = DATA / "large-model"
    marker = DATA / f".large-model-{size}"
    if not marker.exists():
        shutil.rmtree(folder, ignore_errors=True)
        print(f"writing a {args.large_mb} MiB model folder...", file=sys.stderr)
        script = ROOT / "bench" / "bench_registry.py"
        subprocess.run(
            [
                sys.executable,
                str(script),
                "--build-step",
                "large",
                str(folder),
                str(size // parts),
                str(parts),
            ],
            check=True,
        )
        for stale in DATA.glob(".large-model-*"):
            stale.unlink()
        marker.write_text("")
    return folder


def bench_large(env: dict[str, str], args: argparse.Namespace) -> list[Row]:
    folder = large_folder(args)
    files = sorted(p for p in folder.iterdir() if p.is_file())
    reg_prefix, ref_prefix = "large", "upload"
    reg_env = {
        **env,
        "MODELPACK_HOME": f"s3://{BUCKET}/{reg_prefix}",
        "MODELPACK_CACHE": str(WORK / "cache-large"),
    }

    def clear(prefix: str) -> Callable[[int], None]:
        def before(_: int) -> None:
            delete_prefix(prefix)
            os.sync()

        return before

    commands = {
        "register": Command(
            cli("register", folder, "--name", "large"), env=reg_env, before_each=clear(reg_prefix)
        ),
        "boto3": Command(
            [sys.executable, "-c", UPLOAD_CODE, BUCKET, ref_prefix, *files],
            env=env,
            before_each=clear(ref_prefix),
        ),
    }
    measured = measure_interleaved(commands, runs=args.large_repeat, warmup=1)
    if delete_prefix(ref_prefix) != len(files) or delete_prefix(reg_prefix) < len(files):
        raise BenchError("the uploads did not store every file")
    label = f"{args.large_mb} MiB"
    shown_ref = [sys.executable, "-c", "<boto3 upload_file each file>", BUCKET, ref_prefix, folder / "*"]
    reference = Row(
        f"boto3 upload_file of the same {len(files)} files ({label}), one after another",
        display(shown_ref),
        measured["boto3"],
        goal="reference",
        note="a new boto3 client, default TransferConfig (8 MiB parts, 10 threads per file); the script is UPLOAD_CODE in bench/bench_bucket.py",
    )
    ours = Row(
        f"modelpack register of a {label} folder into a bucket registry",
        display(commands["register"].argv, {"MODELPACK_HOME": reg_env["MODELPACK_HOME"]}),
        measured["register"],
        goal=f"ratio ≤ {LARGE_GOAL}",
        note="an empty registry each run (its registry.json and store probe included); the folder carries its manifest (as modelpack pack writes it), so register reads each file once, hashing it while its 8 MiB parts are sent, 8 at a time (at most 10 in memory)",
    )
    compare(ours, reference)
    ours.goal_met = ours.ratio[0] <= LARGE_GOAL
    return [reference, ours]


# ---------------------------------------------------------------------- 3. predict from a bucket


def bench_predict(env: dict[str, str], args: argparse.Namespace) -> list[Row]:
    import bench_predict as bp

    # Training and the CSVs need sklearn and pandas: a child imports them, not the measuring process.
    code = (
        f"import sys; sys.path.insert(0, 'bench'); import bench_predict; bench_predict.prepare({args.rows})"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    folder, data = bp.WORK / "packed-wifi", bp.WORK / f"wifi_{args.rows}.csv"
    local_home = WORK / "predict-home"
    shutil.rmtree(local_home, ignore_errors=True)
    s3_env = {
        **env,
        "MODELPACK_HOME": f"s3://{BUCKET}/predict",
        "MODELPACK_CACHE": str(WORK / "cache-predict"),
    }
    cold_cache = WORK / "cache-cold"
    cold_env = {**s3_env, "MODELPACK_CACHE": str(cold_cache)}
    local_env = {**env, "MODELPACK_HOME": str(local_home)}
    for e in (s3_env, local_env):
        run_checked(cli("register", folder, "--name", "wifi", "--alias", "champion"), e)
    shutil.rmtree(WORK / "cache-predict", ignore_errors=True)
    uri = "models:/wifi@champion"
    outs = {k: WORK / f"predict-{k}.csv" for k in ("bucket", "local", "cold")}

    def empty_cache(_: int) -> None:
        shutil.rmtree(cold_cache, ignore_errors=True)

    def predict(out: Path) -> list[str | Path]:
        return cli("predict", uri, "--data", data, "--output", out, "--force")

    resolve = cli("list", uri, "--field", "version")
    commands = {
        "local": Command(predict(outs["local"]), env=local_env),
        "bucket": Command(predict(outs["bucket"]), env=s3_env),
        "cold": Command(predict(outs["cold"]), env=cold_env, before_each=empty_cache),
        "resolve-local": Command(resolve, env=local_env),
        "resolve-bucket": Command(resolve, env=s3_env),
    }
    # Round 0 (untimed) fills the warm cache; rounds of local, bucket, cold after that.
    measured = measure_interleaved(commands, runs=args.runs, warmup=1)
    expected = outs["local"].read_bytes()
    for key in ("bucket", "cold"):
        if outs[key].read_bytes() != expected:
            raise BenchError(f"predict from the bucket ({key}) disagrees with the local registry")
    label = f"{args.rows:,} rows"
    local = Row(
        f"modelpack predict {uri}, local registry ({label})",
        display(commands["local"].argv, {"MODELPACK_HOME": "bench/data/bucket/predict-home"}),
        measured["local"],
        goal="reference",
    )
    warm = Row(
        f"modelpack predict {uri}, bucket registry, warm cache ({label})",
        display(commands["bucket"].argv, {"MODELPACK_HOME": s3_env["MODELPACK_HOME"]}),
        measured["bucket"],
        goal=f"ratio ≤ {PREDICT_GOAL}",
        note=(
            "resolves through the bucket, downloads nothing, re-hashes the cached files; the gap to "
            "the local registry is the bucket's resolution, measured alone in the list rows below"
        ),
    )
    compare(warm, local)
    warm.goal_met = warm.ratio[0] <= PREDICT_GOAL
    cold = Row(
        f"modelpack predict {uri}, bucket registry, empty cache ({label})",
        display(commands["cold"].argv, {"MODELPACK_HOME": s3_env["MODELPACK_HOME"]}),
        measured["cold"],
        goal="information only",
        note="the cache is emptied before each run: the first download of the version",
    )
    compare(cold, local, warm)
    resolve_local = Row(
        f"modelpack list {uri} --field version, local registry",
        display(resolve, {"MODELPACK_HOME": "bench/data/bucket/predict-home"}),
        measured["resolve-local"],
        goal="reference",
    )
    resolve_bucket = Row(
        f"modelpack list {uri} --field version, bucket registry",
        display(resolve, {"MODELPACK_HOME": s3_env["MODELPACK_HOME"]}),
        measured["resolve-bucket"],
        goal="information only",
        note=(
            "the resolution predict does first, alone: importing boto3, setting up its S3 client "
            "and 3 requests (registry.json, model.json, the version record)"
        ),
    )
    compare(resolve_bucket, resolve_local)
    return [local, warm, cold, resolve_local, resolve_bucket]


# ---------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--models", type=int, default=None)
    parser.add_argument("--versions", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=None, help="timed calls per API operation")
    parser.add_argument("--large-mb", type=int, default=None)
    parser.add_argument("--rows", type=int, default=None, help="rows in the predict CSV")
    parser.add_argument("--runs", type=int, default=None, help="timed runs per CLI command")
    parser.add_argument("--step", choices=["large", "predict"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    small = args.quick or quick()
    args.models = args.models or (10 if small else 100)
    args.versions = args.versions or (10 if small else 100)
    args.repeat = args.repeat or (3 if small else 15)
    args.large_mb = args.large_mb or (64 if small else 1024)
    args.large_repeat = args.runs or (1 if small else 3)
    args.rows = args.rows or (20_000 if small else 1_000_000)
    args.runs = args.runs or (1 if small else 5)
    args.measured = f"model-{args.models // 2:03d}"
    if args.step:
        run_step(args)
        return

    from tests.s3server import start_server

    for key in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[key]  # the developer's own AWS setup never reaches the bench
    WORK.mkdir(parents=True, exist_ok=True)
    server = start_server()
    try:
        server.make_bucket(BUCKET)
        env = server.env(BUCKET, "unused")
        env.pop("MODELPACK_HOME")
        os.environ.update(env)
        rows: list[dict[str, Any]] = []
        rows += bench_scaling(server, args)
        rows += measure_step("large")
        rows += measure_step("predict")
    finally:
        server.stop()
    path = write_rows(AREA, rows)
    print(f"wrote {path.relative_to(ROOT)}")
    for row in rows:
        peak = "" if row["peak_mb"] is None else f", {row['peak_mb']:.0f} MB"
        print(f"{row['name']}: {row['median_s']:.4f} s{peak} (ratio {row['ratio']}); {row.get('note', '')}")


def measure_step(step: str) -> list[dict[str, Any]]:
    """Run a step of CLI measurements in a child process (see ``run_step``); its rows."""
    out = WORK / f"step-{step}.json"
    out.unlink(missing_ok=True)
    argv = [sys.executable, __file__, *sys.argv[1:], "--step", step]
    if subprocess.run(argv, cwd=ROOT, check=False).returncode != 0:
        raise BenchError(f"the {step} step failed")
    rows: list[dict[str, Any]] = json.loads(out.read_text())
    return rows


def run_step(args: argparse.Namespace) -> None:
    """Measure one step's commands from a process that stays small.

    A child's peak RSS as the kernel reports it includes its parent's high-water mark at fork
    time; the main process has boto3, modelpack's registry and the bulk loader's data in it, so
    the commands whose peak memory is reported are started from this lean process instead.
    """
    env = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    rows = bench_large(env, args) if args.step == "large" else bench_predict(env, args)
    (WORK / f"step-{args.step}.json").write_text(json.dumps([r.to_json() for r in rows], indent=2))


if __name__ == "__main__":
    try:
        main()
    except BenchError as exc:
        sys.exit(f"bench_bucket: {exc}")
