"""Hand-built MLmodel folders for registry tests (no training, no ``pack`` command needed).

The folder is a real pyfunc model: ``code/mp_test_loader.py`` is its ``loader_module``, so
``mlflow.pyfunc.load_model`` can load it; ``model.pkl`` is a pickled plain dict.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import yaml

from modelpack.package.manifest import write_manifest

LOADER = """\
import pickle
import os


class _Model:
    def __init__(self, params):
        self.params = params

    def predict(self, model_input, params=None):
        return [self.params["scale"] * float(x) for x in list(model_input["x"])]


def _load_pyfunc(path):
    with open(os.path.join(path, "model.pkl") if os.path.isdir(path) else path, "rb") as fh:
        return _Model(pickle.load(fh))
"""


def make_model(folder: Path, *, seed: int = 0, payload: bytes = b"", manifest: bool = True) -> Path:
    """Write a small, valid-looking MLmodel folder; ``seed`` makes its content distinct."""
    folder.mkdir(parents=True, exist_ok=True)
    signature = {
        "inputs": json.dumps([{"type": "double", "name": "x", "required": True}]),
        "outputs": json.dumps([{"type": "double", "required": True}]),
        "params": None,
    }
    mlmodel = {
        "artifact_path": "model",
        "flavors": {
            "python_function": {
                "loader_module": "mp_test_loader",
                "code": "code",
                "data": "model.pkl",
                "python_version": "3.11.7",
                "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
            }
        },
        "mlflow_version": "3.18.0",
        "model_uuid": f"{seed:032x}",
        "utc_time_created": "2025-01-01 00:00:00.000000",
        "signature": signature,
    }
    (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel, default_flow_style=False, sort_keys=True))
    (folder / "model.pkl").write_bytes(pickle.dumps({"scale": float(seed + 1), "seed": seed}))
    (folder / "conda.yaml").write_text(
        "channels: [conda-forge]\ndependencies:\n- python=3.11\n- pip\n- pip: [cloudpickle]\nname: mlflow-env\n"
    )
    (folder / "python_env.yaml").write_text(
        "python: 3.11.7\nbuild_dependencies: [pip]\ndependencies: [-r requirements.txt]\n"
    )
    (folder / "requirements.txt").write_text("cloudpickle\n")
    (folder / "code").mkdir(exist_ok=True)
    (folder / "code" / "mp_test_loader.py").write_text(LOADER)
    if payload:
        (folder / "weights.bin").write_bytes(payload)
    if manifest:
        write_manifest(folder)
    return folder
