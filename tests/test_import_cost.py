"""Fast start-up by design: help and metadata-only commands import no heavy library.

The checks are on the set of modules imported, not on timings, so they hold on a busy machine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ASSET = Path(__file__).parent / "assets" / "print_modules.py"

# Off inspect's path, each worth milliseconds of start-up: rich (inspect prints aligned plain
# text; rich's table layout also pulls in fractions and decimal), importlib.metadata and email
# (reading installed distributions is for pack), jsonschema, and zipfile (opening skops files).
NOT_ON_INSPECT_PATH = ("rich", "fractions", "decimal", "importlib.metadata", "email", "jsonschema", "zipfile")


def imported(*argv: str) -> tuple[list[str], set[str]]:
    """(heavy libraries, every module) imported by running ``modelpack *argv`` in a fresh interpreter."""
    proc = subprocess.run([sys.executable, str(ASSET), *argv], capture_output=True, text=True, check=False)
    lines = proc.stderr.splitlines()
    heavy = next(line for line in lines if line.startswith("HEAVY:")).removeprefix("HEAVY:")
    modules = next(line for line in lines if line.startswith("MODULES:")).removeprefix("MODULES:")
    return [m for m in heavy.split(",") if m], set(modules.split(","))


def heavy_modules(*argv: str) -> list[str]:
    return imported(*argv)[0]


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["pack", "--help"], ["inspect", "--help"]])
def test_help_imports_nothing_heavy(argv: list[str]) -> None:
    assert heavy_modules(*argv) == []


def test_inspect_imports_nothing_heavy(packed: Path) -> None:
    assert heavy_modules("inspect", str(packed)) == []
    assert heavy_modules("inspect", str(packed), "--json") == []


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_inspect_start_up_path_stays_lean(packed: Path, json_flag: list[str]) -> None:
    heavy, modules = imported("inspect", str(packed), *json_flag)
    assert "modelpack.package.inspector" in modules  # the command really ran
    loaded = sorted(m for m in modules if m.split(".")[0] in NOT_ON_INSPECT_PATH or m in NOT_ON_INSPECT_PATH)
    assert loaded == []


# The HTTP stack is for `modelpack serve` alone (click comes with uvicorn; typer does not use it).
HTTP_STACK = ("uvicorn", "starlette", "anyio", "h11", "click", "httptools", "uvloop", "websockets")


def _http_modules(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HTTP_STACK or m == "modelpack.serving.server")


@pytest.mark.parametrize("argv", [["--help"], ["serve", "--help"], ["predict", "--help"]])
def test_only_serve_imports_the_http_stack_help(argv: list[str]) -> None:
    modules = imported(*argv)[1]
    assert _http_modules(modules) == []
    assert "logging" not in modules  # serve configures its logs only when it serves


def test_only_serve_imports_the_http_stack(packed: Path, sample_csv: Path, tmp_path: Path) -> None:
    assert _http_modules(imported("inspect", str(packed))[1]) == []
    _, modules = imported(
        "predict", str(packed), "--data", str(sample_csv), "--output", str(tmp_path / "p.csv")
    )
    assert "modelpack.serving.scoring" in modules  # the command really ran
    assert _http_modules(modules) == []
    _, modules = imported("validate", str(packed))
    assert _http_modules(modules) == []


PYTHON_API = """
import json, sys
import modelpack
names = dir(modelpack)
reg = modelpack.Registry  # a registry object costs no science either
err = modelpack.NotFoundError
print(json.dumps({"names": names, "modules": sorted(sys.modules)}))
"""


def test_import_modelpack_and_dir_load_nothing_heavy() -> None:
    import json

    proc = subprocess.run([sys.executable, "-c", PYTHON_API], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    heavy = ("numpy", "pandas", "scipy", "sklearn", "pyarrow", "jsonschema", "cloudpickle", "skops", "joblib")
    assert [m for m in found["modules"] if m.split(".")[0] in heavy] == []
    assert _http_modules(set(found["modules"])) == []
    import modelpack

    assert set(modelpack.__all__) <= set(found["names"])
    for name in ("pack", "load_model", "Registry", "predict", "validate", "infer_schema", "Schema"):
        assert name in found["names"]


def test_every_public_name_resolves_and_py_typed_ships() -> None:
    import modelpack

    for name in modelpack.__all__:
        assert getattr(modelpack, name) is not None, name
    assert set(modelpack.__all__) == {"__version__", *modelpack._LAZY}
    assert (Path(modelpack.__file__).parent / "py.typed").is_file()
    with pytest.raises(AttributeError):
        _ = modelpack.no_such_thing  # type: ignore[attr-defined]
