"""Where an MLflow tracking store is, from its tracking URI, and where a run's artifacts are.

Only stores on this machine are read: MLflow's file store (``./mlruns``, a plain path or a
``file://`` URI) and a SQLite database (``sqlite:///relative.db``, ``sqlite:////absolute.db``,
SQLAlchemy's spelling). A tracking server (``http://``, ``https://``), Databricks or another
database is refused: reading it would need MLflow's client or a database driver.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import unquote, urlsplit

from modelpack.errors import UsageError

#: MLflow's default when no tracking URI is set (``mlflow.get_tracking_uri``): ``./mlruns`` if it
#: holds experiments, else ``sqlite:///mlflow.db``.
DEFAULT_FILE_STORE: Final = "mlruns"
DEFAULT_SQLITE_URI: Final = "sqlite:///mlflow.db"

_SCHEME_RE: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_LOCAL_HOSTS: Final = ("", "localhost")
#: Tracking URIs MLflow reads as remote though they have no scheme.
_BARE_REMOTES: Final = ("databricks", "databricks-uc")
_USERINFO_RE: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@")


@dataclass(frozen=True)
class TrackingStore:
    """A local tracking store: ``kind`` is ``file`` (an ``mlruns`` folder) or ``sqlite``."""

    kind: str
    path: Path
    #: The tracking URI as recorded: what the user gave, without credentials, query or fragment.
    uri: str


def default_tracking_uri(cwd: Path) -> str:
    """MLflow 3's default tracking URI for a process started in ``cwd``."""
    mlruns = cwd / DEFAULT_FILE_STORE
    try:
        has_runs = any(
            child.is_dir() and child.name.isdigit() and (child / "meta.yaml").exists()
            for child in mlruns.iterdir()
        )
    except OSError:
        has_runs = False
    return DEFAULT_FILE_STORE if has_runs else DEFAULT_SQLITE_URI


def parse_tracking_uri(text: str) -> TrackingStore:
    """The local store a tracking URI names.

    Raises:
        UsageError: a remote or unsupported tracking URI (exit 2).
    """
    raw = text.strip()
    if not raw:
        raise UsageError("the MLflow tracking URI is empty")
    match = _SCHEME_RE.match(raw)
    scheme = match.group(1).lower() if match else ""
    if len(scheme) == 1:  # a Windows drive letter, not a scheme
        scheme = ""
    if raw.lower() in _BARE_REMOTES:
        scheme = raw.lower()
    if scheme == "":
        return TrackingStore("file", Path(raw).expanduser(), raw)
    if scheme == "file":
        return TrackingStore("file", file_uri_path(raw), strip_credentials(raw))
    if scheme == "sqlite":
        return TrackingStore("sqlite", _sqlite_path(raw), strip_credentials(raw))
    raise UsageError(
        f"tracking URI {strip_credentials(raw)!r} is not a local MLflow store; modelpack reads the "
        "mlruns/ file store (a path or file://) and SQLite (sqlite:///path.db) only",
        hint="download the model first (mlflow artifacts download -u runs:/RUN_ID/model) and register that folder",
    )


def _sqlite_path(uri: str) -> Path:
    # SQLAlchemy: sqlite:///relative.db, sqlite:////absolute.db; nothing after the path matters here.
    rest = uri.split(":", 1)[1]
    if not rest.startswith("///"):
        raise UsageError(
            f"SQLite tracking URI {uri!r} names no database file; write sqlite:///path/to/mlflow.db",
        )
    path = unquote(rest[3:].split("?", 1)[0])
    if not path or path == ":memory:":
        raise UsageError(f"SQLite tracking URI {uri!r} names no database file")
    return Path(path).expanduser()


def absolute_store(store: TrackingStore, cwd: Path) -> TrackingStore:
    """``store`` with its path made absolute (relative to ``cwd``) and its URI the one MLflow
    would report for it (``file:///...``, ``sqlite:////...``), so the recorded URI still names
    it when read from elsewhere."""
    path = store.path if store.path.is_absolute() else cwd / store.path
    path = Path(os.path.normpath(path))
    uri = path.as_uri() if store.kind == "file" else "sqlite:///" + path.as_posix()
    return TrackingStore(store.kind, path, uri)


def file_uri_path(uri: str) -> Path:
    """The local path of a ``file:`` URI (``file:///abs``, ``file://localhost/abs``, ``file:rel``).

    Raises:
        UsageError: a ``file://`` URI naming another host.
    """
    parts = urlsplit(uri)
    if parts.netloc.lower() not in _LOCAL_HOSTS:
        raise UsageError(f"{uri!r} names a file on another host ({parts.netloc}); only local files are read")
    return Path(unquote(parts.path))


def artifact_path(location: str, *, what: str) -> Path:
    """The local folder an artifact URI or location names (``file://``, a plain path).

    Raises:
        UsageError: artifacts kept elsewhere (``mlflow-artifacts:``, ``s3://``, ...; exit 2).
    """
    match = _SCHEME_RE.match(location)
    scheme = match.group(1).lower() if match else ""
    if scheme in ("", "file") or len(scheme) == 1:
        return file_uri_path(location) if scheme == "file" else Path(location)
    raise UsageError(
        f"the artifacts of {what} are at {strip_credentials(location)!r}, not in a local folder; "
        "modelpack reads local artifacts only",
        hint="download the model first (mlflow artifacts download -u runs:/RUN_ID/model) and register that folder",
    )


def strip_credentials(url: str) -> str:
    """``url`` without a user or password, query or fragment (where tokens are put)."""
    if not _SCHEME_RE.match(url):
        return url
    bare = url.split("#", 1)[0].split("?", 1)[0]
    return _USERINFO_RE.sub(r"\1", bare)
