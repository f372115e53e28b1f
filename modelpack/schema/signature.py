"""Model signatures: what a model takes (inputs, params) and what it returns (outputs).

The classes mirror MLflow's ``ColSpec``/``TensorSpec``/``Schema``/``ParamSpec``/``ModelSignature``
and encode to exactly the JSON MLflow writes into ``MLmodel``, so a signature moves between the two
tools unchanged. Stdlib only: numpy dtypes are carried as their names (``"float64"``).

Column types are kept in a canonical form so that equality is by value:

- scalar types and ``any`` / ``sparkml_vector`` are plain strings (``"long"``, ``"any"``);
- ``array``, ``object`` and ``map`` are dicts in MLflow's JSON shape, e.g.
  ``{"type": "array", "items": {"type": "long"}}``; nested types are always dicts, object
  properties are sorted by name and always carry ``required``.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeAlias

from modelpack import _json
from modelpack.errors import InputFileError, ModelpackError, NotFoundError

SCALAR_TYPES: Final = ("boolean", "integer", "long", "float", "double", "string", "binary", "datetime")
"""MLflow's ``DataType`` names, in MLflow's order."""

COMPLEX_TYPES: Final = ("array", "object", "map")
OPAQUE_TYPES: Final = ("any", "sparkml_vector")
TENSOR_TYPE: Final = "tensor"

# numpy dtype spellings MLflow would canonicalise through ``np.dtype(x).name``.
_DTYPE_ALIASES: Final = {
    "bool_": "bool",
    "?": "bool",
    "b1": "bool",
    "float": "float64",
    "double": "float64",
    "f8": "float64",
    "f4": "float32",
    "single": "float32",
    "half": "float16",
    "f2": "float16",
    "int": "int64",
    "long": "int64",
    "i8": "int64",
    "i4": "int32",
    "i2": "int16",
    "i1": "int8",
    "u8": "uint64",
    "u4": "uint32",
    "u2": "uint16",
    "u1": "uint8",
    "str_": "str",
    "unicode": "str",
    "U": "str",
    "<U": "str",
    "bytes_": "bytes",
    "S": "bytes",
    "O": "object",
    "object_": "object",
}
_DTYPES: Final = frozenset(
    {
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
        "longdouble",
        "float128",
        "complex64",
        "complex128",
        "str",
        "bytes",
        "object",
        "datetime64",
        "timedelta64",
    }
)

# MLflow refuses sized flexible dtypes such as '<U3' or 'str96': shapes carry the size, not dtypes.
_SIZED_FLEXIBLE: Final = re.compile(r"(?:str|bytes|[<>|=]?[USa])\d+")

TypeSpec: TypeAlias = "str | dict[str, Any]"
"""A column type: a scalar type name or an array/object/map dict (see the module docstring)."""


class SignatureError(ModelpackError):
    """A signature or schema is malformed (unknown type, mixed named/unnamed columns, bad JSON)."""

    code = "bad_signature"


# --------------------------------------------------------------------------------------------------
# column types


def _type_name(value: Any, where: str) -> str:
    if isinstance(value, Mapping):
        name = value.get("type")
        if not isinstance(name, str):
            raise SignatureError(f"{where}: missing 'type'")
        return name
    if isinstance(value, str):
        return value
    raise SignatureError(f"{where}: expected a type name or a type object, got {type(value).__name__}")


def _nested_type(value: Any, where: str) -> dict[str, Any]:
    """Canonical dict form of a type used inside array/object/map (always a dict)."""
    canon = canonical_type(value, where=where)
    return {"type": canon} if isinstance(canon, str) else canon


def _required_flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise SignatureError(f"{where}: 'required' must be true or false, got {value!r}")
    return value


def canonical_type(value: Any, *, where: str = "type") -> TypeSpec:
    """Validate a column type and bring it to the canonical form used for equality.

    Args:
        value: A type name (``"long"``) or an MLflow type dict (``{"type": "array", ...}``).
        where: Location used in error messages.

    Returns:
        A string for scalar/any/sparkml_vector types, a dict for array/object/map.

    Raises:
        SignatureError: If the type is unknown or malformed.
    """
    name = _type_name(value, where)
    if name in SCALAR_TYPES or name in OPAQUE_TYPES:
        return name
    if name not in COMPLEX_TYPES:
        allowed = ", ".join((*SCALAR_TYPES, *COMPLEX_TYPES, *OPAQUE_TYPES))
        raise SignatureError(f"{where}: unknown type {name!r} (expected one of {allowed})")
    if not isinstance(value, Mapping):
        raise SignatureError(f"{where}: type {name!r} needs its item/property/value types")
    if name == "array":
        if "items" not in value:
            raise SignatureError(f"{where}: array type needs 'items'")
        return {"type": "array", "items": _nested_type(value["items"], f"{where}.items")}
    if name == "map":
        if "values" not in value:
            raise SignatureError(f"{where}: map type needs 'values'")
        return {"type": "map", "values": _nested_type(value["values"], f"{where}.values")}
    props = value.get("properties")
    if not isinstance(props, Mapping) or not props:
        raise SignatureError(f"{where}: object type needs a non-empty 'properties' map")
    out: dict[str, Any] = {}
    for key in sorted(props):
        if not isinstance(key, str):
            raise SignatureError(f"{where}: property names must be strings, got {key!r}")
        prop = props[key]
        pwhere = f"{where}.properties.{key}"
        if not isinstance(prop, Mapping):
            raise SignatureError(f"{pwhere}: expected a type object")
        nested = _nested_type(prop, pwhere)
        nested["required"] = _required_flag(prop.get("required", True), pwhere)
        out[key] = nested
    return {"type": "object", "properties": out}


def type_text(value: TypeSpec) -> str:
    """Short human form of a column type: ``long``, ``array<double>``, ``object{a: long, b?: string}``."""
    if isinstance(value, str):
        return value
    name = value["type"]
    if name == "array":
        return f"array<{type_text(_unwrap(value['items']))}>"
    if name == "map":
        return f"map<string, {type_text(_unwrap(value['values']))}>"
    if name == "object":
        parts = [
            f"{key}{'' if prop.get('required', True) else '?'}: {type_text(_unwrap(prop))}"
            for key, prop in value["properties"].items()
        ]
        return "object{" + ", ".join(parts) + "}"
    return str(name)


def _unwrap(nested: Mapping[str, Any]) -> TypeSpec:
    name = nested["type"]
    if name in COMPLEX_TYPES:
        return {k: v for k, v in nested.items() if k != "required"}
    return str(name)


def _type_json(value: TypeSpec) -> dict[str, Any]:
    """The type part of a ColSpec/Property dict, key order as MLflow writes it."""
    if isinstance(value, str):
        return {"type": value}
    copied: dict[str, Any] = json.loads(json.dumps(value))  # deep copy; key order is already MLflow's
    return copied


def _freeze(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


# --------------------------------------------------------------------------------------------------
# specs


@dataclass(frozen=True)
class ColSpec:
    """One column of a column-based schema.

    Attributes:
        type: ``"long"`` etc., or an array/object/map type dict (canonicalised on creation).
        name: Column name (a string, or an int for integer-labelled DataFrame columns), or None.
        required: False when the column may be missing or hold missing values.
    """

    type: TypeSpec
    name: str | int | None = None
    required: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", canonical_type(self.type, where=f"column {self.name!r}"))
        if self.name is not None and (isinstance(self.name, bool) or not isinstance(self.name, (str, int))):
            raise SignatureError(f"column name must be a string or an integer, got {self.name!r}")
        if not isinstance(self.required, bool):
            raise SignatureError(f"column {self.name!r}: 'required' must be a bool")

    def __hash__(self) -> int:
        return hash((_freeze(self.type), self.name, self.required))

    def to_dict(self) -> dict[str, Any]:
        """MLflow's dict form: type (and items/properties/values), name if any, required."""
        out = _type_json(self.type)
        if self.name is not None:
            out["name"] = self.name
        out["required"] = self.required
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "column") -> ColSpec:
        """Read MLflow's dict form.

        A missing ``required`` means True for scalar types. For array/object/map/any MLflow reads
        it as None, which its enforcement treats as optional, so it becomes False here.
        """
        if "type" not in data:
            raise SignatureError(f"{where}: missing 'type'")
        name = data.get("name")
        spec_type = canonical_type(
            {k: v for k, v in data.items() if k not in ("name", "required")}, where=where
        )
        default_required = isinstance(spec_type, str) and spec_type in SCALAR_TYPES
        required = data.get("required", default_required)
        if required is None:
            required = False
        return cls(spec_type, name, _required_flag(required, where))

    @property
    def type_text(self) -> str:
        return type_text(self.type)


