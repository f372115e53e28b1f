"""Seeded mutations of valid package files and data files.

Every function takes a ``random.Random`` and returns the new content with a one-line
description of what it did, so a failing case can say exactly what its file holds. The same
target and seed always give the same bytes (``case_rng``).
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import yaml

# A scalar replaced by this string, dumped, then replaced in the text by a raw snippet: the way
# to put into a document what no dumper writes (aliases, tags, NaN tokens, thousands of levels).
RAW = "FUZZRAWPLACEHOLDER"
# Where the case folder's absolute path goes in a description (it differs per run).
CASE = "{CASE}"


def case_rng(target: str, seed: int) -> random.Random:
    return random.Random(f"modelpack-fuzz:{target}:{seed}")


def cycle(ops: tuple[str, ...], seed: int) -> str:
    """The operation for ``seed``: seeds 0..len(ops)-1 cover every operation once, then again."""
    return ops[seed % len(ops)]


def occurrence(ops: tuple[str, ...], seed: int) -> int:
    """How many earlier seeds drew the same operation as ``seed`` (0 for the first)."""
    return seed // len(ops)


def pick(rng: random.Random, ordered: list[Any], k: int) -> Any:
    """The k-th of ``ordered`` (the cases that must be covered first), then random ones."""
    return ordered[k] if k < len(ordered) else rng.choice(ordered)


BYTE_OPS = ("flip", "truncate", "insert", "delete", "duplicate", "empty", "huge")
YAML_OPS = ("delete", "rename", "swap", "deep", "add", "alias", "bomb", "tag", "bytes")
JSON_OPS = ("delete", "rename", "swap", "deep", "add", "nan", "bytes")


# --------------------------------------------------------------------------------------------
# bytes


def _junk(rng: random.Random) -> bytes:
    return rng.choice(
        [
            b"\x00",
            b"\xff\xfe",
            b"\xc3\x28",
            b"\t",
            b"\r\n",
            b":",
            b"- ",
            b"{",
            b"[",
            b"]",
            b'"',
            b"'",
            b"&a ",
            b"*a",
            b"!!python/object/apply:os.system ",
            b"\n  ",
            b",",
            b"NaN",
            b"1e400",
            b"-0",
            bytes(rng.randrange(256) for _ in range(rng.randint(1, 16))),
        ]
    )


def mutate_bytes(rng: random.Random, data: bytes, op: str | None = None) -> tuple[bytes, str]:
    """One byte-level mutation: flips, truncation, insertion, deletion, duplication, emptiness, a huge run."""
    op = op or rng.choice(BYTE_OPS)
    n = len(data)
    if op == "flip" and n:
        out = bytearray(data)
        places = sorted(rng.randrange(n) for _ in range(rng.randint(1, 8)))
        for i in places:
            out[i] ^= rng.randint(1, 255)
        return bytes(out), f"flipped bytes at offsets {places}"
    if op == "truncate" and n:
        cut = rng.randrange(n)
        return data[:cut], f"truncated to {cut} of {n} bytes"
    if op == "insert":
        at = rng.randint(0, n)
        junk = _junk(rng)
        return data[:at] + junk + data[at:], f"inserted {junk[:40]!r} at offset {at}"
    if op == "delete" and n:
        at = rng.randrange(n)
        size = rng.randint(1, max(1, n // 4))
        return data[:at] + data[at + size :], f"deleted {size} bytes at offset {at}"
    if op == "duplicate" and n:
        at = rng.randrange(n)
        size = rng.randint(1, max(1, n // 2))
        return data[: at + size] + data[at : at + size] + data[
            at + size :
        ], f"duplicated {size} bytes at {at}"
    if op == "huge":
        size = rng.choice([1 << 16, 1 << 20])
        fill = rng.choice([b"a", b"0", b"\x00", b" "])
        at = rng.randint(0, n)
        return data[:at] + fill * size + data[at:], f"inserted {size} bytes of {fill!r} at offset {at}"
    return b"", "emptied the file"


# --------------------------------------------------------------------------------------------
# documents (YAML and JSON trees)


def node_paths(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every node's path below the root (keys and list indices), depth first."""
    out: list[tuple[Any, ...]] = []
    if isinstance(tree, dict):
        for key, value in tree.items():
            out.append((*prefix, key))
            out.extend(node_paths(value, (*prefix, key)))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            out.append((*prefix, i))
            out.extend(node_paths(value, (*prefix, i)))
    return out


