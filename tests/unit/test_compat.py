"""Signature compatibility rules, as a table of crafted pairs checked in both directions."""

from __future__ import annotations

import pytest

from modelpack.schema.compat import (
    BREAKING,
    COMPATIBLE,
    RULE_FITTED_NAMES,
    RULE_NOT_RECORDED,
    WARNING,
    Reads,
    compare_signatures,
    is_breaking,
)
from modelpack.schema.signature import ColSpec, ParamSchema, ParamSpec, Schema, Signature, TensorSpec


def cols(*specs: tuple[str, str] | tuple[str, str, bool]) -> Schema:
    return Schema([ColSpec(s[1], s[0], s[2] if len(s) > 2 else True) for s in specs])  # type: ignore[misc]


OUT = cols(("label", "long"))


def sig(inputs: Schema, outputs: Schema = OUT, params: ParamSchema | None = None) -> Signature:
    return Signature(inputs=inputs, outputs=outputs, params=params)


# (case, A, B, expected severities A->B, expected severities B->A)
CASES = [
    ("same", sig(cols(("a", "long"))), sig(cols(("a", "long"))), [], []),
    (
        "new required input / removed input",
        sig(cols(("a", "long"))),
        sig(cols(("a", "long"), ("b", "double"))),
        [BREAKING],
        [WARNING],
    ),
    (
        # Nothing says whether B reads b (no fitted feature names): callers of A do not send it.
        "new optional input, reads unknown / removed optional input",
        sig(cols(("a", "long"))),
        sig(cols(("a", "long"), ("b", "double", False))),
        [BREAKING],
        [WARNING],
    ),
    (
        "renamed input is removed + new required",
        sig(cols(("a", "long"))),
        sig(cols(("a2", "long"))),
        [BREAKING, WARNING],
        [BREAKING, WARNING],
    ),
    (
        "integer -> long widens",
        sig(cols(("a", "integer"))),
        sig(cols(("a", "long"))),
        [COMPATIBLE],
        [BREAKING],
    ),
    ("long -> double widens", sig(cols(("a", "long"))), sig(cols(("a", "double"))), [COMPATIBLE], [BREAKING]),
    (
        "integer -> double widens",
        sig(cols(("a", "integer"))),
        sig(cols(("a", "double"))),
        [COMPATIBLE],
        [BREAKING],
    ),
    (
        "float -> double widens",
        sig(cols(("a", "float"))),
        sig(cols(("a", "double"))),
        [COMPATIBLE],
        [BREAKING],
    ),
    ("long <-> string", sig(cols(("a", "long"))), sig(cols(("a", "string"))), [BREAKING], [BREAKING]),
    ("boolean <-> long", sig(cols(("a", "boolean"))), sig(cols(("a", "long"))), [BREAKING], [BREAKING]),
    (
        "required -> optional relaxes",
        sig(cols(("a", "long"))),
        sig(cols(("a", "long", False))),
        [COMPATIBLE],
        [BREAKING],
    ),
    (
        "output removed / added",
        sig(cols(("a", "long")), cols(("label", "long"), ("score", "double"))),
        sig(cols(("a", "long")), cols(("label", "long"))),
        [BREAKING],
        [COMPATIBLE],
    ),
    (
        "output retyped either way",
        sig(cols(("a", "long")), cols(("label", "long"))),
        sig(cols(("a", "long")), cols(("label", "double"))),
        [BREAKING],
        [BREAKING],
    ),
    (
        "tensor dtype changed",
        sig(Schema([TensorSpec("float64", (-1, 3))])),
        sig(Schema([TensorSpec("float32", (-1, 3))])),
        [BREAKING],
        [BREAKING],
    ),
    (
        "tensor shape generalised",
        sig(Schema([TensorSpec("float64", (-1, 3))])),
        sig(Schema([TensorSpec("float64", (-1, -1))])),
        [COMPATIBLE],
        [BREAKING],
    ),
    (
        "columns <-> tensor",
        sig(cols(("a", "double"))),
        sig(Schema([TensorSpec("float64", (-1, 1))])),
        [BREAKING],
        [BREAKING],
    ),
    (
        "new param / removed param",
        sig(cols(("a", "long"))),
        sig(cols(("a", "long")), params=ParamSchema([ParamSpec("k", "long", 3)])),
        [COMPATIBLE],
        [WARNING],
    ),
    (
        "array item widening",
        sig(cols(("a", {"type": "array", "items": {"type": "long"}}))),
        sig(cols(("a", {"type": "array", "items": {"type": "double"}}))),
        [COMPATIBLE],
        [BREAKING],
    ),
]


