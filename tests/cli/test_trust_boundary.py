"""The package boundary, end to end: nothing outside a package is read as part of it, only regular
files are package content, and nothing is scored unless the files are what was packed or
registered.

Every command runs in a real subprocess with a timeout (a hang guard: a FIFO or ``/dev/zero``
opened for reading never ends). Malicious pickles touch a marker file when unpickled; every
test that hands one to a command asserts the marker was never created.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import socket
import stat
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelpack import api
from modelpack.errors import InvalidModelError
from modelpack.package.manifest import MANIFEST_FILE, write_manifest
from tests.cli.test_validate import (
    AB_SIGNATURE,
    SystemPayload,
    build_folder,
    generic_flavors,
    sklearn_flavors,
)
from tests.conftest import modelpack_cmd

TIMEOUT = 180  # a hang guard only; every command here finishes in seconds


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        modelpack_cmd(*args), capture_output=True, text=True, timeout=TIMEOUT, check=False, cwd=cwd
    )


def assert_refused(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    """A clean refusal: exit 3, one error line, no traceback, and the message names the culprit."""
    output = proc.stdout + proc.stderr
    assert proc.returncode == 3, output
    assert "Traceback" not in output, output
    for needle in needles:
        assert needle in output, output


def home() -> Path:
    return Path(os.environ["MODELPACK_HOME"])


# --------------------------------------------------------------------------------------------------
# builders


@pytest.fixture(scope="module")
def model_bytes() -> bytes:
    """A fitted LogisticRegression on columns a (long) and b (double), pickled."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    frame = pd.DataFrame({"a": np.arange(40, dtype="int64"), "b": np.linspace(0.0, 1.0, 40)})
    model = LogisticRegression().fit(frame, (frame["a"] > 20).astype("int64"))
    return pickle.dumps(model, protocol=5)


@pytest.fixture
def data_csv(tmp_path: Path) -> Path:
    path = tmp_path / "data.csv"
    path.write_text("a,b\n1,0.5\n30,0.9\n")
    return path


@pytest.fixture
def marker(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "PWNED"
    yield path
    assert not path.exists(), "a payload ran"


def pickle_folder(folder: Path, model: bytes, *, model_file: str = "model.pkl", seal: bool = True) -> Path:
    """A sealed sklearn folder (pickle) whose MLmodel names ``model_file`` for the model."""
    files = {} if model_file.startswith(("/", "..")) else {model_file: model}
    return build_folder(
        folder,
        sklearn_flavors(model_file, "pickle"),
        files,
        signature=AB_SIGNATURE,
        example={"columns": ["a", "b"], "data": [[1, 0.5]]},
        seal=seal,
    )


def edit_mlmodel(folder: Path, edit: Any, *, seal: bool = True) -> Path:
    doc = yaml.safe_load((folder / "MLmodel").read_text())
    edit(doc)
    (folder / "MLmodel").write_text(yaml.safe_dump(doc))
    if seal:
        write_manifest(folder)
    return folder


@pytest.fixture(scope="module")
def packed_versions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Folders written by ``pack`` in each serialization, packed once for the module."""
    import joblib
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("packed")
    frame = pd.DataFrame({"a": np.arange(40, dtype="int64"), "b": np.linspace(0.0, 1.0, 40)})
    joblib.dump(LogisticRegression().fit(frame, (frame["a"] > 20).astype("int64")), root / "m.joblib")
    frame.to_csv(root / "sample.csv", index=False)
    out = {}
    for fmt in ("skops", "pickle", "cloudpickle"):
        out[fmt] = root / fmt
        api.pack(root / "m.joblib", sample=root / "sample.csv", output=out[fmt], serialization=fmt)
    return out


@pytest.fixture
def packed(packed_versions: dict[str, Path], tmp_path: Path) -> Path:
    """A fresh copy of the skops package this test may damage."""
    return Path(shutil.copytree(packed_versions["skops"], tmp_path / "pkg"))


# --------------------------------------------------------------------------------------------------
# 1. containment: a path MLmodel names never leaves the folder


def test_predict_never_unpickles_a_model_file_named_outside_the_folder(
    tmp_path: Path, data_csv: Path, marker: Path
) -> None:
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(SystemPayload(marker), protocol=4))
    folder = pickle_folder(tmp_path / "pkg", b"", model_file="../evil.pkl", seal=False)
    proc = run("predict", str(folder), "--data", str(data_csv))
    assert_refused(proc, "MLmodel flavors.", "../evil.pkl")


def test_absolute_model_path_in_a_sealed_package_is_refused_by_register_and_predict(
    tmp_path: Path, data_csv: Path, marker: Path
) -> None:
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(SystemPayload(marker), protocol=4))
    folder = pickle_folder(tmp_path / "pkg", b"", model_file=str(evil), seal=True)
    assert_refused(run("register", str(folder), "--name", "rce"), str(evil))
    assert_refused(run("predict", str(folder), "--data", str(data_csv)), "MLmodel flavors.", str(evil))
    assert_refused(run("validate", str(folder)))


def test_generic_model_file_named_outside_the_folder_is_refused(
    tmp_path: Path, data_csv: Path, marker: Path
) -> None:
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(SystemPayload(marker), protocol=4))
    folder = build_folder(tmp_path / "pkg", generic_flavors("../evil.pkl", "pickle"), {}, seal=True)
    assert_refused(run("predict", str(folder), "--data", str(data_csv)), "flavors.modelpack.model_file")


def test_model_file_symlinked_outside_is_never_loaded(
    tmp_path: Path, data_csv: Path, marker: Path, model_bytes: bytes
) -> None:
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(SystemPayload(marker), protocol=4))
    folder = pickle_folder(tmp_path / "pkg", model_bytes, seal=False)
    (folder / "model.pkl").unlink()
    (folder / "model.pkl").symlink_to(tmp_path / "evil.pkl")
    assert_refused(run("predict", str(folder), "--data", str(data_csv)), "model.pkl")
    assert_refused(run("register", str(folder), "--name", "rce"))


def test_a_harmless_model_file_symlinked_outside_is_not_read_either(
    tmp_path: Path, data_csv: Path, model_bytes: bytes
) -> None:
    # The scan cannot catch this one: the file outside is a clean model. It is still not the package's.
    (tmp_path / "elsewhere.pkl").write_bytes(model_bytes)
    folder = pickle_folder(tmp_path / "pkg", model_bytes, seal=False)
    (folder / "model.pkl").unlink()
    (folder / "model.pkl").symlink_to(tmp_path / "elsewhere.pkl")
    assert_refused(run("predict", str(folder), "--data", str(data_csv)), "model.pkl", "outside the folder")
    proc = run("validate", str(folder), "--json")
    assert proc.returncode == 3
    checks = {c["name"]: c for c in json.loads(proc.stdout)["data"]["checks"]}
    assert checks["load"]["status"] == "skipped"


def test_model_file_under_a_symlinked_folder_outside_is_never_loaded(
    tmp_path: Path, data_csv: Path, marker: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "model.pkl").write_bytes(pickle.dumps(SystemPayload(marker), protocol=4))
    folder = pickle_folder(tmp_path / "pkg", b"", model_file="weights/model.pkl", seal=False)
    shutil.rmtree(folder / "weights")
    (folder / "weights").symlink_to(outside)
    assert_refused(run("predict", str(folder), "--data", str(data_csv)), "weights")
    assert_refused(run("inspect", str(folder)), "weights")


def test_python_api_predict_refuses_a_model_file_outside(
    tmp_path: Path, data_csv: Path, marker: Path
) -> None:
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(SystemPayload(marker), protocol=4))
    folder = pickle_folder(tmp_path / "pkg", b"", model_file="../evil.pkl", seal=False)
    with pytest.raises(InvalidModelError, match="outside the model folder|not a relative path"):
        api.predict(folder, data=data_csv)
    with pytest.raises(InvalidModelError):
        api.predict(folder, data=data_csv, home=home())


def _secret(tmp_path: Path) -> Path:
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"columns": ["a"], "data": [["TOPSECRET-4711"]]}))
    return secret


def _point_example_at(folder: Path, target: str) -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["saved_input_example_info"]["artifact_path"] = target

    edit_mlmodel(folder, edit)


def test_inspect_never_prints_an_input_example_outside_the_folder(packed: Path, tmp_path: Path) -> None:
    secret = _secret(tmp_path)
    _point_example_at(packed, str(secret))
    for args in (("inspect", str(packed)), ("inspect", str(packed), "--json")):
        proc = run(*args)
        assert_refused(proc, "artifact_path")
        assert "TOPSECRET" not in proc.stdout + proc.stderr
    with pytest.raises(InvalidModelError, match="artifact_path"):
        api.inspect(packed)


def test_inspect_refuses_an_input_example_symlinked_outside(packed: Path, tmp_path: Path) -> None:
    secret = _secret(tmp_path)
    (packed / "input_example.json").unlink()
    (packed / "input_example.json").symlink_to(secret)
    proc = run("inspect", str(packed), "--json")
    assert_refused(proc, "input_example.json")
    assert "TOPSECRET" not in proc.stdout + proc.stderr


def test_inspect_of_an_input_example_at_dev_zero_is_a_quick_clean_error(packed: Path) -> None:
    _point_example_at(packed, "/dev/zero")
    assert_refused(run("inspect", str(packed)), "/dev/zero")


def test_input_example_too_large_to_read_whole_is_refused(packed: Path) -> None:
    with (packed / "input_example.json").open("r+b") as fh:
        fh.truncate(65 << 20)  # sparse: no disk used
    assert_refused(run("inspect", str(packed)), "larger than")


def test_mlmodel_too_large_to_read_whole_is_refused(packed: Path) -> None:
    with (packed / "MLmodel").open("r+b") as fh:
        fh.truncate(65 << 20)
    assert_refused(run("inspect", str(packed)), "MLmodel", "larger than")


def test_mlmodel_symlinked_outside_is_not_read(packed: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "MLmodel.other"
    shutil.move(packed / "MLmodel", elsewhere)
    (packed / "MLmodel").symlink_to(elsewhere)
    assert_refused(run("inspect", str(packed)), "MLmodel")
    assert_refused(run("register", str(packed), "--name", "m"), "MLmodel")


@pytest.mark.parametrize(
    "key",
    ["extra_files", "conda", "code"],
)
def test_other_named_paths_outside_are_refused_by_validate_and_register(
    packed: Path, tmp_path: Path, key: str
) -> None:
    secret = _secret(tmp_path)

    def edit(doc: dict[str, Any]) -> None:
        if key == "extra_files":
            doc["flavors"]["sklearn"]["extra_files"] = [{"path": str(secret)}]
        elif key == "conda":
            doc["flavors"]["python_function"]["env"]["conda"] = "../secret.json"
        else:
            doc["flavors"]["python_function"]["code"] = str(tmp_path)

    edit_mlmodel(packed, edit)
    validate = run("validate", str(packed), "--no-load", "--json")
    assert validate.returncode == 3, validate.stdout + validate.stderr
    structure = {c["name"]: c for c in json.loads(validate.stdout)["data"]["checks"]}["structure"]
    assert structure["status"] == "failed" and structure["details"]["outside"], structure
    assert_refused(run("register", str(packed), "--name", "m"), "MLmodel")


def test_requirements_symlinked_outside_is_not_read(packed: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret-requirements.txt"
    secret.write_text("topsecret-package==4.7.11\n")
    (packed / "requirements.txt").unlink()
    (packed / "requirements.txt").symlink_to(secret)
    for args in (("inspect", str(packed), "--json"), ("diff", str(packed), str(packed), "--json")):
        proc = run(*args)
        assert_refused(proc, "requirements.txt")
        assert "topsecret" not in proc.stdout + proc.stderr
    validate = run("validate", str(packed), "--no-load", "--json")
    assert validate.returncode == 3
    assert "topsecret" not in validate.stdout + validate.stderr


# --------------------------------------------------------------------------------------------------
# 2. only regular files are package content


def _no_manifest(folder: Path) -> Path:
    (folder / MANIFEST_FILE).unlink()
    return folder


def _commands(folder: Path, data_csv: Path) -> list[tuple[str, ...]]:
    return [
        ("inspect", str(folder)),
        ("validate", str(folder), "--no-load"),
        ("register", str(folder), "--name", "special"),
        ("predict", str(folder), "--data", str(data_csv)),
        ("diff", str(folder), str(folder)),
    ]


def test_a_fifo_in_a_package_is_refused_by_every_command(packed: Path, data_csv: Path) -> None:
    os.mkfifo(packed / "pipe")
    for args in _commands(packed, data_csv):
        assert_refused(run(*args), "pipe", "FIFO")
    _no_manifest(packed)
    for args in _commands(packed, data_csv):
        assert_refused(run(*args), "pipe", "FIFO")


def test_a_fifo_named_as_the_input_example_is_refused(packed: Path) -> None:
    (packed / "input_example.json").unlink()
    os.mkfifo(packed / "input_example.json")
    assert_refused(run("inspect", str(packed)), "input_example.json")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="mknod needs root")
def test_a_dev_zero_node_listed_in_the_manifest_is_refused(packed: Path, data_csv: Path) -> None:
    os.mknod(packed / "weights.bin", stat.S_IFCHR | 0o644, os.makedev(1, 5))
    manifest = json.loads((packed / MANIFEST_FILE).read_text())
    manifest["files"]["weights.bin"] = {"sha256": hashlib.sha256(b"").hexdigest(), "size": 0}
    (packed / MANIFEST_FILE).write_text(json.dumps(manifest))
    for args in _commands(packed, data_csv):
        assert_refused(run(*args), "weights.bin", "character device")


def test_a_unix_socket_in_a_package_is_refused(
    packed: Path, data_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(packed)  # a relative name keeps the socket path short enough to bind
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind("sock")
    for args in _commands(packed, data_csv):
        assert_refused(run(*args), "sock", "socket")


def test_a_symlink_loop_in_a_package_is_refused(packed: Path, data_csv: Path) -> None:
    (packed / "loop-a").symlink_to("loop-b")
    (packed / "loop-b").symlink_to("loop-a")
    for args in _commands(packed, data_csv):
        assert_refused(run(*args), "symlink loop")


def test_a_dangling_symlink_in_a_package_is_refused(packed: Path, data_csv: Path) -> None:
    (packed / "gone").symlink_to("nowhere")
    for args in _commands(packed, data_csv)[:3]:
        assert_refused(run(*args), "gone", "dangling")


def test_a_file_name_that_is_not_utf8_is_refused(packed: Path, data_csv: Path) -> None:
    fd = os.open(os.fsencode(packed) + b"/bad-\xff.txt", os.O_CREAT | os.O_WRONLY, 0o644)
    os.close(fd)
    for args in _commands(packed, data_csv):
        assert_refused(run(*args), "not valid UTF-8")
    _no_manifest(packed)
    assert_refused(run("inspect", str(packed), "--json"), "not valid UTF-8")


def test_a_folder_where_the_model_file_should_be_is_refused(
    tmp_path: Path, data_csv: Path, model_bytes: bytes
) -> None:
    folder = pickle_folder(tmp_path / "pkg", model_bytes, model_file="model.pkl", seal=False)
    (folder / "model.pkl").unlink()
    (folder / "model.pkl").mkdir()
    (folder / "model.pkl" / "x").write_bytes(model_bytes)
    write_manifest(folder)
    assert_refused(run("predict", str(folder), "--data", str(data_csv)), "model.pkl", "folder")


# --------------------------------------------------------------------------------------------------
# 3. integrity before scoring


def _flip(path: Path, at: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if at is None else at
    data[i] ^= 0x01
    path.write_bytes(bytes(data))


DAMAGE = {
    "flipped MLmodel": lambda f: _flip(f / "MLmodel"),
    "flipped conda.yaml": lambda f: _flip(f / "conda.yaml"),
    "flipped requirements.txt": lambda f: _flip(f / "requirements.txt"),
    "flipped python_env.yaml": lambda f: _flip(f / "python_env.yaml"),
    "flipped input example": lambda f: _flip(f / "input_example.json"),
    "flipped serving example": lambda f: _flip(f / "serving_input_example.json"),
    "flipped manifest digest": lambda f: _flip(
        f / MANIFEST_FILE, at=(f / MANIFEST_FILE).read_text().index('"sha256:') + 12
    ),
    "flipped manifest entry": lambda f: _flip(
        f / MANIFEST_FILE, at=(f / MANIFEST_FILE).read_text().index('"sha256": "') + 14
    ),
    "flipped manifest middle": lambda f: _flip(f / MANIFEST_FILE),
    "flipped model weights": lambda f: _flip(f / "model.skops"),
    "truncated model": lambda f: (f / "model.skops").write_bytes((f / "model.skops").read_bytes()[:-10]),
    "missing requirements.txt": lambda f: (f / "requirements.txt").unlink(),
    "missing model": lambda f: (f / "model.skops").unlink(),
    "extra file": lambda f: (f / "extra.txt").write_text("x"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_predict_refuses_a_package_that_is_not_what_was_packed(
    packed: Path, data_csv: Path, damage: str
) -> None:
    proc = run("predict", str(packed), "--data", str(data_csv))
    assert proc.returncode == 0, proc.stderr
    DAMAGE[damage](packed)
    assert_refused(run("predict", str(packed), "--data", str(data_csv)), "integrity")


def test_python_api_predict_checks_integrity(packed: Path, data_csv: Path) -> None:
    _flip(packed / "requirements.txt")
    with pytest.raises(InvalidModelError, match="integrity check failed.*requirements.txt"):
        api.predict(packed, data=data_csv)


def _register(folder: Path, name: str) -> Path:
    from modelpack.registry import FileRegistry

    proc = run("register", str(folder), "--name", name)
    assert proc.returncode == 0, proc.stderr
    return FileRegistry(home()).get_version(name, 1).local_path


def _replace(path: Path, text: str) -> None:
    path.unlink()  # stored files are links to shared blobs: replace, never edit in place
    path.write_text(text)


def test_a_stored_file_edited_and_its_manifest_resealed_is_caught_against_the_record(
    packed: Path, data_csv: Path
) -> None:
    stored = _register(packed, "keep")
    _replace(stored / "requirements.txt", (stored / "requirements.txt").read_text() + "\nevil==1.0")
    (stored / MANIFEST_FILE).unlink()
    write_manifest(stored)
    # The folder agrees with its own (resealed) manifest; only the registry's record tells.
    assert run("validate", str(stored), "--no-load").returncode == 0
    for args in (
        ("validate", "models:/keep/1", "--no-load"),
        ("validate", "models:/keep/1"),
        ("predict", "models:/keep/1", "--data", str(data_csv)),
    ):
        assert_refused(run(*args), "models:/keep/1")
    with pytest.raises(InvalidModelError, match="models:/keep/1"):
        api.predict("models:/keep/1", data=data_csv, home=home())
    assert api.validate("models:/keep/1", load=False, home=home()).exit_code == 3


def test_a_stored_manifest_rewritten_is_caught_against_the_record(packed: Path, data_csv: Path) -> None:
    stored = _register(packed, "keep")
    document = json.loads((stored / MANIFEST_FILE).read_text())
    _replace(stored / MANIFEST_FILE, json.dumps(document))  # same entries, other bytes
    assert_refused(run("predict", "models:/keep/1", "--data", str(data_csv)), MANIFEST_FILE)
    proc = run("predict", "models:/keep/1", "--data", str(data_csv))
    assert proc.returncode == 3


def test_an_intact_registered_version_predicts(packed: Path, data_csv: Path) -> None:
    _register(packed, "keep")
    proc = run("predict", "models:/keep/1", "--data", str(data_csv))
    assert proc.returncode == 0, proc.stderr
    assert run("validate", "models:/keep/1").returncode == 0


def test_predict_hashes_each_file_once_and_the_trust_lookup_reuses_the_digest(
    packed: Path, data_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import modelpack.digest
    import modelpack.package.manifest
    from modelpack._fs import sha256_file

    api.trust(packed, home=home())
    calls: Counter[str] = Counter()

    def counting(path: Path) -> str:
        calls[path.name] += 1
        return sha256_file(path)

    monkeypatch.setattr(modelpack.digest, "sha256_file", counting)
    monkeypatch.setattr(modelpack.package.manifest, "sha256_file", counting)
    result = api.predict(packed, data=data_csv, home=home())
    assert result.rows == 2
    assert calls and set(calls.values()) == {1}, calls
    assert "model.skops" in calls


# --------------------------------------------------------------------------------------------------
# 4. a model file in another format than MLmodel declares


@pytest.mark.parametrize(
    ("packed_as", "declared"),
    [("skops", "pickle"), ("skops", "cloudpickle"), ("cloudpickle", "skops"), ("pickle", "skops")],
)
def test_serialization_format_not_matching_the_file_is_a_clean_error(
    packed_versions: dict[str, Path], tmp_path: Path, data_csv: Path, packed_as: str, declared: str
) -> None:
    folder = Path(shutil.copytree(packed_versions[packed_as], tmp_path / "pkg"))

    def edit(doc: dict[str, Any]) -> None:
        doc["flavors"]["sklearn"]["serialization_format"] = declared

    edit_mlmodel(folder, edit)
    assert_refused(run("predict", str(folder), "--data", str(data_csv)), "serialization_format")
    proc = run("validate", str(folder), "--json")
    assert proc.returncode == 3
    load = {c["name"]: c for c in json.loads(proc.stdout)["data"]["checks"]}["load"]
    assert load["status"] == "failed"


def test_a_model_file_the_scanner_cannot_read_is_never_unpickled(
    tmp_path: Path, data_csv: Path, marker: Path
) -> None:
    # Not a format the scanner knows, named as the model: refused as unscannable, never loaded.
    folder = pickle_folder(tmp_path / "pkg", b"\x00not a pickle" * 10, seal=True)
    proc = run("predict", str(folder), "--data", str(data_csv))
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_version_registered_before_the_gate_never_runs_a_model_file_outside(
    tmp_path: Path, data_csv: Path, marker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registry written before register refused such paths: predict still refuses to load it."""
    import modelpack.package.files
    from modelpack.registry import FileRegistry

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(SystemPayload(marker), protocol=4))
    folder = pickle_folder(tmp_path / "pkg", b"", model_file=str(evil), seal=True)
    with monkeypatch.context() as patch:
        patch.setattr(modelpack.package.files, "check_named_files", lambda folder, raw: None)
        FileRegistry(home()).register(folder, name="rce")
    for args in (("predict", "models:/rce/1", "--data", str(data_csv)), ("validate", "models:/rce/1")):
        assert_refused(run(*args), str(evil))
    with pytest.raises(InvalidModelError, match="outside the model folder|not a relative path"):
        api.predict("models:/rce/1", data=data_csv, home=home())