def _canonical_dtype(dtype: object) -> str:
    if not isinstance(dtype, str) or not dtype:
        raise SignatureError(f"tensor dtype must be a numpy dtype name, got {dtype!r}")
    name = _DTYPE_ALIASES.get(dtype, dtype)
    if _SIZED_FLEXIBLE.fullmatch(name):
        raise SignatureError(
            f"tensor dtype {dtype!r}: sized string dtypes are not allowed, use 'str' or 'bytes'"
        )
    if name.split("[", 1)[0] not in _DTYPES:
        raise SignatureError(f"unknown tensor dtype {dtype!r}")
    return name


@dataclass(frozen=True)
class TensorSpec:
    """One tensor of a tensor-based schema: numpy dtype name and shape (-1 = any size)."""

    dtype: str
    shape: Sequence[int]
    name: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", _canonical_dtype(self.dtype))
        if not isinstance(self.shape, (tuple, list)):
            raise SignatureError(f"tensor shape must be a list of ints, got {self.shape!r}")
        shape = tuple(self.shape)
        if any(isinstance(d, bool) or not isinstance(d, int) or d < -1 for d in shape):
            raise SignatureError(f"tensor shape must hold ints >= -1, got {list(shape)}")
        object.__setattr__(self, "shape", shape)

    @property
    def required(self) -> bool:
        """Tensors are always required (as in MLflow)."""
        return True

    @property
    def type_text(self) -> str:
        return f"tensor {self.dtype} {list(self.shape)}"

    def to_dict(self) -> dict[str, Any]:
        """MLflow's dict form: name first when present, then type and tensor-spec."""
        out: dict[str, Any] = {}
        if self.name is not None:
            out["name"] = self.name
        out["type"] = TENSOR_TYPE
        out["tensor-spec"] = {"dtype": self.dtype, "shape": list(self.shape)}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "tensor") -> TensorSpec:
        info = data.get("tensor-spec")
        if not isinstance(info, Mapping) or "dtype" not in info or "shape" not in info:
            raise SignatureError(f"{where}: tensor needs 'tensor-spec' with 'dtype' and 'shape'")
        return cls(info["dtype"], tuple(info["shape"]), data.get("name"))


