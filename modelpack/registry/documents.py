"""The shape of every registry document, in one table.

Each document the registry writes (``registry.json``, ``model.json``, ``version.json``, each
event of ``events.jsonl``, ``journal.json``, a digest-index entry) has a fixed set of keys, each
with a type and, for most, a rule (a model name, a stage, a ``sha256:`` digest...). ``problems``
checks a parsed document against its row and names each difference: a missing key, a value of
the wrong type or form, and a key the format does not have (a renamed key shows as one missing
and one unknown). The formats are modelpack's own, so an unknown key is always a finding.

Readers call ``check`` (through ``records`` and ``journal``), which refuses a document with a
missing or malformed key as corrupt, so a damaged record is one clear error and never a crash
deeper in; unknown keys alone do not stop a reader. ``doctor`` reports every problem, unknown
keys included, as an error.

Adding a key to a document is a format change: add it here, and follow the procedure in
``layout`` (an older modelpack's doctor would report the new key as unknown).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeGuard

from modelpack.names import ALIAS_RE, NAME_RE, NO_STAGE, STAGE_RE

#: A rule returns None for a good value, else what the value should be.
Rule = Callable[[Any], str | None]

_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_TIME: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def is_int(value: Any) -> TypeGuard[int]:
    """An integer that is not a bool (JSON ``true`` is no number)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: Any) -> str | None:
    return None if isinstance(value, str) else "a string"


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def _count(value: Any) -> str | None:
    return None if is_int(value) and value >= 0 else "an integer >= 0"


def _number(value: Any) -> str | None:
    return None if is_int(value) and value >= 1 else "an integer >= 1"


def _time(value: Any) -> str | None:
    return (
        None if isinstance(value, str) and _TIME.fullmatch(value) else "a UTC time like 2025-01-31T12:00:00Z"
    )


def _name(value: Any) -> str | None:
    return None if isinstance(value, str) and NAME_RE.fullmatch(value) else "a model name"


def _alias(value: Any) -> str | None:
    return None if isinstance(value, str) and ALIAS_RE.fullmatch(value) else "an alias"


def _stage(value: Any) -> str | None:
    # Any well-formed stage name: which ones a registry declares is in its registry.json
    # (``doctor`` reports a version in an undeclared stage).
    ok = isinstance(value, str) and (value == NO_STAGE or STAGE_RE.fullmatch(value) is not None)
    return None if ok else "a stage name"


def _declared_stage(value: Any) -> str | None:
    ok = isinstance(value, str) and value != NO_STAGE and STAGE_RE.fullmatch(value) is not None
    return None if ok else "a stage name"


def _stage_set(value: Any) -> str | None:
    """``registry.json``'s ``stages``: names, archive, active, generation, renamed, consistent."""
    want = "an object of names, archive, active, generation, renamed and known (see docs/REGISTRY.md)"
    keys = ["active", "archive", "generation", "known", "names", "renamed"]
    if not isinstance(value, dict) or sorted(value) != keys:
        return want
    known = value["known"]
    if _list_of(_declared_stage)(known) is not None or not set(value["names"]) <= set(known):
        return want
    names, active = value["names"], value["active"]
    if _list_of(_declared_stage)(names) is not None or _list_of(_declared_stage)(active) is not None:
        return want
    if len({n.lower() for n in names}) != len(names) or len(names) < 2:
        return want
    if value["archive"] not in names or value["archive"] in active or not set(active) <= set(names):
        return want
    if (
        _count(value["generation"]) is not None
        or _map_of(_declared_stage, _stage)(value["renamed"]) is not None
    ):
        return want
    return None


def _digest(value: Any) -> str | None:
    ok = isinstance(value, str) and value.startswith("sha256:") and _HEX64.fullmatch(value[7:])
    return None if ok else "sha256:<64 hex digits>"


def _sha256(value: Any) -> str | None:
    return None if isinstance(value, str) and _HEX64.fullmatch(value) else "64 hex digits"


def _object(value: Any) -> str | None:
    return None if isinstance(value, dict) else "an object"


def _optional(rule: Rule) -> Rule:
    def check(value: Any) -> str | None:
        problem = rule(value)
        return None if value is None or problem is None else f"null or {problem}"

    return check


def _list_of(rule: Rule) -> Rule:
    def check(value: Any) -> str | None:
        if not isinstance(value, list):
            return "a list"
        bad = next((rule(v) for v in value if rule(v) is not None), None)
        return None if bad is None else f"a list of {_bare(bad)}s"

    return check


