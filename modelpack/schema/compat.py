"""Signature compatibility: would callers of version A break when they call version B?

Rules, from the point of view of a caller who sends what A accepted and reads what A returned:

Inputs
- a new required input (a renamed input is a removed one plus a new one) is **breaking**;
- a new optional input is judged by what B does without it, since callers of A do not send it:
  **breaking** when B reads it (its fitted feature names name it: scikit-learn refuses a frame
  without a column it was fitted on, NaN-tolerant or not), **compatible** when B is known not to
  read it, and **breaking** when nothing says which (a folder without recorded fitted feature
  names), because optional in a signature only means the sample had gaps;
- an input optional in both that A is known not to read and B may read is **breaking** the same way;
- a removed input is **compatible with a warning**: the column callers still send is ignored;
- an input that becomes required is **breaking**; one that becomes optional is compatible;
- a type change is compatible when B's type accepts everything A's did (widening along
  integer -> long -> double, float -> double), else **breaking**.

Outputs
- a removed or retyped output is **breaking**; a new output is compatible.

Tensors compare dtype exactly and shape dim by dim (-1 in B accepts any size A allowed).
Params: a new param is compatible (it has a default), a removed one warns, a retyped one breaks.
Stdlib only, so ``diff`` and ``promote --require-compatible`` stay fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from modelpack.schema.signature import ColSpec, ParamSchema, Schema, Signature, TensorSpec, type_text

BREAKING: Final = "breaking"
COMPATIBLE: Final = "compatible"
WARNING: Final = "warning"

# What data of each type a schema type accepts, by widening. A type accepts itself and the
# types listed.
_WIDENS_FROM: Final = {
    "long": {"integer"},
    "double": {"integer", "long", "float"},
}


@dataclass(frozen=True)
class Change:
    """One classified difference between two signatures."""

    side: str  # inputs | outputs | params | signature
    column: str | None
    kind: str  # added | removed | type_changed | required_changed | shape_changed | ...
    severity: str  # breaking | compatible | warning
    before: str | None
    after: str | None
    message: str
    # What decided the verdict when the signatures alone could not (e.g. "fitted feature names").
    rule: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "side": self.side,
            "column": self.column,
            "kind": self.kind,
            "severity": self.severity,
            "before": self.before,
            "after": self.after,
            "message": self.message,
            "rule": self.rule,
        }


def accepts(new_type: Any, old_type: Any) -> bool:
    """True when a column of ``new_type`` accepts every value a column of ``old_type`` did."""
    if new_type == old_type or new_type == "any":
        return True
    if isinstance(new_type, str) and isinstance(old_type, str):
        return old_type in _WIDENS_FROM.get(new_type, set())
    if (
        isinstance(new_type, dict)
        and isinstance(old_type, dict)
        and new_type.get("type") == old_type.get("type")
    ):
        kind = new_type["type"]
        if kind == "array":
            return accepts(_unwrap(new_type["items"]), _unwrap(old_type["items"]))
        if kind == "map":
            return accepts(_unwrap(new_type["values"]), _unwrap(old_type["values"]))
    return False


def _unwrap(nested: Any) -> Any:
    if (
        isinstance(nested, dict)
        and set(nested) <= {"type", "required"}
        and isinstance(nested.get("type"), str)
    ):
        return nested["type"]
    return nested


def _label(name: str | int | None, index: int) -> str:
    return str(name) if name is not None else f"#{index}"


def _keyed(schema: Schema) -> dict[str, Any]:
    return {_label(spec.name, i): spec for i, spec in enumerate(schema)}


def _spec_text(spec: Any) -> str:
    if isinstance(spec, TensorSpec):
        return spec.type_text
    return type_text(spec.type) + ("" if spec.required else " (optional)")


# The rules that decide an optional input, named in each verdict they decide.
RULE_FITTED_NAMES: Final = "fitted feature names"
RULE_NOT_RECORDED: Final = "no fitted feature names recorded"


@dataclass(frozen=True)
class Reads:
    """The input columns each version is known to read (its fitted feature names), None when
    unknown: they decide what an optional input means."""

    old: frozenset[str] | None = None
    new: frozenset[str] | None = None

    @property
    def rule(self) -> str:
        """The rule behind a verdict on an optional input: B's fitted names, or their absence."""
        return RULE_NOT_RECORDED if self.new is None else RULE_FITTED_NAMES


#: Neither version's reads are known.
UNKNOWN_READS: Final = Reads()