Spec: TypeAlias = "ColSpec | TensorSpec"


def _spec_from_dict(data: Any, where: str) -> Spec:
    if not isinstance(data, Mapping):
        raise SignatureError(f"{where}: expected an object, got {type(data).__name__}")
    if data.get("type") == TENSOR_TYPE:
        return TensorSpec.from_dict(data, where=where)
    return ColSpec.from_dict(data, where=where)


@dataclass(frozen=True)
class Schema:
    """An input or output schema: all ColSpecs or all TensorSpecs, non-empty.

    Rules (as MLflow): columns are all named or all unnamed, ColSpec and TensorSpec do not mix,
    several tensors need names, and unnamed columns cannot be optional.
    """

    specs: Sequence[Spec] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        specs = tuple(self.specs)
        object.__setattr__(self, "specs", specs)
        if not specs:
            raise SignatureError("a schema needs at least one column or tensor")
        if not all(isinstance(s, (ColSpec, TensorSpec)) for s in specs):
            raise SignatureError("a schema holds ColSpec or TensorSpec objects only")
        named = [s.name is not None for s in specs]
        if any(named) and not all(named):
            raise SignatureError(f"a schema cannot mix named and unnamed columns: {[s.name for s in specs]}")
        tensors = [isinstance(s, TensorSpec) for s in specs]
        if any(tensors) and not all(tensors):
            raise SignatureError("a schema cannot mix columns (ColSpec) and tensors (TensorSpec)")
        if all(tensors) and len(specs) > 1 and not all(named):
            raise SignatureError("a schema with several tensors must name each of them")
        if not any(named) and any(not s.required for s in specs):
            raise SignatureError("unnamed columns cannot be optional; name them or make them required")
        names = [s.name for s in specs if s.name is not None]
        if len(set(names)) != len(names):
            dupes = sorted({str(n) for n in names if names.count(n) > 1})
            raise SignatureError(f"duplicate column names in schema: {', '.join(dupes)}")

    def __len__(self) -> int:
        return len(self.specs)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}: {kind}{'' if required else ' (optional)'}"
            for name, kind, required in schema_rows(self)[:8]
        )
        more = f", ... ({len(self.specs) - 8} more)" if len(self.specs) > 8 else ""
        return f"Schema([{shown}{more}])"

    def _repr_html_(self) -> str:
        return schema_html(self)

    def __iter__(self) -> Iterator[Spec]:
        return iter(self.specs)

    def is_tensor_spec(self) -> bool:
        """True if the schema is made of TensorSpecs."""
        return isinstance(self.specs[0], TensorSpec)

    def has_names(self) -> bool:
        """True if the columns/tensors are named."""
        return self.specs[0].name is not None

    def input_names(self) -> list[str | int]:
        """Names, or positions for an unnamed schema (as MLflow's ``input_names``)."""
        return [s.name if s.name is not None else i for i, s in enumerate(self.specs)]

    def required_names(self) -> list[str | int]:
        """Names (or positions) of required columns."""
        return [s.name if s.name is not None else i for i, s in enumerate(self.specs) if s.required]

    def optional_names(self) -> list[str | int]:
        """Names (or positions) of optional columns."""
        return [s.name if s.name is not None else i for i, s in enumerate(self.specs) if not s.required]

    def to_list(self) -> list[dict[str, Any]]:
        """MLflow's list-of-dicts form."""
        return [s.to_dict() for s in self.specs]

    def to_json(self) -> str:
        """MLflow's JSON string (``json.dumps`` default separators), as stored in MLmodel."""
        return json.dumps(self.to_list())

    @classmethod
    def from_list(cls, items: Any, *, where: str = "schema") -> Schema:
        """Read MLflow's list-of-dicts form.

        Raises:
            SignatureError: If the list or any spec in it is malformed.
        """
        if not isinstance(items, list):
            raise SignatureError(f"{where}: expected a list of column specs, got {type(items).__name__}")
        return cls(tuple(_spec_from_dict(item, f"{where}[{i}]") for i, item in enumerate(items)))

    @classmethod
    def from_json(cls, text: str, *, where: str = "schema") -> Schema:
        """Read MLflow's JSON string form.

        Raises:
            SignatureError: If the text is not JSON or not a valid schema.
        """
        return cls.from_list(_loads(text, where), where=where)


