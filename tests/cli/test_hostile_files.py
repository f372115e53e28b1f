"""Hostile or damaged files never hang or crash a command.

Each case is a real file built here (a YAML alias bomb, documents nested thousands of levels
deep, a manifest with ``Infinity`` for a size, truncated and lying NPY/NPZ files, a CSV row of
8 MiB) fed to every command that reads it, in a real subprocess with a timeout as the hang guard.
Every run must end with the documented exit code, one ``error:`` line on stderr (or, with
``--json``, exactly one JSON document on stdout) and no traceback.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from modelpack.package.manifest import MANIFEST_FILE, write_manifest
from tests.conftest import modelpack_cmd

#: Far above what any of these runs needs; only a hang reaches it.
HANG_GUARD = 180
DATA_ERROR = 1  # DataFormatError
INVALID = 3  # InvalidModelError, or a failed validate check

# A few hundred bytes that expand to 9**9 strings: every level repeats the one above nine times.
ALIAS_BOMB = 'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9)
)
# Deeper than modelpack reads, shallower than libyaml's own limit (1000): it parses, and every
# recursive consumer (json.dumps, jsonschema) would crash on it.
DEEP = 900
DEEPER = 20_000  # deeper than Python's json parser recurses


def run(args: list[str], *, expect: int, as_json: bool, mention: str) -> None:
    """Run the CLI; assert the exit code, a clean report that says ``mention``, no traceback."""
    argv = modelpack_cmd(*args, *(["--json"] if as_json else []))
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=HANG_GUARD)
    shown = f"{args} exit {proc.returncode}\nstdout: {proc.stdout[-3000:]}\nstderr: {proc.stderr[-3000:]}"
    assert proc.returncode == expect, shown
    assert "Traceback" not in proc.stdout + proc.stderr, shown
    assert "internal error" not in proc.stdout + proc.stderr, shown
    if as_json:
        doc = json.loads(proc.stdout)  # exactly one document: trailing text would not parse
        assert doc["exit_code"] == expect, shown
        assert mention in json.dumps(doc), shown
    elif args[0] == "validate":  # the report goes to stdout, with the failed check's reason
        assert proc.stderr == "", shown
        assert mention in proc.stdout, shown
    else:
        lines = proc.stderr.splitlines()
        # One error line, and at most the hint that says what to do.
        assert lines and lines[0].startswith("error: ") and len(lines) <= 2, shown
        assert all(line.startswith("hint: ") for line in lines[1:]), shown
        assert mention in lines[0], shown


# --------------------------------------------------------------------------------------------------
# packages


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A package taking a DataFrame (from a CSV sample) and one taking a float tensor (NPY)."""
    import joblib
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from modelpack import api

    root = tmp_path_factory.mktemp("hostile-models")
    frame = pd.DataFrame({"a": [1.0, 2, 3, 4, 5, 6], "b": [0.5, 1, 1.5, 2, 2.5, 3]})
    target = [0, 1, 0, 1, 0, 1]
    joblib.dump(LogisticRegression().fit(frame, target), root / "frame.joblib")
    joblib.dump(LogisticRegression().fit(frame.to_numpy(), target), root / "tensor.joblib")
    frame.to_csv(root / "sample.csv", index=False)
    np.save(root / "sample.npy", frame.to_numpy())
    api.pack(root / "frame.joblib", sample=root / "sample.csv", output=root / "frame")
    api.pack(root / "tensor.joblib", sample=root / "sample.npy", output=root / "tensor")
    return {
        "frame": root / "frame",
        "tensor": root / "tensor",
        "frame_model": root / "frame.joblib",
        "tensor_model": root / "tensor.joblib",
        "csv": root / "sample.csv",
    }


def _variant(src: Path, dest: Path, edit: Callable[[Path], None], *, reseal: bool = True) -> Path:
    """A copy of package ``src`` changed by ``edit``; resealed, so only the change is wrong."""
    shutil.copytree(src, dest)
    edit(dest)
    if reseal:
        write_manifest(dest)
    return dest


