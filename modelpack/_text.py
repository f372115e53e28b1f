"""Wording shared by core messages and the renderer (stdlib only, so every layer may use it)."""

from __future__ import annotations


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``"1 model"``, ``"2 models"``: a count with its noun in the right number."""
    return f"{count} {noun if count == 1 else (plural_form or noun + 's')}"
