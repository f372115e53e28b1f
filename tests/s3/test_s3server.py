"""tests/s3server.py and the S3 fixtures: what they promise the S3 tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.s3server import GRPC_SOCKET_DIR, GRPC_SOCKET_GLOB, start_server

pytestmark = pytest.mark.s3

_PROBE = textwrap.dedent(
    """
    import os, sys, boto3
    bucket, _, prefix = os.environ["MODELPACK_HOME"][len("s3://"):].partition("/")
    s3 = boto3.client("s3")
    s3.put_object(Bucket=bucket, Key=prefix + "/probe", Body=sys.argv[1].encode())
    print(s3.meta.endpoint_url)
    """
)


def test_s3_home_is_a_fresh_bucket_named_by_the_environment(s3_home):
    assert s3_home.url == f"s3://{s3_home.bucket}/reg" == os.environ["MODELPACK_HOME"]
    assert s3_home.client.list_objects_v2(Bucket=s3_home.bucket)["KeyCount"] == 0
    assert set(s3_home.env) == {
        "MODELPACK_HOME",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_EC2_METADATA_DISABLED",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
    }
    assert not Path(s3_home.env["AWS_CONFIG_FILE"]).exists()
    assert not Path(s3_home.env["AWS_SHARED_CREDENTIALS_FILE"]).exists()
    for name, value in s3_home.env.items():
        assert os.environ[name] == value


def test_a_subprocess_reaches_the_bucket_with_env_alone(s3_home, tmp_path, monkeypatch):
    # A developer's own AWS setup must not leak in: a profile, a config and credentials in HOME.
    aws = tmp_path / "home" / ".aws"
    aws.mkdir(parents=True)
    (aws / "credentials").write_text("[default]\naws_access_key_id = WRONG\naws_secret_access_key = WRONG\n")
    (aws / "config").write_text("[default]\nendpoint_url = http://127.0.0.1:9\nregion = eu-west-3\n")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AWS_PROFILE", "default")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "stale-token")
    for endpoint in s3_home.server.endpoints:
        run = subprocess.run(
            [sys.executable, "-c", _PROBE, endpoint],
            env=s3_home.subprocess_env(endpoint),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == endpoint
        body = s3_home.client.get_object(Bucket=s3_home.bucket, Key="reg/probe")["Body"].read()
        assert body == endpoint.encode()


def test_a_server_stops_completely_and_writes_only_in_its_directory(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    server = start_server(tmp_path / "weed", gateways=2)
    pids = [p.popen.pid for p in server._processes]
    ports = [port for p in server._processes for port in p.grpc_ports]
    assert len(pids) == 2
    try:
        server.make_bucket("stop-check")
        server.client(server.endpoints[1]).put_object(Bucket="stop-check", Key="k", Body=b"x")
    finally:
        server.stop()
    for pid in pids:  # stopped and reaped
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert [p for port in ports for p in GRPC_SOCKET_DIR.glob(GRPC_SOCKET_GLOB.format(port=port))] == []
    assert list(home.iterdir()) == []
    assert list((tmp_path / "weed" / "home").iterdir()) == []
