"""The parse helpers' limits, case by case (the commands are covered in tests/cli/test_hostile_files.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from modelpack import _json
from modelpack.errors import DataFormatError, InvalidModelError
from modelpack.package.manifest import MANIFEST_FILE, read_manifest, write_manifest
from modelpack.package.mlmodel import MAX_NODES, YAMLLimitError, load_yaml, read_mlmodel
from modelpack.schema import readers

ASSETS = Path(__file__).resolve().parent.parent / "assets"

# --------------------------------------------------------------------------------------------------
# JSON


def test_json_refuses_nan_and_infinity_unless_allowed() -> None:
    for token in ("NaN", "Infinity", "-Infinity"):
        with pytest.raises(_json.JSONDocumentError, match=f"{token} is not a JSON value"):
            _json.loads(f'{{"size": {token}}}')
    assert _json.loads('{"x": NaN}', allow_nan=True)["x"] != 0


@pytest.mark.parametrize("depth", [_json.MAX_DEPTH + 1, 900, 50_000])
def test_json_refuses_deep_nesting(depth: int) -> None:
    with pytest.raises(_json.JSONDocumentError, match="nested deeper than"):
        _json.loads("[" * depth + "]" * depth)
    with pytest.raises(_json.JSONDocumentError, match="nested deeper than"):
        _json.loads('{"a": ' * depth + "1" + "}" * depth)


def test_json_reads_what_it_should() -> None:
    deepest = _json.MAX_DEPTH
    assert _json.loads("[" * deepest + "]" * deepest) is not None
    assert _json.loads('{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}
    with pytest.raises(_json.JSONDocumentError, match="Expecting value") as info:
        _json.loads('{"a": }')
    assert info.value.lineno == 1
    assert isinstance(info.value, ValueError)


def test_parser_recursion_is_caught_even_without_a_depth_walk() -> None:
    with pytest.raises(_json.JSONDocumentError, match="nested deeper than"):
        _json.loads("[" * 50_000 + "]" * 50_000, max_depth=None)


# --------------------------------------------------------------------------------------------------
# YAML (MLmodel)


def _bomb(levels: int = 9) -> str:
    text = 'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for i in range(1, levels):
        text += f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n"
    return text


def test_alias_bomb_is_refused_without_expanding() -> None:
    with pytest.raises(YAMLLimitError, match="aliases are expanded"):
        load_yaml(_bomb())


def test_alias_inside_its_own_node_is_refused() -> None:
    with pytest.raises(YAMLLimitError, match="refers to a node that contains it"):
        load_yaml("a: &x [1, *x]\n")
    with pytest.raises(YAMLLimitError, match="refers to a node that contains it"):
        load_yaml("a: &x {b: {c: *x}}\n")


@pytest.mark.parametrize("depth", [_json.MAX_DEPTH, 900])
def test_deep_yaml_is_refused(depth: int) -> None:
    with pytest.raises(YAMLLimitError, match="nested deeper than"):
        load_yaml("a: " + "[" * depth + "]" * depth)
    block = "".join("  " * i + "k:\n" for i in range(depth + 1)) + "  " * (depth + 1) + "v\n"
    with pytest.raises(YAMLLimitError, match="nested deeper than"):
        load_yaml(block)


def test_aliases_cannot_build_depth_either() -> None:
    deep = "[" * 60 + "]" * 60
    with pytest.raises(YAMLLimitError, match="once aliases are expanded"):
        load_yaml(f"a: &x {deep}\nb: {'[' * 50}*x{']' * 50}\n")


def test_harmless_aliases_and_plain_documents_read() -> None:
    assert load_yaml("a: &s [1, 2]\nb: *s\nc: *s\n") == {"a": [1, 2], "b": [1, 2], "c": [1, 2]}
    assert load_yaml("a: &v 3\nb: *v\n") == {"a": 3, "b": 3}
    # The largest bomb under the limit reads (9**5 values), one level more does not.
    assert 9**5 < MAX_NODES < 9**6
    load_yaml(_bomb(levels=5))
    with pytest.raises(YAMLLimitError):
        load_yaml(_bomb(levels=6))


def test_real_mlmodel_files_still_read(tmp_path: Path) -> None:
    """Files MLflow and older modelpack releases wrote read as before."""
    found = sorted(ASSETS.rglob("MLmodel"))
    assert found
    for path in found:
        expected = yaml.safe_load(path.read_text())
        assert read_mlmodel(path.parent).raw == expected, path


def test_bad_mlmodel_is_an_invalid_model(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text("flavors: {x: {}}\n" + _bomb())
    with pytest.raises(InvalidModelError, match="MLmodel in .* is refused: holds more than"):
        read_mlmodel(tmp_path)


# --------------------------------------------------------------------------------------------------
# manifest


@pytest.fixture
def sealed(tmp_path: Path) -> Path:
    folder = tmp_path / "pkg"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors: {x: {}}\n")
    (folder / "model.bin").write_bytes(b"\0" * 10)
    write_manifest(folder)
    return folder


def _edit_entry(folder: Path, **changes: object) -> None:
    path = folder / MANIFEST_FILE
    doc = json.loads(path.read_text())
    doc["files"]["model.bin"].update(changes)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"size": -1}, "is not a byte count"),
        ({"size": 1.5}, "is not a byte count"),
        ({"size": 10.0}, "is not a byte count"),
        ({"size": 2**64}, "is not a byte count"),
        ({"size": True}, "is not a byte count"),
        ({"size": "10"}, "is not a byte count"),
        ({"size": None}, "is not a byte count"),
        ({"sha256": "Z" * 64}, "64 lowercase hex digits"),
        ({"sha256": "ab"}, "64 lowercase hex digits"),
        ({"sha256": 7}, "64 lowercase hex digits"),
    ],
)
def test_manifest_entries_are_checked(sealed: Path, changes: dict[str, object], why: str) -> None:
    _edit_entry(sealed, **changes)
    with pytest.raises(InvalidModelError, match=why):
        read_manifest(sealed)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"format_version": 1, "files": {"m": {"sha256": "%s", "size": Infinity}}}', "Infinity"),
        ('{"format_version": 1, "files": {"m": {"sha256": "%s", "size": NaN}}}', "NaN"),
        ('{"format_version": NaN, "files": {}}', "NaN"),
        ('{"format_version": 1.0, "files": {}}', "format_version"),
        ('{"format_version": 1, "files": [1, 2]}', "'files' is not a JSON object"),
        ('{"format_version": 1}', "missing key 'files'"),
        ('{"format_version": 1, "files": {"m": 3}}', "is not a JSON object"),
        ("[1, 2]", "not a JSON object"),
        ('{"format_version": 1, "files": {}, "x": ' + "[" * 5000 + "]" * 5000 + "}", "nested deeper"),
        ("\xff\xfe", "not a valid manifest"),
        # A name only a JSON escape can spell (lone surrogates): no UTF-8 file has it.
        ('{"format_version": 1, "files": {"\\udcff.bin": {"sha256": "%s", "size": 1}}}', "UTF-8 file name"),
        ('{"format_version": 1, "files": {"a\\nb": {"sha256": "%s", "size": 1}}}', "UTF-8 file name"),
    ],
)
def test_manifest_documents_are_checked(sealed: Path, text: str, why: str) -> None:
    body = text % ("a" * 64) if "%s" in text else text
    (sealed / MANIFEST_FILE).write_bytes(body.encode("latin1"))
    with pytest.raises(InvalidModelError, match=why):
        read_manifest(sealed)


def test_a_written_manifest_reads_back(sealed: Path) -> None:
    manifest = read_manifest(sealed)
    assert manifest is not None
    assert {f.path for f in manifest.files} == {"MLmodel", "model.bin"}


# --------------------------------------------------------------------------------------------------
# data readers


def test_npy_header_is_checked_before_anything_is_allocated(tmp_path: Path) -> None:
    good = tmp_path / "g.npy"
    np.save(good, np.arange(6.0).reshape(3, 2))
    raw = good.read_bytes()
    lying = tmp_path / "lying.npy"
    lying.write_bytes(raw.replace(b"(3, 2)", b"(9, 2)"))
    for path in (lying,):
        for read in (readers.read_data, lambda p: readers.load_npy(p, mmap=True)):
            with pytest.raises(DataFormatError, match=r"claims shape \(9, 2\)"):
                read(path)
    truncated = tmp_path / "t.npy"
    truncated.write_bytes(raw[:-8])
    with pytest.raises(DataFormatError, match="holds 40 bytes of data"):
        readers.read_data(truncated)


def test_npy_reads_what_it_should(tmp_path: Path) -> None:
    for value in (np.arange(6.0).reshape(3, 2), np.zeros((0, 4)), np.array(["a", "b"])):
        path = tmp_path / "v.npy"
        np.save(path, value)
        assert np.array_equal(readers.read_data(path), value)
        assert np.array_equal(readers.load_npy(path, mmap=True), value)
        assert np.array_equal(np.concatenate(list(readers.iter_batches(path, batch_rows=2))), value)


def test_npz_reads_what_it_should(tmp_path: Path) -> None:
    path = tmp_path / "v.npz"
    np.savez_compressed(path, x=np.arange(4.0), y=np.array([[1, 2]]))
    value = readers.read_data(path)
    assert isinstance(value, dict)
    assert set(value) == {"x", "y"} and np.array_equal(value["y"], [[1, 2]])


def test_long_csv_row_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_bytes(b"a,b\n1,2\n3,4\n5," + b"6" * (2 << 20) + b"\n7,8\n")
    with pytest.raises(DataFormatError, match="line 4 is longer than 1 MiB"):
        readers.read_data(path)


def test_csv_row_between_block_and_limit_reads(tmp_path: Path) -> None:
    """A row longer than the first block guess but under 1 MiB is read (the block grows)."""
    path = tmp_path / "wide.csv"
    path.write_bytes(b"a,b\n" + b"1,x\n" * 100 + b'2,"' + b"y" * 700_000 + b'"\n')
    frame = readers.read_data(path)
    assert len(frame) == 101 and len(frame["b"].iloc[-1]) == 700_000


def test_ragged_csv_with_a_huge_field_is_a_clean_error(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(b'a,b\n1,2\nx,"' + b"y" * 200_000 + b'"\n1,2,3\n')
    with pytest.raises(DataFormatError, match="does not have 2 fields"):
        readers.read_data(path)


def test_json_cells_nested_too_deeply_are_refused(tmp_path: Path) -> None:
    deep = "[" * 200 + "1" + "]" * 200
    path = tmp_path / "d.json"
    path.write_text(f'[{{"a": {deep}, "b": 1}}]')
    with pytest.raises(DataFormatError, match="column 'a' holds values nested deeper"):
        readers.read_data(path)
    lines = tmp_path / "d.jsonl"
    lines.write_text(f'{{"a": 1}}\n{{"a": {deep}}}\n')
    with pytest.raises(DataFormatError, match="column 'a' holds values nested deeper"):
        readers.read_data(lines)
    wrapped = tmp_path / "w.json"
    wrapped.write_text('{"inputs": ' * 50 + "[1]" + "}" * 50)
    with pytest.raises(DataFormatError, match="wrapped in too many objects|nested deeper"):
        readers.read_data(wrapped)


def test_json_scalar_tensor_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"inputs": 5}')
    with pytest.raises(DataFormatError, match="single value"):
        readers.read_data(path)


def test_nested_json_values_within_the_limit_read(tmp_path: Path) -> None:
    path = tmp_path / "n.json"
    path.write_text('[{"a": [[1, 2], [3, 4]], "b": {"c": [1]}}]')
    frame = readers.read_data(path)
    assert len(frame) == 1 and [list(row) for row in frame["a"].iloc[0]] == [[1, 2], [3, 4]]
