"""Byte-stable model files: the same model object gives the same bytes in every process.

``pack`` must be reproducible (``register`` recognises a re-pack by its digest), but the
serializers write bytes that depend on the run, not on the model:

- skops names zip members after ``id()`` of the arrays they hold (memory addresses) or a fresh
  ``uuid4``, records those ids in ``schema.json``, and stamps every member with the current time;
- numpy structured arrays with padding between fields (scikit-learn's tree nodes) carry whatever
  the allocator left in the padding bytes, which pickle and ``np.save`` copy verbatim;
- cloudpickle tags each class it pickles by value with a random ``uuid4`` tracker id;
- sets are listed in hash order, which Python randomises per process for str and bytes;
- pickle writes a string shared by two places once, so the bytes depend on which equal strings
  are one object; attribute names differ there by the process's history (they are interned).

Each is replaced by something derived from the content; what a loader reads is unchanged.
"""

from __future__ import annotations

import copyreg
import hashlib
import io
import json
import pickle
import sys
import types
import uuid
import zipfile
from pathlib import Path
from typing import Any, Final, Literal

# Zip cannot store times before 1980; every member gets this one.
ZIP_EPOCH: Final = (1980, 1, 1, 0, 0, 0)
# Namespace of the uuid5 tracker ids given to classes pickled by value.
_CLASS_NAMESPACE: Final = uuid.UUID("5d0a4c56-8a57-4f5e-9b2c-2f3c1a6e7b10")


def dumps_pickle(model: Any, fmt: str) -> bytes:
    """``pickle.dumps`` or ``cloudpickle.dumps``, byte-stable.

    Structured arrays are written with zeroed padding, and sets held directly in an object's
    state (its attributes) and frozenset constants in by-value code with their items sorted.
    Sets nested deeper and other frozensets keep Python's per-process hash order (pickle writes
    those itself, and the scanner accepts a frozenset only in that form).
    """
    protocol = pickle.DEFAULT_PROTOCOL
    base: Any
    if fmt == "cloudpickle":
        import cloudpickle

        base = cloudpickle.Pickler
    else:
        base = pickle.Pickler

    class StablePickler(base):  # type: ignore[misc]
        sorted_sets: dict[int, tuple[set[Any], _SortedSet]] = {}  # noqa: RUF012 - replaced per instance

        def reducer_override(self, obj: Any) -> Any:
            if type(obj) is _SortedSet:
                return obj.kind, (obj.items,)
            clean = zeroed_padding(obj)
            if clean is not None:
                # What pickle would call for the array itself, on a copy with clean padding.
                return clean.__reduce_ex__(protocol)
            parent = getattr(super(), "reducer_override", None)
            rv = NotImplemented if parent is None else parent(obj)
            if rv is not NotImplemented:
                return rv
            table = getattr(self, "dispatch_table", copyreg.dispatch_table)
            if isinstance(obj, types.CodeType) and type(obj) in table:
                # cloudpickle's reducer for by-value code, with frozenset constants sorted.
                return _sorted_code_constants(table[type(obj)](obj), obj.co_consts)
            if _plain_instance(obj, table):
                # The reduction pickle itself would make next, with sets in the state sorted.
                rv = self.sort_sets(obj.__reduce_ex__(protocol))
            return rv

        def sort_sets(self, rv: Any) -> Any:
            if not isinstance(rv, tuple) or len(rv) < 3:
                return rv
            state = rv[2]
            if isinstance(state, dict):
                state = self.sorted_state(state)
            elif isinstance(state, tuple) and len(state) == 2:  # (__dict__, __slots__ values)
                state = tuple(self.sorted_state(s) if isinstance(s, dict) else s for s in state)
            return (*rv[:2], state, *rv[3:])

        def sorted_state(self, state: dict[Any, Any]) -> dict[Any, Any]:
            # Attribute names interned. Pickle writes a string that two places share once and
            # refers back to it, so the bytes depend on which equal strings are one object; and
            # an instance dict shares its key objects with the other instances of its class, so
            # which copy of a name it holds depends on the process's history (a model unpickled
            # earlier leaves its copies behind). Interned names are the same object everywhere.
            return {
                sys.intern(k) if type(k) is str else k: self.surrogate(v) if type(v) is set else v
                for k, v in state.items()
            }

        def surrogate(self, value: set[Any]) -> _SortedSet:
            # One surrogate per set, so a set shared by two objects is still one set when loaded.
            kept = self.sorted_sets.get(id(value))
            if kept is None:
                kept = self.sorted_sets[id(value)] = (value, _SortedSet(value))
            return kept[1]

    buffer = io.BytesIO()
    pickler = StablePickler(buffer, protocol=protocol)
    pickler.sorted_sets = {}
    pickler.dump(model)
    return buffer.getvalue()


class _SortedSet:
    """Stands in for a set in an object's state; pickled as ``set(sorted items)``."""

    __slots__ = ("items", "kind")

    def __init__(self, value: set[Any] | frozenset[Any], kind: type = set) -> None:
        self.kind = kind
        try:
            self.items = sorted(value)
        except TypeError:  # items that do not compare: order by their text instead
            self.items = sorted(value, key=repr)