def _loads(text: str, where: str) -> Any:
    try:
        return _json.loads(text, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise SignatureError(f"{where}: not valid JSON ({exc})") from None


# --------------------------------------------------------------------------------------------------
# params


def _param_value(value: Any, ptype: TypeSpec, where: str) -> Any:
    """Check one param value against its type; returns the JSON value MLflow would write."""
    if isinstance(ptype, dict):  # object params: keep the value, check it is a dict
        if not isinstance(value, Mapping):
            raise SignatureError(f"{where}: default for an object param must be an object")
        return json.loads(json.dumps(value, default=str))
    if ptype == "boolean":
        ok = isinstance(value, bool)
    elif ptype in ("integer", "long"):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif ptype in ("float", "double"):
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)  # MLflow widens int defaults of float params
        ok = isinstance(value, float)
    elif ptype == "string":
        ok = isinstance(value, str)
    elif ptype == "datetime":
        if isinstance(value, (_dt.date, _dt.datetime)):
            return value.isoformat()
        if isinstance(value, str):
            try:
                _dt.datetime.fromisoformat(value)
            except ValueError:
                raise SignatureError(f"{where}: {value!r} is not an ISO date or datetime") from None
            return value
        ok = False
    else:
        ok = False
    if not ok:
        raise SignatureError(f"{where}: default {value!r} does not match type {ptype!r}")
    return value


