"""``set``: edit a version's or a model's description and tags after the fact, on either store.

Each part is one change of the store (``set_tags``, ``set_description``), committed under the
model's lock or by compare-and-swap like every other change, so concurrent edits never lose
one another; each records its own event. What is already so changes nothing and records nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from modelpack.registry.changes import check_description, check_tag_changes
from modelpack.registry.records import ModelState, SetResult, VersionRecord

if TYPE_CHECKING:
    from modelpack.registry import AnyRegistry


def apply_set(
    store: AnyRegistry,
    name: str,
    version: int | None,
    *,
    description: str | None = None,
    clear_description: bool = False,
    tags: Mapping[str, str] | None = None,
    remove_tags: Sequence[str] = (),
) -> SetResult:
    """Set the description (``clear_description``: remove it) and set or remove tags.

    Raises:
        InvalidNameError, UsageError: a bad name, tag or description (exit 2), before any change.
        NotFoundError: no such model or version, or it was deleted or renamed (exit 4).
    """
    changes: dict[str, str | None] = {**dict(tags or {}), **dict.fromkeys(remove_tags)}
    check_tag_changes(name, changes)
    check_description(name, description)
    events: list[str] = []
    current_tags: dict[str, str]
    current_description: str | None
    if version is None:
        state = store.state(name)
        current_tags, current_description = dict(state.model_tags), state.description
    else:
        record = store.get_version(name, version)
        current_tags = dict(record.facts.get("tags") or {})
        current_description = record.facts.get("description")
    if changes:
        after = store.set_tags(name, version, changes)
        new_tags = dict(after.model_tags if isinstance(after, ModelState) else after.facts.get("tags") or {})
        if new_tags != current_tags:
            events.append("tags_set")
        current_tags = new_tags
    if description is not None or clear_description:
        wanted = None if clear_description else description
        before = current_description
        state = store.set_description(name, wanted, version=version)
        current_description = (
            state.description if version is None else _version_description(store, name, version, state)
        )
        if current_description != before:
            events.append("description_set")
    return SetResult(
        name=name,
        version=version,
        description=current_description,
        tags=dict(sorted(current_tags.items())),
        changed=bool(events),
        events=events,
    )


def _version_description(store: AnyRegistry, name: str, version: int, state: ModelState) -> str | None:
    if version in state.descriptions:
        return state.descriptions[version]
    record: VersionRecord = store.get_version(name, version)
    value = record.facts.get("description")
    return None if value is None else str(value)
