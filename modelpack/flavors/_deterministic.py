"""Byte-stable model files: the same model object gives the same bytes in every process.

``pack`` must be reproducible (``register`` recognises a re-pack by its digest), but the
serializers write bytes that depend on the run, not on the model:

- skops names zip members after ``id()`` of the arrays they hold (memory addresses) or a fresh
  ``uuid4``, records those ids in ``schema.json``, and stamps every member with the current time;
- numpy structured arrays with padding between fields (scikit-learn's tree nodes) carry whatever
  the allocator left in the padding bytes, which pickle and ``np.save`` copy verbatim;
- cloudpickle tags each class it pickles by value with a random ``uuid4`` tracker id.

Each is replaced by something derived from the content; what a loader reads is unchanged.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import uuid
import zipfile
from pathlib import Path
from typing import Any, Final

# Zip cannot store times before 1980; every member gets this one.
ZIP_EPOCH: Final = (1980, 1, 1, 0, 0, 0)
# Namespace of the uuid5 tracker ids given to classes pickled by value.
_CLASS_NAMESPACE: Final = uuid.UUID("5d0a4c56-8a57-4f5e-9b2c-2f3c1a6e7b10")


def dumps_pickle(model: Any, fmt: str) -> bytes:
    """``pickle.dumps`` or ``cloudpickle.dumps`` with padding bytes of structured arrays zeroed."""
    protocol = pickle.DEFAULT_PROTOCOL
    base: Any
    if fmt == "cloudpickle":
        import cloudpickle

        base = cloudpickle.Pickler
    else:
        base = pickle.Pickler

    class StablePickler(base):  # type: ignore[misc, valid-type]
        def reducer_override(self, obj: Any) -> Any:
            clean = zeroed_padding(obj)
            if clean is not None:
                # What pickle would call for the array itself, on a copy with clean padding.
                return clean.__reduce_ex__(protocol)
            parent = getattr(super(), "reducer_override", None)
            return NotImplemented if parent is None else parent(obj)

    buffer = io.BytesIO()
    StablePickler(buffer, protocol=protocol).dump(model)
    return buffer.getvalue()


def zeroed_padding(obj: Any) -> Any:
    """A copy of a structured numpy array with zeroed padding, or None for anything else."""
    dtype = getattr(obj, "dtype", None)
    if getattr(dtype, "names", None) is None or type(obj).__module__ != "numpy":
        return None
    import numpy as np

    if not isinstance(obj, np.ndarray) or type(obj) is not np.ndarray:
        return None
    order = "F" if obj.flags.f_contiguous and not obj.flags.c_contiguous else "C"
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
    structured arrays get zeroed padding, and members are written sorted with a fixed time.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as src:
        infos = {info.filename: info for info in src.infolist()}
        schema = json.loads(src.read("schema.json"))
        ids: dict[int, int] = {}
        names: dict[str, str] = {}
        members = set(infos) - {"schema.json"}

        def walk(node: Any) -> None:
            if isinstance(node, dict):
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