def _added(
    side: str, name: str | None, severity: str, after: str, message: str, rule: str | None = None
) -> Change:
    return Change(side, name, "added", severity, None, after, message, rule)


def _removed(side: str, name: str | None, severity: str, before: str, message: str) -> Change:
    return Change(side, name, "removed", severity, before, None, message)


def compare_signatures(
    old: Signature | None, new: Signature | None, *, reads: Reads = UNKNOWN_READS
) -> list[Change]:
    """Classify every difference between signature ``old`` (A) and ``new`` (B); ``reads`` says which
    input columns each version is known to read."""
    if old is None and new is None:
        return []
    if old is None:
        return [_added("signature", None, WARNING, "signature", "A had no signature: cannot verify")]
    if new is None:
        return [_removed("signature", None, WARNING, "signature", "B has no signature: inputs unchecked")]
    changes = compare_inputs(old.inputs, new.inputs, reads=reads)
    changes += compare_outputs(old.outputs, new.outputs)
    changes += compare_params(old.params, new.params)
    return changes


def _schema_kind_change(side: str, old: Schema | None, new: Schema | None) -> list[Change] | None:
    """Changes when one side lacks a schema or the schemas are of different kinds, else None."""
    if old is None and new is None:
        return []
    if old is None or new is None:
        severity = WARNING if new is None or side == "outputs" else BREAKING
        return [
            Change(
                side,
                None,
                "added" if old is None else "removed",
                severity,
                None if old is None else "schema",
                None if new is None else "schema",
                f"{side} schema {'added' if old is None else 'removed'}",
            )
        ]
    if old.is_tensor_spec() != new.is_tensor_spec():
        return [
            Change(
                side,
                None,
                "kind_changed",
                BREAKING,
                "tensor" if old.is_tensor_spec() else "columns",
                "tensor" if new.is_tensor_spec() else "columns",
                f"{side} switched between column and tensor schemas",
            )
        ]
    return None


def _compare_schemas(
    side: str,
    old: Schema | None,
    new: Schema | None,
    by_name: Callable[[dict[str, Any], dict[str, Any]], list[Change]],
) -> list[Change]:
    """The changes of one side: its presence and kind, else ``by_name`` on its specs keyed by name."""
    early = _schema_kind_change(side, old, new)
    if early is not None:
        return early
    assert old is not None and new is not None
    return by_name(_keyed(old), _keyed(new))


def compare_inputs(old: Schema | None, new: Schema | None, *, reads: Reads = UNKNOWN_READS) -> list[Change]:
    return _compare_schemas("inputs", old, new, lambda before, after: _input_changes(before, after, reads))


def _input_changes(before: dict[str, Any], after: dict[str, Any], reads: Reads) -> list[Change]:
    changes: list[Change] = []
    for name, spec in after.items():
        if name in before:
            continue
        if spec.required:
            changes.append(_added("inputs", name, BREAKING, _spec_text(spec), f"new required input {name}"))
        else:
            changes.append(_new_optional_input(name, spec, reads))
    for name, spec in before.items():
        if name not in after:
            message = f"input {name} removed: callers still sending it will have it ignored"
            changes.append(_removed("inputs", name, WARNING, _spec_text(spec), message))
            continue
        changes += _compare_common("inputs", name, spec, after[name])
        read_change = _newly_read(name, spec, after[name], reads)
        if read_change is not None:
            changes.append(read_change)
    return changes


def _new_optional_input(name: str, spec: ColSpec, reads: Reads) -> Change:
    """Callers of A do not send a column A did not have: what does B do without it?"""
    if reads.new is None:
        severity = BREAKING
        verdict = "the model may read it, and fail for callers that do not send it"
    elif name in reads.new:
        severity = BREAKING
        verdict = "the model reads it, so callers that do not send it fail"
    else:
        severity = COMPATIBLE
        verdict = "the model does not read it"
    message = f"new optional input {name}: {verdict} ({reads.rule})"
    return _added("inputs", name, severity, _spec_text(spec), message, reads.rule)


