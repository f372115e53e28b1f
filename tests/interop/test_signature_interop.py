"""Signature JSON against real MLflow: the same schema text both ways.

MLflow's ``ModelSignature.to_dict()`` is exactly the ``signature:`` block of an MLmodel (three
JSON strings), so equality of those strings means byte-identical MLmodel signatures.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelpack.schema.signature import ParamSchema, Schema, Signature

pytestmark = pytest.mark.interop

PARAMS = {"temp": 0.5, "n": 3, "tags": ["a", "b"], "flag": True, "when": dt.datetime(2024, 1, 2, 3, 4, 5)}


def _mlflow_signatures() -> dict[str, Any]:
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature

    frames = {
        "basic": pd.DataFrame(
            {"a": [1, 2, 3], "b": [0.5, 1.5, None], "c": ["x", None, "z"], "d": [True, False, True]}
        ),
        "small_ints": pd.DataFrame(
            {"i32": np.array([1, 2], dtype="int32"), "f32": np.array([1.0, 2.0], dtype="float32")}
        ),
        "dates": pd.DataFrame({"t": pd.to_datetime(["2024-01-01", "2024-01-02"])}),
        "int_names": pd.DataFrame(np.ones((2, 2))),
        "binary": pd.DataFrame({"b": [b"ab", b"cd"]}),
        "nested": pd.DataFrame({"arr": [[1, 2], [3]], "obj": [{"k": 1.0}, {"k": 2.0, "j": "s"}]}),
        "maps": [{"m": {"x": 1.0}}, {"m": {"y": 2.0}}],
    }
    out = {}
    for key, data in frames.items():
        out[key] = infer_signature(data, np.array([0, 1, 0][: len(data)]), params=PARAMS)
    out["tensor"] = infer_signature(np.zeros((2, 3, 4), dtype="float32"), np.zeros((2, 5)))
    out["named_tensors"] = infer_signature(
        {"x": np.zeros((2, 3), dtype="int64"), "y": np.array(["a", "b"])}, pd.Series([1.5, 2.5], name="score")
    )
    return out


def test_mlflow_signatures_read_back_and_re_encode_identically():
    for key, signature in _mlflow_signatures().items():
        mlmodel_form = signature.to_dict()
        ours = Signature.from_mlmodel(mlmodel_form)
        assert ours.to_mlmodel() == mlmodel_form, key


def test_signature_block_of_an_mlflow_mlmodel_file_re_encodes_byte_identically(tmp_path: Path):
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    frame = pd.DataFrame({"x": [0.1, 0.9, 0.2, 0.8], "n": [1, 2, 3, 4], "s": ["a", "b", "a", "b"]})
    model = LogisticRegression().fit(frame[["x", "n"]], [0, 1, 0, 1])
    signature = infer_signature(frame, model.predict(frame[["x", "n"]]), params={"k": 1})
    folder = tmp_path / "m"
    mlflow.sklearn.save_model(model, str(folder), signature=signature, pip_requirements=["scikit-learn"])

    text = (folder / "MLmodel").read_text()
    block = yaml.safe_load(text)["signature"]
    ours = Signature.from_mlmodel(block)
    assert ours.to_mlmodel() == block
    # The YAML MLflow wrote for the block, re-dumped from our encoding, is the same text too.
    dumped = yaml.safe_dump({"signature": ours.to_mlmodel()}, default_flow_style=False)
    assert dumped.strip() in text


def test_mlflow_reads_our_signatures_back_equal():
    from mlflow.models.signature import ModelSignature

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
    for key, signature in ours.items():
        assert ModelSignature.from_dict(signature.to_mlmodel()).to_dict() == signature.to_mlmodel(), key


def test_inference_on_frames_matches_mlflow(tmp_path: Path):
    """Frames read back from Parquet infer to the same schema JSON in both tools."""
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature

    from modelpack.schema.infer import infer_schema

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
    for name, frame in frames.items():
        path = tmp_path / f"{name}.parquet"
        frame.to_parquet(path)
        data = pd.read_parquet(path)
        assert infer_schema(data).to_json() == infer_signature(data).inputs.to_json(), name
