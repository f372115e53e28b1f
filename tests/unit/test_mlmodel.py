from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from modelpack.errors import InvalidModelError
from modelpack.package.mlmodel import SAFE_LOADER, read_mlmodel


def test_reads_with_libyaml_safe_loader_when_available() -> None:
    # MLflow reads MLmodel with CSafeLoader too; the pure-Python parser is several times slower.
    assert SAFE_LOADER is (yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader)


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system ['touch {marker}']",
        "!!python/object/new:subprocess.Popen [['touch', '{marker}']]",
        "!!python/name:os.system",
    ],
)
def test_python_tags_are_refused_and_never_run(tmp_path: Path, tag: str) -> None:
    marker = tmp_path / "PWNED"
    folder = tmp_path / "model"
    folder.mkdir()
    text = f"flavors:\n  python_function:\n    loader_module: {tag.format(marker=marker)}\n"
    (folder / "MLmodel").write_text(text)
    with pytest.raises(InvalidModelError, match="not valid YAML"):
        read_mlmodel(folder)
    assert not marker.exists()


def test_reads_what_safe_load_reads(tmp_path: Path) -> None:
    doc = {
        "flavors": {"python_function": {"loader_module": "mlflow.sklearn", "env": {"conda": "conda.yaml"}}},
        "utc_time_created": "2024-01-02 03:04:05.678901",
        "metadata": {"n": 3, "ratio": 0.5, "flag": True, "none": None, "text": "ünïcode", "list": [1, "a"]},
        "signature": {"inputs": '[{"type": "double", "name": "x", "required": true}]'},
    }
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text(yaml.safe_dump(doc, default_flow_style=False), encoding="utf-8")
    assert read_mlmodel(folder).raw == yaml.safe_load((folder / "MLmodel").read_text(encoding="utf-8"))
