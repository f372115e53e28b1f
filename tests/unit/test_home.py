"""Registry homes: a local folder or s3://BUCKET/PREFIX; any other URL scheme is refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from modelpack.config import S3Home, local_home, parse_home, resolve_cache
from modelpack.errors import UsageError
from tests.conftest import modelpack_cmd


@pytest.mark.parametrize(
    ("raw", "bucket", "prefix"),
    [
        ("s3://team", "team", ""),
        ("s3://team/", "team", ""),
        ("s3://team/reg", "team", "reg"),
        ("s3://team/a/b/", "team", "a/b"),
        ("S3://my-bucket.v2//x", "my-bucket.v2", "x"),
    ],
)
def test_s3_homes_parse(raw: str, bucket: str, prefix: str) -> None:
    home = parse_home(raw)
    assert home == S3Home(bucket, prefix)
    assert home.key("models", "m") == "/".join(p for p in (prefix, "models", "m") if p)


@pytest.mark.parametrize(
    "raw",
    [
        "gs://team/reg",
        "https://example.com/reg",
        "file:///tmp/x",
        "s3://Team/reg",
        "s3://ab",
        "s3://team/../x",
        "s3://team/a b",
    ],
)
def test_other_schemes_and_bad_buckets_are_refused(raw: str) -> None:
    with pytest.raises(UsageError):
        parse_home(raw)


def test_local_paths_stay_paths(tmp_path: Path) -> None:
    assert parse_home(str(tmp_path)) == tmp_path
    assert parse_home("~/reg") == Path("~/reg").expanduser()
    # "s3:" without "//" is a (strange) relative folder name, as before.
    assert parse_home("s3:reg") == Path("s3:reg")


def test_trust_records_stay_local_for_a_bucket_home(tmp_path: Path) -> None:
    assert local_home(tmp_path) == tmp_path
    assert local_home(S3Home("team", "reg")) == Path("~/.modelpack").expanduser()


def test_cache_location() -> None:
    assert resolve_cache({"MODELPACK_CACHE": "/c"}) == Path("/c")
    assert resolve_cache({"XDG_CACHE_HOME": "/x"}) == Path("/x/modelpack")
    assert resolve_cache({}) == Path("~/.cache/modelpack").expanduser()


@pytest.mark.parametrize("args", [["list"], ["register", "."], ["inspect", "models:/m/1"]])
def test_a_home_with_another_scheme_is_a_usage_error_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.setenv("MODELPACK_HOME", "gs://team/reg")
    cmd = modelpack_cmd(*args, *(["--name", "m"] if args[0] == "register" else []))
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "gs://" in proc.stderr and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []
