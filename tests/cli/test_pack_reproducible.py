"""``pack`` is reproducible, and what it and the registry write follows the umask.

Each pack runs in its own process with its own hash seed, as a Makefile re-run would: object ids,
uninitialised memory and str hashes all differ between the two runs.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from modelpack.cli import app
from modelpack.package.manifest import read_manifest
from tests.conftest import modelpack_cmd

runner = CliRunner()

BY_VALUE_MODEL = """
class Threshold:
    def __init__(self):
        self.cut = 50
        self.labels = {"low", "high", "medium", "unknown"}

    def predict(self, data):
        return (data["count"] > self.cut).astype(int).to_numpy()


def make():
    return Threshold()
"""


def _run(*args: str, seed: int = 0, umask: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    kwargs = {} if umask is None else {"umask": umask}
    result = subprocess.run(
        modelpack_cmd(*args), env=env, capture_output=True, text=True, timeout=600, check=False, **kwargs
    )
    assert result.returncode == 0, result.stderr
    return result


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture
def forest_file(tmp_path: Path, mixed_frame) -> Path:
    """A random forest: its tree nodes are a numpy structured array with padding bytes."""
    import joblib
    from sklearn.ensemble import RandomForestClassifier

    frame = mixed_frame[["count", "ratio"]]
    model = RandomForestClassifier(n_estimators=3, random_state=0).fit(frame, frame["count"] > 50)
    path = tmp_path / "forest.joblib"
    joblib.dump(model, path)
    frame.to_csv(tmp_path / "forest.csv", index=False)
    return path


@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        ("pipeline", ()),  # skops (every type trusted)
        ("forest", ()),  # cloudpickle (skops does not trust the tree)
        ("forest", ("--serialization", "pickle")),
        ("by_value", ()),  # a class from a .py file, pickled by value with cloudpickle
    ],
)
def test_pack_twice_gives_identical_files(
    tmp_path: Path,
    sk_model_file: Path,
    forest_file: Path,
    sample_csv: Path,
    kind: str,
    extra: tuple[str, ...],
) -> None:
    if kind == "by_value":
        source = tmp_path / "threshold.py"
        source.write_text(BY_VALUE_MODEL)
        model = f"{source}:make"
    else:
        model = str(sk_model_file if kind == "pipeline" else forest_file)
    if kind == "forest":
        sample_csv = forest_file.with_suffix(".csv")
    first, second = tmp_path / "first", tmp_path / "second"
    _run("pack", model, "-s", str(sample_csv), "-o", str(first), *extra, seed=1)
    _run("pack", model, "-s", str(sample_csv), "-o", str(second), *extra, seed=2)

    assert _files(first) == _files(second)
    manifest = read_manifest(first)
    assert manifest is not None
    mlmodel = yaml.safe_load((first / "MLmodel").read_text())
    assert len(mlmodel["model_uuid"]) == 32
    assert int(mlmodel["model_uuid"], 16)  # MLflow's form: 32 lowercase hex digits
    # Packed again with another name, the content and so the uuid differ.
    third = tmp_path / "third"
    _run("pack", model, "-s", str(sample_csv), "-o", str(third), "--name", "other", *extra, seed=3)
    assert yaml.safe_load((third / "MLmodel").read_text())["model_uuid"] != mlmodel["model_uuid"]


def test_repack_with_force_then_register_adds_no_version(
    tmp_path: Path, sk_model_file: Path, sample_csv: Path
) -> None:
    """The README's Makefile pattern: ``pack --force`` then ``register``, run twice."""
    out = tmp_path / "packed"
    versions = []
    for seed in (1, 2):
        _run("pack", str(sk_model_file), "-s", str(sample_csv), "-o", str(out), "--force", seed=seed)
        result = runner.invoke(
            app, ["register", str(out), "--name", "mixed", "--json"], catch_exceptions=False
        )
        assert result.exit_code == 0, result.stderr
        versions.append(json.loads(result.stdout)["data"])
    assert [v["version"] for v in versions] == [1, 1]
    assert [v["already_registered"] for v in versions] == [False, True]
    listed = runner.invoke(app, ["list", "mixed", "--json"], catch_exceptions=False)
    assert [v["version"] for v in json.loads(listed.stdout)["data"]["versions"]] == [1]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    ("umask", "folder", "file", "blob"), [(0o022, 0o755, 0o644, 0o444), (0o077, 0o700, 0o600, 0o400)]
)
def test_written_files_follow_the_umask(
    tmp_path: Path, sk_model_file: Path, sample_csv: Path, umask: int, folder: int, file: int, blob: int
) -> None:
    out = tmp_path / "packed"
    _run("pack", str(sk_model_file), "-s", str(sample_csv), "-o", str(out), umask=umask)
    assert _mode(out) == folder
    assert {p.name: _mode(p) for p in out.iterdir()} == {p.name: file for p in out.iterdir()}

    predictions = tmp_path / "predictions.csv"
    _run("predict", str(out), "--data", str(sample_csv), "--output", str(predictions), umask=umask)
    assert _mode(predictions) == file

    _run("register", str(out), "--name", "mixed", umask=umask)
    home = Path(os.environ["MODELPACK_HOME"])
    version = home / "models" / "mixed" / "versions" / "1"
    assert _mode(version) == folder
    assert _mode(version / "version.json") == file
    stored = [p for p in version.rglob("*") if p.is_file() and p.name != "version.json"]
    assert stored and {_mode(p) for p in stored} == {blob}  # read-only, as readable as the umask allows
    assert {_mode(p) for p in (home / "blobs").rglob("*") if p.is_file()} == {blob}
