"""Signature classes: MLflow's JSON shapes, validation rules, file loaders, round trips."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelpack.errors import InputFileError, NotFoundError
from modelpack.schema.signature import (
    SCALAR_TYPES,
    ColSpec,
    ParamSchema,
    ParamSpec,
    Schema,
    Signature,
    SignatureError,
    TensorSpec,
    load_schema_file,
    load_signature_file,
    schema_rows,
    type_text,
)

# The exact strings MLflow 3.x writes (FORMAT.md section 1.1 and 3.1).
MLFLOW_INPUTS = (
    '[{"type": "long", "name": "a", "required": true}, {"type": "double", "name": "b", "required": true}]'
)
MLFLOW_OUTPUTS = '[{"type": "long", "required": true}]'


def test_colspec_json_matches_mlflow_text_exactly():
    schema = Schema([ColSpec("long", "a"), ColSpec("double", "b")])
    assert schema.to_json() == MLFLOW_INPUTS
    assert Schema([ColSpec("long")]).to_json() == MLFLOW_OUTPUTS
    assert Schema.from_json(MLFLOW_INPUTS) == schema


def test_signature_mlmodel_form_has_json_strings_and_null_params():
    sig = Signature(Schema.from_json(MLFLOW_INPUTS), Schema.from_json(MLFLOW_OUTPUTS))
    assert sig.to_mlmodel() == {"inputs": MLFLOW_INPUTS, "outputs": MLFLOW_OUTPUTS, "params": None}
    assert Signature.from_mlmodel(sig.to_mlmodel()) == sig
    assert sig.to_dict()["outputs"] == [{"type": "long", "required": True}]


def test_complex_types_key_order_and_sorted_properties():
    obj = {
        "type": "object",
        "properties": {
            "b": {"type": "long"},
            "a": {"type": "array", "items": {"type": "string"}, "required": False},
        },
    }
    schema = Schema(
        [
            ColSpec(obj, "o"),
            ColSpec({"type": "map", "values": {"type": "double"}}, "m", required=False),
            ColSpec("any", "z"),
        ]
    )
    # Text produced by mlflow.types.schema for the same schema.
    assert schema.to_json() == (
        '[{"type": "object", "properties": {"a": {"type": "array", "items": {"type": "string"}, '
        '"required": false}, "b": {"type": "long", "required": true}}, "name": "o", "required": true}, '
        '{"type": "map", "values": {"type": "double"}, "name": "m", "required": false}, '
        '{"type": "any", "name": "z", "required": true}]'
    )
    assert type_text(schema.specs[0].type) == "object{a?: array<string>, b: long}"


def test_tensor_spec_json_and_dtype_aliases():
    spec = TensorSpec("float32", (-1, 3), "x")
    assert Schema([spec]).to_json() == (
        '[{"name": "x", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}}]'
    )
    assert TensorSpec("float", [-1]) == TensorSpec("float64", (-1,))
    assert TensorSpec("datetime64[ns]", (-1,)).dtype == "datetime64[ns]"
    with pytest.raises(SignatureError, match="sized string"):
        TensorSpec("<U3", (-1,))
    with pytest.raises(SignatureError, match="unknown tensor dtype"):
        TensorSpec("floaty", (-1,))
    with pytest.raises(SignatureError, match="shape"):
        TensorSpec("int64", (-2,))


def test_param_spec_json_matches_mlflow():
    params = ParamSchema(
        [
            ParamSpec("a", "double", 1),
            ParamSpec("when", "datetime", dt.datetime(2024, 1, 2, 3, 4, 5)),
            ParamSpec("ks", "long", [1, 2], (-1,)),
            ParamSpec("o", {"type": "object", "properties": {"k": {"type": "long"}}}, {"k": 1}),
        ]
    )
    assert params.to_json() == (
        '[{"name": "a", "default": 1.0, "shape": null, "type": "double"}, '
        '{"name": "when", "default": "2024-01-02T03:04:05", "shape": null, "type": "datetime"}, '
        '{"name": "ks", "default": [1, 2], "shape": [-1], "type": "long"}, '
        '{"name": "o", "default": {"k": 1}, "shape": null, "type": "object", '
        '"properties": {"k": {"type": "long", "required": true}}}]'
    )
    assert ParamSchema.from_json(params.to_json()) == params


def test_param_spec_accepts_legacy_dtype_key_and_rejects_bad_defaults():
    legacy = ParamSchema.from_json('[{"name": "t", "dtype": "float", "default": 0.5, "shape": null}]')
    assert legacy.params[0] == ParamSpec("t", "float", 0.5)
    with pytest.raises(SignatureError, match="binary"):
        ParamSpec("b", "binary", b"x")
    with pytest.raises(SignatureError, match="does not match"):
        ParamSpec("n", "long", "seven")
    with pytest.raises(SignatureError, match="duplicate params"):
        ParamSchema([ParamSpec("n", "long", 1), ParamSpec("n", "long", 2)])


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ([], "at least one"),
        ([ColSpec("long", "a"), ColSpec("long")], "mix named and unnamed"),
        ([ColSpec("long", "a"), TensorSpec("int64", (-1,), "t")], "mix columns"),
        ([TensorSpec("int64", (-1,)), TensorSpec("int64", (-1,))], "mix named|name each"),
        ([ColSpec("long", required=False)], "unnamed columns cannot be optional"),
        ([ColSpec("long", "a"), ColSpec("double", "a")], "duplicate column names"),
    ],
)
def test_schema_rules(specs, message):
    with pytest.raises(SignatureError, match=message):
        Schema(specs)


def test_unknown_type_is_named():
    with pytest.raises(SignatureError, match="unknown type 'int64'"):
        Schema.from_json('[{"type": "int64", "name": "a"}]')
    with pytest.raises(SignatureError, match="object type needs a non-empty"):
        ColSpec({"type": "object", "properties": {}}, "o")


def test_missing_required_defaults_like_mlflow():
    schema = Schema.from_json(
        '[{"type": "long", "name": "a"}, {"type": "array", "items": {"type": "long"}, "name": "b"}]'
    )
    assert schema.specs[0].required is True
    # MLflow reads a complex ColSpec without 'required' as None, which it treats as optional.
    assert schema.specs[1].required is False


def test_names_and_rows():
    schema = Schema([ColSpec("long", "a"), ColSpec("string", "b", required=False)])
    assert schema.input_names() == ["a", "b"]
    assert schema.required_names() == ["a"]
    assert schema.optional_names() == ["b"]
    assert schema.has_names() and not schema.is_tensor_spec()
    assert schema_rows(schema) == [("a", "long", True), ("b", "string", False)]
    unnamed = Schema([ColSpec("double"), ColSpec("double")])
    assert unnamed.input_names() == [0, 1]
    assert schema_rows(unnamed)[1] == ("[1]", "double", True)
    assert schema_rows(Schema([TensorSpec("float64", (-1, 4))])) == [("[0]", "tensor float64 [-1, 4]", True)]


def test_integer_column_names_stay_integers():
    schema = Schema([ColSpec("double", 0), ColSpec("double", 1)])
    assert (
        schema.to_json()
        == '[{"type": "double", "name": 0, "required": true}, {"type": "double", "name": 1, "required": true}]'
    )
    assert Schema.from_json(schema.to_json()) == schema


def test_specs_are_frozen_and_hashable():
    spec = ColSpec({"type": "array", "items": {"type": "long"}}, "a")
    with pytest.raises(AttributeError):
        spec.name = "b"  # type: ignore[misc]
    assert len({spec, ColSpec({"type": "array", "items": "long"}, "a")}) == 1
    assert hash(Signature(Schema([spec]), None, ParamSchema([ParamSpec("p", "long", [1], (-1,))])))


def test_signature_needs_a_part():
    with pytest.raises(SignatureError, match="needs inputs"):
        Signature(None, None)


def test_load_signature_file_both_forms(tmp_path: Path):
    sig = Signature(Schema.from_json(MLFLOW_INPUTS), Schema.from_json(MLFLOW_OUTPUTS))
    mlmodel_form = tmp_path / "mlmodel.json"
    mlmodel_form.write_text(json.dumps(sig.to_mlmodel()))
    plain_form = tmp_path / "plain.json"
    plain_form.write_text(json.dumps(sig.to_dict()))
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"signature": sig.to_mlmodel()}))
    assert load_signature_file(mlmodel_form) == sig
    assert load_signature_file(plain_form) == sig
    assert load_signature_file(wrapped) == sig


def test_load_signature_file_errors(tmp_path: Path):
    with pytest.raises(NotFoundError):
        load_signature_file(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputFileError, match="bad.json is not valid JSON"):
        load_signature_file(bad)
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"inputs": [{"type": "nope", "name": "a"}]}')
    with pytest.raises(SignatureError, match=r"wrong.json: inputs\[0\]: unknown type 'nope'"):
        load_signature_file(wrong)
    listy = tmp_path / "list.json"
    listy.write_text(MLFLOW_INPUTS)
    with pytest.raises(SignatureError, match="expected an object with 'inputs'") as info:
        load_signature_file(listy)
    assert "--input-schema" in (info.value.hint or "")


def test_load_schema_file(tmp_path: Path):
    path = tmp_path / "in.json"
    path.write_text(MLFLOW_INPUTS)
    assert load_schema_file(path) == Schema.from_json(MLFLOW_INPUTS)
    path.write_text(json.dumps(MLFLOW_INPUTS))  # a JSON string holding the list, as in MLmodel
    assert load_schema_file(path).input_names() == ["a", "b"]
    path.write_text('{"inputs": []}')
    with pytest.raises(SignatureError, match="expected a list"):
        load_schema_file(path)


# ------------------------------------------------------------------ property tests: round trips

_names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8)


def _types(depth: int = 2) -> st.SearchStrategy[object]:
    leaf = st.sampled_from([*SCALAR_TYPES, "any"])
    if depth == 0:
        return leaf
    inner = _types(depth - 1)
    return st.one_of(
        leaf,
        inner.map(lambda t: {"type": "array", "items": t}),
        inner.map(lambda t: {"type": "map", "values": t}),
        st.dictionaries(_names, st.tuples(inner, st.booleans()), min_size=1, max_size=3).map(
            lambda props: {
                "type": "object",
                "properties": {
                    k: {**({"type": t} if isinstance(t, str) else t), "required": r}
                    for k, (t, r) in props.items()
                },
            }
        ),
    )


@st.composite
def _col_schemas(draw: st.DrawFn) -> Schema:
    n = draw(st.integers(1, 5))
    named = draw(st.booleans())
    if named:
        names = draw(st.lists(st.one_of(_names, st.integers(0, 50)), min_size=n, max_size=n, unique=True))
        return Schema([ColSpec(draw(_types()), name, draw(st.booleans())) for name in names])
    return Schema([ColSpec(draw(_types())) for _ in range(n)])


@st.composite
def _tensor_schemas(draw: st.DrawFn) -> Schema:
    dtypes = st.sampled_from(
        ["float64", "float32", "int64", "int32", "uint8", "bool", "str", "bytes", "object"]
    )
    shapes = st.lists(st.integers(-1, 8), min_size=1, max_size=4).map(tuple)
    if draw(st.booleans()):
        return Schema([TensorSpec(draw(dtypes), draw(shapes))])
    names = draw(st.lists(_names, min_size=1, max_size=3, unique=True))
    return Schema([TensorSpec(draw(dtypes), draw(shapes), name) for name in names])


_param_values = {
    "boolean": st.booleans(),
    "integer": st.integers(-(2**31), 2**31 - 1),
    "long": st.integers(-(2**63), 2**63 - 1),
    "float": st.floats(allow_nan=False, allow_infinity=False, width=32),
    "double": st.floats(allow_nan=False, allow_infinity=False),
    "string": st.text(max_size=10),
    "datetime": st.datetimes().map(lambda d: d.isoformat()),
}


@st.composite
def _param_schemas(draw: st.DrawFn) -> ParamSchema:
    names = draw(st.lists(_names, min_size=1, max_size=4, unique=True))
    specs = []
    for name in names:
        ptype = draw(st.sampled_from(sorted(_param_values)))
        if draw(st.booleans()):
            specs.append(ParamSpec(name, ptype, draw(_param_values[ptype])))
        else:
            specs.append(ParamSpec(name, ptype, draw(st.lists(_param_values[ptype], max_size=3)), (-1,)))
    return ParamSchema(specs)


@settings(max_examples=150, deadline=None)
@given(st.one_of(_col_schemas(), _tensor_schemas()))
def test_schema_round_trips_through_json(schema: Schema):
    text = schema.to_json()
    assert Schema.from_json(text) == schema
    assert Schema.from_list(json.loads(text)) == schema
    assert Schema.from_json(text).to_json() == text


@settings(max_examples=100, deadline=None)
@given(_param_schemas())
def test_param_schema_round_trips_through_json(params: ParamSchema):
    assert ParamSchema.from_json(params.to_json()) == params


@settings(max_examples=60, deadline=None)
@given(_col_schemas(), st.one_of(st.none(), _tensor_schemas()), st.one_of(st.none(), _param_schemas()))
def test_signature_round_trips_through_mlmodel_and_plain_forms(inputs, outputs, params):
    sig = Signature(inputs, outputs, params)
    assert Signature.from_mlmodel(sig.to_mlmodel()) == sig
    assert Signature.from_mlmodel(sig.to_dict()) == sig
    assert json.loads(json.dumps(sig.to_dict())) == sig.to_dict()