def _parent(tree: Any, path: tuple[Any, ...]) -> Any:
    node = tree
    for key in path[:-1]:
        node = node[key]
    return node


def set_path(tree: Any, path: tuple[Any, ...], value: Any) -> None:
    """Set ``path`` in ``tree``, creating mappings on the way (a missing key is added)."""
    node = tree
    for key in path[:-1]:
        if isinstance(node, dict) and not isinstance(node.get(key), (dict, list)):
            node[key] = {}
        node = node[key]
    node[path[-1]] = value


def _type_swap_values(rng: random.Random) -> list[Any]:
    return [
        None,
        0,
        -1,
        2**64,
        1.5,
        float("nan"),
        float("inf"),
        True,
        "",
        "x" * rng.choice([1, 1000, 1 << 20]),
        [],
        {},
        ["a", 1, None],
        {"k": "v", "n": [1, 2]},
        "../evil.pkl",
        "\u00e9\u2603\U0001f600",
    ]


def _deep(kind: str, depth: int) -> str:
    if kind == "list":
        return "[" * depth + "]" * depth
    if kind == "yaml-map":
        return "{a: " * depth + "1" + "}" * depth
    return '{"a": ' * depth + "1" + "}" * depth


def alias_bomb(levels: int, width: int = 9) -> str:
    """A "billion laughs" in one YAML flow sequence: ``width ** levels`` leaves, a few hundred bytes."""
    parts = ["&l0 [" + ", ".join(["lol"] * width) + "]"]
    for level in range(1, levels):
        parts.append(f"&l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    return "[" + ", ".join(parts) + "]"


def mutate_tree(rng: random.Random, tree: Any, op: str, *, yaml_doc: bool) -> tuple[Any, str | None, str]:
    """One structural mutation (``op``, one of YAML_OPS or JSON_OPS) of a parsed document.

    Returns the new tree, the raw snippet that replaces ``RAW`` in the dumped text (or None),
    and the description.
    """
    tree = copy.deepcopy(tree)
    paths = node_paths(tree)
    if not paths:
        op = "swap-root"
    if op == "swap-root":
        value = rng.choice(_type_swap_values(rng))
        return value, None, f"replaced the whole document with {_short(value)}"
    path = rng.choice(paths)
    parent = _parent(tree, path)
    key = path[-1]
    where = _where(path)
    if op == "delete":
        del parent[key]
        return tree, None, f"deleted {where}"
    if op == "rename" and isinstance(parent, dict):
        new = rng.choice([f"{key}_", str(key).upper(), "", " ", f"x{key}", "flavors", "<<"])
        value = parent.pop(key)
        parent[new] = value
        return tree, None, f"renamed {where} to {new!r}"
    if op == "add":
        extra = rng.choice(_type_swap_values(rng))
        target = parent if isinstance(parent, dict) else tree if isinstance(tree, dict) else None
        if target is not None:
            target[f"fuzz_{rng.randrange(1000)}"] = extra
            return tree, None, f"added a key {_short(extra)} next to {where}"
        op = "swap"
    if op == "deep":
        depth = rng.choice([64, 600, 5000, 60000])
        kind = rng.choice(["list", "yaml-map" if yaml_doc else "json-map"])
        parent[key] = RAW
        return tree, _deep(kind, depth), f"replaced {where} with {kind} nesting {depth} levels deep"
    if op == "alias":
        parent[key] = RAW
        return tree, "[&fz value, *fz, *fz]", f"replaced {where} with a small YAML alias"
    if op == "bomb":
        levels = 9
        parent[key] = RAW
        return tree, alias_bomb(levels), f"replaced {where} with an alias bomb ({levels} levels of 9)"
    if op == "tag":
        parent[key] = RAW
        return (
            tree,
            '!!python/object/apply:os.system ["echo tag-ran"]',
            f"replaced {where} with a python/object/apply tag",
        )
    if op == "nan":
        token = rng.choice(["NaN", "Infinity", "-Infinity", "1e400", "-1e400", str(2**70)])
        parent[key] = RAW
        return tree, token, f"replaced {where} with the JSON token {token}"
    value = rng.choice(_type_swap_values(rng))
    parent[key] = value
    return tree, None, f"replaced {where} with {_short(value)}"


def _where(path: tuple[Any, ...]) -> str:
    return "/".join(str(p) for p in path) or "(root)"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}... ({len(text)} chars)"


