"""``list`` filters: by stage, alias, tag, time and text, on models and on versions.

Every filter given must match (they compose with AND); ``--stage`` given more than once matches
any of those stages. Stage names compare in any case, as the store records them, so a registry's
own stage names filter the same way.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from modelpack.errors import UsageError

if TYPE_CHECKING:
    from modelpack.registry.records import ModelSummary, VersionRecord

_RELATIVE: Final = re.compile(r"\s*(\d+)\s*([smhdw])\s*")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_NO_STAGE: Final = "none"


def parse_since(text: str, now: _dt.datetime | None = None) -> str:
    """``--since``: an ISO date or time (UTC unless it has an offset) or an age such as
    ``7d``, ``12h``, ``30m``, ``2w``; the UTC time in the registry's form, which compares as text.

    Raises:
        UsageError: neither form (exit 2).
    """
    now = now or _dt.datetime.now(_dt.timezone.utc)
    match = _RELATIVE.fullmatch(text.lower())
    if match is not None:
        when = now - _dt.timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    else:
        try:
            when = _dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(
                f"--since {text!r}: give an ISO date or time (2025-01-31, 2025-01-31T12:00) "
                "or an age (30m, 12h, 7d, 2w)"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=_dt.timezone.utc)
    return when.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_tag_filters(items: Iterable[str]) -> dict[str, str | None]:
    """``--tag K=V`` (the value must match) or ``--tag K`` (the key must be there)."""
    out: dict[str, str | None] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key.strip():
            raise UsageError(f"--tag {item!r}: give KEY=VALUE or KEY")
        out[key.strip()] = value if sep else None
    return out


def _tags_match(wanted: Mapping[str, str | None], tags: Mapping[str, str]) -> bool:
    return all(k in tags and (v is None or tags[k] == v) for k, v in wanted.items())


@dataclass(frozen=True)
class ListFilter:
    """What ``list`` keeps. Empty: everything."""

    stages: Sequence[str] = ()
    alias: str | None = None
    tags: Mapping[str, str | None] | None = None
    since: str | None = None  # a UTC time as parse_since returns it
    text: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.stages or self.alias or self.tags or self.since or self.text)

    def _text_in(self, *fields: str | None) -> bool:
        needle = (self.text or "").casefold()
        return any(needle in (f or "").casefold() for f in fields)

    def keep_model(self, model: ModelSummary) -> bool:
        """A model matches a stage when a live version is in it (``None``: a version outside
        every stage), an alias it has, its own tags, ``since`` its last change, text its name or
        description."""
        if self.stages:
            wanted = {s.casefold() for s in self.stages}
            have = {s.casefold() for s in model.stages}
            staged = sum(len(v) for v in model.stages.values())
            if staged < model.version_count:
                have.add(_NO_STAGE)
            if not wanted & have:
                return False
        if self.alias is not None and self.alias not in model.aliases:
            return False
        if self.tags and not _tags_match(self.tags, model.tags):
            return False
        if self.since is not None and model.updated < self.since:
            return False
        return not self.text or self._text_in(model.name, model.description)

    def keep_version(self, version: VersionRecord) -> bool:
        """A version matches its stage, its aliases, its tags, ``since`` its registration, text
        its description."""
        if self.stages and version.stage.casefold() not in {s.casefold() for s in self.stages}:
            return False
        if self.alias is not None and self.alias not in version.aliases:
            return False
        if self.tags and not _tags_match(self.tags, dict(version.facts.get("tags") or {})):
            return False
        if self.since is not None and version.created < self.since:
            return False
        return not self.text or self._text_in(str(version.facts.get("description") or ""))

    def models(self, models: Iterable[ModelSummary]) -> list[ModelSummary]:
        return [m for m in models if self.keep_model(m)]

    def versions(self, versions: Iterable[VersionRecord]) -> list[VersionRecord]:
        return [v for v in versions if self.keep_version(v)]
