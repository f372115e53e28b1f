"""Fixtures for tests against a real S3 store (SeaweedFS, see tests/s3server.py).

``seaweed`` is one server for the whole session, with two S3 gateways on the same filer.
``s3_home`` is a fresh bucket per test: ``MODELPACK_HOME`` and the ``AWS_*`` variables of the
test process point at it (every other ``AWS_*`` variable is removed), so subprocesses inherit
them. ``s3_home_ignoring_conditions`` is the same through a proxy that strips ``If-None-Match``
and ``If-Match``: a store that accepts conditional writes and ignores them.

Mark every test module here ``pytestmark = pytest.mark.s3`` (``make test`` runs them; ``-m "not
s3"`` leaves them out for a quick local run).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.s3proxy import Credentials, S3Proxy
from tests.s3server import SeaweedServer


@dataclass(frozen=True)
class S3Home:
    """One test's registry location on the session's S3 server.

    ``url`` is ``s3://bucket/reg``; ``env`` the variables that point a process at it (already
    set in the test process); ``client`` a boto3 client for inspecting the bucket directly;
    ``endpoint`` the S3 endpoint ``env`` names; ``server`` the ``SeaweedServer``.
    """

    url: str
    bucket: str
    prefix: str
    endpoint: str
    env: dict[str, str]
    client: Any
    server: SeaweedServer

    def env_at(self, endpoint: str) -> dict[str, str]:
        """``env`` with another endpoint (e.g. the second gateway, ``server.endpoints[1]``)."""
        return self.server.env(self.bucket, self.prefix, endpoint=endpoint)

    def subprocess_env(self, endpoint: str | None = None) -> dict[str, str]:
        """A complete environment for ``subprocess.run(..., env=...)`` (no other ``AWS_*``)."""
        return self.server.subprocess_env(self.bucket, self.prefix, endpoint=endpoint or self.endpoint)


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    # The base temp dir keeps socket paths short (a unix socket path must fit in 107 bytes).
    server = SeaweedServer(tmp_path_factory.mktemp("weed"))
    with server:
        server.add_gateway()
        yield server


def _home(seaweed: SeaweedServer, monkeypatch: pytest.MonkeyPatch, endpoint: str) -> Iterator[S3Home]:
    bucket = f"mp-{uuid.uuid4().hex[:24]}"
    seaweed.make_bucket(bucket)
    env = seaweed.env(bucket, "reg", endpoint=endpoint)
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    yield S3Home(
        url=env["MODELPACK_HOME"],
        bucket=bucket,
        prefix="reg",
        endpoint=endpoint,
        env=env,
        client=seaweed.client(),
        server=seaweed,
    )
    # Keep a long session lean: every bucket is a SeaweedFS collection with its own volume.
    with contextlib.suppress(Exception):
        seaweed.client().delete_bucket(Bucket=bucket)


@pytest.fixture
def s3_home(seaweed: SeaweedServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Home]:
    yield from _home(seaweed, monkeypatch, seaweed.endpoint)


@pytest.fixture
def s3_proxy_ignoring_conditions(seaweed: SeaweedServer) -> Iterator[S3Proxy]:
    """A proxy to the first gateway that strips If-None-Match and If-Match from every request."""
    credentials = Credentials(seaweed.access_key, seaweed.secret_key)
    with S3Proxy(seaweed.endpoint, strip_conditions=True, credentials=credentials) as proxy:
        yield proxy


@pytest.fixture
def s3_home_ignoring_conditions(
    seaweed: SeaweedServer, s3_proxy_ignoring_conditions: S3Proxy, monkeypatch: pytest.MonkeyPatch
) -> Iterator[S3Home]:
    """``s3_home`` whose endpoint is the stripping proxy (``client`` still talks to the store)."""
    yield from _home(seaweed, monkeypatch, s3_proxy_ignoring_conditions.url)


@pytest.fixture
def s3_home_like_rgw(seaweed: SeaweedServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Home]:
    """``s3_home`` through a proxy that, like Ceph RGW, refuses RFC-quoted ETags in If-Match."""
    with S3Proxy(seaweed.endpoint, strip_conditions=False, refuse_quoted_if_match=True) as proxy:
        yield from _home(seaweed, monkeypatch, proxy.url)
