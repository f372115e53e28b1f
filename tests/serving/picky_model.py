"""Models whose loading fails on purpose, to test how the server meets a model that will not load.

Imported by name when a server loads them (``--trust-pickle tests.serving.picky_model``):

- ``make_worker_shy()``: unpickles in the main process but not in a child process, so under
  ``modelpack serve --workers N`` the server's own check passes and every worker fails to start;
- ``make_flaky()``: fails to unpickle while the file named by ``MODELPACK_TEST_LOAD_FAILS``
  exists (a version that cannot be loaded for a while, then can).
"""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import Any

LOAD_FAILS = "MODELPACK_TEST_LOAD_FAILS"


class PickyModel:
    def __init__(self, mode: str) -> None:
        self.mode = mode

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self.mode == "worker" and multiprocessing.parent_process() is not None:
            raise RuntimeError("this model refuses to load in a worker process")
        flag = os.environ.get(LOAD_FAILS)
        if self.mode == "flaky" and flag and Path(flag).exists():
            raise RuntimeError("this model cannot be loaded for now")

    def predict(self, frame: Any) -> Any:
        return (frame["x"] * 2).to_numpy()


def make_worker_shy() -> PickyModel:
    return PickyModel("worker")


def make_flaky() -> PickyModel:
    return PickyModel("flaky")