def dump_yaml(tree: Any, raw: str | None) -> bytes:
    text = yaml.safe_dump(tree, default_flow_style=False, sort_keys=True, allow_unicode=True)
    if raw is not None:
        text = text.replace(RAW, raw, 1)
    return text.encode("utf-8")


def dump_json(tree: Any, raw: str | None) -> bytes:
    text = json.dumps(tree, allow_nan=True)
    if raw is not None:
        text = text.replace(json.dumps(RAW), raw, 1)
    return text.encode("utf-8")


def mutate_document(rng: random.Random, data: bytes, op: str, *, yaml_doc: bool) -> tuple[bytes, str]:
    """A structural or (``op == "bytes"``) byte-level mutation of a YAML or JSON document."""
    if op == "bytes":
        return mutate_bytes(rng, data)
    tree = yaml.safe_load(data) if yaml_doc else json.loads(data)
    new, raw, what = mutate_tree(rng, tree, op, yaml_doc=yaml_doc)
    return (dump_yaml(new, raw) if yaml_doc else dump_json(new, raw)), what


# --------------------------------------------------------------------------------------------
# CSV


CSV_OPS = (
    "bytes",
    "cell",
    "header",
    "ragged",
    "long-line",
    "drop-column",
    "bom-crlf",
    "only-header",
    "cell",
    "bytes",
)


def mutate_csv(rng: random.Random, data: bytes, op: str) -> tuple[bytes, str]:
    text = data.decode("utf-8")
    lines = text.splitlines()
    if op == "bytes":
        return mutate_bytes(rng, data)
    if op == "cell":
        row = rng.randrange(1, len(lines))
        cells = lines[row].split(",")
        col = rng.randrange(len(cells))
        value = rng.choice(
            [
                "",
                "NaN",
                "inf",
                "-inf",
                "1e400",
                "x" * 100_000,
                '"unbalanced',
                '"a\nb"',
                "\x00",
                "true",
                "9" * 40,
            ]
        )
        cells[col] = value
        lines[row] = ",".join(cells)
        return ("\n".join(lines) + "\n").encode(), f"set row {row} column {col} to {_short(value)}"
    if op == "header":
        names = lines[0].split(",")
        col = rng.randrange(len(names))
        new = rng.choice(["", names[(col + 1) % len(names)], "x" * 5000, '"', "\x00", "count,count"])
        names[col] = new
        lines[0] = ",".join(names)
        return ("\n".join(lines) + "\n").encode(), f"renamed header column {col} to {_short(new)}"
    if op == "ragged":
        row = rng.randrange(1, len(lines))
        lines[row] = (
            lines[row] + rng.choice([",", ",1,2", ""]) if rng.random() < 0.5 else lines[row].rsplit(",", 1)[0]
        )
        return ("\n".join(lines) + "\n").encode(), f"made row {row} ragged"
    if op == "long-line":
        size = 1 << 20  # past the csv module's field limit (128 KiB)
        return text.encode() + b"7" * size, f"appended a {size}-byte line without a newline"
    if op == "drop-column":
        col = rng.randrange(len(lines[0].split(",")))
        out = [",".join(c for i, c in enumerate(line.split(",")) if i != col) for line in lines]
        return ("\n".join(out) + "\n").encode(), f"dropped column {col}"
    if op == "bom-crlf":
        return b"\xef\xbb\xbf" + "\r\n".join(lines).encode(), "added a BOM and CRLF line ends"
    return (lines[0] + "\n").encode(), "kept only the header"


# --------------------------------------------------------------------------------------------
# NPY / NPZ


def npy_header(dtype: str, shape: str, fortran: bool = False, version: bytes = b"\x01\x00") -> bytes:
    """A raw .npy header with any dtype and shape text, padded as numpy pads it."""
    body = f"{{'descr': {dtype}, 'fortran_order': {fortran}, 'shape': {shape}, }}"
    total = 10 + len(body) + 1
    pad = (64 - total % 64) % 64
    body = body + " " * pad + "\n"
    return b"\x93NUMPY" + version + len(body).to_bytes(2, "little") + body.encode("latin1")


NPY_OPS = ("bytes", "shape", "dtype", "version", "zero-d", "empty", "object", "shape", "bytes", "dtype")