def _newly_read(name: str, a: Any, b: Any, reads: Reads) -> Change | None:
    """An input optional in both that A was known to ignore: callers may leave it out, can B?"""
    if not isinstance(a, ColSpec) or not isinstance(b, ColSpec) or a.required or b.required:
        return None
    if reads.old is None or name in reads.old:
        return None
    if reads.new is not None and name not in reads.new:
        return None
    known = reads.new is not None
    verdict = "the new version reads it" if known else "the new version may read it"
    return Change(
        "inputs",
        name,
        "read_changed",
        BREAKING,
        "not read",
        "read" if known else "unknown",
        f"optional input {name}: the old version did not read it, {verdict}, so callers that leave "
        f"it out {'fail' if known else 'may fail'} ({reads.rule})",
        reads.rule,
    )


def _compare_common(side: str, name: str, a: Any, b: Any) -> list[Change]:
    out: list[Change] = []
    if isinstance(a, TensorSpec) and isinstance(b, TensorSpec):
        if a.dtype != b.dtype:
            out.append(
                Change(
                    side,
                    name,
                    "type_changed",
                    BREAKING,
                    a.dtype,
                    b.dtype,
                    f"{name}: dtype {a.dtype} -> {b.dtype}",
                )
            )
        if a.shape != b.shape:
            ok = side == "inputs" and _shape_accepts(tuple(b.shape), tuple(a.shape))
            out.append(
                Change(
                    side,
                    name,
                    "shape_changed",
                    COMPATIBLE if ok else BREAKING,
                    str(list(a.shape)),
                    str(list(b.shape)),
                    f"{name}: shape {list(a.shape)} -> {list(b.shape)}",
                )
            )
        return out
    assert isinstance(a, ColSpec) and isinstance(b, ColSpec)
    if a.type != b.type:
        if side == "inputs":
            ok = accepts(b.type, a.type)
            message = f"{name}: {type_text(a.type)} -> {type_text(b.type)} " + (
                "accepts everything it did" if ok else "accepts less than before"
            )
        else:
            ok = False
            message = f"output {name} retyped: {type_text(a.type)} -> {type_text(b.type)}"
        out.append(
            Change(
                side,
                name,
                "type_changed",
                COMPATIBLE if ok else BREAKING,
                type_text(a.type),
                type_text(b.type),
                message,
            )
        )
    if a.required != b.required and side == "inputs":
        becomes_required = b.required
        out.append(
            Change(
                side,
                name,
                "required_changed",
                BREAKING if becomes_required else COMPATIBLE,
                "required" if a.required else "optional",
                "required" if b.required else "optional",
                f"input {name} becomes {'required' if becomes_required else 'optional'}",
            )
        )
    if a.required != b.required and side == "outputs":
        out.append(
            Change(
                side,
                name,
                "required_changed",
                COMPATIBLE if b.required else WARNING,
                "required" if a.required else "optional",
                "required" if b.required else "optional",
                f"output {name} may {'no longer ' if b.required else ''}be missing",
            )
        )
    return out


def _shape_accepts(new: tuple[int, ...], old: tuple[int, ...]) -> bool:
    return len(new) == len(old) and all(n == -1 or n == o for n, o in zip(new, old, strict=True))


def compare_outputs(old: Schema | None, new: Schema | None) -> list[Change]:
    return _compare_schemas("outputs", old, new, _output_changes)


def _output_changes(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    changes: list[Change] = []
    for name, spec in before.items():
        if name not in after:
            changes.append(_removed("outputs", name, BREAKING, _spec_text(spec), f"output {name} removed"))
        else:
            changes += _compare_common("outputs", name, spec, after[name])
    for name, spec in after.items():
        if name not in before:
            changes.append(_added("outputs", name, COMPATIBLE, _spec_text(spec), f"new output {name}"))
    return changes


def compare_params(old: ParamSchema | None, new: ParamSchema | None) -> list[Change]:
    before = {p.name: p for p in (old or [])}
    after = {p.name: p for p in (new or [])}
    changes: list[Change] = []
    for name, p in after.items():
        if name not in before:
            changes.append(
                _added("params", name, COMPATIBLE, type_text(p.type), f"new param {name} (has a default)")
            )
        elif before[name].type != p.type or before[name].shape != p.shape:
            changes.append(
                Change(
                    "params",
                    name,
                    "type_changed",
                    BREAKING,
                    type_text(before[name].type),
                    type_text(p.type),
                    f"param {name} retyped",
                )
            )
    for name, p in before.items():
        if name not in after:
            changes.append(
                _removed("params", name, WARNING, type_text(p.type), f"param {name} removed: ignored")
            )
    return changes


def is_breaking(changes: list[Change]) -> bool:
    return any(c.severity == BREAKING for c in changes)
