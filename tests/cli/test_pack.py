from __future__ import annotations

import json
import pickle
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from modelpack.cli import app
from modelpack.package.manifest import read_manifest, verify_folder
from tests.conftest import ENVELOPE_KEYS, modelpack_cmd

runner = CliRunner()

EXPECTED_FILES = {
    "MLmodel",
    "conda.yaml",
    "python_env.yaml",
    "requirements.txt",
    "input_example.json",
    "serving_input_example.json",
    "modelpack.manifest.json",
}


def _pack(*args: str):
    return runner.invoke(app, ["pack", *args], catch_exceptions=False)


def test_pack_sklearn_pipeline_writes_mlflow_folder(
    tmp_path: Path, sk_model_file: Path, sample_csv: Path
) -> None:
    out = tmp_path / "out"
    result = _pack(str(sk_model_file), "--sample", str(sample_csv), "--output", str(out), "--name", "mixed")
    assert result.exit_code == 0, result.stderr
    assert "packed" in result.stdout
    names = {p.name for p in out.iterdir()}
    assert names >= EXPECTED_FILES
    assert "model.skops" in names  # LogisticRegression pipeline: every type is skops-trusted

    mlmodel = yaml.safe_load((out / "MLmodel").read_text())
    assert mlmodel["flavors"]["python_function"]["loader_module"] == "mlflow.sklearn"
    assert mlmodel["flavors"]["python_function"]["model_path"] == "model.skops"
    assert mlmodel["flavors"]["sklearn"]["serialization_format"] == "skops"
    assert len(mlmodel["model_uuid"]) == 32
    inputs = json.loads(mlmodel["signature"]["inputs"])
    assert [(c["name"], c["type"]) for c in inputs] == [
        ("count", "long"),
        ("ratio", "double"),
        ("color", "string"),
        ("flag", "boolean"),
    ]
    outputs = json.loads(mlmodel["signature"]["outputs"])
    assert outputs == [{"type": "long", "required": True}]
    assert mlmodel["saved_input_example_info"]["type"] == "dataframe"
    example = json.loads((out / "input_example.json").read_text())
    assert example["columns"] == ["count", "ratio", "color", "flag"]
    assert len(example["data"]) == 5

    reqs = (out / "requirements.txt").read_text().splitlines()
    assert any(r.startswith("scikit-learn==") for r in reqs)
    assert any(r.startswith("skops==") for r in reqs)
    manifest = read_manifest(out)
    assert manifest is not None and verify_folder(out, manifest).ok


def test_pack_json_envelope(tmp_path: Path, sk_model_file: Path, sample_csv: Path) -> None:
    out = tmp_path / "out"
    result = _pack(str(sk_model_file), "-s", str(sample_csv), "-o", str(out), "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert set(doc) == ENVELOPE_KEYS
    assert doc["status"] == "ok" and doc["command"] == "pack"
    assert doc["data"]["flavor"] == "sklearn"
    assert doc["data"]["digest"].startswith("sha256:")


def test_pack_cloudpickle_when_skops_does_not_trust(tmp_path: Path, mixed_frame, sample_csv: Path) -> None:
    import joblib
    from sklearn.ensemble import GradientBoostingClassifier

    frame = mixed_frame[["count", "ratio"]]
    model = GradientBoostingClassifier(n_estimators=3).fit(frame, frame["count"] > 50)
    model_path = tmp_path / "gb.joblib"
    joblib.dump(model, model_path)
    sample = tmp_path / "gb.csv"
    frame.to_csv(sample, index=False)
    out = tmp_path / "out"
    result = _pack(str(model_path), "-s", str(sample), "-o", str(out), "--json")
    assert result.exit_code == 0, result.stdout
    data = json.loads(result.stdout)["data"]
    assert data["serialization"] == "cloudpickle"
    assert "sklearn.tree._tree.Tree" in data["serialization_reason"]
    assert (out / "model.pkl").is_file()


def test_pack_numpy_regressor_gets_tensor_signature(tmp_path: Path) -> None:
    import joblib
    import numpy as np
    from sklearn.linear_model import Ridge

    x = np.random.default_rng(0).normal(size=(30, 3))
    joblib.dump(Ridge().fit(x, x.sum(axis=1)), tmp_path / "r.joblib")
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out"
    result = _pack(str(tmp_path / "r.joblib"), "-s", str(tmp_path / "x.npy"), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    mlmodel = yaml.safe_load((out / "MLmodel").read_text())
    inputs = json.loads(mlmodel["signature"]["inputs"])
    assert inputs == [{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 3]}}]
    # A 1-D prediction for a tensor input is a [-1] tensor, as MLflow records it.
    outputs = json.loads(mlmodel["signature"]["outputs"])
    assert outputs == [{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}]
    assert mlmodel["saved_input_example_info"]["type"] == "ndarray"


