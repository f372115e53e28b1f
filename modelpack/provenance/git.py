"""Git facts of the repository a path is in, from the ``git`` executable (no library).

Nothing here is ever an error: ``git`` missing, a folder outside any repository, a repository
with no commit yet, a repository git refuses (another user's, see ``safe.directory``) or a git
that does not answer within ``TIMEOUT`` seconds all mean "no git facts".

git runs with ``GIT_OPTIONAL_LOCKS=0`` (``status`` must not rewrite the index of a repository it
only looks at), ``core.fsmonitor`` off (a repository's own configuration must not make reading
it run a program) and no terminal prompt.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

#: Seconds each git command may take before the facts are given up.
TIMEOUT: Final = 5.0
_HEX40: Final = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")  # sha1, or sha256 repositories
_SCP_LIKE: Final = re.compile(r"^(?P<user>[^@/:]+(?::[^@/]*)?)@(?P<rest>[^/:]+:.*)$")


def git_facts(start: Path, *, timeout: float = TIMEOUT) -> dict[str, Any] | None:
    """``{commit, branch, dirty, remote}`` of the repository ``start`` (a folder) is in, or None.

    ``branch`` is None on a detached HEAD; ``dirty`` is true when a tracked file differs from the
    commit (untracked files do not count: a pack writing its output inside the repository must
    not make the next pack different); ``remote`` is the URL of ``origin`` (else the first
    remote) with any credentials removed, or None.
    """
    folder = start if start.is_dir() else start.parent
    # One status call answers the commit, the branch and the dirty flag (porcelain v2 headers).
    status = _git(folder, timeout, "status", "--porcelain=v2", "--branch", "--untracked-files=no")
    if status is None:
        return None  # not a repository, or no git
    commit = branch = None
    dirty = False
    for line in status.splitlines():
        if line.startswith("# branch.oid "):
            commit = line.removeprefix("# branch.oid ").strip()
        elif line.startswith("# branch.head "):
            head = line.removeprefix("# branch.head ").strip()
            branch = None if head == "(detached)" else head
        elif line and not line.startswith("#"):
            dirty = True
    if commit is None or not _HEX40.fullmatch(commit):
        return None  # "(initial)": a repository with no commit yet
    return {"commit": commit, "branch": branch, "dirty": dirty, "remote": _remote(folder, timeout)}


def _remote(folder: Path, timeout: float) -> str | None:
    """The URL of ``origin``, else of the first remote configured, without credentials."""
    found = _git(folder, timeout, "config", "--get-regexp", r"^remote\..*\.url$")
    urls: dict[str, str] = {}
    for line in (found or "").splitlines():
        key, _, url = line.partition(" ")
        name = key.removeprefix("remote.").removesuffix(".url")
        if url.strip():
            urls.setdefault(name, url.strip())
    if not urls:
        return None
    return strip_credentials(urls.get("origin") or next(iter(urls.values())))


def strip_credentials(url: str, *, keep_query: bool = False) -> str:
    """``url`` without a user name, password or token, a query (unless ``keep_query``: a CI
    run's page may be named by one) or a fragment.

    ``https://user:token@host/repo.git`` -> ``https://host/repo.git``;
    ``user:pass@host:repo.git`` (scp-like) -> ``host:repo.git``; ``git@host:org/repo.git``
    keeps its ``git@``, which names the SSH account every user of that host shares and is
    no secret.
    """
    text = url.strip()
    if "://" in text:
        try:
            parts = urlsplit(text)
            host = parts.hostname or ""
        except ValueError:
            return "<unparsable URL>"
        netloc = host if ":" not in host else f"[{host}]"
        try:
            port = parts.port
        except ValueError:
            port = None
        if port is not None:
            netloc += f":{port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query if keep_query else "", ""))
    match = _SCP_LIKE.match(text)
    if match is not None:
        user = match.group("user")
        return match.group("rest") if ":" in user or user != "git" else text
    return text


def _git(folder: Path, timeout: float, *args: str) -> str | None:
    env = {
        **os.environ,
        "GIT_OPTIONAL_LOCKS": "0",
        "GIT_TERMINAL_PROMPT": "0",
        "LC_ALL": "C",
    }
    try:
        done = subprocess.run(
            ["git", "-c", "core.fsmonitor=false", *args],
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    try:
        return done.stdout.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None
