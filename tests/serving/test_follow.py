"""``modelpack serve models:/NAME@ALIAS --follow``: a client hammering the server while the alias
moves sees no failed request, and the version header changes; a breaking version is not switched to.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelpack import api
from tests.conftest import _fit_pipeline, modelpack_cmd, signature_variant
from tests.serving.server_proc import Reply, Server, start

COLUMNS = ["count", "ratio", "color", "flag"]
PAYLOAD = {
    "dataframe_split": {"columns": COLUMNS, "data": [[3, 0.5, "red", True], [90, 0.125, "blue", False]]}
}


def frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "count": rng.integers(0, 100, 20).astype("int64"),
            "ratio": rng.random(20).round(3),
            "color": rng.choice(["red", "green", "blue"], 20),
            "flag": rng.random(20) < 0.5,
        }
    )


def pack(tmp_path: Path, seed: int) -> Path:
    import joblib

    data = frame(seed)
    joblib.dump(_fit_pipeline(data), tmp_path / f"model{seed}.joblib")
    data.to_csv(tmp_path / f"sample{seed}.csv", index=False)
    out = tmp_path / f"packed{seed}"
    api.pack(
        tmp_path / f"model{seed}.joblib", sample=tmp_path / f"sample{seed}.csv", output=out, name="churn"
    )
    return out


def cli(*args: str) -> None:
    proc = subprocess.run(modelpack_cmd(*args), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr


class Hammer:
    """Clients sending requests until stopped, recording every answer's status and version."""

    def __init__(self, server: Server, clients: int = 3) -> None:
        self.server = server
        self.replies: list[Reply] = []
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run) for _ in range(clients)]

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                reply = self.server.invoke(PAYLOAD)
            except OSError as exc:
                self.failures.append(repr(exc))
                continue
            self.replies.append(reply)
            if reply.status != 200:
                self.failures.append(f"{reply.status}: {reply.body[:300]!r}")

    def versions(self) -> list[str]:
        return [r.headers["x-modelpack-version"] for r in list(self.replies)]

    def __enter__(self) -> Hammer:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=120)

    def wait_for(self, version: str, timeout: float = 120) -> None:
        """Poll the answers (not a fixed sleep) until one comes from ``version``."""
        deadline = time.monotonic() + timeout
        while version not in self.versions()[-20:]:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"never served {version}: {self.versions()[-5:]}\n" + "\n".join(self.server.log)
                )
            time.sleep(0.01)


def seen(server: Server, event: str, timeout: float = 120) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while not server.events(event):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {event} event:\n" + "\n".join(server.log))
        time.sleep(0.01)
    return server.events(event)[-1]


@pytest.mark.slow
def test_follow_switches_without_a_failed_request(tmp_path: Path) -> None:
    cli("register", str(pack(tmp_path, 1)), "--name", "churn")
    cli("register", str(pack(tmp_path, 2)), "--name", "churn")
    cli("promote", "churn", "1", "--alias", "champion")
    server = start("models:/churn@champion", "--follow", "--follow-interval", "3600", "--json")
    try:
        with Hammer(server) as hammer:
            hammer.wait_for("models:/churn/1")
            cli("promote", "churn", "2", "--alias", "champion")
            server.proc.send_signal(signal.SIGHUP)
            hammer.wait_for("models:/churn/2")
        assert hammer.failures == []
        versions = hammer.versions()
        first_new = versions.index("models:/churn/2")
        assert "models:/churn/1" in versions[:first_new]
        assert server.request("GET", "/version").json()["version"] == 2
        event = seen(server, "switched")
        assert event["model"] == "models:/churn/2" and event["previous"] == "models:/churn/1"
        assert "modelpack_model_switches_total 1" in server.request("GET", "/metrics").body.decode()
    finally:
        assert server.stop() == 0, "\n".join(server.log)


@pytest.mark.slow
def test_follow_refuses_a_breaking_version(tmp_path: Path) -> None:
    good = pack(tmp_path, 1)
    cli("register", str(good), "--name", "churn")

    def add_required(inputs: list[dict[str, object]]) -> list[dict[str, object]]:
        return [*inputs, {"name": "tenure", "type": "long", "required": True}]

    breaking = signature_variant(good, tmp_path / "breaking", add_required)
    cli("register", str(breaking), "--name", "churn")
    cli("promote", "churn", "1", "--stage", "Production")
    server = start("models:/churn/Production", "--follow", "--follow-interval", "3600")
    try:
        cli("promote", "churn", "2", "--stage", "Production")
        server.proc.send_signal(signal.SIGHUP)
        event = seen(server, "switch_refused")
        assert event["candidate"] == "models:/churn/2"
        assert "tenure" in str(event["reason"])
        reply = server.invoke(PAYLOAD)
        assert reply.status == 200
        assert reply.headers["x-modelpack-version"] == "models:/churn/1"
    finally:
        assert server.stop() == 0


@pytest.mark.slow
def test_follow_re_resolves_on_its_interval(tmp_path: Path) -> None:
    cli("register", str(pack(tmp_path, 1)), "--name", "churn")
    cli("register", str(pack(tmp_path, 2)), "--name", "churn")
    cli("promote", "churn", "1", "--alias", "champion")
    server = start("models:/churn@champion", "--follow", "--follow-interval", "0.2")
    try:
        with Hammer(server, clients=1) as hammer:
            cli("promote", "churn", "2", "--alias", "champion")
            hammer.wait_for("models:/churn/2")
        assert hammer.failures == []
    finally:
        assert server.stop() == 0


