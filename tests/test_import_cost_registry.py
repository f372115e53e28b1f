"""Registry commands must stay off the heavy scientific stack (and off PyYAML and rich where
they do not need them, which keeps their start-up close to a bare Typer app).

Each command runs in a fresh interpreter through the real entry point; the runner then reports
every module that was imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from modelpack.registry import FileRegistry
from tests.registry_models import make_model

# boto3 and botocore too: the S3 client is imported only for an s3:// home.
HEAVY = {
    "numpy",
    "pandas",
    "scipy",
    "sklearn",
    "pyarrow",
    "jsonschema",
    "cloudpickle",
    "joblib",
    "skops",
    "boto3",
    "botocore",
    "s3transfer",
    # the HTTP stack: only `modelpack serve` imports it
    "uvicorn",
    "starlette",
    "anyio",
    "h11",
}

RUNNER = """
import json, sys
out = sys.argv[1]
sys.argv = ["modelpack", *sys.argv[2:]]
from modelpack.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
with open(out, "w") as fh:
    json.dump({"code": code, "modules": sorted(sys.modules)}, fh)
"""


def _imported(tmp_path: Path, *args: str) -> set[str]:
    out = tmp_path / "modules.json"
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, str(out), *args], capture_output=True, text=True, timeout=60
    )
    report = json.loads(out.read_text())
    assert report["code"] in (0, None), proc.stderr
    return {name.split(".")[0] for name in report["modules"]}


@pytest.fixture
def populated(tmp_path: Path, _isolate: Path) -> Path:
    registry = FileRegistry(_isolate)
    registry.register(make_model(tmp_path / "m1", seed=1), name="iris")
    registry.register(make_model(tmp_path / "m2", seed=2), name="iris")
    return make_model(tmp_path / "m3", seed=3)


@pytest.mark.parametrize(
    "args",
    [
        ("list",),
        ("list", "iris"),
        ("list", "models:/iris/latest", "--field", "version"),
        ("history", "iris"),
        ("promote", "iris", "1", "--stage", "Production", "--alias", "champion"),
        ("delete", "iris", "2"),
        ("gc",),
        ("doctor",),
    ],
)
def test_registry_commands_import_nothing_heavy(
    tmp_path: Path, populated: Path, args: tuple[str, ...]
) -> None:
    modules = _imported(tmp_path, *args)
    assert "modelpack" in modules
    assert not modules & HEAVY
    assert "yaml" not in modules  # reading and promoting never parse YAML
    assert "rich" not in modules  # results are plain text; rich is only for errors


def test_register_imports_nothing_heavy(tmp_path: Path, populated: Path) -> None:
    modules = _imported(tmp_path, "register", str(populated), "--name", "iris")
    assert "yaml" in modules  # MLmodel is read with yaml.safe_load
    assert not modules & HEAVY
    assert "rich" not in modules


def test_register_with_provenance_options_imports_nothing_heavy(tmp_path: Path, populated: Path) -> None:
    # Metrics and params are text; only --training-data (schema inference) may load pandas.
    modules = _imported(
        tmp_path, "register", str(populated), "--name", "iris", "--metric", "auc=0.9", "--param", "C=1"
    )
    assert not modules & HEAVY
    assert "rich" not in modules


def test_copy_export_and_import_import_nothing_heavy(tmp_path: Path, populated: Path) -> None:
    archive = tmp_path / "iris.tar.gz"
    for args in (
        ("copy", "models:/iris/1", str(tmp_path / "other-home")),
        ("export", "models:/iris/1", "--output", str(archive)),
        ("import", str(archive), "--name", "iris-imported"),
    ):
        modules = _imported(tmp_path, *args)
        assert "modelpack" in modules
        assert not modules & HEAVY, args
        assert "boto3" not in modules and "botocore" not in modules, args  # local homes only
        assert "rich" not in modules, args


def test_register_from_mlflow_runs_imports_nothing_heavy(tmp_path: Path, _isolate: Path) -> None:
    from tests.mlflow_stores import Run, build_file_store, build_sqlite_store

    run = Run("e" * 32)
    stores = (
        str(build_file_store(tmp_path / "mlruns", [run])),
        f"sqlite:///{build_sqlite_store(tmp_path / 'mlflow.db', tmp_path / 'artifacts', [run])}",
    )
    for n, store in enumerate(stores):
        args = ("register", f"runs:/{run.run_id}/model", "--name", f"run{n}", "--tracking-uri", store)
        modules = _imported(tmp_path, *args)
        assert not modules & HEAVY, store
        assert not modules & {"mlflow", "sqlalchemy", "alembic"}, store
