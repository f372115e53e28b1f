"""Test isolation: every test gets its own MODELPACK_HOME, no colour, a fixed width."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# The top-level keys of every --json document, success or error.
ENVELOPE_KEYS = frozenset(
    {"modelpack_result_version", "command", "status", "exit_code", "data", "errors", "warnings"}
)


@pytest.fixture(autouse=True)
def _isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "mp-home"
    monkeypatch.setenv("MODELPACK_HOME", str(home))
    monkeypatch.setenv("MODELPACK_CACHE", str(tmp_path / "mp-cache"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("TERM", "unknown")
    monkeypatch.delenv("MODELPACK_DEBUG", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    # Provenance: packs made by tests record neither this checkout (the working directory of a
    # model in memory) nor the CI running the suite, so they are the same bytes everywhere.
    # Tests of provenance build their own repository and CI environment (tests/cli/test_provenance.py).
    from modelpack.provenance.ci import ALLOWLIST

    monkeypatch.setenv("GIT_DIR", str(tmp_path / "not-a-git-repository"))
    for name in ALLOWLIST:
        monkeypatch.delenv(name, raising=False)
    # Subprocesses must import this checkout even when it is not installed.
    paths = [str(REPO_ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))  # no empty entry: that would mean cwd
    return home


def sigint_as_default() -> None:
    """Popen ``preexec_fn`` for a child that a test interrupts with SIGINT.

    A suite started in the background by a script (``make test &``) inherits SIGINT ignored,
    and Python keeps an ignored SIGINT ignored, so the child would never see the test's Ctrl-C.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def modelpack_cmd(*args: str) -> list[str]:
    """argv for running the CLI in a real subprocess."""
    return [sys.executable, "-m", "modelpack", *args]


@pytest.fixture
def mixed_frame():
    """20 rows with an int, a float, a string and a bool column."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "count": rng.integers(0, 100, 20).astype("int64"),
            "ratio": rng.random(20).round(3),
            "color": rng.choice(["red", "green", "blue"], 20),
            "flag": rng.random(20) < 0.5,
        }
    )


def _fit_pipeline(frame):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), ["count", "ratio"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["color"]),
            ("flag", "passthrough", ["flag"]),
        ]
    )
    y = (frame["count"] > 50).astype(int)
    return Pipeline([("pre", pre), ("clf", LogisticRegression())]).fit(frame, y)


@pytest.fixture
def sk_model_file(tmp_path: Path, mixed_frame) -> Path:
    """A fitted sklearn pipeline saved with joblib."""
    import joblib

    path = tmp_path / "model.joblib"
    joblib.dump(_fit_pipeline(mixed_frame), path)
    return path


@pytest.fixture
def sample_csv(tmp_path: Path, mixed_frame) -> Path:
    path = tmp_path / "sample.csv"
    mixed_frame.to_csv(path, index=False)
    return path


@pytest.fixture
def packed(tmp_path: Path, sk_model_file: Path, sample_csv: Path) -> Path:
    """A folder written by ``pack`` from the sklearn pipeline."""
    from modelpack import api

    out = tmp_path / "packed"
    api.pack(sk_model_file, sample=sample_csv, output=out, name="mixed")
    return out


def signature_variant(src: Path, dest: Path, edit_inputs) -> Path:
    """A copy of model folder ``src`` whose input signature went through ``edit_inputs``.

    The manifest is resealed, so the copy is a whole, valid package with another signature.
    """
    import json
    import shutil

    import yaml

    from modelpack.package.manifest import write_manifest

    shutil.copytree(src, dest)
    doc = yaml.safe_load((dest / "MLmodel").read_text())
    inputs = json.loads(doc["signature"]["inputs"])
    doc["signature"]["inputs"] = json.dumps(edit_inputs(inputs))
    (dest / "MLmodel").write_text(yaml.safe_dump(doc))
    write_manifest(dest)
    return dest
