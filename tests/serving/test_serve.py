"""``modelpack serve`` against a real server process and a real HTTP client.

Each server is a subprocess on a free port on 127.0.0.1 (``--port 0``; the port is read from its
"started" log line), polled on /ping until ready.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelpack import api, load_model
from modelpack.package.manifest import write_manifest
from tests.cli.test_validate import SystemPayload
from tests.conftest import _fit_pipeline, modelpack_cmd
from tests.serving.server_proc import Server, start

COLUMNS = ["count", "ratio", "color", "flag"]
ROWS = [[3, 0.5, "red", True], [90, 0.125, "blue", False], [51, 0.75, "green", True]]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "count": rng.integers(0, 100, 20).astype("int64"),
            "ratio": rng.random(20).round(3),
            "color": rng.choice(["red", "green", "blue"], 20),
            "flag": rng.random(20) < 0.5,
        }
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, frame: pd.DataFrame) -> Path:
    import joblib

    root = tmp_path_factory.mktemp("serve")
    joblib.dump(_fit_pipeline(frame), root / "model.joblib")
    frame.to_csv(root / "sample.csv", index=False)
    api.pack(root / "model.joblib", sample=root / "sample.csv", output=root / "packed", name="mixed")
    return root / "packed"


@pytest.fixture(scope="module")
def server(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    home = tmp_path_factory.mktemp("home")
    env_home = os.environ.get("MODELPACK_HOME")
    os.environ["MODELPACK_HOME"] = str(home)
    try:
        srv = start(str(folder), "--max-body-bytes", "20000")
    finally:
        if env_home is None:
            os.environ.pop("MODELPACK_HOME", None)
        else:
            os.environ["MODELPACK_HOME"] = env_home
    yield srv
    assert srv.stop() == 0, "\n".join(srv.log)


def expected(folder: Path, data: pd.DataFrame) -> list[Any]:
    return load_model(folder).predict(data).tolist()


def rows_frame() -> pd.DataFrame:
    return pd.DataFrame(ROWS, columns=COLUMNS)


# --------------------------------------------------------------------------------------------------
# the protocol


@pytest.mark.parametrize("path", ["/ping", "/health"])
def test_ping_and_health(server: Server, path: str) -> None:
    reply = server.request("GET", path)
    assert reply.status == 200
    assert reply.body == b"\n"
    assert reply.headers["x-modelpack-version"].startswith("sha256:")


def test_version_names_the_model(server: Server, folder: Path) -> None:
    reply = server.request("GET", "/version")
    assert reply.status == 200
    doc = reply.json()
    manifest = json.loads((folder / "modelpack.manifest.json").read_text())
    assert doc["digest"] == manifest["digest"]
    assert doc["model"] == reply.headers["x-modelpack-version"]
    assert doc["modelpack_version"]


def payloads() -> dict[str, Any]:
    records = [dict(zip(COLUMNS, row, strict=True)) for row in ROWS]
    return {
        "dataframe_split": {"dataframe_split": {"columns": COLUMNS, "data": ROWS}},
        "dataframe_records": {"dataframe_records": records},
        "instances": {"instances": records},
        "inputs_records": {"inputs": records},
        "inputs_columns": {"inputs": {c: [r[i] for r in ROWS] for i, c in enumerate(COLUMNS)}},
        "with_params": {"dataframe_split": {"columns": COLUMNS, "data": ROWS}, "params": {"x": 1}},
    }


@pytest.mark.parametrize("form", list(payloads()))
def test_the_fast_path_gives_what_the_general_path_gives(folder: Path, form: str) -> None:
    """fast_columns (a JSON body straight to the conformed columns) must hand the model exactly
    the DataFrame parse_body + conform build: same columns, order, dtypes and values."""
    from modelpack.model import load_served
    from modelpack.serving import server as srv

    served = load_served(str(folder), home=Path(os.environ["MODELPACK_HOME"]), trusted=())
    body = json.dumps(payloads()[form]).encode()
    fast = srv.fast_columns(served, json.loads(body))
    assert fast is not None
    general = srv.conform(served, *srv.parse_body(body, srv.CONTENT_TYPE_JSON, served))
    pd.testing.assert_frame_equal(fast.frame(), general, check_exact=True)
    both = srv._batch_input([fast, srv._prepare(served, body, srv.CONTENT_TYPE_JSON)])
    pd.testing.assert_frame_equal(both, pd.concat([general, general], ignore_index=True), check_exact=True)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda rows: [[r[0], 1, *r[2:]] for r in rows], id="an int in a double column"),
        pytest.param(lambda rows: [[r[0], float("nan"), *r[2:]] for r in rows], id="NaN"),
        pytest.param(lambda rows: [[None, *r[1:]] for r in rows], id="null"),
        pytest.param(lambda rows: [[str(r[0]), *r[1:]] for r in rows], id="text in a long column"),
        pytest.param(lambda rows: [[1 << 70, *r[1:]] for r in rows], id="an integer over 64 bits"),
        pytest.param(lambda rows: [[*r, 1] for r in rows], id="an extra column"),
        pytest.param(lambda rows: [r[:3] for r in rows], id="a missing column"),
        pytest.param(lambda rows: [r[:3] if i else r for i, r in enumerate(rows)], id="a ragged row"),
        pytest.param(lambda rows: [], id="no rows"),
    ],
)
def test_anything_else_takes_the_general_path(folder: Path, change: Any) -> None:
    from modelpack.model import load_served
    from modelpack.serving import server as srv

    served = load_served(str(folder), home=Path(os.environ["MODELPACK_HOME"]), trusted=())
    rows = change([list(r) for r in ROWS])
    width = max((len(r) for r in rows), default=len(COLUMNS))
    columns = [*COLUMNS, "extra"][:width]
    assert srv.fast_columns(served, {"dataframe_split": {"columns": columns, "data": rows}}) is None


@pytest.mark.parametrize("form", list(payloads()))
def test_every_json_form_predicts_what_load_model_predicts(server: Server, folder: Path, form: str) -> None:
    reply = server.invoke(payloads()[form])
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.json() == {"predictions": expected(folder, rows_frame())}


def test_csv_and_parquet(server: Server, folder: Path, frame: pd.DataFrame) -> None:
    want = {"predictions": expected(folder, frame)}
    csv = server.request("POST", "/invocations", frame.to_csv(index=False), "text/csv; charset=utf-8")
    assert csv.status == 200, csv.body
    assert csv.json() == want
    buf = io.BytesIO()
    frame.to_parquet(buf)
    parquet = server.request("POST", "/invocations", buf.getvalue(), "application/vnd.apache.parquet")
    assert parquet.status == 200, parquet.body
    assert parquet.json() == want


def error(reply: Any, status: int) -> str:
    assert reply.status == status, reply.body
    doc = reply.json()
    assert set(doc) == {"error_code", "message"}
    assert "Traceback" not in doc["message"]
    return str(doc["message"])


def test_malformed_json_is_400(server: Server) -> None:
    message = error(server.request("POST", "/invocations", '{"dataframe_split": ', "application/json"), 400)
    assert "valid JSON" in message
    message = error(server.request("POST", "/invocations", "[1, 2]", "application/json"), 400)
    assert "exactly one of the input fields" in message
    two = {"dataframe_split": {"columns": COLUMNS, "data": ROWS}, "inputs": []}
    assert "exactly one of the input fields" in error(server.invoke(two), 400)
    assert "exactly one of the input fields" in error(server.invoke({"data": ROWS}), 400)
    ragged = {"dataframe_split": {"columns": COLUMNS, "data": [[1, 2]]}}
    assert "4 values" in error(server.invoke(ragged), 400)
    bad_params = {"dataframe_split": {"columns": COLUMNS, "data": ROWS}, "params": [1]}
    assert "params" in error(server.invoke(bad_params), 400)
    not_utf8 = server.request("POST", "/invocations", b'{"inputs": ["\xff"]}', "application/json")
    assert "valid JSON" in error(not_utf8, 400)


def test_unparseable_csv_and_parquet_are_400(server: Server) -> None:
    assert "CSV" in error(server.request("POST", "/invocations", b'a,"b\n1', "text/csv"), 400)
    assert "Parquet" in error(
        server.request("POST", "/invocations", b"PAR1 not really", "application/vnd.apache.parquet"), 400
    )


@pytest.mark.parametrize(
    ("content_type", "needle"),
    [
        ("text/plain", "unsupported Content-Type"),
        (None, "Content-Type header is required"),
        ("application/json; charset=latin-1", "UTF-8"),
        ("application/json; format=pandas-split", "unrecognized Content-Type parameters"),
    ],
)
def test_wrong_content_type_is_415(server: Server, content_type: str | None, needle: str) -> None:
    body = json.dumps(payloads()["dataframe_split"])
    assert needle in error(server.request("POST", "/invocations", body, content_type), 415)


def test_empty_body_is_400(server: Server) -> None:
    assert "empty" in error(server.request("POST", "/invocations", b"", "application/json"), 400)


def test_oversized_body_is_413(server: Server) -> None:
    big = {"dataframe_records": [{"count": 1, "ratio": 0.5, "color": "x" * 100, "flag": True}] * 400}
    message = error(server.invoke(big), 413)
    assert "20000 bytes" in message
    # also without Content-Length (chunked): the stream is cut off at the limit
    import http.client

    conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
    conn.putrequest("POST", "/invocations")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    data = json.dumps(big).encode()
    for i in range(0, len(data), 4096):
        chunk = data[i : i + 4096]
        conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    conn.send(b"0\r\n\r\n")
    resp = conn.getresponse()
    assert resp.status == 413
    conn.close()


def test_missing_column_is_400_naming_it(server: Server) -> None:
    payload = {"dataframe_split": {"columns": ["count", "ratio", "flag"], "data": [[1, 0.5, True]]}}
    message = error(server.invoke(payload), 400)
    assert "color" in message


def test_extra_column_is_dropped_as_mlflow_does(server: Server, folder: Path) -> None:
    payload = {"dataframe_split": {"columns": [*COLUMNS, "extra"], "data": [[*r, 7] for r in ROWS]}}
    reply = server.invoke(payload)
    assert reply.status == 200, reply.body
    assert reply.json() == {"predictions": expected(folder, rows_frame())}


def test_wrong_types_list_every_violation(server: Server) -> None:
    rows = [["many", 0.5, "red", True], [2, "half", "red", True], [3, 0.5, "red", True]]
    message = error(server.invoke({"dataframe_split": {"columns": COLUMNS, "data": rows}}), 400)
    assert "2 violations" in message
    assert "count" in message and "ratio" in message
    assert "'many'" in message and "'half'" in message


def test_concurrent_clients_each_get_their_own_predictions(
    server: Server, folder: Path, frame: pd.DataFrame
) -> None:
    # Concurrent requests to a scikit-learn model share model calls (batching); each answer must
    # still be exactly the predictions for that request's rows.
    model = load_model(folder)
    slices = [frame.iloc[i : i + 1 + i % 5].reset_index(drop=True) for i in range(12)]

    def client(i: int) -> list[int]:
        part = slices[i]
        rows = [[int(r[0]), float(r[1]), str(r[2]), bool(r[3])] for r in part.to_numpy().tolist()]
        want = {"predictions": model.predict(part).tolist()}
        statuses = []
        for _ in range(10):
            reply = server.invoke({"dataframe_split": {"columns": COLUMNS, "data": rows}})
            assert reply.json() == want
            statuses.append(reply.status)
        return statuses

    with ThreadPoolExecutor(12) as pool:
        statuses = [s for batch in pool.map(client, range(12)) for s in batch]
    assert statuses == [200] * 120


def test_metrics_in_prometheus_text(server: Server) -> None:
    server.invoke(payloads()["dataframe_split"])
    server.request("POST", "/invocations", "{", "application/json")
    reply = server.request("GET", "/metrics")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/plain")
    text = reply.body.decode()
    assert 'modelpack_requests_total{method="POST",path="/invocations",status="200"}' in text
    assert 'modelpack_request_errors_total{method="POST",path="/invocations",status="400"}' in text
    assert 'modelpack_request_duration_seconds_bucket{path="/invocations",le="+Inf"}' in text
    assert "# TYPE modelpack_request_duration_seconds histogram" in text
    label = reply.headers["x-modelpack-version"]
    assert f'modelpack_model_info{{model="{label}"' in text


def test_access_log_is_one_json_line_per_request(server: Server) -> None:
    server.request("GET", "/health", headers={"X-Probe": "access-log"})
    lines = [e for e in server.events("request") if e["path"] == "/health"]
    assert lines, server.log
    entry = lines[-1]
    assert entry["method"] == "GET" and entry["status"] == 200
    assert {"ts", "ms", "client", "model", "bytes_out"} <= set(entry)


def test_unknown_route_is_404(server: Server) -> None:
    assert server.request("GET", "/nope").status == 404
    assert server.request("GET", "/invocations").status == 405


# --------------------------------------------------------------------------------------------------
# a registry target


def test_registry_target_names_its_version(folder: Path, tmp_path: Path) -> None:
    subprocess.run(modelpack_cmd("register", str(folder), "--name", "churn"), check=True, capture_output=True)
    srv = start("models:/churn/latest")
    try:
        reply = srv.invoke(payloads()["dataframe_records"])
        assert reply.status == 200
        assert reply.headers["x-modelpack-version"] == "models:/churn/1"
        assert srv.request("GET", "/version").json()["version"] == 1
    finally:
        assert srv.stop() == 0


# --------------------------------------------------------------------------------------------------
# slow requests: timeout and graceful shutdown


@pytest.fixture(scope="module")
def slow_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("slow")
    pd.DataFrame({"delay": [0.0, 0.0]}).to_csv(root / "sample.csv", index=False)
    api.pack(
        "tests.serving.slow_model:make_model",
        sample=root / "sample.csv",
        output=root / "packed",
        serialization="pickle",
        trusted=["tests.serving.slow_model"],
    )
    return root / "packed"


def slow(seconds: float) -> dict[str, Any]:
    return {"dataframe_split": {"columns": ["delay"], "data": [[seconds]]}}


def test_sigterm_lets_in_flight_requests_finish(slow_folder: Path) -> None:
    srv = start(str(slow_folder), "--trust-pickle", "tests.serving.slow_model", "--json")
    results: list[Any] = []

    def client() -> None:
        results.append(srv.invoke(slow(1.5), timeout=120))

    threads = [threading.Thread(target=client) for _ in range(3)]
    for t in threads:
        t.start()
    _wait_in_flight(srv, 3)
    srv.proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(timeout=120)
    # Let the one SIGTERM finish the shutdown: stop() would send a second one while it runs.
    srv.proc.wait(timeout=120)
    assert srv.stop() == 0, "\n".join(srv.log)
    assert [r.status for r in results] == [200, 200, 200]
    assert all(r.json() == {"predictions": [3.0]} for r in results)
    doc = json.loads(srv.stdout)
    assert doc["status"] == "ok" and doc["data"]["stopped_by"] == "SIGTERM"


def _wait_in_flight(srv: Server, n: int) -> None:
    """Poll until ``n`` /invocations requests are being handled (the server's own count)."""
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = srv.request("GET", "/metrics").body.decode()
        for line in text.splitlines():
            if line.startswith("modelpack_in_flight_requests ") and int(float(line.split()[1])) >= n:
                return
    raise AssertionError("the requests never reached the server")


def test_timeout_is_504(slow_folder: Path) -> None:
    srv = start(str(slow_folder), "--trust-pickle", "tests.serving.slow_model", "--timeout", "0.3")
    try:
        # The first request imports what answering takes (pandas for this model), which can take
        # longer than 0.3 s on a loaded machine: warm the server up until a quick request passes.
        deadline = time.monotonic() + 120
        while srv.invoke(slow(0.0)).status != 200:
            assert time.monotonic() < deadline, "\n".join(srv.log)
        message = error(srv.invoke(slow(2.0)), 504)
        assert "0.3 s" in message
        assert srv.invoke(slow(0.0)).status == 200
    finally:
        assert srv.stop() == 0


# --------------------------------------------------------------------------------------------------
# start-up failures


def test_unsafe_model_never_serves(folder: Path, tmp_path: Path) -> None:
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    marker = tmp_path / "pwned"
    model_file = next(p for p in bad.iterdir() if p.suffix in (".pkl", ".joblib", ".skops", ".pickle"))
    model_file.unlink()
    (bad / "model.pkl").write_bytes(pickle.dumps(SystemPayload(marker)))
    mlmodel = (bad / "MLmodel").read_text()
    (bad / "MLmodel").write_text(mlmodel.replace(model_file.name, "model.pkl"))
    write_manifest(bad)
    proc = subprocess.run(
        modelpack_cmd("serve", str(bad), "--port", "0"), capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "started" not in proc.stderr
    assert not marker.exists()
    proc = subprocess.run(
        modelpack_cmd("serve", str(bad), "--port", "0", "--json"), capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 3
    doc = json.loads(proc.stdout)
    assert doc["status"] == "error" and doc["exit_code"] == 3
    assert not marker.exists()


def test_missing_target_and_busy_port(folder: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        modelpack_cmd("serve", str(tmp_path / "nope"), "--port", "0"),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 4
    assert proc.stderr.startswith("error:") and len(proc.stderr.strip().splitlines()) <= 2
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            modelpack_cmd("serve", str(folder), "--port", str(port)),
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr


def test_follow_needs_a_registry_uri(folder: Path) -> None:
    proc = subprocess.run(
        modelpack_cmd("serve", str(folder), "--follow"), capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 2
    assert "--follow needs a registry URI" in proc.stderr


def test_workers_each_serve_the_model(folder: Path) -> None:
    srv = start(str(folder), "--workers", "2", "--json")
    try:
        want = {"predictions": expected(folder, rows_frame())}
        with ThreadPoolExecutor(4) as pool:
            replies = list(pool.map(lambda _: srv.invoke(payloads()["dataframe_split"]), range(20)))
        assert [r.status for r in replies] == [200] * 20
        assert all(r.json() == want for r in replies)
    finally:
        assert srv.stop() == 0, "\n".join(srv.log)
    assert json.loads(srv.stdout)["data"]["workers"] == 2


def test_a_worker_that_fails_to_start_fails_the_command(tmp_path: Path) -> None:
    """The server's own check passes, but the model refuses to load in a worker process: the
    command stops every worker and exits 1 with one error line, leaving nothing listening."""
    pd.DataFrame({"x": [1.0, 2.0]}).to_csv(tmp_path / "sample.csv", index=False)
    packed = tmp_path / "packed"
    api.pack(
        "tests.serving.picky_model:make_worker_shy",
        sample=tmp_path / "sample.csv",
        output=packed,
        serialization="pickle",
        trusted=["tests.serving.picky_model"],
    )
    argv = ["serve", str(packed), "--trust-pickle", "tests.serving.picky_model", "--workers", "2"]
    proc = subprocess.run(modelpack_cmd(*argv, "--port", "0"), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    errors = [line for line in lines if not line.startswith("{")]
    assert len(errors) == 1, proc.stderr
    assert errors[0].startswith("error: worker process ")
    assert "failed to start" in errors[0] and "refuses to load in a worker process" in errors[0]
    events = [json.loads(line) for line in lines if line.startswith("{")]
    assert any(e["event"] == "worker_failed" for e in events)
    url = next(e["url"] for e in events if e["event"] == "started")
    host, _, port = url.removeprefix("http://").rpartition(":")
    with pytest.raises(OSError):  # no worker is left serving
        socket.create_connection((host, int(port)), timeout=10).close()

    # --json: one document saying the same
    proc = subprocess.run(
        modelpack_cmd(*argv, "--port", "0", "--json"), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["status"] != "ok" and "failed to start" in json.dumps(doc), doc


def test_params_are_checked_against_the_signature(tmp_path: Path) -> None:
    from tests.api.test_params import pack_with_params

    model_folder, estimator, data = pack_with_params(tmp_path)
    srv = start(str(model_folder))
    try:
        split = {"columns": ["a", "b"], "data": data.head(3).to_numpy().tolist()}
        ok = srv.invoke({"dataframe_split": split, "params": {"threshold": 0.9, "top_k": 2}})
        assert ok.status == 200, ok.body
        assert ok.json() == {"predictions": estimator.predict(data.head(3)).tolist()}
        bad = srv.invoke({"dataframe_split": split, "params": {"threshold": "high", "top_k": 2.5}})
        message = error(bad, 400)
        assert "threshold" in message and "top_k" in message
    finally:
        assert srv.stop() == 0


def test_a_parquet_bomb_is_refused(folder: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"count": pa.array([7] * 30_000_000, pa.int64())})
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    assert len(buf.getvalue()) < 1_000_000  # 240 MB of int64 in a body the limit lets through
    srv = start(str(folder), "--max-body-bytes", "1000000")
    try:
        reply = srv.request("POST", "/invocations", buf.getvalue(), "application/vnd.apache.parquet")
        assert "expands" in error(reply, 413)
    finally:
        assert srv.stop() == 0