def _map_of(key: Rule, value_rule: Rule) -> Rule:
    def check(value: Any) -> str | None:
        if not isinstance(value, dict):
            return "an object"
        for k, v in value.items():
            if key(k) is not None:
                return f"an object whose keys are {_bare(key(k))}s (not {k!r})"
            if value_rule(v) is not None:
                return f"an object whose values are {_bare(value_rule(v))}s (not {v!r} at {k!r})"
        return None

    return check


def _bare(phrase: str | None) -> str:
    return (phrase or "").removeprefix("an ").removeprefix("a ")


def _version_key(value: Any) -> str | None:
    """A version number as a JSON object key: ``"1"``, ``"12"``."""
    ok = isinstance(value, str) and value.isascii() and value.isdigit() and not value.startswith("0")
    return None if ok else "a version number"


def _one_of(*choices: str) -> Rule:
    def check(value: Any) -> str | None:
        return None if value in choices else f"one of {', '.join(choices)}"

    return check


#: A copied or imported version's first registration (``registry.transfer``): where that
#: version is (``uri``, qualified by its registry), when, by whom and from what it was registered.
ORIGIN_KEYS: Final = ("created", "host", "source", "uri", "user")


def _origin(value: Any) -> str | None:
    ok = (
        isinstance(value, dict)
        and sorted(value) == list(ORIGIN_KEYS)
        and all(isinstance(v, str) for v in value.values())
        and _time(value["created"]) is None
    )
    return None if ok else f"an object of {', '.join(ORIGIN_KEYS)} (strings; created a UTC time)"


def _provenance(value: Any) -> str | None:
    from modelpack.provenance.record import problem

    return problem(value)


def _built_by(value: Any) -> str | None:
    """A ``registered`` event's summary: the commit and CI run the version was built by."""
    from modelpack.provenance.record import problem

    found = problem(value, allow_registered=False)
    if found is None and not set(value) <= {"git", "ci"}:
        return "an object of git, ci"
    return found


def _format_version(value: Any) -> str | None:
    # Newer versions are refused by ``layout.migrate`` with an "upgrade modelpack" message.
    return _number(value)


@dataclass(frozen=True)
class Key:
    rule: Rule
    required: bool = True


def _optional_key(rule: Rule) -> Key:
    return Key(rule, required=False)


#: Document kind -> its keys. Events are ``event:<type>`` (common keys plus the type's own).
SHAPES: Final[dict[str, dict[str, Key]]] = {}

SHAPES["registry.json"] = {
    "format_version": Key(_format_version),
    "kind": Key(_one_of("modelpack-registry")),
    "created": Key(_time),
    # In a bucket: what the store proved about conditional writes when the registry was made.
    "store": _optional_key(_object),
    # The registry's own stages (names.StageSet); absent: MLflow's four.
    "stages": _optional_key(_stage_set),
}

# In a bucket, model.json wraps the state with the highest version folded in and the events of
# the state's own revision (see registry.remote).
SHAPES["bucket model.json"] = {
    "format_version": Key(_format_version),
    "state": Key(_object),
    "latest": Key(_count),
    "events": Key(_object),
    # A renamed-away model's tombstone: the new name's state and events, until it is published.
    "moved": _optional_key(_object),
}

SHAPES["event batch"] = {
    "format_version": Key(_format_version),
    "name": Key(_name),
    "revision": Key(_count),
    "events": Key(_list_of(_object)),
}

SHAPES["model.json"] = {
    "format_version": Key(_format_version),
    "name": Key(_name),
    "created": Key(_time),
    "updated": Key(_time),
    "revision": Key(_count),
    "description": Key(_optional(_text)),
    "stages": Key(_map_of(_version_key, _stage)),
    "aliases": Key(_map_of(_alias, _number)),
    "deleted": Key(_map_of(_version_key, _time)),
    # Tags and descriptions of versions changed after registration (set_tags, set_description).
    "tags": _optional_key(_map_of(_version_key, _map_of(_text, _text))),
    "descriptions": _optional_key(_map_of(_version_key, _optional(_text))),
    # The generation of the registry's stages the names above belong to (absent: 0).
    "stages_generation": _optional_key(_count),
    # The model's own tags (set without a version); a deleted or renamed-away model's tombstone.
    "model_tags": _optional_key(_map_of(_text, _text)),
    "removed": _optional_key(_time),
    "renamed_to": _optional_key(_name),
    # A bucket's placeholder for the new name of a rename not yet published (see remote.rename).
    "renaming_from": _optional_key(_name),
}

