"""A tiny progress protocol so the core can report slow steps without printing.

The CLI passes an implementation that draws on stderr; library callers get the silent default.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol


class Reporter(Protocol):
    def step(self, description: str) -> contextlib.AbstractContextManager[None]:
        """Context manager around one slow step (loading, predicting, hashing)."""
        ...

    def advance(self, description: str, done: int, total: int | None) -> None:
        """Report progress of a long loop (rows scored, bytes hashed)."""
        ...


class SilentReporter:
    @contextlib.contextmanager
    def step(self, description: str) -> Iterator[None]:
        yield

    def advance(self, description: str, done: int, total: int | None) -> None:
        return None


SILENT = SilentReporter()
