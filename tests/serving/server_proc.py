"""A real ``modelpack serve`` in a subprocess, and a small HTTP client for it."""

from __future__ import annotations

import http.client
import json
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import modelpack_cmd

START_TIMEOUT = 120.0  # a hang guard: a loaded 2-core machine can take long to import sklearn


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str = ""
    host: str = "127.0.0.1"
    port: int = 0
    log: list[str] = field(default_factory=list)
    stdout: bytes = b""
    _reader: threading.Thread | None = None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        content_type: str | None = None,
        timeout: float = 60.0,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            sent = dict(headers or {})
            if content_type is not None:
                sent["Content-Type"] = content_type
            data = body.encode() if isinstance(body, str) else body
            conn.request(method, path, body=data, headers=sent)
            resp = conn.getresponse()
            return Reply(resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()})
        finally:
            conn.close()

    def invoke(self, payload: Any, timeout: float = 60.0) -> Reply:
        return self.request("POST", "/invocations", json.dumps(payload), "application/json", timeout=timeout)

    def events(self, name: str) -> list[dict[str, Any]]:
        out = []
        for line in list(self.log):
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict) and doc.get("event") == name:
                out.append(doc)
        return out

    def stop(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.stdout, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise
        if self._reader is not None:
            self._reader.join(timeout=10)
        return self.proc.returncode


def start(*args: str, wait: bool = True) -> Server:
    """Start ``modelpack serve ARGS --port 0`` and wait until /ping answers 200.

    The port comes from the server's own "started" log line (no race for a free port).
    """
    proc = subprocess.Popen(
        modelpack_cmd("serve", *args, "--port", "0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    server = Server(proc)
    started = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            server.log.append(line)
            if not started.is_set() and '"event": "started"' in line:
                doc = json.loads(line)
                server.url = doc["url"]
                host, _, port = server.url.removeprefix("http://").rpartition(":")
                server.host, server.port = host, int(port)
                started.set()
        started.set()

    server._reader = threading.Thread(target=read, daemon=True)
    server._reader.start()
    if not wait:
        return server
    deadline = time.monotonic() + START_TIMEOUT
    while not started.wait(0.05):
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("the server did not start:\n" + "\n".join(server.log))
    if not server.port:
        proc.wait(timeout=30)
        raise AssertionError(f"the server exited ({proc.returncode}):\n" + "\n".join(server.log))
    while True:
        try:
            if server.request("GET", "/ping", timeout=5).status == 200:
                return server
        except OSError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise AssertionError("the server never answered /ping:\n" + "\n".join(server.log))
        time.sleep(0.02)