def _sorted_code_constants(rv: tuple[Any, ...], consts: tuple[Any, ...]) -> tuple[Any, ...]:
    """A by-value function's code with its frozenset constants (``x in {"a", "b"}``) sorted."""
    if len(rv) < 2 or not any(type(c) is frozenset for c in consts):
        return rv
    sorted_consts = tuple(_SortedSet(c, frozenset) if type(c) is frozenset else c for c in consts)
    args = tuple(sorted_consts if arg is consts else arg for arg in rv[1])
    return (rv[0], args, *rv[2:])


def _plain_instance(obj: Any, dispatch_table: Any) -> bool:
    """An object pickle reduces with ``__reduce_ex__`` (not a class, function or module, and
    with no reducer registered for its type)."""
    if isinstance(
        obj, (type, types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.ModuleType)
    ):
        return False
    return type(obj) not in dispatch_table


def zeroed_padding(obj: Any) -> Any:
    """A copy of a structured numpy array with zeroed padding, or None for anything else."""
    dtype = getattr(obj, "dtype", None)
    if getattr(dtype, "names", None) is None or type(obj).__module__ != "numpy":
        return None
    import numpy as np

    if not isinstance(obj, np.ndarray) or type(obj) is not np.ndarray:
        return None
    order: Literal["C", "F"] = "F" if obj.flags.f_contiguous and not obj.flags.c_contiguous else "C"
    clean = np.zeros(obj.shape, dtype=obj.dtype, order=order)  # calloc: padding starts as zeros
    _copy_fields(clean, obj)
    return clean


def _copy_fields(dst: Any, src: Any) -> None:
    # Field by field: assigning whole records would copy the padding too.
    for name in src.dtype.names:
        if src.dtype.fields[name][0].base.names is not None:
            _copy_fields(dst[name], src[name])
        else:
            dst[name] = src[name]


def canonical_skops(data: bytes) -> bytes:
    """The same skops file with run-specific bytes replaced by content-derived ones.

    Object ids in ``schema.json`` are renumbered 1, 2, ... in document order (skops only compares
    them with each other, and treats 0 as "no id"), member files are renamed after the id order,
    set contents are sorted, structured arrays get zeroed padding, and members are written sorted
    with a fixed time.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as src:
        infos = {info.filename: info for info in src.infolist()}
        schema = json.loads(src.read("schema.json"))
        ids: dict[int, int] = {}
        names: dict[str, str] = {}
        members = set(infos) - {"schema.json"}

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if node.get("__loader__") == "SetNode" and isinstance(node.get("content"), list):
                    node["content"].sort(key=_run_free)  # sets were listed in hash order
                for key, value in node.items():
                    if key == "__id__" and isinstance(value, int) and not isinstance(value, bool):
                        node[key] = ids.setdefault(value, len(ids) + 1)
                    elif key == "file" and isinstance(value, str) and value in members:
                        suffix = Path(value).suffix
                        node[key] = names.setdefault(value, f"{len(names) + 1}{suffix}")
                    else:
                        walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(schema)
        if set(names) != members:
            return data  # a member the schema does not name: leave the file as skops wrote it
        contents = {new: _clean_npy(new, src.read(old)) for old, new in names.items()}
        contents["schema.json"] = json.dumps(schema, indent=2).encode("utf-8")
        old_of = {new: old for old, new in names.items()} | {"schema.json": "schema.json"}
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as dst:
            for name in sorted(contents):
                original = infos[old_of[name]]
                info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
                info.compress_type = original.compress_type
                info.external_attr = original.external_attr
                info.create_system = 3
                dst.writestr(info, contents[name])
    return out.getvalue()


def _run_free(node: Any) -> str:
    """A node's schema without its run-specific parts (ids, member names), as a sort key."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("__id__", "file")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return json.dumps(strip(node), sort_keys=True)


def _clean_npy(name: str, payload: bytes) -> bytes:
    if not name.endswith(".npy"):
        return payload
    import numpy as np

    try:
        array = np.load(io.BytesIO(payload), allow_pickle=False)
    except ValueError:
        return payload
    clean = zeroed_padding(array)
    if clean is None:
        return payload
    buffer = io.BytesIO()
    np.save(buffer, clean, allow_pickle=False)
    return buffer.getvalue()


def pin_class_ids(module: Any) -> None:
    """Give the classes of a by-value module tracker ids derived from its source, not uuid4.

    cloudpickle uses the id to recognise one class unpickled twice in a process; a class from
    the same source text under the same name is the same class, so a content id keeps that
    meaning. Relies on cloudpickle internals; without them the ids stay random (the pack is
    still correct, only not byte-reproducible).
    """
    try:
        from cloudpickle import cloudpickle as cp

        by_class = cp._DYNAMIC_CLASS_TRACKER_BY_CLASS
        by_id = cp._DYNAMIC_CLASS_TRACKER_BY_ID
        lock = cp._DYNAMIC_CLASS_TRACKER_LOCK
        source = Path(module.__file__).read_bytes()
    except (ImportError, AttributeError, OSError, TypeError):
        return
    seed = hashlib.sha256(source).hexdigest()
    for name, value in vars(module).items():
        if isinstance(value, type) and value.__module__ == module.__name__ and value.__qualname__ == name:
            with lock:
                if value not in by_class:
                    tracker_id = uuid.uuid5(_CLASS_NAMESPACE, f"{seed}:{name}").hex
                    by_class[value] = tracker_id
                    by_id[tracker_id] = value
