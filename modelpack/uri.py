"""MLflow model URIs (``models:/NAME/VERSION``, ``/STAGE``, ``/latest``, ``@ALIAS``) and targets.

Parsing follows MLflow's ``_parse_model_uri``: the suffix after the name is a version when it is
all digits, ``latest`` in any case, and otherwise a stage; an alias is split off at the last
``@``; a sub-path or a bare ``models:/NAME`` (an MLflow LoggedModel id) is refused. Stdlib only.

``modelpack.target.resolve_target`` uses this to turn a command's TARGET into a folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from modelpack.errors import UsageError
from modelpack.names import validate_alias, validate_name

SCHEME: Final = "models:"
PREFIX: Final = "models:/"

_FORMS: Final = (
    "Model URIs must be of the form 'models:/NAME/VERSION', 'models:/NAME/STAGE', "
    "'models:/NAME/latest' or 'models:/NAME@ALIAS'"
)


@dataclass(frozen=True)
class ModelUri:
    """A parsed ``models:/`` URI. Exactly one of version, stage, alias or latest is set."""

    name: str
    version: int | None = None
    stage: str | None = None
    alias: str | None = None
    latest: bool = False

    @property
    def kind(self) -> str:
        """One of ``version``, ``stage``, ``alias``, ``latest``."""
        if self.version is not None:
            return "version"
        if self.alias is not None:
            return "alias"
        if self.latest:
            return "latest"
        return "stage"

    def __str__(self) -> str:
        if self.alias is not None:
            return f"{PREFIX}{self.name}@{self.alias}"
        if self.version is not None:
            return f"{PREFIX}{self.name}/{self.version}"
        if self.latest:
            return f"{PREFIX}{self.name}/latest"
        return f"{PREFIX}{self.name}/{self.stage}"


def is_model_uri(text: str) -> bool:
    """True when ``text`` uses the ``models:`` scheme (it may still be malformed)."""
    return text.startswith(SCHEME)


def _malformed(text: str, why: str) -> UsageError:
    return UsageError(f"not a proper models:/ URI: {text!r} ({why})", hint=_FORMS)


def parse_model_uri(text: str) -> ModelUri:
    """Parse a ``models:/`` URI.

    Args:
        text: e.g. ``models:/iris/3``, ``models:/iris/Production``, ``models:/iris@champion``.

    Returns:
        The parsed URI; the name and alias are checked against the registry's rules, the stage
        is kept as written (the registry checks it and names the stages that exist).

    Raises:
        UsageError: the text is not a well-formed model URI (exit 2).
    """
    if not text.startswith(PREFIX):
        raise _malformed(text, "it must start with 'models:/'")
    rest = text[len(PREFIX) :]
    if rest.startswith("/"):
        raise _malformed(text, "a host part such as 'models://' is not supported")
    if "@" in rest:
        name, _, alias = rest.rpartition("@")
        if not name or not alias:
            raise _malformed(text, "an alias URI needs a name and an alias")
        if "/" in name or "/" in alias:
            raise _malformed(text, "only one of a suffix or an alias can be given")
        return ModelUri(name=validate_name(name), alias=validate_alias(alias))
    parts = rest.split("/")
    if len(parts) == 1:
        raise _malformed(
            text,
            "a bare name is an MLflow logged-model id; add '/latest', a version, a stage or '@alias'",
        )
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise _malformed(text, "expected exactly a name and one suffix")
    name, suffix = validate_name(parts[0]), parts[1]
    if suffix.isascii() and suffix.isdigit():
        version = int(suffix)
        if version < 1:
            raise _malformed(text, "versions start at 1")
        return ModelUri(name=name, version=version)
    if suffix.lower() == "latest":
        return ModelUri(name=name, latest=True)
    return ModelUri(name=name, stage=suffix)
