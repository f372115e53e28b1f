"""What each registry operation changes, whatever stores the registry.

The stores (``store.FileRegistry`` on a local disk, ``remote.S3Registry`` in a bucket) differ in
how a change becomes durable and exclusive: locks and a journal on a disk, create-only writes and
compare-and-swap in a bucket. What the change *is* (the new model state, the events it records,
the version a URI names, the compatibility gate) is decided here, once, from the model's current
state, so both stores behave the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from modelpack import __version__
from modelpack.errors import (
    ConflictError,
    IncompatibleSignatureError,
    InvalidModelError,
    NotFoundError,
    UsageError,
)
from modelpack.names import (
    DEFAULT_STAGES,
    DESCRIPTION_MAX,
    NO_STAGE,
    InvalidNameError,
    Stage,
    StageSet,
    validate_alias,
    validate_name,
    validate_tag,
)
from modelpack.registry import documents
from modelpack.registry import events as ev
from modelpack.registry.events import Actor
from modelpack.registry.layout import FORMAT_VERSION
from modelpack.registry.records import GateCheck, ModelState

if TYPE_CHECKING:
    from modelpack.package.manifest import IntegrityReport
    from modelpack.package.mlmodel import MLmodel
    from modelpack.registry.source import SourceModel
    from modelpack.uri import ModelUri

_LIST_MAX = 20


def compact_numbers(numbers: list[int]) -> str:
    """``[1, 2, 3, 5, 7, 8]`` -> ``"1-3, 5, 7-8"`` so error messages stay one line."""
    if not numbers:
        return "none"
    ranges: list[str] = []
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        ranges.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(ranges)


def listing(items: list[str]) -> str:
    if not items:
        return "none"
    shown = ", ".join(items[:_LIST_MAX])
    return shown + (f", ... ({len(items) - _LIST_MAX} more)" if len(items) > _LIST_MAX else "")


# ---------------------------------------------------------------------- register


def check_register_args(
    name: str, tags: Mapping[str, str] | None, alias: str | None, description: str | None
) -> dict[str, str]:
    """Validate what ``register`` was given before anything is read; the clean tags."""
    validate_name(name)
    clean_tags = dict(validate_tag(str(k), str(v)) for k, v in (tags or {}).items())
    if alias is not None:
        validate_alias(alias)
    if description is not None and len(description) > DESCRIPTION_MAX:
        raise UsageError(f"description is longer than {DESCRIPTION_MAX} characters")
    return clean_tags


def version_facts(
    name: str,
    actor: Actor,
    source: str,
    src: SourceModel,
    description: str | None,
    tags: dict[str, str],
    origin: Mapping[str, str] | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The immutable record of a new version; ``version``, ``created`` and ``manifest_sha256``
    are filled in when they are known. ``origin`` (a copied or imported version's first
    registration, see ``registry.transfer``) is recorded only when given. ``provenance`` is
    the package's (from its MLmodel) overlaid with ``provenance`` (what register was given,
    and ``registered_from``), recorded when there is any."""
    from modelpack.provenance import record as provenance_record

    manifest = src.manifest
    facts: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "version": None,
        "created": None,
        "user": actor.user,
        "host": actor.host,
        "source": source,
        "digest": manifest.digest,
        "size": manifest.total_size,
        "file_count": len(manifest.files),
        "manifest_sha256": None,
        "flavors": src.flavors,
        "signature": src.signature,
        "mlmodel": src.mlmodel,
        "description": description,
        "tags": tags,
        "modelpack_version": __version__,
    }
    if origin is not None:
        problem = documents.SHAPES["version.json"]["origin"].rule(dict(origin))
        if problem is not None:
            raise UsageError(f"origin must be {problem}")
        facts["origin"] = dict(origin)
    if provenance is not None:
        wrong = provenance_record.problem(dict(provenance))
        if wrong is not None:
            raise UsageError(f"provenance must be {wrong}")
    merged = provenance_record.merge(src.provenance, provenance)
    if merged:
        facts["provenance"] = merged
    return facts