def test_pack_generic_model_from_python_file(tmp_path: Path, sample_csv: Path) -> None:
    source = tmp_path / "mymodel.py"
    source.write_text(
        "class Doubler:\n"
        "    def predict(self, data):\n"
        "        return (data['count'] * 2).to_numpy()\n"
        "\n"
        "def make():\n"
        "    return Doubler()\n"
    )
    out = tmp_path / "out"
    result = _pack(f"{source}:make", "-s", str(sample_csv), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    mlmodel = yaml.safe_load((out / "MLmodel").read_text())
    assert set(mlmodel["flavors"]) == {"modelpack", "python_function"}
    assert mlmodel["flavors"]["python_function"]["loader_module"] == "modelpack.pyfunc_loader"
    # The class travels by value: loading works after the source file is gone.
    source.unlink()
    import pandas as pd

    from modelpack.pyfunc_loader import _load_pyfunc

    frame = pd.read_csv(sample_csv)
    assert list(_load_pyfunc(str(out)).predict(frame)) == list(frame["count"] * 2)


def test_missing_model_file_exit_4_nothing_written(tmp_path: Path, sample_csv: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["pack", str(tmp_path / "nope.pkl"), "-s", str(sample_csv), "-o", str(out)])
    assert result.exit_code == 4
    assert result.stdout == ""
    assert result.stderr.startswith("error: model file not found")
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_pickle_that_is_not_a_model(tmp_path: Path, sample_csv: Path) -> None:
    path = tmp_path / "dict.pkl"
    path.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    out = tmp_path / "out"
    result = runner.invoke(app, ["pack", str(path), "-s", str(sample_csv), "-o", str(out)])
    assert result.exit_code == 3
    assert "not a model" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "empty"), ("a,b\n1,2\n3,4,5\n", "")],
    ids=["empty", "ragged"],
)
def test_bad_sample_exit_1(tmp_path: Path, sk_model_file: Path, content: str, message: str) -> None:
    sample = tmp_path / "bad.csv"
    sample.write_text(content)
    out = tmp_path / "out"
    result = runner.invoke(app, ["pack", str(sk_model_file), "-s", str(sample), "-o", str(out)])
    assert result.exit_code == 1, result.stderr
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2
    assert not out.exists()


