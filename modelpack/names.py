"""Names, aliases, tags and stages: the one set of rules ``models:/`` URIs and every registry
entry point apply.

A model name becomes a folder name under ``<home>/models``, so the rule is deliberately narrow:
it cannot contain a path separator, cannot be ``.`` or ``..``, cannot start with a dot or dash
and has bounded length. Nothing outside these rules ever reaches the filesystem.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Final

from modelpack.errors import UsageError

NAME_MAX: Final = 128
#: Model names: a letter or digit, then letters, digits, ``_``, ``.`` or ``-``; at most 128 chars.
NAME_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
#: Aliases follow MLflow (``^[\w\-]*$``, at most 255 characters), restricted to ASCII.
ALIAS_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,255}")
_RESERVED_ALIAS_VERSION: Final = re.compile(r"[vV][0-9]+")
#: Tag keys follow MLflow (``^[/\w.\- :]*$``, at most 250 characters), restricted to ASCII.
TAG_KEY_RE: Final = re.compile(r"[A-Za-z0-9_./ :-]{1,250}")
TAG_VALUE_MAX: Final = 100_000
DESCRIPTION_MAX: Final = 100_000


class InvalidNameError(UsageError):
    """A model name, alias or tag that the registry refuses (exit 2)."""

    code = "invalid_name"


class Stage(str, Enum):
    """MLflow's lifecycle stages; input is case-insensitive, storage is canonical."""

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"

    def __str__(self) -> str:
        return self.value


STAGE_NAMES: Final = tuple(s.value for s in Stage)
#: Stages whose previous holders move to Archived on promotion (MLflow's "active" stages).
ACTIVE_STAGES: Final = (Stage.STAGING, Stage.PRODUCTION)


def _shown(text: str) -> str:
    # repr() makes control characters and newlines visible in the one-line error.
    return repr(text) if len(text) <= 80 else repr(text[:77] + "...")


def validate_name(name: str) -> str:
    """Return ``name`` if it is a legal model name.

    Args:
        name: the proposed model name.

    Returns:
        The same name.

    Raises:
        InvalidNameError: the name is empty, too long, or has a character outside the rule
            (which excludes ``/``, ``\\``, ``..``-style names, control characters and whitespace).
    """
    if not name:
        raise InvalidNameError("model name is empty")
    if NAME_RE.fullmatch(name) is None:
        reason = "too long" if len(name) > NAME_MAX else "has characters outside the rule"
        raise InvalidNameError(
            f"invalid model name {_shown(name)}: {reason}",
            hint=f"names are 1-{NAME_MAX} letters, digits, '_', '.' or '-', starting with a letter or digit",
        )
    return name


def validate_alias(alias: str) -> str:
    """Return ``alias`` if MLflow would accept it and it is not reserved.

    Raises:
        InvalidNameError: bad characters, too long, ``latest`` (any case) or ``v<digits>``.
    """
    if not alias or ALIAS_RE.fullmatch(alias) is None:
        raise InvalidNameError(
            f"invalid alias {_shown(alias)}",
            hint="aliases are 1-255 letters, digits, '_' or '-'",
        )
    if alias.lower() == "latest":
        raise InvalidNameError("'latest' alias name (case insensitive) is reserved")
    if _RESERVED_ALIAS_VERSION.fullmatch(alias):
        raise InvalidNameError(f"version alias name {alias!r} is reserved")
    return alias


def validate_tag(key: str, value: str) -> tuple[str, str]:
    """Check a version tag (MLflow's key rule, bounded value)."""
    if TAG_KEY_RE.fullmatch(key) is None:
        raise InvalidNameError(
            f"invalid tag key {_shown(key)}",
            hint="tag keys are 1-250 letters, digits, '_', '.', '-', ' ', ':' or '/'",
        )
    if len(value) > TAG_VALUE_MAX or "\x00" in value:
        raise InvalidNameError(f"tag {key!r} has a value longer than {TAG_VALUE_MAX} or a NUL byte")
    return key, value


def parse_stage(text: str) -> Stage:
    """Case-insensitive stage name to the canonical ``Stage``.

    Raises:
        InvalidNameError: not one of None, Staging, Production, Archived.
    """
    for stage in Stage:
        if stage.value.lower() == text.strip().lower():
            return stage
    raise InvalidNameError(
        f"invalid stage {_shown(text)}; value must be one of {', '.join(STAGE_NAMES)}",
    )


def is_stage(text: str) -> bool:
    return any(stage.value.lower() == text.lower() for stage in Stage)
