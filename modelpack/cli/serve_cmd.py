"""``modelpack serve``: the only command that imports the HTTP stack (starlette, uvicorn)."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelpack import render
from modelpack.cli import _run
from modelpack.cli._app import app
from modelpack.config import resolve_home

if TYPE_CHECKING:
    from modelpack.serving.server import ServeSummary

# How a worker process (--workers > 1) learns what to serve: set by the parent, read by _worker_app.
_WORKER_SPEC = "MODELPACK_SERVE_WORKER_SPEC"


@app.command()
def serve(
    target: Annotated[
        str, typer.Argument(help="Model folder, or a registry URI such as models:/NAME/Production.")
    ],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on (0: any free port).")] = 5000,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes; each loads and checks the model itself.")
    ] = 1,
    timeout: Annotated[
        float, typer.Option(min=0.001, help="Seconds a prediction may take before the answer is 504.")
    ] = 60.0,
    max_body_bytes: Annotated[
        int, typer.Option(min=1, help="Largest request body accepted; a larger one gets 413.")
    ] = 64 * 1024 * 1024,
    max_batch_rows: Annotated[
        int,
        typer.Option(
            min=0,
            help="Predict concurrent requests to a scikit-learn model in one call, up to this many rows "
            "(0: one call per request).",
        ),
    ] = 10_000,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            help="Re-resolve a models:/NAME/STAGE or models:/NAME@ALIAS target (every --follow-interval "
            "seconds and on SIGHUP) and switch to a new version that passes every check.",
        ),
    ] = False,
    follow_interval: Annotated[
        float, typer.Option(min=0.1, help="Seconds between re-resolutions with --follow.")
    ] = 30.0,
    trust_pickle: _run.TrustPickleOption = None,
    home: _run.HomeOption = None,
    json_output: _run.JsonFlag = False,
) -> None:
    """Serve a model over HTTP with MLflow's scoring protocol (/invocations, /ping, /health, /version).

    The package is checked (integrity, safety scan) before the server listens: a package that
    fails exits with its code (3 for an unsafe or invalid model) and never serves. Access logs are
    JSON lines on stderr; SIGTERM stops the server once in-flight requests have finished (exit 0).
    With --json, one JSON document is printed when the server stops or fails to start.
    """
    _configure_logging()

    def action() -> ServeSummary:
        from modelpack.errors import UsageError
        from modelpack.model import load_served
        from modelpack.serving import server
        from modelpack.uri import is_model_uri

        if follow and not is_model_uri(target):
            raise UsageError("--follow needs a registry URI (models:/NAME/STAGE or models:/NAME@ALIAS)")
        root = resolve_home(home)
        trusted = tuple(trust_pickle or ())
        served = load_served(target, home=root, trusted=trusted)
        options = server.ServeOptions(
            host=host,
            port=port,
            timeout=timeout,
            max_body_bytes=max_body_bytes,
            max_batch_rows=max_batch_rows,
            follow_interval=follow_interval if follow else None,
            server_version=_version(),
        )
        sock = _listen(host, port)
        if workers > 1:
            import tempfile
            from pathlib import Path

            # a worker that cannot start writes why here, and the whole command fails with it
            fd, failures = tempfile.mkstemp(prefix="modelpack-serve-", suffix=".failures")
            os.close(fd)
            os.environ[_WORKER_SPEC] = json.dumps(
                {
                    "target": target,
                    # the version checked here, so every worker serves it even if the URI moves
                    # meanwhile; with --follow each worker then follows the URI itself
                    "pinned": served.uri or target,
                    "home": str(root),
                    "trusted": list(trusted),
                    "follow": follow,
                    "options": options.__dict__,
                    "failures": failures,
                }
            )
            try:
                return server.serve_workers(
                    "modelpack.cli.serve_cmd:_worker_app",
                    served,
                    options,
                    sock=sock,
                    workers=workers,
                    failures=Path(failures),
                )
            finally:
                Path(failures).unlink(missing_ok=True)
        return server.serve(
            served, options, sock=sock, follower=_follower(target, root, trusted) if follow else None
        )

    _run.run("serve", json_output, action, _human)


def _human(summary: ServeSummary) -> None:
    render.console(stderr=True).print(
        f"stopped serving {summary.model.get('model')} at {summary.url}"
        + (f" after {summary.requests} requests" if summary.requests is not None else ""),
        markup=False,
        highlight=False,
    )


def _listen(host: str, port: int) -> Any:
    from modelpack.errors import ModelpackError
    from modelpack.serving.server import listen

    try:
        return listen(host, port)
    except OSError as exc:
        raise ModelpackError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _follower(target: str, home: Any, trusted: tuple[str, ...]) -> Any:
    from modelpack.model import load_served
    from modelpack.serving.server import Follower
    from modelpack.target import pinned_uri

    return Follower(
        resolve=lambda: pinned_uri(target, home=home),
        load=lambda uri: load_served(uri, home=home, trusted=trusted),
    )


def _version() -> str:
    from modelpack import __version__

    return __version__


def _configure_logging() -> None:
    """Access logs and server events: one JSON line each on stderr."""
    import logging  # only when serving: --help and the other commands start without it

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in ("modelpack.serving.server", "modelpack.serving.access"):
        log = logging.getLogger(name)
        log.handlers[:] = [handler]
        log.setLevel(logging.INFO)
        log.propagate = False


def _worker_app() -> Any:
    """The app of one worker process (uvicorn calls this factory in each worker).

    A worker that cannot load its model records why (the supervisor then stops every worker and
    the command fails with that reason) and exits with uvicorn's start-up failure code.
    """
    from modelpack.config import resolve_home as _home
    from modelpack.model import load_served
    from modelpack.serving import server

    _configure_logging()
    spec = json.loads(os.environ[_WORKER_SPEC])
    try:
        root = _home(spec["home"])
        trusted = tuple(spec["trusted"])
        served = load_served(spec["pinned"], home=root, trusted=trusted)
        follower = _follower(spec["target"], root, trusted) if spec["follow"] else None
        return server.worker_app(served, server.ServeOptions(**spec["options"]), follower)
    except Exception as exc:
        server.worker_failed(spec["failures"], exc)
