"""Presentation: the JSON envelope, tables (rich, or aligned plain text), error lines and progress.

The only module besides ``modelpack.cli`` that touches rich. Results go to stdout, everything
else (errors, warnings, progress) to stderr. rich honours NO_COLOR and FORCE_COLOR itself.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

RESULT_VERSION = "1"

_consoles: dict[bool, Console] = {}


def console(*, stderr: bool = False) -> Console:
    """Shared rich consoles, created on first use (keeps rich off paths that print nothing)."""
    if stderr not in _consoles:
        from rich.console import Console

        class _Console(Console):
            def on_broken_pipe(self) -> None:
                # rich would exit 1 on its own; a closed stdout is the CLI funnel's to report.
                if self.file is sys.stdout:
                    raise BrokenPipeError
                super().on_broken_pipe()

        _consoles[stderr] = _Console(stderr=stderr, highlight=False, soft_wrap=True)
    return _consoles[stderr]


def reset_consoles() -> None:
    """Forget cached consoles (the test runner swaps sys.stdout between invocations)."""
    _consoles.clear()


def envelope(
    command: str,
    *,
    status: str,
    exit_code: int,
    data: Any = None,
    errors: Sequence[Mapping[str, Any]] = (),
    warnings: Sequence[str] = (),
) -> dict[str, Any]:
    return {
        "modelpack_result_version": RESULT_VERSION,
        "command": command,
        "status": status,
        "exit_code": exit_code,
        "data": data,
        "errors": list(errors),
        "warnings": list(warnings),
    }


def write_json(document: Mapping[str, Any]) -> None:
    """One JSON document on stdout, deterministic key order, plain write (not rich)."""
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def error_line(message: str, hint: str | None = None, *, prefix: str = "error") -> None:
    err = console(stderr=True)
    err.print(f"[bold red]{prefix}:[/] {_escape(message)}")
    if hint:
        err.print(f"[dim]hint:[/] {_escape(hint)}")


def warning_line(message: str) -> None:
    console(stderr=True).print(f"[yellow]warning:[/] {_escape(message)}")


def summary_line(message: str) -> None:
    """One line on stdout for a mutating command's result."""
    console().print(_escape(message))


def plain(text: str) -> None:
    """Unstyled stdout text (single-field output for shell capture)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    title: str | None = None,
) -> None:
    from rich.table import Table

    tbl = Table(title=title, title_justify="left", show_edge=False, header_style="bold")
    for col in columns:
        tbl.add_column(col, overflow="fold")
    for row in rows:
        tbl.add_row(*("" if v is None else _escape(str(v)) for v in row))
    console().print(tbl)


def key_values(pairs: Sequence[tuple[str, Any]], *, title: str | None = None) -> None:
    """``title``, then one ``  key  value`` line per pair with the keys aligned (plain text)."""
    width = max((len(k) for k, _ in pairs), default=0)
    lines = [printable(title)] if title else []
    lines += [f"  {key.ljust(width)}  {printable(value)}".rstrip() for key, value in pairs]
    plain("\n".join(lines))


def heading(text: str) -> None:
    plain("\n" + printable(text))


def columns(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, indent: str = "  ") -> None:
    """Aligned plain-text columns, headers over a dashed rule, one line per row, one write.

    Metadata views (``inspect``) use this rather than a rich Table: importing and laying out a
    Table costs more than reading the model folder (about half a millisecond a row), and aligned
    columns stay one line per row, easy to grep, with no terminal needed. Rows may be shorter or
    longer than the headers (an input example read from a package says what it likes): missing
    cells are blank and extra columns get blank headers.
    """
    count = max([len(headers), *(len(row) for row in rows)])
    cells = [[*(printable(v) for v in line), *([""] * (count - len(line)))] for line in (headers, *rows)]
    widths = [max(_width(row[i]) for row in cells) for i in range(count)]
    cells.insert(1, ["-" * w for w in widths])
    lines = [
        (indent + "  ".join(c + " " * (w - _width(c)) for c, w in zip(row, widths, strict=True))).rstrip()
        for row in cells
    ]
    plain("\n".join(lines))


# C0 and C1 control characters and DEL: a field read from an untrusted package must not move the
# cursor, recolour the terminal or fake extra lines, so these are shown escaped (e.g. ``\x1b``).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def printable(value: Any) -> str:
    """``value`` as one line of text for the terminal (``None`` is empty), controls escaped."""
    text = "" if value is None else str(value)
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


# For a block of text (a model card): the controls ``printable`` escapes but tab, plus the
# bidirectional overrides and isolates, which reorder what the terminal shows.
_BLOCK_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable_lines(text: str) -> list[str]:
    """``text`` (untrusted, many lines) as terminal lines: controls and bidi overrides escaped."""
    return [
        _BLOCK_CONTROL.sub(
            lambda m: m.group().encode("unicode_escape").decode("ascii"), line.removesuffix("\r")
        )
        for line in text.split("\n")
    ]


def _width(text: str) -> int:
    """Terminal columns ``text`` takes: wide East Asian characters take two."""
    if text.isascii():
        return len(text)
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def checklist(items: Sequence[tuple[str, str, str]]) -> None:
    """Rows of (status, name, reason) with a fixed-width status mark."""
    marks = {
        "passed": "[green]PASS[/]",
        "failed": "[red]FAIL[/]",
        "warned": "[yellow]WARN[/]",
        "skipped": "[dim]SKIP[/]",
    }
    out = console()
    for status, name, reason in items:
        mark = marks.get(status, status.upper())
        out.print(f"{mark}  {_escape(name)}" + (f"  [dim]{_escape(reason)}[/]" if reason else ""))


class StderrReporter:
    """Progress on stderr for slow steps; silent when stderr is not a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and console(stderr=True).is_terminal
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    @contextlib.contextmanager
    def step(self, description: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        with console(stderr=True).status(_escape(description)):
            yield

    def advance(self, description: str, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        if self._progress is None:
            from rich.progress import Progress

            self._progress = Progress(console=console(stderr=True), transient=True)
            self._progress.start()
        if description not in self._tasks:
            self._tasks[description] = self._progress.add_task(description, total=total)
        self._progress.update(self._tasks[description], completed=done, total=total)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
