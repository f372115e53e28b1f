"""Parse JSON that came from a file, within limits (stdlib only, so every layer may use it).

Python's ``json`` accepts the non-standard tokens ``NaN``, ``Infinity`` and ``-Infinity`` and
recurses once per level of nesting: a document nested thousands of levels deep raises
``RecursionError`` inside the parser, and one nested a few hundred deep parses but breaks the
first recursive consumer (``json.dumps``, pyarrow, signature inference). :func:`loads` is the one
place modelpack parses such files; it refuses both, so a hostile file is a clean error, never a
crash.

Every failure is a :class:`JSONDocumentError` (a ``ValueError``, like ``json.JSONDecodeError``),
whose message is one line; callers turn it into their own error class (a broken package is an
``InvalidModelError``, a broken data file a ``DataFormatError``).
"""

from __future__ import annotations

import json
from typing import Any, Final

#: Deepest nesting accepted (a document ``[[1]]`` is 2 deep). modelpack's own documents are at
#: most 4 deep, MLflow's examples and data a few more; recursive consumers are safe far beyond.
MAX_DEPTH: Final = 100


class JSONDocumentError(ValueError):
    """A JSON text that is not valid, holds a refused constant, or is nested too deeply."""

    def __init__(self, msg: str, lineno: int | None = None, where: str = "") -> None:
        super().__init__(msg + where)
        self.msg = msg
        self.lineno = lineno


def _refuse_constant(token: str) -> Any:
    raise JSONDocumentError(f"{token} is not a JSON value")


def loads(text: str | bytes, *, allow_nan: bool = False, max_depth: int | None = MAX_DEPTH) -> Any:
    """Parse ``text`` as JSON, refusing deep nesting and (unless ``allow_nan``) NaN and Infinity.

    Args:
        text: the JSON text (bytes are decoded as UTF-8 by ``json``).
        allow_nan: accept the bare ``NaN``/``Infinity``/``-Infinity`` tokens (MLflow writes NaN
            in input examples; modelpack's own documents never hold one).
        max_depth: the deepest nesting accepted; None only turns the parser's own recursion
            limit into an error, for a data reader that bounds the depth of what it uses (a
            walk over every value costs more than the parse).

    Raises:
        JSONDocumentError: not JSON, a refused constant, or nested deeper than ``max_depth``.
        UnicodeDecodeError: ``text`` is bytes that are not UTF-8.
    """
    try:
        value = json.loads(text) if allow_nan else json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise JSONDocumentError(f"nested deeper than {max_depth or MAX_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        where = f": line {exc.lineno} column {exc.colno} (char {exc.pos})"
        raise JSONDocumentError(exc.msg, exc.lineno, where) from None
    if max_depth is not None:
        check_depth(value, max_depth)
    return value


def check_depth(value: Any, max_depth: int = MAX_DEPTH) -> None:
    """Raise :class:`JSONDocumentError` if ``value`` nests lists and dicts deeper than ``max_depth``.

    Walks the containers with an explicit stack (it must not recurse itself); a shared or
    cyclic container, which no parser of text produces, counts again where it appears.
    """
    if not isinstance(value, (dict, list)):
        return
    if max_depth < 1:
        raise JSONDocumentError(f"nested deeper than {max_depth} levels")
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, (dict, list)):
                if depth >= max_depth:
                    raise JSONDocumentError(f"nested deeper than {max_depth} levels")
                if child:
                    stack.append((child, depth + 1))