@pytest.mark.parametrize(("case", "a", "b", "forward", "backward"), CASES, ids=[c[0] for c in CASES])
def test_rules_both_directions(
    case: str, a: Signature, b: Signature, forward: list[str], backward: list[str]
) -> None:
    assert sorted(c.severity for c in compare_signatures(a, b)) == sorted(forward)
    assert sorted(c.severity for c in compare_signatures(b, a)) == sorted(backward)
    assert is_breaking(compare_signatures(a, b)) == (BREAKING in forward)


def test_missing_signature_only_warns() -> None:
    a = sig(cols(("a", "long")))
    assert [c.severity for c in compare_signatures(None, a)] == [WARNING]
    assert [c.severity for c in compare_signatures(a, None)] == [WARNING]
    assert compare_signatures(None, None) == []


def test_messages_name_the_column() -> None:
    changes = compare_signatures(sig(cols(("a", "long"))), sig(cols(("a", "string"))))
    assert changes[0].column == "a"
    assert "accepts less" in changes[0].message


AB = frozenset({"a", "b"})
A_ONLY = frozenset({"a"})
OPT_B = sig(cols(("a", "long"), ("b", "double", False)))

# (case, A, B, columns A reads, columns B reads, expected (severity, rule) of A -> B)
READ_CASES = [
    (
        "new optional input B reads",
        sig(cols(("a", "long"))),
        OPT_B,
        A_ONLY,
        AB,
        [(BREAKING, RULE_FITTED_NAMES)],
    ),
    (
        "new optional input B does not read",
        sig(cols(("a", "long"))),
        OPT_B,
        A_ONLY,
        A_ONLY,
        [(COMPATIBLE, RULE_FITTED_NAMES)],
    ),
    (
        "new optional input, B records nothing",
        sig(cols(("a", "long"))),
        OPT_B,
        A_ONLY,
        None,
        [(BREAKING, RULE_NOT_RECORDED)],
    ),
    (
        "new required input, whatever B reads",
        sig(cols(("a", "long"))),
        sig(cols(("a", "long"), ("b", "double"))),
        A_ONLY,
        A_ONLY,
        [(BREAKING, None)],
    ),
    ("optional input A ignored, B reads", OPT_B, OPT_B, A_ONLY, AB, [(BREAKING, RULE_FITTED_NAMES)]),
    (
        "optional input A ignored, B records nothing",
        OPT_B,
        OPT_B,
        A_ONLY,
        None,
        [(BREAKING, RULE_NOT_RECORDED)],
    ),
    ("optional input both ignore", OPT_B, OPT_B, A_ONLY, A_ONLY, []),
    ("optional input both read", OPT_B, OPT_B, AB, AB, []),
    # Callers of A may already leave b out; whether A coped is unknown, so B changes nothing known.
    ("optional input A records nothing, B reads", OPT_B, OPT_B, None, AB, []),
    (
        "required input becomes optional, B reads it",
        sig(cols(("a", "long"), ("b", "double"))),
        OPT_B,
        AB,
        AB,
        [(COMPATIBLE, None)],
    ),
]


@pytest.mark.parametrize(
    ("case", "a", "b", "a_reads", "b_reads", "expected"), READ_CASES, ids=[c[0] for c in READ_CASES]
)
def test_optional_inputs_by_what_the_model_reads(
    case: str,
    a: Signature,
    b: Signature,
    a_reads: frozenset[str] | None,
    b_reads: frozenset[str] | None,
    expected: list[tuple[str, str | None]],
) -> None:
    changes = compare_signatures(a, b, reads=Reads(a_reads, b_reads))
    assert sorted(((c.severity, c.rule) for c in changes), key=str) == sorted(expected, key=str)
    for c in changes:
        if c.rule is not None:
            assert c.message.endswith(f"({c.rule})") and c.to_dict()["rule"] == c.rule


def test_verdict_says_whether_the_model_reads_the_column() -> None:
    [reads] = compare_signatures(sig(cols(("a", "long"))), OPT_B, reads=Reads(new=AB))
    assert "the model reads it" in reads.message and reads.column == "b"
    [ignores] = compare_signatures(sig(cols(("a", "long"))), OPT_B, reads=Reads(new=A_ONLY))
    assert "does not read it" in ignores.message