def registered_event(name: str, actor: Actor, now: str, facts: dict[str, Any]) -> dict[str, Any]:
    """The ``registered`` event of a new version (with the commit and CI run it was built by,
    when known, so ``history`` shows them)."""
    from modelpack.provenance.record import event_summary

    built = event_summary(facts.get("provenance"))
    return ev.make_event(
        ev.REGISTERED,
        name,
        actor,
        now,
        version=facts["version"],
        digest=facts["digest"],
        size=facts["size"],
        source=facts["source"],
        **({"provenance": built} if built else {}),
    )


def registered_versions(events: Iterable[Any]) -> set[int]:
    """The versions whose ``registered`` event is among ``events``."""
    return {
        e["version"]
        for e in events
        if isinstance(e, dict)
        and e.get("event") == ev.REGISTERED
        and isinstance(e.get("version"), int)
        and not isinstance(e.get("version"), bool)
    }


def stage_changed_event(
    name: str,
    actor: Actor,
    now: str,
    version: int,
    to: str,
    previous: str | None,
    reason: str,
    gate: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``stage_changed`` event: a promotion, or the archiving it causes."""
    return ev.make_event(
        ev.STAGE_CHANGED,
        name,
        actor,
        now,
        version=version,
        to=to,
        **{"from": previous},
        reason=reason,
        **(gate or {}),
    )


def alias_set_event(
    name: str,
    actor: Actor,
    now: str,
    version: int,
    alias: str,
    previous: int | None,
    gate: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``alias_set`` event: register and promote point an alias the same way."""
    return ev.make_event(
        ev.ALIAS_SET, name, actor, now, version=version, alias=alias, previous=previous, **(gate or {})
    )


def new_model_state(name: str, now: str, version: int, alias: str | None) -> ModelState:
    """The state of a model whose first version is ``version``."""
    return ModelState(
        name=name, created=now, updated=now, revision=1, aliases={alias: version} if alias else {}
    )


# ---------------------------------------------------------------------- resolving


def missing_version(name: str, version: int, state: ModelState, live: list[int]) -> NotFoundError:
    deleted = " (it was deleted)" if version in state.deleted else ""
    return NotFoundError(
        f"model {name!r} has no version {version}{deleted}; versions: {compact_numbers(live)}"
    )


def pick_version(
    parsed: ModelUri,
    state: ModelState,
    live: Callable[[], list[int]],
    stages: StageSet = DEFAULT_STAGES,
) -> int:
    """The version number a parsed ``models:/`` URI names, by MLflow's rules.

    ``live`` lists the versions not deleted, ascending; it is only called when needed (a URI
    naming a version or an alias does not list the model's versions). A stage is one of the
    registry's ``stages`` (any case).

    Raises:
        NotFoundError: an unknown alias or stage, no version in the stage, or nothing left.
    """
    name = parsed.name
    if parsed.version is not None:
        return parsed.version
    if parsed.alias is not None:
        target = state.aliases.get(parsed.alias)
        if target is None:
            have = [f"{a} (v{v})" for a, v in sorted(state.aliases.items())]
            raise NotFoundError(f"model {name!r} has no alias {parsed.alias!r}; aliases: {listing(have)}")
        return target
    if parsed.latest:
        numbers = live()
        if not numbers:
            raise NotFoundError(f"model {name!r} has no versions left (all were deleted)")
        return numbers[-1]
    stage_text = parsed.stage or ""
    found = stages.find(stage_text)
    if found is None:
        raise NotFoundError(
            f"unknown stage {stage_text!r} in {parsed}; stages are {', '.join(stages.all)}",
            hint=f"for the newest version use models:/{name}/latest",
        )
    stage = found
    if stage != NO_STAGE:
        # The state lists every version outside None: no listing needed.
        holders = sorted(v for v, s in state.stages.items() if s == stage and v not in state.deleted)
        if holders:
            return holders[-1]
    numbers = live()
    holders = [v for v in numbers if state.stage_of(v) == stage]
    if not holders:
        used = sorted({state.stage_of(v) for v in numbers})
        in_use = ", ".join(
            f"{s} (v{compact_numbers([v for v in numbers if state.stage_of(v) == s])})" for s in used
        )
        raise NotFoundError(
            f"no version of model {name!r} is in stage {stage}; stages in use: {in_use or 'none'}"
        )
    return holders[-1]


# ---------------------------------------------------------------------- promote


@dataclass(frozen=True)
class StateChange:
    """A computed change to a model's state. ``new_state`` is None when nothing changes."""

    new_state: ModelState | None
    events: list[dict[str, Any]] = field(default_factory=list)
    previous_stage: str = NO_STAGE
    archived: list[int] = field(default_factory=list)
    moved_from: int | None = None


def forced_facts(checks: list[GateCheck]) -> dict[str, Any]:
    """What a stage or alias event records when ``force`` took a breaking version past the gate."""
    broken = [c for c in checks if c.breaking]
    if not broken:
        return {}
    return {"forced": True, "breaking": [f"v{c.against}: {m}" for c in broken for m in c.breaking]}


def plan_promote(
    name: str,
    version: int,
    state: ModelState,
    actor: Actor,
    now: str,
    *,
    stage: str | None,
    archive_existing: bool,
    alias: str | None,
    remove_alias: str | None = None,
    checks: list[GateCheck] | None = None,
    stages: StageSet = DEFAULT_STAGES,
) -> StateChange:
    """Move ``version`` to ``stage`` (a canonical name of ``stages``; the holders of an active
    stage move to the archive) and set or remove an alias.

    Raises:
        NotFoundError: ``remove_alias`` does not exist.
        ConflictError: ``remove_alias`` points at another version.
    """
    gate = forced_facts([c for c in checks or [] if not c.is_alias])
    alias_gate = forced_facts([c for c in checks or [] if c.is_alias])
    aliases = dict(state.aliases)
    new_events: list[dict[str, Any]] = []
    previous_stage = state.stage_of(version)
    archived: list[int] = []
    held = dict(state.stages)
    if stage is not None:
        if stage != NO_STAGE and previous_stage != stage:
            held[version] = stage
        elif stage == NO_STAGE:
            held.pop(version, None)
        if previous_stage != stage:
            new_events.append(
                stage_changed_event(name, actor, now, version, stage, previous_stage, "promoted", gate)
            )
        if archive_existing and stages.is_active(stage):
            for other, other_stage in sorted(state.stages.items()):
                if other != version and other_stage == stage and other not in state.deleted:
                    held[other] = stages.archive
                    archived.append(other)
                    reason = f"archived: v{version} promoted to {stage}"
                    new_events.append(
                        stage_changed_event(name, actor, now, other, stages.archive, other_stage, reason)
                    )
    moved_from: int | None = None
    if alias is not None and aliases.get(alias) != version:
        moved_from = aliases.get(alias)
        aliases[alias] = version
        new_events.append(alias_set_event(name, actor, now, version, alias, moved_from, alias_gate))
    if remove_alias is not None:
        current = aliases.get(remove_alias)
        if current is None:
            have = [f"{a} (v{v})" for a, v in sorted(aliases.items())]
            raise NotFoundError(f"model {name!r} has no alias {remove_alias!r}; aliases: {listing(have)}")
        if current != version:
            raise ConflictError(
                f"alias {remove_alias!r} of {name!r} points at v{current}, not v{version}",
                hint=f"to remove it run: modelpack promote {name} {current} --remove-alias {remove_alias}",
            )
        del aliases[remove_alias]
        new_events.append(
            ev.make_event(ev.ALIAS_REMOVED, name, actor, now, version=version, alias=remove_alias)
        )
    if not new_events:
        return StateChange(None, previous_stage=previous_stage)
    return StateChange(
        state.changed(updated=now, stages=held, aliases=aliases),
        new_events,
        previous_stage=previous_stage,
        archived=archived,
        moved_from=moved_from,
    )


def compatibility_gate(
    name: str,
    version: int,
    state: ModelState,
    mlmodel_of: Callable[[int], MLmodel],
    *,
    stage: str | None,
    alias: str | None,
    force: bool,
) -> list[GateCheck]:
    """Compare ``version`` with what callers of ``stage`` and of ``alias`` get now.

    A stage is compared with every version in it, an alias with the version it points at;
    one with nothing there yet passes with nothing to compare. A breaking change is refused
    unless ``force``. ``mlmodel_of`` reads a stored version's MLmodel (never its model file).
    """
    from modelpack.package.differ import load_signature
    from modelpack.schema.compat import BREAKING, Reads, compare_signatures

    targets: list[tuple[str, list[int]]] = []
    if stage is not None:
        holders = [v for v, s in sorted(state.stages.items()) if s == stage]
        if version not in holders:  # already there: nothing moves, nothing to compare
            targets.append((stage, holders))
    if alias is not None and state.aliases.get(alias) != version:
        current = state.aliases.get(alias)
        targets.append((f"alias {alias}", [] if current is None else [current]))

    facts: dict[int, tuple[Any, frozenset[str] | None]] = {}

    def facts_of(v: int) -> tuple[Any, frozenset[str] | None]:
        if v not in facts:
            mlmodel = mlmodel_of(v)
            facts[v] = (load_signature(mlmodel, f"{name} v{v}"), mlmodel.fitted_feature_names)
        return facts[v]

    checks: list[GateCheck] = []
    refused: list[dict[str, Any]] = []
    candidate, candidate_reads = facts_of(version)
    for target, holders in targets:
        if not holders:
            checks.append(GateCheck(target, None))
        for holder in holders:
            current, current_reads = facts_of(holder)
            broken = [
                c
                for c in compare_signatures(current, candidate, reads=Reads(current_reads, candidate_reads))
                if c.severity == BREAKING
            ]
            checks.append(GateCheck(target, holder, [c.message for c in broken], forced=bool(broken)))
            refused += [{"target": target, "against": holder, **c.to_dict()} for c in broken]
    if refused and not force:
        summary = "; ".join(f"{c['target']} (v{c['against']}): {c['message']}" for c in refused)
        raise IncompatibleSignatureError(
            f"{name} v{version} would break callers of {summary}",
            changes=refused,
            hint="fix the signature, or pass --force to promote anyway (the event log records it)",
        )
    return checks


def check_promote_args(
    name: str,
    stage: str | Stage | None,
    alias: str | None,
    remove_alias: str | None,
    stages: StageSet = DEFAULT_STAGES,
) -> str | None:
    """Validate ``promote``'s arguments; the target stage, canonical among ``stages``."""
    validate_name(name)
    target_stage = stages.parse(stage.value if isinstance(stage, Stage) else stage) if stage else None
    if alias is not None:
        validate_alias(alias)
    if remove_alias is not None:
        validate_alias(remove_alias)
    if target_stage is None and alias is None and remove_alias is None:
        raise UsageError("nothing to do: give a stage, an alias or an alias to remove")
    return target_stage


def refuse_damaged(name: str, version: int, report: IntegrityReport, where: object) -> None:
    """A version whose stored files fail their check is not promoted.

    Raises:
        InvalidModelError: the report found damage (exit 3).
    """
    if not report.ok:
        raise InvalidModelError(
            f"stored version {name} v{version} failed its integrity check: {report.describe()}",
            hint="run 'modelpack doctor' to see the damage; the version was not promoted",
            path=str(where),
        )


def gated_stage(stage: str | None, stages: StageSet = DEFAULT_STAGES) -> str | None:
    """The stage the compatibility gate protects: only the active stages (by default Staging
    and Production) have callers."""
    return stage if stages.is_active(stage) else None


# ---------------------------------------------------------------------- delete, tags, descriptions


def plan_delete(
    name: str,
    version: int,
    state: ModelState,
    actor: Actor,
    now: str,
    *,
    digest: str,
    force: bool,
    stages: StageSet = DEFAULT_STAGES,
) -> tuple[ModelState, dict[str, Any]]:
    """The state after deleting ``version`` and its ``deleted`` event.

    Raises:
        ConflictError: the version is in the protected stage (the last active one, Production
            by default) or has aliases and ``force`` is off.
    """
    stage = state.stage_of(version)
    aliases = state.aliases_of(version)
    protected = stage == stages.protected
    if not force and (protected or aliases):
        why = []
        if protected:
            why.append(f"is in {stage}")
        if aliases:
            why.append(f"has aliases {', '.join(aliases)}")
        raise ConflictError(
            f"{name} v{version} {' and '.join(why)}; not deleted",
            hint="promote another version first, or pass --force",
        )
    new_state = state.changed(
        updated=now,
        stages={v: s for v, s in state.stages.items() if v != version},
        aliases={a: v for a, v in state.aliases.items() if v != version},
        deleted={**state.deleted, version: now},
        tags={v: t for v, t in state.tags.items() if v != version},
        descriptions={v: d for v, d in state.descriptions.items() if v != version},
    )
    event = ev.make_event(
        ev.DELETED, name, actor, now, version=version, stage=stage, removed_aliases=aliases, digest=digest
    )
    return new_state, event


def check_tag_changes(name: str, tags: Mapping[str, str | None]) -> dict[str, str | None]:
    validate_name(name)
    changes = {str(k): None if v is None else validate_tag(str(k), str(v))[1] for k, v in tags.items()}
    for key in changes:
        validate_tag(key, "x")
    return changes


def plan_tags(
    name: str,
    version: int | None,
    state: ModelState,
    actor: Actor,
    now: str,
    before: dict[str, str],
    changes: dict[str, str | None],
    *,
    replace: bool,
) -> tuple[ModelState, dict[str, Any]] | None:
    """The state with ``version``'s tags (``None``: the model's own) changed and its ``tags_set``
    event; None if unchanged."""
    after = {} if replace else dict(before)
    for key, value in changes.items():
        if value is None:
            after.pop(key, None)
        else:
            after[key] = value
    if after == before:
        return None
    tags = dict(sorted(after.items()))
    if version is None:
        new_state = state.changed(updated=now, model_tags=tags)
    else:
        new_state = state.changed(updated=now, tags={**state.tags, version: tags})
    return new_state, ev.make_event(ev.TAGS_SET, name, actor, now, version=version, tags=tags)


def check_description(name: str, description: str | None) -> None:
    validate_name(name)
    if description is not None and len(description) > DESCRIPTION_MAX:
        raise UsageError(f"description is longer than {DESCRIPTION_MAX} characters")


def plan_description(
    name: str,
    version: int | None,
    state: ModelState,
    actor: Actor,
    now: str,
    description: str | None,
    current: str | None,
) -> tuple[ModelState, dict[str, Any]] | None:
    """The state with the model's (or a version's) description set; None if unchanged."""
    if current == description:
        return None
    if version is None:
        new_state = state.changed(updated=now, description=description)
    else:
        new_state = state.changed(updated=now, descriptions={**state.descriptions, version: description})
    event = ev.make_event(ev.DESCRIPTION_SET, name, actor, now, version=version, description=description)
    return new_state, event


# ---------------------------------------------------------------------- the registry's stages


def current_state(state: ModelState, stages: StageSet) -> ModelState:
    """``state`` as readers see it under the registry's ``stages``: names a redeclaration
    renamed are translated (a model ``set_stages`` has not rewritten yet), and the state is
    marked with the current generation, which every write then records.

    Raises:
        ConflictError: the model was written under a newer declaration than ``stages`` (the
            stages changed while this command ran).
    """
    if state.stages_generation > stages.generation:
        raise ConflictError(
            f"the registry's stages changed while this command ran (model {state.name!r} uses "
            f"generation {state.stages_generation}, this command read {stages.generation}); nothing was changed",
            hint="run the command again",
        )
    moved = stages.translate(state.stages, state.stages_generation)
    if not moved and state.stages_generation == stages.generation:
        return state
    held = dict(state.stages)
    for version, (_old, new) in moved.items():
        if new == NO_STAGE:
            del held[version]
        else:
            held[version] = new
    return replace(state, stages=held, stages_generation=stages.generation)


def undeclared_problem(state: ModelState, stages: StageSet) -> str | None:
    """Why a (translated) state is corrupt under ``stages``: a version in a stage the
    registry does not declare; None when every stage is declared."""
    bad = sorted({s for s in state.stages.values() if s not in stages.all})
    if not bad:
        return None
    return f"'stages' must name stages of this registry ({', '.join(stages.all)}), not {', '.join(map(repr, bad))}"


def plan_remap(
    name: str, state: ModelState, stages: StageSet, actor: Actor, now: str
) -> tuple[ModelState, list[dict[str, Any]]] | None:
    """Rewrite a stored model's stage names into the current declaration, one
    ``stage_changed`` event per version moved; None when the stored state is current."""
    if state.stages_generation >= stages.generation or not state.stages:
        # Current, or nothing to rename: the generation mark is written with the next change.
        return None
    moved = stages.translate(state.stages, state.stages_generation)
    current = current_state(state, stages)
    reason = f"stages redeclared (generation {stages.generation})"
    events = [
        stage_changed_event(name, actor, now, v, new, old, reason) for v, (old, new) in sorted(moved.items())
    ]
    return current.changed(updated=now), events


def used_stages(states: Iterable[ModelState]) -> dict[str, list[str]]:
    """Stage -> the versions in it (``name vN``), over live versions of every model."""
    used: dict[str, list[str]] = {}
    for state in states:
        for version, stage in sorted(state.stages.items()):
            if version not in state.deleted:
                used.setdefault(stage, []).append(f"{state.name} v{version}")
    return used


def plan_stages(
    current: StageSet,
    declared: StageSet,
    mapping: Mapping[str, str],
    used: Mapping[str, list[str]],
) -> StageSet | None:
    """The registry's next stage declaration; None when ``declared`` is what it has now.

    ``mapping`` sends a current stage (any case) to a declared one or ``None``; a current stage
    still declared (in any case) keeps its versions without being mapped. Every stage with
    versions in it must end up somewhere.

    Raises:
        InvalidNameError: a mapping from a stage the registry does not have, or to one not
            declared (exit 2).
        ConflictError: a stage with versions in it is neither declared any more nor mapped
            (exit 5); the message lists them and how to map them.
    """
    if (declared.names, declared.archive, declared.active) == (
        current.names,
        current.archive,
        current.active,
    ):
        return None  # also how a re-run finishes an interrupted one: the mapping is done
    renamed: dict[str, str] = {}
    for old_text, new_text in mapping.items():
        old = current.find(old_text)
        if old is None or old == NO_STAGE:
            raise InvalidNameError(
                f"--map from {old_text!r}: the registry has no such stage; stages are {', '.join(current.names)}"
            )
        new = declared.find(new_text)
        if new is None:
            raise InvalidNameError(
                f"--map {old}={new_text}: {new_text!r} is not among the new stages {', '.join(declared.all)}"
            )
        renamed[old] = new
    for old in current.names:
        if old not in renamed:
            kept = declared.find(old)
            if kept is not None:
                renamed[old] = kept
    unmapped = sorted(s for s in used if s not in renamed)
    if unmapped:
        where = "; ".join(f"{s}: {listing(used[s])}" for s in unmapped)
        raise ConflictError(
            (
                f"stage {unmapped[0]} holds versions and is not among the new stages"
                if len(unmapped) == 1
                else f"stages {', '.join(unmapped)} hold versions and are not among the new stages"
            )
            + f"; nothing changed ({where})",
            hint=f"map each one to one of {', '.join(declared.all)}: "
            + " ".join(f"--map {s}=NEW" for s in unmapped),
        )
    changed = {old: new for old, new in renamed.items() if old != new}
    return replace(
        declared,
        generation=current.generation + 1,
        renamed=dict(sorted(changed.items())),
        known=tuple(sorted({*current.known, *declared.names})),
    )


def moved_versions(states: Iterable[ModelState], stages: StageSet) -> list[str]:
    """What a redeclaration moves: ``name vN: Old -> New`` for each live version renamed."""
    return [
        f"{state.name} v{v}: {s} -> {stages.renamed[s]}"
        for state in states
        for v, s in sorted(state.stages.items())
        if s in stages.renamed and v not in state.deleted
    ]


def undeclared_stages(states: Iterable[ModelState], stages: StageSet) -> list[str]:
    """``name vN is in S``, for each live version in a stage the registry does not declare
    (a promotion that raced a redeclaration in a bucket; ``doctor`` reports these too)."""
    return [
        f"{state.name} v{v} is in stage {s!r}, which the registry does not declare "
        f"(stages: {', '.join(stages.all)}); promote it to one of them"
        for state in states
        for v, s in sorted(state.stages.items())
        if s not in stages.all and v not in state.deleted
    ]


# ---------------------------------------------------------------------- whole models


def refuse_removed(name: str, state: ModelState) -> None:
    """A deleted or renamed-away model takes no edits.

    Raises:
        NotFoundError: the model was deleted, or renamed (the message names the new name).
    """
    if state.renamed_to is not None:
        raise NotFoundError(
            f"model {name!r} was renamed to {state.renamed_to!r}",
            hint=f"use {state.renamed_to!r}; 'modelpack history {name}' shows the rename",
        )
    if state.renaming_from is not None:
        raise NotFoundError(
            f"model {name!r} is being renamed from {state.renaming_from!r} and is not there yet",
            hint=f"run 'modelpack rename {state.renaming_from} {name}' again or 'modelpack doctor --repair'",
        )
    if state.removed is not None:
        raise NotFoundError(
            f"model {name!r} was deleted ({state.removed})",
            hint=f"'modelpack history {name}' shows its history; registering it again continues its numbers",
        )


def refuse_renamed_register(name: str, state: ModelState | None) -> None:
    """Registering under a name renamed away is refused: it would land beside a tombstone.

    Raises:
        ConflictError: the name was renamed (exit 5), naming the new name.
    """
    if state is not None and state.renamed_to is not None:
        raise ConflictError(
            f"model {name!r} was renamed to {state.renamed_to!r}; not registered",
            hint=f"register under {state.renamed_to!r}",
        )
    if state is not None and state.renaming_from is not None:
        raise ConflictError(
            f"model {name!r} is being renamed from {state.renaming_from!r}; not registered",
            hint=f"register under {name!r} once 'modelpack rename {state.renaming_from} {name}' is done",
        )


def revived(state: ModelState, version: int) -> dict[str, Any]:
    """The ``changed`` keywords a register of ``version`` adds: a deleted model comes back."""
    return {"removed": None} if state.removed is not None and version not in state.deleted else {}


def plan_delete_model(
    name: str,
    live: list[int],
    digests: Mapping[int, str],
    state: ModelState,
    actor: Actor,
    now: str,
    *,
    force: bool,
    stages: StageSet = DEFAULT_STAGES,
) -> tuple[ModelState, dict[str, Any]]:
    """The state after deleting the whole model (every live version, stage and alias, its own
    description and tags) and its ``model_deleted`` event. The state stays as a tombstone (``removed``): the history remains,
    numbers are never reused.

    Raises:
        NotFoundError: the model was already deleted or renamed.
        ConflictError: a version is in the protected stage (Production by default) or has an
            alias and ``force`` is off.
    """
    refuse_removed(name, state)
    production = sorted(v for v, s in state.stages.items() if s == stages.protected and v in live)
    aliases = sorted(a for a, v in state.aliases.items() if v in live)
    if not force and (production or aliases):
        why = []
        if production:
            why.append(f"v{compact_numbers(production)} in {stages.protected}")
        if aliases:
            why.append(f"aliases {', '.join(aliases)}")
        raise ConflictError(
            f"model {name!r} has {' and '.join(why)}; not deleted",
            hint="promote or remove those first, or pass --force",
        )
    held = {v: s for v, s in state.stages.items() if v in live}
    new_state = state.changed(
        updated=now,
        stages={},
        aliases={a: v for a, v in state.aliases.items() if v not in live},
        deleted={**state.deleted, **dict.fromkeys(live, now)},
        tags={v: t for v, t in state.tags.items() if v not in live},
        descriptions={v: d for v, d in state.descriptions.items() if v not in live},
        description=None,
        model_tags={},
        removed=now,
    )
    event = ev.make_event(
        ev.MODEL_DELETED,
        name,
        actor,
        now,
        version=None,
        versions=list(live),
        digests={str(v): digests[v] for v in live},
        stages={str(v): s for v, s in sorted(held.items())},
        removed_aliases=aliases,
    )
    return new_state, event


def check_rename_args(old: str, new: str) -> None:
    validate_name(old)
    validate_name(new)
    if old == new:
        raise UsageError(f"OLD and NEW are the same name ({old!r}); nothing to rename")


def name_taken(new: str, state: ModelState) -> ConflictError:
    why = (
        f"is being created by a rename of {state.renaming_from!r}"
        if state.renaming_from is not None
        else "was deleted (its history and numbers stay with the name)"
        if state.removed is not None and state.renamed_to is None
        else "was renamed away (its history stays with the name)"
        if state.renamed_to is not None
        else "exists"
    )
    return ConflictError(f"model {new!r} {why}; not renamed", hint="choose another name")


def renamed_event(name: str, actor: Actor, now: str, old: str, new: str) -> dict[str, Any]:
    """The ``renamed`` event, in the log of ``name`` (OLD's and NEW's both record one)."""
    return ev.make_event(ev.RENAMED, name, actor, now, version=None, **{"from": old, "to": new})
