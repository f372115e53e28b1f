"""A model folder run from as the working directory cannot shadow the libraries loading imports."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import modelpack_cmd


def test_planted_sklearn_in_cwd_never_imports(tmp_path: Path, packed: Path) -> None:
    folder = tmp_path / "evil_pkg"
    shutil.copytree(packed, folder)
    marker = tmp_path / "PWNED"
    planted = folder / "sklearn"
    planted.mkdir()
    (planted / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    # No manifest (as MLflow saves folders): integrity only warns, so validate goes on to load.
    (folder / "modelpack.manifest.json").unlink()
    proc = subprocess.run(
        modelpack_cmd("validate", ".", "--json"), cwd=folder, capture_output=True, text=True, check=False
    )
    assert not marker.exists(), proc.stderr
    assert proc.returncode == 0, proc.stdout  # the real sklearn loaded the model