SHAPES["version.json"] = {
    "format_version": Key(_format_version),
    "name": Key(_name),
    "version": Key(_number),
    "created": Key(_time),
    "user": Key(_text),
    "host": Key(_text),
    "source": Key(_text),
    "digest": Key(_digest),
    "size": Key(_count),
    "file_count": Key(_count),
    "manifest_sha256": Key(_sha256),
    "flavors": _optional_key(_list_of(_text)),
    "signature": _optional_key(_optional(_object)),
    "mlmodel": _optional_key(_object),
    "description": _optional_key(_optional(_text)),
    "tags": _optional_key(_map_of(_text, _text)),
    "modelpack_version": _optional_key(_text),
    "rebuilt": _optional_key(_flag),  # written by doctor --repair when it rebuilt the file
    "origin": _optional_key(_origin),  # copy and import: the first registration of this content
    # Where the version came from (git, CI, training data, metrics, params, MLflow run, and
    # where register ran): see modelpack.provenance.record.
    "provenance": _optional_key(_provenance),
}

_EVENT: Final = {
    "id": Key(_text),
    "event": Key(_text),
    "name": Key(_name),
    "time": Key(_time),
    "user": Key(_text),
    "host": Key(_text),
    "pid": Key(_count),
    "version": Key(_number),
}
_GATE: Final = {"forced": _optional_key(_flag), "breaking": _optional_key(_list_of(_text))}
SHAPES["event:registered"] = {
    **_EVENT,
    "digest": Key(_digest),
    "size": Key(_count),
    "source": Key(_text),
    "provenance": _optional_key(_built_by),
}
SHAPES["event:stage_changed"] = {
    **_EVENT,
    "to": Key(_stage),
    "from": Key(_optional(_stage)),
    "reason": Key(_text),
    **_GATE,
}
SHAPES["event:alias_set"] = {**_EVENT, "alias": Key(_alias), "previous": Key(_optional(_number)), **_GATE}
SHAPES["event:alias_removed"] = {**_EVENT, "alias": Key(_alias), "reason": _optional_key(_text)}
SHAPES["event:deleted"] = {
    **_EVENT,
    "stage": Key(_stage),
    "removed_aliases": Key(_list_of(_alias)),
    "digest": Key(_digest),
}

# A model's own tags have no version (null); a version's have one.
SHAPES["event:tags_set"] = {
    **_EVENT,
    "version": Key(_optional(_number)),
    "tags": Key(_map_of(_text, _text)),
}
# The whole model deleted: the versions it deleted (each as a version delete would), the aliases
# and stages it dropped. The name stays a tombstone; registering it again continues the numbers.
SHAPES["event:model_deleted"] = {
    **_EVENT,
    "version": Key(_optional(_number)),
    "versions": Key(_list_of(_number)),
    "digests": Key(_map_of(_version_key, _digest)),
    "stages": Key(_map_of(_version_key, _stage)),
    "removed_aliases": Key(_list_of(_alias)),
}
# A rename: written in both logs, ``name`` the log's own model; ``from`` and ``to`` the names.
SHAPES["event:renamed"] = {
    **_EVENT,
    "version": Key(_optional(_number)),
    "from": Key(_name),
    "to": Key(_name),
}
# A model's own description has no version; a version's has one.
SHAPES["event:description_set"] = {
    **_EVENT,
    "version": Key(_optional(_number)),
    "description": Key(_optional(_text)),
}

SHAPES["journal.json"] = {
    "format_version": Key(_format_version),
    "op": Key(
        _one_of(
            "register",
            "promote",
            "delete",
            "set_tags",
            "set_description",
            "set_stages",
            "delete_model",
            "rename",
        )
    ),
    "name": Key(_name),
    "version": Key(_count),  # 0: a change to the model itself (its description)
    "log_size": Key(_count),
    "commit_path": Key(_optional(_text)),
    "commit_revision": Key(_optional(_count)),
    "state": Key(_optional(_object)),  # a model.json, checked as one
    "digest": Key(_optional(_digest)),
    "rollback_remove": Key(_list_of(_text)),
    "forward_remove": Key(_list_of(_text)),
    "pid": Key(_count),
}