@pytest.mark.slow
def test_follow_with_workers_switches_on_sighup(tmp_path: Path) -> None:
    cli("register", str(pack(tmp_path, 1)), "--name", "churn")
    cli("register", str(pack(tmp_path, 2)), "--name", "churn")
    cli("promote", "churn", "1", "--alias", "champion")
    server = start("models:/churn@champion", "--follow", "--follow-interval", "3600", "--workers", "2")
    try:
        with Hammer(server) as hammer:
            hammer.wait_for("models:/churn/1")
            cli("promote", "churn", "2", "--alias", "champion")
            server.proc.send_signal(signal.SIGHUP)  # passed on to every worker
            hammer.wait_for("models:/churn/2")
            deadline = time.monotonic() + 120
            while "models:/churn/1" in hammer.versions()[-20:] and time.monotonic() < deadline:
                time.sleep(0.01)
        assert hammer.failures == []
        assert hammer.versions()[-1] == "models:/churn/2"
    finally:
        assert server.stop() == 0, "\n".join(server.log)


def pack_flaky(tmp_path: Path, n: int) -> Path:
    """A model that cannot be loaded while the file named by MODELPACK_TEST_LOAD_FAILS exists."""
    sample = tmp_path / f"flaky-sample{n}.csv"
    pd.DataFrame({"x": [float(n), 2.0]}).to_csv(sample, index=False)
    out = tmp_path / f"flaky{n}"
    api.pack(
        "tests.serving.picky_model:make_flaky",
        sample=sample,
        output=out,
        serialization="pickle",
        trusted=["tests.serving.picky_model"],
        name="flaky",
    )
    return out


def wait_events(server: Server, event: str, count: int, timeout: float = 120) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while len(server.events(event)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"fewer than {count} {event} events:\n" + "\n".join(server.log))
        time.sleep(0.01)
    return server.events(event)


def version_of(server: Server) -> str:
    reply = server.invoke({"dataframe_split": {"columns": ["x"], "data": [[1.0]]}})
    assert reply.status == 200, reply.body
    return reply.headers["x-modelpack-version"]


@pytest.mark.slow
def test_follow_retries_a_version_that_failed_to_load_on_sighup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flag = tmp_path / "load-fails"
    monkeypatch.setenv("MODELPACK_TEST_LOAD_FAILS", str(flag))  # the server inherits it
    cli("register", str(pack_flaky(tmp_path, 1)), "--name", "flaky")
    cli("register", str(pack_flaky(tmp_path, 2)), "--name", "flaky")
    cli("promote", "flaky", "1", "--alias", "champion")
    server = start(
        "models:/flaky@champion",
        "--follow",
        "--follow-interval",
        "3600",
        "--trust-pickle",
        "tests.serving.picky_model",
    )
    try:
        flag.touch()
        cli("promote", "flaky", "2", "--alias", "champion")
        server.proc.send_signal(signal.SIGHUP)
        refused = wait_events(server, "switch_refused", 1)[-1]
        assert refused["candidate"] == "models:/flaky/2"
        assert "cannot be loaded for now" in str(refused["reason"])
        assert refused["retry_in_s"] == 3600
        assert version_of(server) == "models:/flaky/1"

        flag.unlink()
        server.proc.send_signal(signal.SIGHUP)  # at once, not in an hour
        retry = wait_events(server, "switch_retry", 1)[-1]
        assert retry["candidate"] == "models:/flaky/2" and retry["attempt"] == 2
        switched = wait_events(server, "switched", 1)[-1]
        assert switched["model"] == "models:/flaky/2"
        assert version_of(server) == "models:/flaky/2"
    finally:
        assert server.stop() == 0, "\n".join(server.log)


@pytest.mark.slow
def test_follow_retries_a_version_that_failed_to_load_with_backoff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flag = tmp_path / "load-fails"
    monkeypatch.setenv("MODELPACK_TEST_LOAD_FAILS", str(flag))
    cli("register", str(pack_flaky(tmp_path, 1)), "--name", "flaky")
    cli("register", str(pack_flaky(tmp_path, 2)), "--name", "flaky")
    cli("promote", "flaky", "1", "--alias", "champion")
    server = start(
        "models:/flaky@champion",
        "--follow",
        "--follow-interval",
        "0.2",
        "--trust-pickle",
        "tests.serving.picky_model",
    )
    try:
        flag.touch()
        cli("promote", "flaky", "2", "--alias", "champion")
        # retried on the interval without a signal, each wait twice the one before
        refused = wait_events(server, "switch_refused", 3)
        delays = [float(str(e["retry_in_s"])) for e in refused[:3]]
        assert delays == [0.2, 0.4, 0.8], delays
        assert [e["attempt"] for e in server.events("switch_retry")[:2]] == [2, 3]
        assert version_of(server) == "models:/flaky/1"
        flag.unlink()
        switched = wait_events(server, "switched", 1)[-1]
        assert switched["model"] == "models:/flaky/2"
        assert version_of(server) == "models:/flaky/2"
    finally:
        assert server.stop() == 0, "\n".join(server.log)