@dataclass(frozen=True)
class ParamSpec:
    """One inference parameter: name, type, default, shape (None = scalar, (-1,) = 1-D list)."""

    name: str
    type: TypeSpec
    default: Any
    shape: Sequence[int] | None = None

    def __post_init__(self) -> None:
        where = f"param {self.name!r}"
        name: object = self.name  # checked at run time: specs come from user JSON
        if not isinstance(name, str) or not name:
            raise SignatureError(f"param name must be a non-empty string, got {name!r}")
        ptype = canonical_type(self.type, where=where)
        if ptype == "binary":
            raise SignatureError(f"{where}: binary params are not supported")
        if isinstance(ptype, dict) and ptype["type"] != "object":
            raise SignatureError(f"{where}: param types are scalars or object, not {ptype['type']}")
        if ptype in OPAQUE_TYPES:
            raise SignatureError(f"{where}: param types are scalars or object, not {ptype}")
        object.__setattr__(self, "type", ptype)
        shape = None if self.shape is None else tuple(self.shape)
        if shape not in (None, (-1,)):
            raise SignatureError(f"{where}: shape must be null (scalar) or [-1] (list), got {self.shape!r}")
        object.__setattr__(self, "shape", shape)
        if shape is None:
            default = _param_value(self.default, ptype, where)
        else:
            if not isinstance(self.default, (list, tuple)):
                raise SignatureError(f"{where}: shape [-1] needs a list default")
            default = [_param_value(v, ptype, where) for v in self.default]
        object.__setattr__(self, "default", default)

    def __hash__(self) -> int:
        return hash((self.name, _freeze(self.type), _freeze(self.default), self.shape))

    def to_dict(self) -> dict[str, Any]:
        """MLflow's dict form; key order name, default, shape, type (+ properties)."""
        out: dict[str, Any] = {
            "name": self.name,
            "default": self.default,
            "shape": None if self.shape is None else list(self.shape),
        }
        out.update(_type_json(self.type))
        return out

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "param") -> ParamSpec:
        """Read MLflow's dict form; the legacy key ``dtype`` is accepted for ``type``."""
        if not isinstance(data, Mapping):
            raise SignatureError(f"{where}: expected an object")
        ptype = data.get("type", data.get("dtype"))
        if "name" not in data or ptype is None or "default" not in data:
            raise SignatureError(f"{where}: a param needs 'name', 'type' and 'default'")
        if ptype == "object":
            ptype = {"type": "object", "properties": data.get("properties")}
        shape = data.get("shape")
        return cls(str(data["name"]), ptype, data["default"], None if shape is None else tuple(shape))


