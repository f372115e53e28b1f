"""Environment variable names and settings resolution.

The core never reads the environment; the CLI calls ``resolve_settings()`` once and passes the
result (explicit paths) down.

A registry home is a local folder or an ``s3://BUCKET/PREFIX`` location (``S3Home``). Any other
URL scheme is refused: ``gs://x`` must not quietly become a local folder named ``gs:``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from modelpack.errors import UsageError

ENV_HOME: Final = "MODELPACK_HOME"
ENV_DEBUG: Final = "MODELPACK_DEBUG"
ENV_CACHE: Final = "MODELPACK_CACHE"
DEFAULT_HOME: Final = "~/.modelpack"
#: MLflow's own variable: where ``register runs:/...`` reads runs when --tracking-uri is not given.
ENV_MLFLOW_TRACKING_URI: Final = "MLFLOW_TRACKING_URI"

# S3's bucket naming rules (3-63 characters; lowercase letters, digits, dots and hyphens,
# starting and ending with a letter or digit). Dots are legal but break virtual-host TLS.
_BUCKET_RE: Final = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SCHEME_RE: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_PREFIX_SEGMENT_RE: Final = re.compile(r"^[A-Za-z0-9._-]{1,255}$")


@dataclass(frozen=True)
class S3Home:
    """A registry kept in an S3-compatible bucket, under ``prefix`` (no leading or trailing ``/``)."""

    bucket: str
    prefix: str = ""

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def key(self, *parts: str) -> str:
        """The object key of ``parts`` under this home's prefix."""
        return "/".join([self.prefix, *parts] if self.prefix else parts)


#: Where a registry lives: a local folder or an S3 location.
Home = Path | S3Home


@dataclass(frozen=True)
class Settings:
    home: Home
    debug: bool


def parse_home(raw: str | Path) -> Home:
    """A local path (``~`` expanded) or an ``s3://BUCKET[/PREFIX]`` location.

    Raises:
        UsageError: another URL scheme, or a malformed bucket or prefix (exit 2).
    """
    if isinstance(raw, Path):
        return raw.expanduser()
    match = _SCHEME_RE.match(raw)
    if match is None:
        return Path(raw).expanduser()
    scheme = match.group(1)
    if scheme.lower() != "s3":
        raise UsageError(
            f"registry home {raw!r} uses the {scheme}:// scheme; a home is a local folder or s3://BUCKET/PREFIX",
            hint="for Google Cloud Storage or another S3-compatible store use s3:// with AWS_ENDPOINT_URL_S3",
        )
    bucket, _, prefix = raw[match.end() :].partition("/")
    if not _BUCKET_RE.match(bucket) or ".." in bucket:
        raise UsageError(
            f"bad bucket name {bucket!r} in {raw!r}: 3 to 63 lowercase letters, digits, '.' or '-'"
        )
    segments = [s for s in prefix.split("/") if s]
    for segment in segments:
        if not _PREFIX_SEGMENT_RE.match(segment) or segment in {".", ".."}:
            raise UsageError(
                f"bad prefix segment {segment!r} in {raw!r}: letters, digits, '.', '_' or '-' only"
            )
    return S3Home(bucket, "/".join(segments))


def resolve_home(value: str | Home | None, environ: Mapping[str, str] = os.environ) -> Home:
    """CLI option > MODELPACK_HOME > ~/.modelpack."""
    if isinstance(value, S3Home):
        return value
    raw = value or environ.get(ENV_HOME) or DEFAULT_HOME
    return parse_home(raw)


def local_home(home: Home | None, environ: Mapping[str, str] = os.environ) -> Path | None:
    """The folder for this machine's own records (``trust``) when the registry is ``home``.

    Trust is one user's decision about bytes on their machine, so with an ``s3://`` registry
    it stays local, in the default home.
    """
    if isinstance(home, S3Home):
        return Path(DEFAULT_HOME).expanduser()
    return home


def resolve_cache(environ: Mapping[str, str] = os.environ) -> Path:
    """MODELPACK_CACHE > $XDG_CACHE_HOME/modelpack > ~/.cache/modelpack: files read from S3."""
    if environ.get(ENV_CACHE):
        return Path(environ[ENV_CACHE]).expanduser()
    base = environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "modelpack"


def resolve_tracking_uri(value: str | None, environ: Mapping[str, str] = os.environ) -> str | None:
    """--tracking-uri > MLFLOW_TRACKING_URI > None (MLflow's default, see ``mlflow_runs``)."""
    return value or environ.get(ENV_MLFLOW_TRACKING_URI) or None


def is_debug(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get(ENV_DEBUG, "").strip().lower() in {"1", "true", "yes", "on"}


def resolve_settings(home: str | None = None, environ: Mapping[str, str] = os.environ) -> Settings:
    return Settings(home=resolve_home(home, environ), debug=is_debug(environ))
