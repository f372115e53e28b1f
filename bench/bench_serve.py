"""``modelpack serve`` against ``mlflow models serve --env-manager local`` on the same packed folder.

Rows (bench/results/serve.json, format in bench/_measure.py):
- start-up: wall time from starting the server process to its first 200 on ``/ping`` (median of
  several starts), for each server; goal: modelpack at least 3x faster;
- for 1-row and 1,000-row ``dataframe_split`` requests, one row per server: ``median_s`` is the
  median (p50) request latency, the note gives throughput (requests/s) and p99; modelpack's row
  is compared with MLflow's; goal: at least 2x MLflow's throughput and a p99 at most half of it.

The load generator is the same for both servers: CLIENTS asyncio tasks, each with one keep-alive
HTTP/1.1 connection, sending the same request back to back for DURATION seconds in all, after a
warm-up; both servers run one worker (MLflow's default) on the same machine as the generator.
The DURATION is cut into ROUNDS windows taken in turn, MLflow's and modelpack's alternating in
ABBA order, so load from other work on a shared machine falls on both alike; each window starts
with a short unmeasured warm-up of its own. Before anything is timed, both servers' predictions
for the payload are compared and must be equal.

Usage: python bench/bench_serve.py [--duration S] [--rounds N] [--clients N] [--starts N]
(BENCH_QUICK=1: short runs)
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _measure import (
    DATA,
    ROOT,
    BenchError,
    Measurement,
    Row,
    child_env,
    display,
    mlflow_python,
    modelpack_argv,
    quick,
    write_rows,
)

AREA = "serve"
WORK = DATA / "serve"
START_GOAL = "start-up at least 3x faster than MLflow (ratio <= 0.333)"
LOAD_GOAL = "at least 2x MLflow's throughput and p99 at most half of MLflow's"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_model() -> tuple[Path, list[str], list[list[Any]]]:
    """Pack a scikit-learn pipeline (numeric scaling, one-hot text, a boolean) once; return the
    folder and 1,000 rows of request data."""
    import joblib
    import numpy as np
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from modelpack import api

    rng = np.random.default_rng(0)
    n = 5000
    frame = pd.DataFrame(
        {
            "count": rng.integers(0, 100, n).astype("int64"),
            "ratio": rng.random(n).round(3),
            "color": rng.choice(["red", "green", "blue", "black"], n),
            "flag": rng.random(n) < 0.5,
        }
    )
    folder = WORK / "packed"
    if not (folder / "MLmodel").exists():
        WORK.mkdir(parents=True, exist_ok=True)
        pre = ColumnTransformer(
            [
                ("num", StandardScaler(), ["count", "ratio"]),
                ("cat", OneHotEncoder(handle_unknown="ignore"), ["color"]),
                ("flag", "passthrough", ["flag"]),
            ]
        )
        y = ((frame["count"] > 50) ^ frame["flag"]).astype(int)
        model = Pipeline([("pre", pre), ("clf", LogisticRegression())]).fit(frame, y)
        joblib.dump(model, WORK / "model.joblib")
        frame.to_csv(WORK / "sample.csv", index=False)
        api.pack(WORK / "model.joblib", sample=WORK / "sample.csv", output=folder, name="serve-bench")
    rows = frame.head(1000).to_numpy().tolist()
    return folder, list(frame.columns), [[int(r[0]), float(r[1]), str(r[2]), bool(r[3])] for r in rows]


class Server:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int) -> None:
        self.name, self.argv, self.env, self.port = name, argv, env, port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start the server; return seconds until its first 200 on /ping."""
        began = time.perf_counter()
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = began + 300
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{display(self.argv)} exited {self.proc.returncode}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/ping")
                if conn.getresponse().status == 200:
                    conn.close()
                    return time.perf_counter() - began
                conn.close()
            except OSError:
                pass
            time.sleep(0.005)
        raise BenchError(f"{display(self.argv)} never answered /ping")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def post(self, body: bytes) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        conn.request("POST", "/invocations", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        out = resp.status, resp.read()
        conn.close()
        return out


def load(server: Server, body: bytes, *, clients: int, duration: float, warmup: float) -> list[float]:
    """CLIENTS keep-alive connections posting ``body`` back to back; latencies after the warm-up.

    The client is asyncio over raw HTTP/1.1 (one prepared request, responses read by their
    Content-Length), so on a small machine the generator takes as little CPU from the server
    under test as a Python client can.
    """
    return asyncio.run(_load(server, body, clients=clients, duration=duration, warmup=warmup))


def summary(server: Server, latencies: list[float], duration: float) -> dict[str, float]:
    """Throughput, p50 and p99 of every window's latencies (``duration``: the windows' total)."""
    flat = sorted(latencies)
    if not flat:
        raise BenchError(f"{server.name}: no request finished in {duration} s")
    return {
        "requests": len(flat),
        "throughput": len(flat) / duration,
        "p50": statistics.median(flat),
        "p99": flat[min(len(flat) - 1, int(len(flat) * 0.99))],
    }


async def _load(server: Server, body: bytes, *, clients: int, duration: float, warmup: float) -> list[float]:
    request = (
        f"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    failures: list[str] = []
    loop = asyncio.get_running_loop()
    start_at = loop.time() + warmup
    stop_at = start_at + duration

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        while True:
            t0 = loop.time()
            if t0 >= stop_at:
                break
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            t1 = loop.time()
            if status != 200:
                failures.append(str(status))
            if t0 >= start_at:
                latencies.append(t1 - t0)
        writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    if failures:
        raise BenchError(f"{server.name}: {len(failures)} failed requests ({failures[:3]})")
    return latencies


def server_command(server: Server) -> str:
    """The server's command line for the table, the port written PORT."""
    argv = [a if a != str(server.port) else "PORT" for a in server.argv]
    shown = {"MODELPACK_HOME": "bench/data/serve/home"} if server.name.startswith("modelpack") else None
    return display(argv, shown)


def load_row(
    server: Server,
    label: str,
    r: dict[str, float],
    args: argparse.Namespace,
    versus: tuple[Server, dict[str, float]] | None,
) -> dict[str, Any]:
    """A latency row (p50 as ``median_s``); throughput and p99 in the note, compared with ``versus``."""
    note = (
        f"{r['throughput']:.0f} requests/s, p99 {r['p99'] * 1000:.1f} ms, {int(r['requests'])} requests, "
        f"{args.clients} clients, {args.duration:g} s in {args.rounds} windows alternating with the other server"
    )
    doc: dict[str, Any] = {
        "name": f"{server.name}: {label} requests, p50 latency",
        "command": f"{args.clients} clients POST /invocations (dataframe_split, {label}) to: {server_command(server)}",
        "median_s": round(r["p50"], 6),
        "peak_mb": None,
        "reference": None,
        "ratio": None,
        "goal": "reference",
        "runs": int(r["requests"]),
        "note": note,
    }
    if versus is not None:
        other, theirs = versus
        speedup = r["throughput"] / theirs["throughput"]
        p99_ratio = r["p99"] / theirs["p99"]
        doc.update(
            reference=[f"{other.name}: {label} requests, p50 latency"],
            ratio=[round(r["p50"] / theirs["p50"], 4)],
            goal=LOAD_GOAL,
            goal_met=speedup >= 2 and p99_ratio <= 0.5,
            headline=True,
            note=note + f"; throughput {speedup:.2f}x MLflow's, p99 {p99_ratio:.2f}x MLflow's",
        )
    return doc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=3.0 if quick() else 15.0)
    parser.add_argument("--rounds", type=int, default=1 if quick() else 6)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--starts", type=int, default=1 if quick() else 5)
    args = parser.parse_args()

    folder, columns, rows = build_model()
    mlflow_py = mlflow_python()
    mp_port, ml_port = free_port(), free_port()
    ours = Server(
        "modelpack serve",
        [*modelpack_argv(), "serve", str(folder), "--port", str(mp_port)],
        # PYTHONPATH: the checkout being measured, whatever modelpack the environment has installed
        child_env({"MODELPACK_HOME": str(WORK / "home"), "PYTHONPATH": str(ROOT)}),
        mp_port,
    )
    # mlflow runs `uvicorn` from PATH: the one next to its interpreter
    ml_env = child_env()
    ml_env["PATH"] = f"{mlflow_py.parent}:{ml_env.get('PATH', '')}"
    theirs = Server(
        "mlflow models serve",
        [
            str(mlflow_py),
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            str(folder),
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(ml_port),
        ],
        ml_env,
        ml_port,
    )

    # start-up, interleaved (one unmeasured warm-up start each fills the page cache)
    starts: dict[str, list[float]] = {ours.name: [], theirs.name: []}
    for i in range(args.starts + 1):
        for server in (ours, theirs):
            seconds = server.start()
            server.stop()
            if i:
                starts[server.name].append(seconds)
    start_rows = {
        name: Row(
            name=f"{name}: start to first 200 on /ping",
            command=server_command(server),
            measurement=Measurement(times, 0.0),
            goal="reference" if server is theirs else START_GOAL,
        )
        for name, times, server in (
            (ours.name, starts[ours.name], ours),
            (theirs.name, starts[theirs.name], theirs),
        )
    }
    mine, ref = start_rows[ours.name], start_rows[theirs.name]
    mine.reference, mine.ratio = [ref.name], [mine.measurement.median_s / ref.measurement.median_s]
    mine.goal_met = mine.ratio[0] <= 1 / 3
    mine.headline = True
    out: list[dict[str, Any]] = [{**ref.to_json(), "peak_mb": None}, {**mine.to_json(), "peak_mb": None}]

    ours.start()
    theirs.start()
    try:
        for label, n in (("1-row", 1), ("1,000-row", 1000)):
            body = json.dumps({"dataframe_split": {"columns": columns, "data": rows[:n]}}).encode()
            a, b = ours.post(body), theirs.post(body)
            if a[0] != 200 or b[0] != 200 or json.loads(a[1]) != json.loads(b[1]):
                raise BenchError(
                    f"the servers disagree on the {label} request: {a[1][:200]!r} vs {b[1][:200]!r}"
                )
            latencies: dict[str, list[float]] = {ours.name: [], theirs.name: []}
            window = args.duration / args.rounds
            for i in range(args.rounds):
                # ABBA: MLflow first in even rounds, modelpack first in odd ones
                for server in (theirs, ours) if i % 2 == 0 else (ours, theirs):
                    latencies[server.name] += load(
                        server,
                        body,
                        clients=args.clients,
                        duration=window,
                        # a longer warm-up the first time; then enough to open the connections
                        warmup=min(2.0, args.duration / 3) if i == 0 else min(0.5, window / 3),
                    )
            r_ours = summary(ours, latencies[ours.name], args.duration)
            r_theirs = summary(theirs, latencies[theirs.name], args.duration)
            out += [
                load_row(theirs, label, r_theirs, args, None),
                load_row(ours, label, r_ours, args, (theirs, r_theirs)),
            ]
    finally:
        ours.stop()
        theirs.stop()
    path = write_rows(AREA, out)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
