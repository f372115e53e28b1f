"""Small HTML pieces for notebook displays (``_repr_html_``) and one-line ``repr`` text.

Stdlib only, so every layer may use it. Every value is escaped here: names, descriptions and
paths come from packages other people made.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from html import escape

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
REPR_LIMIT = 200


def text(value: object) -> str:
    """``value`` as escaped HTML text (None shows as ``-``)."""
    return "-" if value is None else escape(str(value), quote=True)


def fields(rows: Iterable[tuple[str, object]]) -> str:
    """A two-column table: one (label, value) pair a row."""
    body = "".join(f"<tr><th>{text(k)}</th><td>{text(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A table with a header row."""
    head = "".join(f"<th>{text(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{text(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def heading(label: object) -> str:
    """A bold caption above a table."""
    return f"<p><b>{text(label)}</b></p>"


def page(parts: Iterable[str], warnings: Iterable[str] = ()) -> str:
    """A result's display: its pieces, then one line per warning."""
    return "".join(parts) + "".join(para(f"warning: {w}") for w in warnings)


def para(value: object) -> str:
    """A paragraph of text."""
    return f"<p>{text(value)}</p>"


def one_line(value: object, limit: int = REPR_LIMIT) -> str:
    """``value`` on one line (control characters become spaces), cut to ``limit`` characters."""
    flat = _CONTROL.sub(" ", str(value))
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