def _member(value: Any) -> str | None:
    ok = (
        isinstance(value, dict)
        and sorted(value) == ["sha256", "size"]
        and _sha256(value["sha256"]) is None
        and _count(value["size"]) is None
    )
    return None if ok else "an object of sha256 (64 hex digits) and size (an integer >= 0)"


# ``modelpack export``'s archive document (``registry.archive``): not stored in a registry, but
# read from a file someone hands over, so every key is checked before anything is used.
SHAPES["export document"] = {
    "kind": Key(_one_of("modelpack-export")),
    "format_version": Key(_format_version),
    "modelpack_version": Key(_text),
    "name": Key(_optional(_name)),
    "version": Key(_optional(_number)),
    "registry": Key(_optional(_text)),
    "source": Key(_text),
    "created": Key(_optional(_time)),
    "user": Key(_optional(_text)),
    "host": Key(_optional(_text)),
    "origin": Key(_optional(_origin)),
    "description": Key(_optional(_text)),
    "tags": Key(_map_of(_text, _text)),
    # Format 2 only, and there required: the exported version record's provenance (see
    # ``registry.archive._check_format``).
    "provenance": _optional_key(_provenance),
    "digest": Key(_digest),
    "manifest_sha256": Key(_sha256),
    "members": Key(_map_of(_text, _member)),
    "checksum": Key(_sha256),
}

SHAPES["digest entry"] = {
    "format_version": Key(_format_version),
    "digest": Key(_digest),
    "version": Key(_number),
}


@dataclass(frozen=True)
class Problem:
    key: str
    what: str  # missing | invalid | unknown
    detail: str = ""

    def __str__(self) -> str:
        if self.what == "missing":
            return f"missing key {self.key!r}"
        if self.what == "unknown":
            return f"unknown key {self.key!r}"
        return f"{self.key!r} must be {self.detail}"


#: The keys whose values are stage names, by document kind (checked against the registry's
#: stages when ``problems`` is given them).
STAGE_KEYS: Final = {
    "model.json": ("stages",),
    "event:stage_changed": ("to", "from"),
    "event:deleted": ("stage",),
}


def _stage_problems(kind: str, document: Mapping[str, Any], stages: Collection[str]) -> list[Problem]:
    found = []
    for key in STAGE_KEYS.get(kind, ()):
        value = document.get(key)
        names = list(value.values()) if isinstance(value, dict) else [value]
        bad = [n for n in names if isinstance(n, str) and n not in stages]
        if bad:
            found.append(
                Problem(key, "invalid", f"a stage of this registry ({', '.join(stages)}), not {bad[0]!r}")
            )
    return found


def problems(
    kind: str, document: Mapping[str, Any], *, stages: Collection[str] | None = None
) -> list[Problem]:
    """Every way ``document`` differs from the shape of ``kind`` (a key of ``SHAPES``, or
    ``event`` for an event of any type). With ``stages``, a well-formed stage name must also
    be one of them (``doctor`` passes the registry's; readers check their own)."""
    if kind == "event":
        event_type = document.get("event")
        kind = f"event:{event_type}"
        if kind not in SHAPES:
            known = ", ".join(k.split(":", 1)[1] for k in SHAPES if k.startswith("event:"))
            return [Problem("event", "invalid", f"one of {known}")]
    shape = SHAPES[kind]
    found: list[Problem] = []
    for key, spec in shape.items():
        if key not in document:
            if spec.required:
                found.append(Problem(key, "missing"))
            continue
        detail = spec.rule(document[key])
        if detail is not None:
            found.append(Problem(key, "invalid", detail))
    found.extend(Problem(str(key), "unknown") for key in document if key not in shape)
    if stages is not None:
        found.extend(
            p for p in _stage_problems(kind, document, stages) if p.key not in {f.key for f in found}
        )
    if kind == "journal.json" and isinstance(document.get("state"), dict):
        found.extend(
            Problem(f"state.{p.key}", p.what, p.detail) for p in problems("model.json", document["state"])
        )
    return found


def describe(found: list[Problem]) -> str:
    """Problems as one line: ``missing key 'stages'; unknown key 'stagez'``."""
    return "; ".join(str(p) for p in found)


def check(kind: str, document: Mapping[str, Any]) -> None:
    """Refuse what a reader cannot use: a missing or malformed key (unknown keys pass here;
    ``doctor`` reports them).

    Raises:
        ValueError: the problems, as one line (the caller names the file).
    """
    serious = [p for p in problems(kind, document) if p.what != "unknown"]
    if serious:
        raise ValueError(describe(serious))
