"""Ctrl-C at every instant of writing an output file or a staged folder leaves no temporary file.

A SIGINT becomes a KeyboardInterrupt at the next point where the interpreter checks for signals:
when a function starts, after a built-in call returns, on a loop's jump back. These tests raise it
at exactly such points, one run per point, so the verdict never depends on the machine's speed:

* right after the temporary file or folder appears (the system call returned, nothing else ran);
* at every line, every function start and after every built-in call, in turn, of ``open_writer``
  and of the ``with`` statement around it;
* a second time while the first one's cleanup runs.
"""

from __future__ import annotations

import gc
import linecache
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pandas as pd
import pytest

from modelpack import _fs
from modelpack.schema import writers

FRAME = pd.DataFrame({"count": [1, 2, 3], "score": [0.5, 1.5, 2.5]})
WHOLE = "count,score\n1,0.5\n2,1.5\n3,2.5\n"


def _interrupt_after_creating(
    monkeypatch: pytest.MonkeyPatch, name: str, *, suffix: str = ".partial"
) -> list[str]:
    """Make ``os.<name>`` raise KeyboardInterrupt right after it created a ``*.partial`` path:
    where a SIGINT that arrived during the system call is acted on."""
    real = getattr(os, name)
    created: list[str] = []

    def then_interrupt(path: Any, *args: Any, **kwargs: Any) -> Any:
        result = real(path, *args, **kwargs)
        if os.fspath(path).endswith(suffix):
            created.append(os.fspath(path))
            if isinstance(result, int):
                os.close(result)  # the test process keeps no descriptor; the file stays
            raise KeyboardInterrupt
        return result

    monkeypatch.setattr(os, name, then_interrupt)
    return created


def test_ctrl_c_right_after_the_partial_file_appears_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = _interrupt_after_creating(monkeypatch, "open")
    with pytest.raises(KeyboardInterrupt), writers.open_writer(tmp_path / "scores.csv", "csv") as writer:
        writer.write(FRAME)
    assert len(created) == 1  # the interrupt came after the file existed
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_right_after_the_staged_folder_appears_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = _interrupt_after_creating(monkeypatch, "mkdir")
    with pytest.raises(KeyboardInterrupt), _fs.staged_dir(tmp_path / "out" / "model") as staged:
        (staged / "MLmodel").write_text("x")
    assert len(created) == 1
    assert list(tmp_path.iterdir()) == []


def _is_try(frame: FrameType) -> bool:
    """Whether the line is a ``try:``: a no-op no real signal is acted on at, and outside every
    handler (an exception raised there by a tracer escapes even an enclosing ``try``)."""
    return linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip() == "try:"


class _InterruptAt:
    """Raise KeyboardInterrupt at the ``nth`` check point met in the watched code."""

    def __init__(self, nth: int, watched: Callable[[FrameType], bool]) -> None:
        self.nth = nth
        self.watched = watched
        self.seen = 0
        self.where = ""

    def _point(self, frame: FrameType, what: str) -> None:
        if self.where or not self.watched(frame):
            return
        self.seen += 1
        if self.seen == self.nth:
            self.where = f"{what} at {frame.f_code.co_name}:{frame.f_lineno}"
            raise KeyboardInterrupt

    def trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "call" or (event == "line" and not _is_try(frame)):
            self._point(frame, event)
        return self.trace

    def profile(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "c_return":
            self._point(frame, f"after {getattr(arg, '__name__', arg)}()")


def _every_instant(run: Callable[[], None], watched: Callable[[FrameType], bool]) -> Iterator[str]:
    """Run ``run`` once per check point, interrupted there; yield where, until a run completes."""
    nth = 1
    while True:
        hook = _InterruptAt(nth, watched)
        old_trace, old_profile = sys.gettrace(), sys.getprofile()
        # Line events are more instants than the interpreter acts on a signal at: the one where
        # a ``with`` block ends comes before its ``__exit__`` call, which a real signal cannot
        # skip (it is acted on once that call returned). An interrupt there skips closing the
        # stream, left to the garbage collector: a ResourceWarning, not a file left behind.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            sys.settrace(hook.trace)
            sys.setprofile(hook.profile)
            try:
                run()
            except KeyboardInterrupt:
                pass
            finally:
                sys.settrace(old_trace)
                sys.setprofile(old_profile)
            gc.collect()
        if not hook.where:
            return
        yield hook.where
        nth += 1


def _in_writer_or_with(frame: FrameType) -> bool:
    code = frame.f_code
    return code.co_filename in (writers.__file__, _CONTEXTLIB) or code.co_name == "_write_scores"


_CONTEXTLIB = sys.modules["contextlib"].__file__


@pytest.mark.parametrize("existing", [None, "old\n"], ids=["new", "replace"])
def test_ctrl_c_at_any_instant_of_writing_leaves_the_old_or_the_whole_file(
    tmp_path: Path, existing: str | None
) -> None:
    out = tmp_path / "scores.csv"

    def _write_scores() -> None:
        with writers.open_writer(out, "csv", replace=existing is not None) as writer:
            writer.write(FRAME)

    if existing is not None:
        out.write_text(existing)
    outcomes: dict[str, int] = {}
    for where in _every_instant(_write_scores, _in_writer_or_with):
        left = sorted(p.name for p in tmp_path.iterdir())
        content = out.read_text() if out.exists() else None
        assert left in ([], ["scores.csv"]) and content in (existing, WHOLE), (where, left)
        outcomes[content or ""] = outcomes.get(content or "", 0) + 1
        if content == WHOLE:  # published before the interrupt: start again from the old state
            out.unlink()
        if existing is not None:
            out.write_text(existing)
    assert out.read_text() == WHOLE  # the last run was not interrupted
    assert outcomes.get(existing or "", 0) > 20, outcomes  # most instants are before publishing


@pytest.mark.parametrize("second", ["before", "after"])
def test_a_second_ctrl_c_during_cleanup_does_not_stop_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, second: str
) -> None:
    real_unlink = os.unlink
    calls: list[str] = []

    def interrupted_unlink(path: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(os.fspath(path))
        if len(calls) == 1 and second == "before":
            raise KeyboardInterrupt
        real_unlink(path, *args, **kwargs)
        if len(calls) == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(os, "unlink", interrupted_unlink)
    with pytest.raises(KeyboardInterrupt) as first, writers.open_writer(tmp_path / "s.csv", "csv") as writer:
        writer.write(FRAME)
        raise KeyboardInterrupt("first")
    assert str(first.value) == "first"  # the first interrupt is the one that ends the command
    assert len(calls) == 2 and calls[0].endswith(".partial")
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_at_any_instant_of_staging_a_folder_leaves_nothing_or_the_whole_folder(
    tmp_path: Path,
) -> None:
    target = tmp_path / "out" / "model"

    def _stage_model() -> None:
        with _fs.staged_dir(target) as staged:
            (staged / "MLmodel").write_text("whole\n")

    def watched(frame: FrameType) -> bool:
        code = frame.f_code
        return code.co_filename in (_fs.__file__, _CONTEXTLIB) or code.co_name == "_stage_model"

    published = 0
    for where in _every_instant(_stage_model, watched):
        left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
        assert left in ([], ["out", "out/model", "out/model/MLmodel"]), (where, left)
        if left:
            assert (target / "MLmodel").read_text() == "whole\n"
            published += 1
            (target / "MLmodel").unlink()
            target.rmdir()
            target.parent.rmdir()
    assert (target / "MLmodel").read_text() == "whole\n"  # the last run was not interrupted
    assert published < 10, published  # nearly every instant is before the rename