def mutate_npy(rng: random.Random, data: bytes, pickled: bytes, op: str | None = None) -> tuple[bytes, str]:
    """Header and payload mutations of a float64 (20, 2) array; ``pickled`` is a payload pickle."""
    payload = data[128:] if len(data) > 128 else data
    op = op or rng.choice(NPY_OPS)
    if op == "bytes":
        return mutate_bytes(rng, data)
    if op == "shape":
        shape = rng.choice(
            ["(1000000000000, 3)", "(-1, 2)", "(20,)", "(2, 20)", "(0, 2)", "(20, 2, 1)", "()"]
        )
        return npy_header("'<f8'", shape) + payload, f"set the header shape to {shape}"
    if op == "dtype":
        dtype = rng.choice(
            [
                "'<U10'",
                "'|S3'",
                "'<c16'",
                "'<M8[s]'",
                "'|b1'",
                "'<i8'",
                "'V8'",
                "[('a', '<f8'), ('b', '<f8')]",
                "'bogus'",
            ]
        )
        return npy_header(dtype, "(20, 2)") + payload, f"set the header dtype to {dtype}"
    if op == "version":
        version = rng.choice([b"\x02\x00", b"\x03\x00", b"\x09\x00", b"\x00\x00"])
        return b"\x93NUMPY" + version + data[8:], f"set the format version bytes to {version!r}"
    if op == "zero-d":
        return npy_header("'<f8'", "()") + payload[:8], "a 0-d array"
    if op == "empty":
        return b"", "an empty .npy"
    return npy_header(
        "'|O'", "(1,)"
    ) + pickled, "an object array whose payload is a pickle that writes the marker"


NPZ_OPS = ("bytes", "member", "non-npy", "empty-zip", "object", "extra", "names", "bytes", "member")


def mutate_npz(rng: random.Random, members: dict[str, bytes], pickled: bytes, op: str) -> tuple[bytes, str]:
    """A zip of .npy members (name -> bytes) mutated; returns the archive bytes."""
    import io
    import zipfile

    members = dict(members)
    what = ""
    if op == "member":
        name = rng.choice(sorted(members))
        members[name], sub = mutate_npy(rng, members[name], pickled)
        what = f"member {name}: {sub}"
    elif op == "non-npy":
        members["notes.txt"] = b"not an array"
        what = "added a member that is not .npy"
    elif op == "empty-zip":
        members = {}
        what = "an empty zip"
    elif op == "object":
        name = rng.choice(sorted(members))
        members[name] = npy_header("'|O'", "(1,)") + pickled
        what = f"member {name} is an object array holding a pickle that writes the marker"
    elif op == "extra":
        members["extra.npy"] = npy_header("'<f8'", "(3,)") + b"\x00" * 24
        what = "added a second array member"
    elif op == "names":
        name = rng.choice(sorted(members))
        new = rng.choice(["../x.npy", "/abs.npy", "a/b.npy", ".npy", "x"])
        members[new] = members.pop(name)
        what = f"renamed member {name} to {new}"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    archive_bytes = buffer.getvalue()
    if op == "bytes":
        return mutate_bytes(rng, archive_bytes)
    return archive_bytes, what


# --------------------------------------------------------------------------------------------
# Parquet


PARQUET_OPS = ("bytes", "types", "drop", "extra", "empty", "nested", "nulls", "bytes", "types")


def mutate_parquet(rng: random.Random, data: bytes, frame: Any, op: str) -> tuple[bytes, str]:
    """Byte mutations of the file, or a well-formed file whose columns or types are wrong."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    if op == "bytes":
        return mutate_bytes(rng, data)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    names = table.column_names
    what = ""
    if op == "types":
        col = rng.choice(names)
        new_type = rng.choice(
            [pa.string(), pa.int8(), pa.float32(), pa.bool_(), pa.timestamp("s"), pa.binary(), pa.null()]
        )
        try:
            column = table[col].cast(new_type, safe=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            column = pa.array([None] * table.num_rows, type=new_type)
        table = table.set_column(names.index(col), col, column)
        what = f"column {col} as {new_type}"
    elif op == "drop":
        col = rng.choice(names)
        table = table.drop([col])
        what = f"dropped column {col}"
    elif op == "extra":
        table = table.append_column("extra", pa.array(range(table.num_rows)))
        what = "added a column"
    elif op == "empty":
        table = table.slice(0, 0)
        what = "no rows"
    elif op == "nested":
        col = rng.choice(names)
        column = pa.array([[1, 2]] * table.num_rows)
        table = table.set_column(names.index(col), col, column)
        what = f"column {col} as list<int64>"
    else:
        col = rng.choice(names)
        table = table.set_column(
            names.index(col), col, pa.array([None] * table.num_rows, type=table[col].type)
        )
        what = f"column {col} all null"
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue(), what