@dataclass(frozen=True)
class ParamSchema:
    """The params of a signature; names are unique."""

    params: Sequence[ParamSpec] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        params = tuple(self.params)
        object.__setattr__(self, "params", params)
        if not all(isinstance(p, ParamSpec) for p in params):
            raise SignatureError("a param schema holds ParamSpec objects only")
        names = [p.name for p in params]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise SignatureError(f"duplicate params in schema: {', '.join(dupes)}")

    def __len__(self) -> int:
        return len(self.params)

    def __iter__(self) -> Iterator[ParamSpec]:
        return iter(self.params)

    def to_list(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in self.params]

    def to_json(self) -> str:
        return json.dumps(self.to_list())

    @classmethod
    def from_list(cls, items: Any, *, where: str = "params") -> ParamSchema:
        if not isinstance(items, list):
            raise SignatureError(f"{where}: expected a list of params, got {type(items).__name__}")
        return cls(tuple(ParamSpec.from_dict(item, where=f"{where}[{i}]") for i, item in enumerate(items)))

    @classmethod
    def from_json(cls, text: str, *, where: str = "params") -> ParamSchema:
        return cls.from_list(_loads(text, where), where=where)


# --------------------------------------------------------------------------------------------------
# signature


@dataclass(frozen=True)
class Signature:
    """A model signature: inputs, outputs and params, each optional (but not all absent)."""

    inputs: Schema | None
    outputs: Schema | None
    params: ParamSchema | None = None

    def __post_init__(self) -> None:
        if self.inputs is None and self.outputs is None and self.params is None:
            raise SignatureError("a signature needs inputs, outputs or params")

    def to_mlmodel(self) -> dict[str, str | None]:
        """The ``signature:`` map of MLmodel: each value a JSON string or None."""
        return {
            "inputs": self.inputs.to_json() if self.inputs is not None else None,
            "outputs": self.outputs.to_json() if self.outputs is not None else None,
            "params": self.params.to_json() if self.params else None,
        }

    @classmethod
    def from_mlmodel(cls, data: Mapping[str, Any]) -> Signature:
        """Read the ``signature:`` map of MLmodel (values are JSON strings, lists or null).

        Raises:
            SignatureError: If a part is malformed.
        """
        if not isinstance(data, Mapping):
            raise SignatureError("signature: expected a map with inputs/outputs/params")
        inputs = _part(data.get("inputs"), "inputs", Schema)
        outputs = _part(data.get("outputs"), "outputs", Schema)
        params = _part(data.get("params"), "params", ParamSchema)
        return cls(inputs, outputs, params)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, list[dict[str, Any]] | None]:
        """Plain nested form (lists instead of JSON strings) for JSON output."""
        return {
            "inputs": self.inputs.to_list() if self.inputs is not None else None,
            "outputs": self.outputs.to_list() if self.outputs is not None else None,
            "params": self.params.to_list() if self.params else None,
        }


def _part(value: Any, where: str, kind: type[Schema] | type[ParamSchema]) -> Schema | ParamSchema | None:
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        value = _loads(value, where)
        if value is None or value == []:
            return None
    return kind.from_list(value, where=where)