def _append_mlmodel(text: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        path = folder / "MLmodel"
        path.write_text(path.read_text() + text)

    return edit


def _bomb_in_extra_files(folder: Path) -> None:
    path = folder / "MLmodel"
    text = path.read_text()
    assert "  sklearn:\n" in text
    path.write_text(ALIAS_BOMB + text.replace("  sklearn:\n", "  sklearn:\n    extra_files: *l8\n", 1))


def _deep_signature(folder: Path) -> None:
    import yaml

    path = folder / "MLmodel"
    doc = yaml.safe_load(path.read_text())
    doc["signature"]["inputs"] = "[" * DEEPER + "]" * DEEPER
    path.write_text(yaml.safe_dump(doc))


def _manifest_text(edit: Callable[[str], str]) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        path = folder / MANIFEST_FILE
        path.write_text(edit(path.read_text()))

    return change


def _size_infinity(text: str) -> str:
    doc = json.loads(text)
    size = doc["files"]["MLmodel"]["size"]
    changed = json.dumps(doc).replace(f'"size": {size}', '"size": Infinity', 1)
    assert "Infinity" in changed
    return changed


def _deep_manifest(text: str) -> str:
    return text.rstrip().removesuffix("}") + f', "x": {"[" * DEEPER}{"]" * DEEPER}}}'


def _deep_example(folder: Path) -> None:
    (folder / "input_example.json").write_text(
        '{"columns": ["a", "b"], "data": ' + "[" * DEEPER + "]" * DEEPER + "}"
    )


# (case, edit, reseal, what the error names)
PACKAGE_CASES: list[tuple[object, ...]] = [
    ("alias-bomb", _append_mlmodel(ALIAS_BOMB), True, "aliases are expanded"),
    ("alias-bomb-in-extra-files", _bomb_in_extra_files, True, "aliases are expanded"),
    ("alias-cycle", _append_mlmodel("loop: &loop [1, *loop]\n"), True, "refers to a node that contains it"),
    ("deep-yaml", _append_mlmodel("deep: " + "[" * DEEP + "]" * DEEP + "\n"), True, "nested deeper than"),
    ("manifest-size-infinity", _manifest_text(_size_infinity), False, "Infinity is not a JSON value"),
    ("deep-manifest", _manifest_text(_deep_manifest), False, "nested deeper than"),
]
# Every command that reads MLmodel and the manifest (predict reads MLmodel only).
PACKAGE_COMMANDS = ["inspect", "validate", "register", "predict"]


def _package_args(command: str, folder: Path, models: dict[str, Path]) -> list[str]:
    if command == "validate":
        return ["validate", str(folder), "--no-load"]
    if command == "register":
        return ["register", str(folder), "--name", "hostile"]
    if command == "predict":
        return ["predict", str(folder), "--data", str(models["csv"])]
    return ["inspect", str(folder)]


def _matrix(cases: list[tuple[object, ...]], commands: list[str]) -> list[object]:
    """Every case with every command, in text and --json output by turns (so each command and
    each case is run both ways, at half the cost of running everything twice)."""
    return [
        pytest.param(
            *case, command, (i + j) % 2 == 1, id=f"{case[0]}-{command}-{'json' if (i + j) % 2 else 'text'}"
        )
        for i, case in enumerate(cases)
        for j, command in enumerate(commands)
    ]


@pytest.mark.parametrize(
    ("case", "edit", "reseal", "mention", "command", "as_json"), _matrix(PACKAGE_CASES, PACKAGE_COMMANDS)
)
def test_hostile_package_is_refused_cleanly(
    tmp_path: Path,
    models: dict[str, Path],
    case: str,
    edit: Callable[[Path], None],
    reseal: bool,
    mention: str,
    command: str,
    as_json: bool,
) -> None:
    folder = _variant(models["frame"], tmp_path / case, edit, reseal=reseal)
    run(_package_args(command, folder, models), expect=INVALID, as_json=as_json, mention=mention)


def test_mlmodel_with_harmless_aliases_still_reads(tmp_path: Path, models: dict[str, Path]) -> None:
    """PyYAML writes an anchor for a list or mapping that appears twice; such a file reads."""
    folder = _variant(
        models["frame"], tmp_path / "aliased", _append_mlmodel("shared: &s [1, 2]\nagain: *s\n")
    )
    proc = subprocess.run(
        modelpack_cmd("validate", str(folder), "--no-load", "--json"),
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
    )
    checks = {c["name"]: c["status"] for c in json.loads(proc.stdout)["data"]["checks"]}
    assert checks["structure"] != "failed", proc.stdout


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_deep_input_example_is_a_failed_check_and_a_warning(
    tmp_path: Path, models: dict[str, Path], as_json: bool
) -> None:
    folder = _variant(models["frame"], tmp_path / "deep-example", _deep_example)
    run(["validate", str(folder), "--no-load"], expect=INVALID, as_json=as_json, mention="nested deeper than")
    argv = modelpack_cmd("inspect", str(folder), *(["--json"] if as_json else []))
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=HANG_GUARD)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    text = json.dumps(json.loads(proc.stdout)) if as_json else proc.stderr
    assert "the input example cannot be read: nested deeper than" in text


@pytest.mark.parametrize("command", ["inspect", "register", "predict"])
def test_deep_signature_json_is_reported(tmp_path: Path, models: dict[str, Path], command: str) -> None:
    """The signature is JSON inside MLmodel: nested past the parser's recursion, it is reported."""
    folder = _variant(models["frame"], tmp_path / "deep-signature", _deep_signature)
    argv = modelpack_cmd(*_package_args(command, folder, models), "--json")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=HANG_GUARD)
    assert proc.returncode != 70, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["exit_code"] == proc.returncode


# --------------------------------------------------------------------------------------------------
# data files