def test_sample_the_model_rejects_exit_3(tmp_path: Path, sk_model_file: Path) -> None:
    sample = tmp_path / "other.csv"
    sample.write_text("x,y\n1,2\n3,4\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["pack", str(sk_model_file), "-s", str(sample), "-o", str(out)])
    assert result.exit_code == 3
    assert "cannot predict on other.csv" in result.stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_existing_output_conflict_then_force(tmp_path: Path, sk_model_file: Path, sample_csv: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = runner.invoke(app, ["pack", str(sk_model_file), "-s", str(sample_csv), "-o", str(out)])
    assert result.exit_code == 5
    assert "--force" in result.stderr
    assert (out / "keep.txt").read_text() == "mine"
    result = runner.invoke(
        app, ["pack", str(sk_model_file), "-s", str(sample_csv), "-o", str(out), "--force"]
    )
    assert result.exit_code == 0, result.stderr
    assert not (out / "keep.txt").exists()
    assert (out / "MLmodel").is_file()


def test_malicious_model_file_is_refused_and_never_runs(tmp_path: Path, sample_csv: Path) -> None:
    marker = tmp_path / "PWNED"

    class Payload:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(Payload()))
    result = runner.invoke(app, ["pack", str(path), "-s", str(sample_csv), "-o", str(tmp_path / "out")])
    assert result.exit_code == 3
    assert "system" in result.stderr
    assert not marker.exists()


def test_metadata_must_be_key_value(tmp_path: Path, sk_model_file: Path, sample_csv: Path) -> None:
    result = runner.invoke(
        app, ["pack", str(sk_model_file), "-s", str(sample_csv), "-o", str(tmp_path / "o"), "-m", "novalue"]
    )
    assert result.exit_code == 2
    assert "KEY=VALUE" in result.stderr


INPUT_SCHEMA = [
    {"name": "count", "type": "long"},
    {"name": "ratio", "type": "double"},
    {"name": "color", "type": "string"},
    {"name": "flag", "type": "boolean"},
]
OUTPUT_SCHEMA = [{"name": "label", "type": "long"}]


def test_cli_options_land_where_api_keywords_do(
    tmp_path: Path, sk_model_file: Path, sample_csv: Path
) -> None:
    """The CLI and api.pack build the same options: the same folder, to the byte, and each option
    recorded where it belongs."""
    from modelpack import api

    inputs, outputs = tmp_path / "inputs.json", tmp_path / "outputs.json"
    inputs.write_text(json.dumps(INPUT_SCHEMA))
    outputs.write_text(json.dumps(OUTPUT_SCHEMA))
    by_cli = tmp_path / "cli"
    result = _pack(
        str(sk_model_file),
        *("-s", str(sample_csv), "-o", str(by_cli), "--name", "mixed", "--description", "first cut"),
        *("-m", "team=ml", "-m", "stage=dev", "--input-schema", str(inputs), "--output-schema", str(outputs)),
        *("--example-rows", "3", "--sample-rows", "40", "--serialization", "cloudpickle", "--json"),
    )
    assert result.exit_code == 0, result.stderr
    by_api = api.pack(
        sk_model_file,
        sample=sample_csv,
        output=tmp_path / "api",
        name="mixed",
        description="first cut",
        metadata={"team": "ml", "stage": "dev"},
        input_schema_file=inputs,
        output_schema_file=outputs,
        example_rows=3,
        sample_rows=40,
        serialization="cloudpickle",
    )
    assert json.loads(result.stdout)["data"]["digest"] == by_api.digest

    mlmodel = yaml.safe_load((by_cli / "MLmodel").read_text())
    assert (mlmodel["modelpack"]["name"], mlmodel["modelpack"]["description"]) == ("mixed", "first cut")
    assert mlmodel["metadata"] == {"team": "ml", "stage": "dev"}
    assert json.loads(mlmodel["signature"]["outputs"]) == [{**OUTPUT_SCHEMA[0], "required": True}]
    assert len(json.loads((by_cli / "input_example.json").read_text())["data"]) == 3
    assert mlmodel["flavors"]["sklearn"]["serialization_format"] == "cloudpickle"


def test_signature_file_replaces_inference(tmp_path: Path, sk_model_file: Path, sample_csv: Path) -> None:
    declared = {"inputs": json.dumps(INPUT_SCHEMA), "outputs": json.dumps(OUTPUT_SCHEMA)}
    signature_file = tmp_path / "signature.json"
    signature_file.write_text(json.dumps(declared))
    out = tmp_path / "out"
    result = _pack(
        str(sk_model_file), "-s", str(sample_csv), "-o", str(out), "--signature", str(signature_file)
    )
    assert result.exit_code == 0, result.stderr
    recorded = yaml.safe_load((out / "MLmodel").read_text())["signature"]
    assert [c["name"] for c in json.loads(recorded["outputs"])] == ["label"]  # inferred: no name


def test_usage_error_with_json_is_an_envelope(tmp_path: Path) -> None:
    proc = subprocess.run(modelpack_cmd("pack", "--json"), capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    doc = json.loads(proc.stdout)
    assert doc["status"] == "error" and doc["exit_code"] == 2
    assert doc["errors"][0]["code"] == "usage"


def test_pack_writes_nothing_to_home(
    tmp_path: Path, sk_model_file: Path, sample_csv: Path, _isolate: Path
) -> None:
    result = _pack(str(sk_model_file), "-s", str(sample_csv), "-o", str(tmp_path / "o"))
    assert result.exit_code == 0
    assert not _isolate.exists()


def test_pack_from_skops_file_trusts_only_vetted_types(tmp_path: Path, mixed_frame) -> None:
    """A skops file holding types skops does not trust by default loads when the allowlist vets them."""
    import skops.io as sio
    from sklearn.ensemble import GradientBoostingClassifier

    frame = mixed_frame[["count", "ratio"]]
    model = GradientBoostingClassifier(n_estimators=3).fit(frame, frame["count"] > 50)
    assert sio.get_untrusted_types(data=sio.dumps(model))  # skops alone would refuse it
    sio.dump(model, tmp_path / "gb.skops")
    frame.to_csv(tmp_path / "gb.csv", index=False)
    out = tmp_path / "out"
    result = _pack(str(tmp_path / "gb.skops"), "-s", str(tmp_path / "gb.csv"), "-o", str(out), "--json")
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout)["data"]["flavor"] == "sklearn"
    validate = runner.invoke(app, ["validate", str(out), "--json"])
    assert validate.exit_code == 0, validate.stdout