def _read_json_file(path: Path) -> Any:
    if not path.exists():
        raise NotFoundError(f"{path} does not exist", path=str(path))
    if path.is_dir():
        raise InputFileError(f"{path} is a directory, expected a JSON file", path=str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputFileError(f"{path.name} is not UTF-8 text", path=str(path)) from None
    except OSError as exc:
        raise InputFileError(f"cannot read {path}: {exc.strerror}", path=str(path)) from None
    try:
        return _json.loads(text, allow_nan=True)
    except ValueError as exc:
        raise InputFileError(f"{path.name} is not valid JSON: {exc}", path=str(path)) from None


def load_signature_file(path: Path) -> Signature:
    """Read a signature JSON file.

    Accepts MLflow's MLmodel form (``{"inputs": "<json string>", ...}``), the plain form
    (``{"inputs": [...], ...}``), either wrapped in ``{"signature": {...}}``.

    Raises:
        NotFoundError: The file does not exist.
        InputFileError: The file is not JSON.
        SignatureError: The JSON is not a valid signature (message names the part).
    """
    data = _read_json_file(path)
    if isinstance(data, Mapping) and isinstance(data.get("signature"), Mapping):
        data = data["signature"]
    if not isinstance(data, Mapping) or not {"inputs", "outputs", "params"} & set(data):
        raise SignatureError(
            f"{path.name}: expected an object with 'inputs', 'outputs' and/or 'params'",
            hint="a single schema (a JSON list) goes to --input-schema/--output-schema",
        )
    try:
        return Signature.from_mlmodel(data)
    except SignatureError as exc:
        raise SignatureError(f"{path.name}: {exc.message}", path=str(path)) from None


def load_schema_file(path: Path) -> Schema:
    """Read a schema JSON file: a list of ColSpec/TensorSpec dicts (or a JSON string of one).

    Raises:
        NotFoundError: The file does not exist.
        InputFileError: The file is not JSON.
        SignatureError: The JSON is not a valid schema.
    """
    data = _read_json_file(path)
    if isinstance(data, str):
        data = _loads(data, path.name)
    try:
        return Schema.from_list(data, where=path.name)
    except SignatureError as exc:
        raise SignatureError(exc.message, path=str(path)) from None


def schema_rows(schema: Schema) -> list[tuple[str, str, bool]]:
    """Rows of (name, type as text, required) for tables; unnamed columns show as ``[i]``."""
    return [
        (str(spec.name) if spec.name is not None else f"[{i}]", spec.type_text, spec.required)
        for i, spec in enumerate(schema.specs)
    ]


def schema_html(schema: Schema) -> str:
    """The schema as an HTML table (name, type, required), for notebooks."""
    from modelpack import _html

    rows = [(name, kind, "yes" if required else "no") for name, kind, required in schema_rows(schema)]
    return _html.table(("name", "type", "required"), rows)


def signature_html(signature: Signature | Mapping[str, Any] | None) -> str:
    """Input, output and params tables for notebooks; ``signature`` may be the list (dict) form.

    A malformed part (a record someone else wrote) is shown as escaped text, never raised: this
    is only a display.
    """
    from modelpack import _html

    if signature is None:
        return ""
    parts: list[str] = []
    for label in ("inputs", "outputs", "params"):
        value = getattr(signature, label) if isinstance(signature, Signature) else signature.get(label)
        if not value:
            continue
        try:
            if isinstance(value, Schema):
                parts.append(_html.heading(label) + schema_html(value))
            elif isinstance(value, ParamSchema) or label == "params":
                params = value if isinstance(value, ParamSchema) else ParamSchema.from_list(value)
                rows = [
                    (
                        p.name,
                        p.type if isinstance(p.type, str) else "object",
                        json.dumps(p.default, default=str),
                        "scalar" if p.shape is None else "list",
                    )
                    for p in params
                ]
                parts.append(_html.heading(label) + _html.table(("name", "type", "default", "shape"), rows))
            else:
                parts.append(_html.heading(label) + schema_html(Schema.from_list(value)))
        except Exception:  # a malformed part is shown raw
            parts.append(_html.heading(label) + _html.para(value))
    return "".join(parts)


def specs_by_name(schema: Schema) -> dict[str | int, Spec]:
    """Map of name (or position for unnamed schemas) to spec."""
    return dict(zip(schema.input_names(), schema.specs, strict=True))


__all__: Sequence[str] = (
    "COMPLEX_TYPES",
    "OPAQUE_TYPES",
    "SCALAR_TYPES",
    "ColSpec",
    "ParamSchema",
    "ParamSpec",
    "Schema",
    "Signature",
    "SignatureError",
    "TensorSpec",
    "TypeSpec",
    "canonical_type",
    "load_schema_file",
    "load_signature_file",
    "schema_html",
    "signature_html",
    "schema_rows",
    "specs_by_name",
    "type_text",
)
