"""MLflow loads a folder packed before the package split, through the ``loader_module`` it names."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.interop

PACKED = REPO_ROOT / "tests" / "assets" / "packed_before_layout"


def test_mlflow_loads_and_predicts_a_folder_packed_before(tmp_path: Path) -> None:
    import mlflow.pyfunc
    import pandas as pd

    folder = tmp_path / "signal_quality"
    shutil.copytree(PACKED, folder)
    model = mlflow.pyfunc.load_model(str(folder))
    frame = pd.DataFrame({"signal_strength": [40.0, 10.0], "noise": [5.0, 5.0]})
    predicted = [round(float(v), 4) for v in model.predict(frame)]
    assert predicted == [0.7143, 0.0]
