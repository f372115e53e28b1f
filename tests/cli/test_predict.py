"""``modelpack predict`` end to end on the sample models, every input and output format."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from modelpack import api
from modelpack.cli import app
from tests.cli.test_validate import malicious_folders, mlflow_saved_folder

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_models"


def _load_module(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The sample models trained and packed once for this module."""
    root = tmp_path_factory.mktemp("samples")
    train = _load_module("sample_train", SAMPLES / "train.py")
    train.train_iris(root / "iris")
    train.train_wifi(root / "wifi")
    train.train_regressor(root / "regressor")
    packed = root / "packed"
    api.pack(root / "iris" / "model.joblib", sample=root / "iris" / "sample.csv", output=packed / "iris")
    api.pack(root / "wifi" / "model.joblib", sample=root / "wifi" / "sample.csv", output=packed / "wifi")
    api.pack(
        root / "regressor" / "model.joblib",
        sample=root / "regressor" / "sample.npy",
        output=packed / "regressor",
    )
    return {"root": root, "packed": packed, "train": train}


def _write(frame: pd.DataFrame, path: Path) -> Path:
    suffix = path.suffix
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix == ".json":
        frame.to_json(path, orient="records")
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    return path


def _read_output(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pandas()
    if path.suffix == ".json":
        return pd.DataFrame(json.loads(path.read_text()))
    return pd.DataFrame([json.loads(line) for line in path.read_text().splitlines()])


INPUT_SUFFIXES = [".csv", ".tsv", ".parquet", ".json", ".jsonl"]


@pytest.mark.parametrize("suffix", INPUT_SUFFIXES)
@pytest.mark.parametrize("model", ["iris", "wifi"])
def test_predictions_equal_direct_calls(samples, tmp_path: Path, model: str, suffix: str) -> None:
    root = samples["root"]
    frame = pd.read_csv(root / model / "sample.csv")
    data = _write(frame, tmp_path / f"in{suffix}")
    out = tmp_path / "out.csv"
    result = runner.invoke(
        app,
        [
            "predict",
            str(samples["packed"] / model),
            "--data",
            str(data),
            "--output",
            str(out),
            "--batch-rows",
            "64",
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert f"predicted {len(frame)} rows" in result.stdout
    expected = joblib.load(root / model / "model.joblib").predict(frame)
    assert _read_output(out)["prediction"].tolist() == expected.tolist()


def test_regressor_on_npy_equals_direct_call(samples, tmp_path: Path) -> None:
    root = samples["root"]
    x = np.load(root / "regressor" / "sample.npy")
    out = tmp_path / "out.parquet"
    result = runner.invoke(
        app,
        [
            "predict",
            str(samples["packed"] / "regressor"),
            "--data",
            str(root / "regressor" / "sample.npy"),
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.stderr
    expected = joblib.load(root / "regressor" / "model.joblib").predict(x)
    np.testing.assert_array_equal(_read_output(out)["prediction"].to_numpy(), expected)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json", ".jsonl"])
def test_every_output_format_keeps_values_and_order(samples, tmp_path: Path, suffix: str) -> None:
    root = samples["root"]
    frame = samples["train"].wifi_frame(1000, seed=7)
    data = _write(frame, tmp_path / "in.csv")
    out = tmp_path / f"out{suffix}"
    result = runner.invoke(
        app,
        [
            "predict",
            str(samples["packed"] / "wifi"),
            "--data",
            str(data),
            "--output",
            str(out),
            "--method",
            "predict_proba",
            "--batch-rows",
            "300",
        ],
    )
    assert result.exit_code == 0, result.stderr
    got = _read_output(out)
    assert list(got.columns) == ["proba_0", "proba_1"]
    expected = joblib.load(root / "wifi" / "model.joblib").predict_proba(frame)
    if suffix == ".csv":
        # Binary formats are exact. CSV is text: pyarrow before 26 (what Python 3.10 gets) does
        # not always print the shortest round-tripping digits, which costs up to an ulp.
        np.testing.assert_allclose(got.to_numpy(dtype=float), expected, rtol=0, atol=1e-15)
    else:
        np.testing.assert_array_equal(got.to_numpy(dtype=float), expected)


def test_stdout_output_is_csv_with_summary_on_stderr(samples, tmp_path: Path) -> None:
    data = samples["root"] / "iris" / "sample.csv"
    result = runner.invoke(app, ["predict", str(samples["packed"] / "iris"), "--data", str(data)])
    assert result.exit_code == 0, result.stderr
    frame = pd.read_csv(io.StringIO(result.stdout))
    expected = joblib.load(samples["root"] / "iris" / "model.joblib").predict(pd.read_csv(data))
    assert frame["prediction"].tolist() == expected.tolist()
    assert "predicted 30 rows" in result.stderr


def test_json_envelope_carries_predictions(samples) -> None:
    data = samples["root"] / "iris" / "sample.csv"
    result = runner.invoke(app, ["predict", str(samples["packed"] / "iris"), "--data", str(data), "--json"])
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["status"] == "ok"
    assert document["data"]["rows"] == 30
    expected = joblib.load(samples["root"] / "iris" / "model.joblib").predict(pd.read_csv(data))
    assert [r["prediction"] for r in document["data"]["predictions"]] == expected.tolist()


def test_data_with_violations_exits_3_with_the_report(samples, tmp_path: Path) -> None:
    frame = pd.read_csv(samples["root"] / "wifi" / "sample.csv").drop(columns=["noise"])
    frame["channel"] = frame["channel"].astype(object)
    frame.loc[[3, 150], "channel"] = "auto"
    data = _write(frame, tmp_path / "bad.csv")
    out = tmp_path / "out.csv"
    result = runner.invoke(
        app,
        [
            "predict",
            str(samples["packed"] / "wifi"),
            "--data",
            str(data),
            "-o",
            str(out),
            "--batch-rows",
            "50",
        ],
    )
    assert result.exit_code == 3
    assert "Traceback" not in result.stderr
    assert "column 'noise'" in result.stderr
    assert "column 'channel'" in result.stderr and "150" in result.stderr
    assert not out.exists()
    as_json = runner.invoke(app, ["predict", str(samples["packed"] / "wifi"), "--data", str(data), "--json"])
    assert as_json.exit_code == 3
    error = json.loads(as_json.stdout)["errors"][0]
    assert error["code"] == "schema_violation"
    assert {"noise", "channel"} <= {v["column"] for v in error["violations"]}


def test_missing_target_and_data_exit_4(samples, tmp_path: Path) -> None:
    data = samples["root"] / "iris" / "sample.csv"
    assert runner.invoke(app, ["predict", str(tmp_path / "none"), "--data", str(data)]).exit_code == 4
    missing = runner.invoke(
        app, ["predict", str(samples["packed"] / "iris"), "--data", str(tmp_path / "x.csv")]
    )
    assert missing.exit_code == 4
    assert missing.stderr.startswith("error: data file not found")


def test_unknown_output_suffix_is_a_usage_error(samples, tmp_path: Path) -> None:
    data = samples["root"] / "iris" / "sample.csv"
    result = runner.invoke(
        app, ["predict", str(samples["packed"] / "iris"), "--data", str(data), "-o", str(tmp_path / "o.xml")]
    )
    assert result.exit_code == 2
    assert "output format" in result.stderr


def test_predict_proba_on_a_regressor_is_refused(samples) -> None:
    data = samples["root"] / "regressor" / "sample.npy"
    result = runner.invoke(
        app,
        ["predict", str(samples["packed"] / "regressor"), "--data", str(data), "--method", "predict_proba"],
    )
    assert result.exit_code == 3
    assert "no predict_proba method" in result.stderr


def test_mlflow_saved_folder_predicts(tmp_path: Path) -> None:
    folder = mlflow_saved_folder(tmp_path / "m")
    data = tmp_path / "in.csv"
    pd.DataFrame({"a": [1, 30], "b": [0.1, 0.9]}).to_csv(data, index=False)
    result = runner.invoke(app, ["predict", str(folder), "--data", str(data), "--json"])
    assert result.exit_code == 0, result.stdout
    assert [r["prediction"] for r in json.loads(result.stdout)["data"]["predictions"]] == [0, 1]


# --------------------------------------------------------------------------------------------------
# safety


@pytest.mark.parametrize(
    "family", ["nested_pickle", "protocol0_open", "joblib", "cloudpickle_lambda", "sealed"]
)
def test_unsafe_package_is_refused_and_never_runs(tmp_path: Path, family: str) -> None:
    marker = tmp_path / "PWNED"
    folder = malicious_folders(tmp_path / "pkgs", marker)[family]
    data = tmp_path / "in.csv"
    pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5]}).to_csv(data, index=False)
    result = runner.invoke(app, ["predict", str(folder), "--data", str(data)])
    assert result.exit_code == 3
    assert result.stderr.startswith("error: refusing to load")
    assert "--trust-pickle" in result.stderr
    assert result.stdout == ""
    assert not marker.exists()


# --------------------------------------------------------------------------------------------------
# MLflow's pyfunc returns the same predictions

MLFLOW_PYTHON = os.environ.get("MODELPACK_MLFLOW_PYTHON")


@pytest.mark.interop
@pytest.mark.parametrize("model", ["iris", "wifi"])
def test_predictions_equal_mlflow_pyfunc(samples, tmp_path: Path, model: str) -> None:
    if not MLFLOW_PYTHON:
        pytest.skip("MODELPACK_MLFLOW_PYTHON is not set")
    folder = samples["packed"] / model
    data = samples["root"] / model / "sample.csv"
    out = tmp_path / "ours.csv"
    assert runner.invoke(app, ["predict", str(folder), "--data", str(data), "-o", str(out)]).exit_code == 0
    script = tmp_path / "probe.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import json, sys, warnings
            warnings.filterwarnings("ignore")
            import pandas as pd, mlflow.pyfunc
            model = mlflow.pyfunc.load_model({str(folder)!r})
            frame = pd.read_csv({str(data)!r})
            print(json.dumps([int(v) for v in model.predict(frame)]))
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([MLFLOW_PYTHON, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    theirs = json.loads(proc.stdout.strip().splitlines()[-1])
    assert pd.read_csv(out)["prediction"].tolist() == theirs


def test_registry_uri_predicts(samples, tmp_path: Path) -> None:
    folder = samples["packed"] / "iris"
    registered = runner.invoke(app, ["register", str(folder), "--name", "iris"])
    assert registered.exit_code == 0, registered.stderr
    data = samples["root"] / "iris" / "sample.csv"
    result = runner.invoke(app, ["predict", "models:/iris/latest", "--data", str(data), "--json"])
    assert result.exit_code == 0, result.stdout
    document = json.loads(result.stdout)["data"]
    assert document["uri"] == "models:/iris/latest"
    expected = joblib.load(samples["root"] / "iris" / "model.joblib").predict(pd.read_csv(data))
    assert [r["prediction"] for r in document["predictions"]] == expected.tolist()


def test_csv_columns_are_read_as_the_signature_types_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A string column keeps its leading zeros: the model sees the text the check accepted."""
    import pickle

    from tests.cli.test_validate import build_folder, generic_flavors

    module_dir = tmp_path / "src"
    module_dir.mkdir()
    (module_dir / "zip_model.py").write_text(
        "class ZipLength:\n    def predict(self, data):\n        return data['zip'].str.len().to_numpy()\n"
    )
    monkeypatch.syspath_prepend(str(module_dir))
    import zip_model  # type: ignore[import-not-found]

    folder = build_folder(
        tmp_path / "pkg",
        generic_flavors("model.pkl", "pickle"),
        {"model.pkl": pickle.dumps(zip_model.ZipLength(), protocol=4)},
        signature={
            "inputs": '[{"type": "string", "name": "zip", "required": true}]',
            "outputs": None,
            "params": None,
        },
    )
    data = tmp_path / "zips.csv"
    data.write_text("zip,extra\n02134,1\n90210,2\n")
    result = runner.invoke(
        app, ["predict", str(folder), "--data", str(data), "--trust-pickle", "zip_model", "--json"]
    )
    assert result.exit_code == 0, result.stdout
    document = json.loads(result.stdout)
    assert [r["prediction"] for r in document["data"]["predictions"]] == [5, 5]
    assert any("extra" in w for w in document["warnings"])
