"""Signature JSON against real MLflow: the same schema text both ways.

Runs MLflow in a subprocess (its interpreter from MODELPACK_MLFLOW_PYTHON) so MLflow never has to
be importable in the test environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from modelpack.signature import ParamSchema, Schema, Signature

pytestmark = pytest.mark.interop

MLFLOW_PYTHON = os.environ.get("MODELPACK_MLFLOW_PYTHON")


def _run_mlflow(script: str, tmp_path: Path) -> dict:
    if not MLFLOW_PYTHON:
        pytest.skip("MODELPACK_MLFLOW_PYTHON is not set")
    path = tmp_path / "probe.py"
    path.write_text(textwrap.dedent(script))
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "MLFLOW_TRACKING_URI": (tmp_path / "mlruns").as_uri()}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [MLFLOW_PYTHON, str(path)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


FRAMES = """
import datetime as dt, json, warnings
warnings.filterwarnings("ignore")
import numpy as np, pandas as pd
from mlflow.models import infer_signature
frames = {
    "basic": pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, None], "c": ["x", None, "z"],
                           "d": [True, False, True]}),
    "small_ints": pd.DataFrame({"i32": np.array([1, 2], dtype="int32"),
                                "f32": np.array([1.0, 2.0], dtype="float32")}),
    "dates": pd.DataFrame({"t": pd.to_datetime(["2024-01-01", "2024-01-02"])}),
    "int_names": pd.DataFrame(np.ones((2, 2))),
    "nested": pd.DataFrame({"arr": [[1, 2], [3]], "obj": [{"k": 1.0}, {"k": 2.0, "j": "s"}]}),
}
out = {}
for key, frame in frames.items():
    sig = infer_signature(frame, np.array([0, 1, 0][: len(frame)]),
                          params={"temp": 0.5, "n": 3, "tags": ["a", "b"], "flag": True})
    out[key] = sig.to_dict()
out["tensor"] = infer_signature(np.zeros((2, 3, 4), dtype="float32"), np.zeros((2, 5))).to_dict()
print(json.dumps(out))
"""


def test_mlflow_signatures_read_back_and_re_encode_identically(tmp_path: Path):
    produced = _run_mlflow(FRAMES, tmp_path)
    for key, mlmodel_form in produced.items():
        sig = Signature.from_mlmodel(mlmodel_form)
        assert sig.to_mlmodel() == mlmodel_form, key


def test_mlflow_reads_our_signatures_back_equal(tmp_path: Path):
    ours = {
        "cols": Signature(
            Schema.from_list(
                [
                    {"type": "long", "name": "a", "required": True},
                    {"type": "double", "name": "b", "required": False},
                    {"type": "datetime", "name": "t", "required": True},
                    {"type": "array", "items": {"type": "string"}, "name": "arr", "required": True},
                    {
                        "type": "object",
                        "properties": {"z": {"type": "long"}, "a": {"type": "binary", "required": False}},
                        "name": "obj",
                        "required": False,
                    },
                    {"type": "map", "values": {"type": "double"}, "name": "m", "required": True},
                    {"type": "any", "name": "anything", "required": False},
                ]
            ),
            Schema.from_list([{"type": "long", "required": True}]),
            ParamSchema.from_list(
                [
                    {"name": "temp", "type": "double", "default": 1, "shape": None},
                    {"name": "when", "type": "datetime", "default": "2024-01-02T03:04:05", "shape": None},
                    {"name": "ks", "type": "long", "default": [1, 2], "shape": [-1]},
                ]
            ),
        ),
        "tensors": Signature(
            Schema.from_list(
                [{"name": "x", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}}]
            ),
            Schema.from_list([{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 2]}}]),
        ),
    }
    payload = tmp_path / "ours.json"
    payload.write_text(json.dumps({k: v.to_mlmodel() for k, v in ours.items()}))
    script = f"""
    import json
    from mlflow.models.signature import ModelSignature
    data = json.load(open({str(payload)!r}))
    print(json.dumps({{k: ModelSignature.from_dict(v).to_dict() for k, v in data.items()}}))
    """
    back = _run_mlflow(script, tmp_path)
    for key, sig in ours.items():
        assert back[key] == sig.to_mlmodel(), key


INFER_SCRIPT = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from mlflow.models import infer_signature
out = {}
for name in sys.argv[1:]:
    frame = pd.read_parquet(name)
    out[name] = infer_signature(frame).inputs.to_json()
print(json.dumps(out))
"""


def test_inference_on_frames_matches_mlflow(tmp_path: Path):
    import datetime as dt

    import numpy as np
    import pandas as pd

    from modelpack.infer import infer_schema

    frames = {
        "basic": pd.DataFrame(
            {"a": [1, 2, 3], "b": [0.5, 1.5, None], "c": ["x", None, "z"], "d": [True, False, True]}
        ),
        "widths": pd.DataFrame(
            {
                "i8": np.array([1, 2], dtype="int8"),
                "i32": np.array([1, 2], dtype="int32"),
                "u32": np.array([1, 2], dtype="uint32"),
                "f32": np.array([1.0, 2.0], dtype="float32"),
            }
        ),
        "dates": pd.DataFrame(
            {
                "t": pd.to_datetime(["2024-01-01", "2024-01-02"]),
                "d": [dt.date(2024, 1, 1), dt.date(2024, 1, 2)],
            }
        ),
        "text": pd.DataFrame({"s": pd.Categorical(["a", "b"]), "raw": [b"x", b"y"]}),
        "nested": pd.DataFrame({"arr": [[1, 2], [3]], "obj": [{"k": 1.0}, {"k": 2.0, "j": "s"}]}),
    }
    paths = []
    for name, frame in frames.items():
        path = tmp_path / f"{name}.parquet"
        frame.to_parquet(path)
        paths.append(str(path))
    if not MLFLOW_PYTHON:
        pytest.skip("MODELPACK_MLFLOW_PYTHON is not set")
    script = tmp_path / "infer.py"
    script.write_text(INFER_SCRIPT)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [MLFLOW_PYTHON, str(script), *paths],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    theirs = json.loads(proc.stdout.strip().splitlines()[-1])
    for path in paths:
        ours = infer_schema(pd.read_parquet(path)).to_json()
        assert ours == theirs[path], Path(path).stem