def _npy_bytes(header: str, data: bytes) -> bytes:
    """An .npy (format 1.0) with this header dict text, padded as numpy pads it."""
    raw = header.encode("latin1")
    pad = 64 - (10 + len(raw) + 1) % 64
    raw += b" " * (pad % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(raw)) + raw + data


def _good_npy() -> bytes:
    import io

    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.arange(12, dtype="float64").reshape(6, 2))
    return buf.getvalue()


def _good_npz(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", _good_npy())
    return path


HUGE = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000, 3), }"


def _write_data(tmp_path: Path, case: str) -> Path:
    """The hostile data file for ``case``."""
    if case == "truncated-npz":
        whole = _good_npz(tmp_path / "whole.npz").read_bytes()
        return _bytes(tmp_path / "t.npz", whole[: len(whole) // 2])
    if case == "npz-member-not-npy":
        with zipfile.ZipFile(tmp_path / "m.npz", "w") as archive:
            archive.writestr("x.txt", "hello")
        return tmp_path / "m.npz"
    if case == "empty-zip":
        zipfile.ZipFile(tmp_path / "e.npz", "w").close()
        return tmp_path / "e.npz"
    if case == "empty-npy":
        return _bytes(tmp_path / "e.npy", b"")
    if case == "zero-d-npy":
        import numpy as np

        np.save(tmp_path / "z.npy", np.float64(3.0))
        return tmp_path / "z.npy"
    if case == "malformed-npy-header":
        return _bytes(tmp_path / "h.npy", _npy_bytes("{not a dict at all}", b""))
    if case == "huge-shape-npy":
        return _bytes(tmp_path / "huge.npy", _npy_bytes(HUGE, b"\0" * 48))
    if case == "huge-shape-npz":
        with zipfile.ZipFile(tmp_path / "huge.npz", "w") as archive:
            archive.writestr("x.npy", _npy_bytes(HUGE, b"\0" * 48))
        return tmp_path / "huge.npz"
    if case == "csv-8mib-line":
        return _bytes(tmp_path / "long.csv", b"a,b\n1," + b"9" * (8 << 20))
    if case == "csv-8mib-header":
        return _bytes(tmp_path / "longhead.csv", b"a," + b"b" * (8 << 20))
    if case == "deep-json":
        return _bytes(tmp_path / "d.json", b'[{"a": ' + b"[" * DEEPER + b"]" * DEEPER + b', "b": 1}]')
    if case == "deep-json-cell":
        return _bytes(tmp_path / "c.json", b'[{"a": ' + b"[" * DEEP + b"1" + b"]" * DEEP + b', "b": 1}]')
    if case == "deep-jsonl":
        return _bytes(tmp_path / "d.jsonl", b'{"a": ' + b"[" * DEEPER + b"]" * DEEPER + b', "b": 1}\n')
    raise AssertionError(case)


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# (case, model kind, what the error names)
DATA_CASES: list[tuple[object, ...]] = [
    ("truncated-npz", "tensor", "is not a valid .npz file"),
    ("npz-member-not-npy", "tensor", "x.txt is not an .npy array"),
    ("empty-zip", "tensor", "holds no arrays"),
    ("empty-npy", "tensor", "e.npy is empty"),
    ("zero-d-npy", "tensor", "0-dimensional"),
    ("malformed-npy-header", "tensor", "malformed header"),
    ("huge-shape-npy", "tensor", "its header claims shape (1000000000000, 3)"),
    ("huge-shape-npz", "tensor", "its header claims shape (1000000000000, 3)"),
    ("csv-8mib-line", "frame", "line 2 is longer than 1 MiB"),
    ("csv-8mib-header", "frame", "line 1 is longer than 1 MiB"),
    ("deep-json", "frame", "nested deeper than"),
    ("deep-json-cell", "frame", "nested deeper than"),
    ("deep-jsonl", "frame", "nested deeper than"),
]


def _data_args(command: str, data: Path, kind: str, models: dict[str, Path], out: Path) -> list[str]:
    if command == "predict":
        return ["predict", str(models[kind]), "--data", str(data), "--output", str(out / "p.csv")]
    if command == "validate":
        return ["validate", str(models[kind]), "--data", str(data)]
    return ["pack", str(models[f"{kind}_model"]), "--sample", str(data), "--output", str(out / "packed")]


@pytest.mark.parametrize(
    ("case", "kind", "mention", "command", "as_json"), _matrix(DATA_CASES, ["predict", "validate", "pack"])
)
def test_hostile_data_is_a_clean_data_error(
    tmp_path: Path, models: dict[str, Path], case: str, kind: str, mention: str, command: str, as_json: bool
) -> None:
    data = _write_data(tmp_path, case)
    expect = INVALID if command == "validate" else DATA_ERROR  # validate reports a failed check
    run(_data_args(command, data, kind, models, tmp_path), expect=expect, as_json=as_json, mention=mention)
    assert not (tmp_path / "packed").exists()
