"""Names, aliases, tags and stages: the one set of rules ``models:/`` URIs and every registry
entry point apply.

A model name becomes a folder name under ``<home>/models``, so the rule is deliberately narrow:
it cannot contain a path separator, cannot be ``.`` or ``..``, cannot start with a dot or dash
and has bounded length. Nothing outside these rules ever reaches the filesystem.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

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


#: A declared stage name: a letter, then letters, digits, ``_`` or ``-``; at most 64 characters.
#: Starting with a letter keeps ``models:/NAME/3`` a version; ``latest`` and ``None`` are reserved.
STAGE_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
NO_STAGE: Final = Stage.NONE.value
_RESERVED_STAGES: Final = ("none", "latest")


@dataclass(frozen=True)
class StageSet:
    """The stages a registry declares (``registry.json``; MLflow's four when it declares none).

    ``None`` (no stage) always exists and is never declared. ``names`` are the declared stages
    in order; ``archive`` is one of them, where promotion moves the previous holders of an
    active stage; ``active`` are the single-holder stages (by default every declared stage but
    the archive) whose previous holders are archived on promotion and which the compatibility
    gate protects. The last active stage is the protected one ``delete`` refuses without
    ``--force`` (Production by default).

    ``generation`` counts redeclarations; ``renamed`` maps the previous generation's names that
    changed to their new names (``None`` for a stage whose versions left every stage), so a
    model not yet rewritten after a crash is read in the new names (see ``translate``).
    """

    names: tuple[str, ...]
    archive: str
    active: tuple[str, ...]
    generation: int = 0
    renamed: Mapping[str, str] = field(default_factory=dict)
    #: Every stage name any generation declared (event logs keep the names of their time).
    known: tuple[str, ...] = ()

    @property
    def all(self) -> tuple[str, ...]:
        """``None`` and every declared stage, in order."""
        return (NO_STAGE, *self.names)

    @property
    def protected(self) -> str:
        """The stage ``delete`` refuses to empty without ``--force``: the last active one."""
        return self.active[-1] if self.active else self.names[-1]

    @property
    def is_default(self) -> bool:
        return (
            self.names == DEFAULT_STAGES.names
            and self.archive == DEFAULT_STAGES.archive
            and (self.active == DEFAULT_STAGES.active)
        )

    def find(self, text: str) -> str | None:
        """The canonical spelling of ``text`` (any case) among ``None`` and the declared stages."""
        wanted = text.strip().lower()
        return next((s for s in self.all if s.lower() == wanted), None)

    def parse(self, text: str) -> str:
        """Case-insensitive stage name to its canonical spelling.

        Raises:
            InvalidNameError: not a stage of this registry (the message lists them).
        """
        found = self.find(text)
        if found is None:
            raise InvalidNameError(
                f"invalid stage {_shown(text)}; value must be one of {', '.join(self.all)}",
                hint="the registry's stages are shown by 'modelpack stages'",
            )
        return found

    def is_active(self, stage: str | None) -> bool:
        return stage is not None and stage in self.active

    def translate(self, stages: Mapping[int, str], generation: int) -> dict[int, tuple[str, str]]:
        """The versions of a model stored at ``generation`` whose stage is renamed since:
        version -> (stored name, current name). Only the previous generation is translated
        (``set_stages`` rewrites every model before it declares again). A stage the previous
        generation had that is neither kept nor mapped held no version when the stages were
        redeclared; a version a racing promotion put there (a bucket has no lock) leaves every
        stage, as the rewrite records."""
        if generation != self.generation - 1:
            return {}
        moved: dict[int, tuple[str, str]] = {}
        for version, stage in stages.items():
            if stage in self.renamed:
                moved[version] = (stage, self.renamed[stage])
            elif stage not in self.all:
                moved[version] = (stage, NO_STAGE)
        return moved

    def to_json(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "archive": self.archive,
            "active": list(self.active),
            "generation": self.generation,
            "renamed": dict(sorted(self.renamed.items())),
            "known": sorted(self.known),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> StageSet:
        """``registry.json``'s ``stages`` (absent: MLflow's four). The shape is checked by
        ``registry.documents``; this only builds the value."""
        if raw is None:
            return DEFAULT_STAGES
        return cls(
            names=tuple(raw["names"]),
            archive=str(raw["archive"]),
            active=tuple(raw["active"]),
            generation=int(raw["generation"]),
            renamed=dict(raw.get("renamed") or {}),
            known=tuple(raw["known"]),
        )


def validate_stage_name(text: str) -> str:
    """Return ``text`` if it may be declared as a stage.

    Raises:
        InvalidNameError: bad characters, too long, a number, ``latest`` or ``None``.
    """
    if STAGE_RE.fullmatch(text) is None:
        raise InvalidNameError(
            f"invalid stage name {_shown(text)}",
            hint="stage names are 1-64 letters, digits, '_' or '-', starting with a letter",
        )
    if text.lower() in _RESERVED_STAGES:
        raise InvalidNameError(f"stage name {text!r} is reserved ('None' always exists; 'latest' is a URI)")
    return text


def declare_stages(names: Iterable[str], *, archive: str, active: Iterable[str] | None = None) -> StageSet:
    """A new stage declaration, checked (generation and renames are filled in by the registry).

    Raises:
        InvalidNameError: a bad or repeated name, an archive not among them, an active stage
            not among them (or the archive itself), or no stage besides the archive.
    """
    declared = tuple(validate_stage_name(n.strip()) for n in names)
    lowered = [n.lower() for n in declared]
    repeated = sorted({n for n in declared if lowered.count(n.lower()) > 1})
    if repeated:
        raise InvalidNameError(f"stage {repeated[0]!r} is declared twice (names are case-insensitive)")
    if len(declared) < 2:
        raise InvalidNameError("declare at least two stages: one to promote to and the archive")

    def member(text: str, what: str) -> str:
        found = next((n for n in declared if n.lower() == text.strip().lower()), None)
        if found is None:
            raise InvalidNameError(
                f"{what} {_shown(text)} is not among the declared stages {', '.join(declared)}"
            )
        return found

    archive_name = member(archive, "archive stage")
    if active is None:
        active_names = tuple(n for n in declared if n != archive_name)
    else:
        chosen = {member(a, "active stage") for a in active}
        if archive_name in chosen:
            raise InvalidNameError(f"the archive {archive_name!r} cannot be an active stage")
        active_names = tuple(n for n in declared if n in chosen)
    return StageSet(names=declared, archive=archive_name, active=active_names, known=declared)


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


#: A registry that declares no stages has MLflow's: Staging and Production active, Archived the archive.
DEFAULT_STAGES: Final = StageSet(
    names=(Stage.STAGING.value, Stage.PRODUCTION.value, Stage.ARCHIVED.value),
    archive=Stage.ARCHIVED.value,
    active=tuple(s.value for s in ACTIVE_STAGES),
    known=(Stage.ARCHIVED.value, Stage.PRODUCTION.value, Stage.STAGING.value),
)
