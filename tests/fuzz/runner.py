"""A fork server that runs fuzz cases through the real CLI entry point, two at a time.

``python -m tests.fuzz.runner``: reads lines ``CASES.json RESULTS.json`` on stdin, runs the cases,
writes the results file and answers ``done`` on stdout, until stdin closes.

Starting ``python -m modelpack`` costs more than most fuzz cases (numpy, pandas, pyarrow and
scikit-learn take a second or more to import on a busy machine). This process imports them once,
then runs every step of every case in a child forked for that step alone: the child changes to
the case's folder, takes the step's environment, points file descriptors 0/1/2 at /dev/null and
the step's output files, sets ``sys.argv`` and calls ``modelpack.cli.main()`` as
``python -m modelpack`` does, ending with the exit code the interpreter would give (an uncaught
exception prints its traceback and exits 1, as it would). Each step is a fresh process image, so
no state leaks between cases, and the parent can kill one that hangs.

Per step the parent records the exit code, whether the step was killed at its deadline (a hang
guard, not a performance limit), and whether the case's marker file appeared (a pickle payload
ran; the marker is then removed, so each step is judged on its own). Steps of one case run in order (a
case stops at its first hung step); cases run in parallel, ``MODELPACK_FUZZ_WORKERS`` (2) at a
time. The child's address space is capped so that a memory bomb fails inside that child instead
of swapping the machine, and the size of any file it writes, so that copying an endless stream
(a device node, a FIFO) cannot fill the disk: a write past the cap kills the step (SIGXFSZ).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

# What a command may import; importing it here once is the point of the fork server.
PRELOAD = (
    "modelpack.cli",
    "modelpack.api",
    "numpy",
    "pandas",
    "pyarrow",
    "pyarrow.csv",
    "pyarrow.json",
    "pyarrow.parquet",
    "sklearn",
    "sklearn.pipeline",
    "sklearn.compose",
    "sklearn.linear_model",
    "sklearn.preprocessing",
    "joblib",
    "cloudpickle",
    "skops.io",
    "jsonschema",
    "yaml",
)
# Headroom over the server's own address space for one command (bytes).
MEMORY_HEADROOM = 3 * 1024**3 // 2
# The largest file one command may write. No case needs more than a few MiB; a command that
# copies a device node or a FIFO's endless stream must not fill the disk before its deadline.
FILE_SIZE_CAP = 64 * 1024**2


def _preload() -> None:
    import importlib

    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def _vm_size() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _child(step: dict[str, Any], memory_limit: int) -> None:
    """Runs in the forked child: becomes ``python -m modelpack ARGS`` and never returns."""
    code = 1
    try:
        os.setsid()
        os.chdir(step["cwd"])
        os.environ.clear()
        os.environ.update(step["env"])
        null_in = os.open(os.devnull, os.O_RDONLY)
        out = os.open(step["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        err = os.open(step["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(null_in, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        for fd in (null_in, out, err):
            os.close(fd)
        if memory_limit:
            import resource

            with contextlib.suppress(ValueError, OSError):  # a platform without the limit
                resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
        import resource

        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_CAP, FILE_SIZE_CAP))
        # Python ignores SIGXFSZ, so a write past the cap would be a quiet OSError the command may
        # report cleanly; the signal's default action ends the step, and the suite reports it.
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        sys.argv = ["modelpack", *step["argv"]]
        from modelpack.cli import main

        try:
            main()
            code = 0
        except SystemExit as exc:
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:  # what the interpreter does with sys.exit("message")
                print(exc.code, file=sys.stderr)
                code = 1
        except BaseException:  # what the interpreter does with an uncaught exception
            traceback.print_exc()
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):
                stream.flush()
        os._exit(code & 0xFF)


class _Running:
    def __init__(self, case: dict[str, Any]) -> None:
        self.case = case
        self.index = 0
        self.pid = 0
        self.started = 0.0
        self.results: list[dict[str, Any]] = []


def run_cases(cases: list[dict[str, Any]], workers: int) -> list[dict[str, Any]]:
    vm = _vm_size()
    memory_limit = vm + MEMORY_HEADROOM if vm else 0
    pending = list(reversed(cases))
    running: dict[int, _Running] = {}
    done: list[dict[str, Any]] = []

    def start(state: _Running) -> None:
        step = state.case["steps"][state.index]
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(step, memory_limit)
        state.pid = pid
        state.started = time.monotonic()
        running[pid] = state

    def finish(state: _Running, status: int | None, timed_out: bool) -> None:
        step = state.case["steps"][state.index]
        marker = Path(state.case["marker"]) if state.case.get("marker") else None
        code: int | None = None
        signalled: int | None = None
        if status is not None:
            if os.WIFEXITED(status):
                code = os.WEXITSTATUS(status)
            elif os.WIFSIGNALED(status):
                signalled = os.WTERMSIG(status)
        ran = bool(marker and marker.exists())
        if ran and marker is not None:
            marker.unlink()  # so that the next step is judged on its own
        state.results.append(
            {
                "name": step["name"],
                "exit_code": code,
                "signal": signalled,
                "timed_out": timed_out,
                "seconds": round(time.monotonic() - state.started, 3),
                "marker": ran,
            }
        )
        state.index += 1
        # After a hang the case is already a failure; its later steps would likely hang as well.
        if state.index < len(state.case["steps"]) and not timed_out:
            start(state)
        else:
            done.append({"id": state.case["id"], "steps": state.results})

    while pending or running:
        while pending and len(running) < workers:
            case = pending.pop()
            if case["steps"]:
                start(_Running(case))
            else:
                done.append({"id": case["id"], "steps": []})
        progressed = False
        while running:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            state = running.pop(pid, None)
            if state is not None:
                progressed = True
                finish(state, status, False)
        now = time.monotonic()
        for pid, state in list(running.items()):
            timeout = float(state.case["steps"][state.index]["timeout"])
            if now - state.started > timeout:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:  # not yet its own group leader
                    os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                running.pop(pid)
                finish(state, None, True)
                progressed = True
        if not progressed:
            time.sleep(0.01)
    return done


def main() -> None:
    _preload()
    workers = max(1, int(os.environ.get("MODELPACK_FUZZ_WORKERS", "2")))
    print("ready", flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        cases_file, results_file = line.split()
        cases = json.loads(Path(cases_file).read_text())
        results = run_cases(cases, workers)
        Path(results_file).write_text(json.dumps(results))
        print("done", flush=True)


if __name__ == "__main__":
    main()
