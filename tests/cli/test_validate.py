"""``modelpack validate`` end to end: real folders, real pickles, nothing mocked.

Malicious payloads create a marker file when unpickled; every test that feeds one to a command
also asserts that the marker was never created.
"""

from __future__ import annotations

import json
import os
import pickle
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from modelpack.cli import app
from modelpack.package.manifest import MANIFEST_FILE, write_manifest

runner = CliRunner()
ASSETS = Path(__file__).resolve().parent.parent / "assets"


# --------------------------------------------------------------------------------------------------
# builders shared with test_predict


class SystemPayload:
    """Unpickling calls os.system (pickled as posix.system) to touch the marker."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


class OpenPayload:
    """Unpickling calls builtins.open(marker, 'w'), creating the marker."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


class LambdaPayload:
    """With cloudpickle, the lambda travels by value and unpickling calls it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return ((lambda p: Path(p).touch()), (str(self.marker),))


def sklearn_flavors(model_file: str, serialization: str) -> dict[str, Any]:
    import sklearn

    return {
        "python_function": {
            "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
            "loader_module": "mlflow.sklearn",
            "model_path": model_file,
            "predict_fn": "predict",
            "python_version": platform.python_version(),
        },
        "sklearn": {
            "code": None,
            "pickled_model": model_file,
            "serialization_format": serialization,
            "sklearn_version": sklearn.__version__,
        },
    }


def generic_flavors(model_file: str, serialization: str) -> dict[str, Any]:
    return {
        "python_function": {
            "loader_module": "modelpack.pyfunc_loader",
            "predict_fn": "predict",
            "python_version": platform.python_version(),
        },
        "modelpack": {
            "model_file": model_file,
            "serialization_format": serialization,
            "predict_fn": "predict",
        },
    }


AB_SIGNATURE = {
    "inputs": '[{"type": "long", "name": "a", "required": true}, {"type": "double", "name": "b", "required": true}]',
    "outputs": '[{"type": "long", "required": true}]',
    "params": None,
}


def build_folder(
    folder: Path,
    flavors: dict[str, Any],
    files: dict[str, bytes],
    *,
    signature: dict[str, Any] | None = None,
    example: dict[str, Any] | None = None,
    seal: bool = False,
) -> Path:
    """A model folder with the given MLmodel flavors and files; ``seal`` writes a manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    for rel, payload in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(payload)
    doc: dict[str, Any] = {
        "flavors": flavors,
        "mlflow_version": "3.18.0",
        "model_id": None,
        "model_uuid": "0" * 32,
        "utc_time_created": "2026-01-01 00:00:00.000001",
    }
    env = flavors.get("python_function", {}).get("env")
    if env:
        write_env_files(folder, ["scikit-learn"])
    if signature:
        doc["signature"] = signature
    if example is not None:
        (folder / "input_example.json").write_text(json.dumps(example))
        doc["saved_input_example_info"] = {
            "artifact_path": "input_example.json",
            "pandas_orient": "split",
            "type": "dataframe",
        }
    (folder / "MLmodel").write_text(yaml.safe_dump(doc, default_flow_style=False))
    if seal:
        write_manifest(folder)
    return folder


def write_env_files(folder: Path, libraries: list[str]) -> None:
    from importlib.metadata import version

    pins = [f"{lib}=={version(lib)}" for lib in libraries]
    py = platform.python_version()
    (folder / "requirements.txt").write_text("\n".join(["mlflow==3.18.0", *pins]))
    (folder / "python_env.yaml").write_text(
        yaml.safe_dump(
            {
                "python": py,
                "build_dependencies": ["pip", "setuptools", "wheel"],
                "dependencies": ["-r requirements.txt"],
            },
            sort_keys=False,
        )
    )
    (folder / "conda.yaml").write_text(
        yaml.safe_dump(
            {
                "channels": ["conda-forge"],
                "dependencies": [f"python={py}", "pip", {"pip": ["mlflow==3.18.0", *pins]}],
                "name": "mlflow-env",
            }
        )
    )


def malicious_folders(root: Path, marker: Path) -> dict[str, Path]:
    """One folder per payload family; each would create ``marker`` if anything unpickled it."""
    import cloudpickle
    import joblib
    import numpy as np

    example = {"columns": ["a", "b"], "data": [[1, 0.5]]}
    out: dict[str, Path] = {}
    out["nested_pickle"] = build_folder(
        root / "nested_pickle",
        generic_flavors("weights/v1/model.pkl", "pickle"),
        {"weights/v1/model.pkl": pickle.dumps(SystemPayload(marker), protocol=4)},
        signature=AB_SIGNATURE,
        example=example,
    )
    out["protocol0_open"] = build_folder(
        root / "protocol0_open",
        generic_flavors("model.pkl", "pickle"),
        {"model.pkl": pickle.dumps(OpenPayload(marker), protocol=0)},
        signature=AB_SIGNATURE,
    )
    joblib_path = root / "model.joblib.tmp"
    # The payload comes before a real array, so pickle.load would run it before tripping on
    # joblib's raw array bytes; the scanner must read the joblib container to see it.
    joblib.dump({"x": SystemPayload(marker), "w": np.arange(1000.0)}, joblib_path, compress=3)
    out["joblib"] = build_folder(
        root / "joblib",
        sklearn_flavors("model.joblib", "pickle"),
        {"model.joblib": joblib_path.read_bytes()},
        signature=AB_SIGNATURE,
        example=example,
    )
    joblib_path.unlink()
    out["cloudpickle_lambda"] = build_folder(
        root / "cloudpickle_lambda",
        generic_flavors("model.pkl", "cloudpickle"),
        {"model.pkl": cloudpickle.dumps(LambdaPayload(marker))},
        signature=AB_SIGNATURE,
        example=example,
    )
    # Integrity is not safety: an attacker can seal their own package.
    out["sealed"] = build_folder(
        root / "sealed",
        sklearn_flavors("model.pkl", "pickle"),
        {"model.pkl": pickle.dumps(SystemPayload(marker), protocol=5)},
        signature=AB_SIGNATURE,
        example=example,
        seal=True,
    )
    return out


def mlflow_saved_folder(folder: Path) -> Path:
    """A folder laid out exactly as mlflow.sklearn.save_model writes it (FORMAT.md 1.1), no manifest."""
    import numpy as np
    import pandas as pd
    import sklearn
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    frame = pd.DataFrame({"a": np.arange(40, dtype="int64"), "b": np.linspace(0.0, 1.0, 40)})
    model = LogisticRegression().fit(frame, (frame["a"] > 20).astype("int64"))
    folder.mkdir(parents=True)
    sio.dump(model, folder / "model.skops")
    (folder / "input_example.json").write_text(
        json.dumps({"columns": ["a", "b"], "data": [[1, 0.1], [2, 0.2]]})
    )
    (folder / "serving_input_example.json").write_text(
        json.dumps({"dataframe_split": {"columns": ["a", "b"], "data": [[1, 0.1], [2, 0.2]]}}, indent=2)
    )
    write_env_files(folder, ["scikit-learn", "skops"])
    size = sum(
        (folder / n).stat().st_size
        for n in ("model.skops", "input_example.json", "serving_input_example.json")
    )
    mlmodel = {
        "flavors": {
            "python_function": {
                "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
                "loader_module": "mlflow.sklearn",
                "model_path": "model.skops",
                "predict_fn": "predict",
                "python_version": platform.python_version(),
            },
            "sklearn": {
                "code": None,
                "pickled_model": "model.skops",
                "serialization_format": "skops",
                "sklearn_version": sklearn.__version__,
                "skops_trusted_types": None,
            },
        },
        "is_signature_from_type_hint": False,
        "mlflow_version": "3.18.0",
        "model_id": None,
        "model_size_bytes": size,
        "model_uuid": "dc6f8778c5d9496883b45355224966ac",
        "prompts": None,
        "saved_input_example_info": {
            "artifact_path": "input_example.json",
            "pandas_orient": "split",
            "serving_input_path": "serving_input_example.json",
            "type": "dataframe",
        },
        "signature": AB_SIGNATURE,
        "type_hint_from_example": False,
        "utc_time_created": "2026-11-27 20:17:23.200643",
    }
    (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel, default_flow_style=False))
    return folder


def checks_of(stdout: str) -> dict[str, dict[str, Any]]:
    document = json.loads(stdout)
    return {c["name"]: c for c in document["data"]["checks"]}


# --------------------------------------------------------------------------------------------------
# a good package


def test_packed_model_passes_every_check(packed: Path) -> None:
    result = runner.invoke(app, ["validate", str(packed)], catch_exceptions=False)
    assert result.exit_code == 0, result.stdout + result.stderr
    out = result.stdout
    for name in ("structure", "integrity", "safety", "load", "environment"):
        assert f"PASS  {name}" in out
    assert "SKIP  data" in out
    assert "validation passed" in out


def test_json_carries_every_check_with_details(packed: Path) -> None:
    result = runner.invoke(app, ["validate", str(packed), "--json"])
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["status"] == "ok" and document["exit_code"] == 0
    checks = {c["name"]: c for c in document["data"]["checks"]}
    assert list(checks) == ["structure", "integrity", "safety", "load", "data", "environment"]
    assert checks["integrity"]["details"]["changed"] == []
    assert checks["safety"]["details"]["files"][0]["file"] == "model.skops"
    assert checks["load"]["details"]["output_columns"] == ["prediction"]
    assert checks["load"]["details"]["output_violations"] == []
    assert "scikit-learn" in checks["environment"]["details"]["libraries"]


def test_mlflow_saved_folder_passes_with_integrity_warning(tmp_path: Path) -> None:
    folder = mlflow_saved_folder(tmp_path / "mlflow_model")
    result = runner.invoke(app, ["validate", str(folder), "--json"])
    assert result.exit_code == 0, result.stdout
    checks = checks_of(result.stdout)
    assert checks["structure"]["status"] == "passed", checks["structure"]
    assert checks["integrity"]["status"] == "warned"
    assert "no modelpack.manifest.json" in checks["integrity"]["reason"]
    assert checks["safety"]["status"] == "passed"
    assert checks["load"]["status"] == "passed", checks["load"]
    assert checks["load"]["details"]["example_rows"] == 2
    assert checks["environment"]["status"] == "passed", checks["environment"]


def test_no_load_skips_loading(packed: Path) -> None:
    result = runner.invoke(app, ["validate", str(packed), "--no-load", "--json"])
    assert result.exit_code == 0
    checks = checks_of(result.stdout)
    assert checks["load"]["status"] == "skipped"
    assert "--no-load" in checks["load"]["reason"]
    assert checks["safety"]["status"] == "passed"


def test_missing_target_exits_4(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "nothing")])
    assert result.exit_code == 4
    assert result.stderr.startswith("error: model folder not found")
    assert result.stdout == ""


def test_missing_data_file_exits_4(packed: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(packed), "--data", str(tmp_path / "nope.csv"), "--json"])
    assert result.exit_code == 4
    assert json.loads(result.stdout)["errors"][0]["code"] == "not_found"


def test_folder_without_mlmodel_fails_structure(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["validate", str(tmp_path / "empty"), "--json"])
    assert result.exit_code == 3
    checks = checks_of(result.stdout)
    assert checks["structure"]["status"] == "failed"
    assert checks["load"]["status"] == "skipped"


# --------------------------------------------------------------------------------------------------
# integrity


def test_flipped_byte_fails_and_names_the_file(packed: Path) -> None:
    model = packed / "model.skops"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    result = runner.invoke(app, ["validate", str(packed)])
    assert result.exit_code == 3
    assert "FAIL  integrity" in result.stdout
    assert "changed: model.skops" in result.stdout
    assert "SKIP  load" in result.stdout
    assert "validation failed" in result.stdout


def test_deleted_file_fails(packed: Path) -> None:
    (packed / "input_example.json").unlink()
    result = runner.invoke(app, ["validate", str(packed), "--json"])
    assert result.exit_code == 3
    checks = checks_of(result.stdout)
    assert checks["integrity"]["details"]["missing"] == ["input_example.json"]
    # MLmodel names the example, so structure fails too
    assert "input_example.json" in checks["structure"]["reason"]


def test_extra_file_fails(packed: Path) -> None:
    (packed / "notes.txt").write_text("added later")
    result = runner.invoke(app, ["validate", str(packed), "--json"])
    assert result.exit_code == 3
    checks = checks_of(result.stdout)
    assert checks["integrity"]["status"] == "failed"
    assert checks["integrity"]["details"]["extra"] == ["notes.txt"]
    assert checks["structure"]["status"] == "passed"


def test_symlink_escaping_the_folder_fails(packed: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    (packed / "link.txt").symlink_to(outside)
    result = runner.invoke(app, ["validate", str(packed), "--json"])
    assert result.exit_code == 3
    checks = checks_of(result.stdout)
    assert checks["integrity"]["details"]["escaping_links"] == ["link.txt"]
    assert checks["load"]["status"] == "skipped"


def test_symlink_escaping_a_folder_without_manifest_fails(tmp_path: Path) -> None:
    folder = mlflow_saved_folder(tmp_path / "m")
    (tmp_path / "elsewhere").mkdir()
    (folder / "data").symlink_to(tmp_path / "elsewhere")
    result = runner.invoke(app, ["validate", str(folder), "--no-load", "--json"])
    assert result.exit_code == 3
    assert checks_of(result.stdout)["integrity"]["reason"].startswith("symlinks point outside")


def test_model_file_named_outside_the_folder_fails_structure(tmp_path: Path) -> None:
    folder = mlflow_saved_folder(tmp_path / "m")
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    mlmodel["flavors"]["sklearn"]["pickled_model"] = "../model.skops"
    (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    result = runner.invoke(app, ["validate", str(folder), "--json"])
    assert result.exit_code == 3
    check = checks_of(result.stdout)["structure"]
    assert check["status"] == "failed"
    assert "flavors.sklearn.pickled_model=../model.skops" in check["details"]["outside"]


def test_schema_violation_in_mlmodel_fails_structure(tmp_path: Path) -> None:
    folder = mlflow_saved_folder(tmp_path / "m")
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    del mlmodel["flavors"]["python_function"]["loader_module"]
    mlmodel["flavors"]["sklearn"]["serialization_format"] = "marshal"
    (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    result = runner.invoke(app, ["validate", str(folder), "--no-load"])
    assert result.exit_code == 3
    assert "FAIL  structure" in result.stdout
    assert "loader_module" in result.stdout
    assert "marshal" in result.stdout


# --------------------------------------------------------------------------------------------------
# safety: payloads never run


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "PWNED"


@pytest.mark.parametrize(
    "family", ["nested_pickle", "protocol0_open", "joblib", "cloudpickle_lambda", "sealed"]
)
def test_malicious_package_fails_safety_and_never_runs(tmp_path: Path, marker: Path, family: str) -> None:
    folder = malicious_folders(tmp_path / "pkgs", marker)[family]
    for argv in (["validate", str(folder)], ["validate", str(folder), "--no-load"], ["inspect", str(folder)]):
        result = runner.invoke(app, argv)
        assert not marker.exists(), f"payload ran during {argv}"
        if argv[0] == "validate":
            assert result.exit_code == 3, result.stdout
            assert "FAIL  safety" in result.stdout
            assert "SKIP  load" in result.stdout
    result = runner.invoke(app, ["validate", str(folder), "--json"])
    checks = checks_of(result.stdout)
    findings = [f for r in checks["safety"]["details"]["files"] for f in r["findings"]]
    assert findings, checks["safety"]
    assert not marker.exists()


def test_safety_failure_names_the_offending_global(tmp_path: Path, marker: Path) -> None:
    folder = malicious_folders(tmp_path / "pkgs", marker)["nested_pickle"]
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 3
    assert "weights/v1/model.pkl" in result.stdout
    assert "system" in result.stdout
    assert "--trust-pickle" in result.stdout
    assert not marker.exists()


def test_trust_pickle_extends_the_allowlist_for_one_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A benign model class from a module that is not on the allowlist passes once trusted."""
    module_dir = tmp_path / "src"
    module_dir.mkdir()
    (module_dir / "house_model.py").write_text(
        "class Doubler:\n    def predict(self, data):\n        return data['a'].to_numpy() * 2\n"
    )
    monkeypatch.syspath_prepend(str(module_dir))
    import house_model  # type: ignore[import-not-found]

    folder = build_folder(
        tmp_path / "pkg",
        generic_flavors("model.pkl", "pickle"),
        {"model.pkl": pickle.dumps(house_model.Doubler(), protocol=4)},
        signature={
            "inputs": '[{"type": "long", "name": "a", "required": true}]',
            "outputs": None,
            "params": None,
        },
        example={"columns": ["a"], "data": [[1], [2]]},
    )
    refused = runner.invoke(app, ["validate", str(folder), "--json"])
    assert refused.exit_code == 3
    assert checks_of(refused.stdout)["safety"]["status"] == "failed"
    assert "house_model.Doubler" in checks_of(refused.stdout)["safety"]["reason"]

    trusted = runner.invoke(app, ["validate", str(folder), "--trust-pickle", "house_model", "--json"])
    assert trusted.exit_code == 0, trusted.stdout
    checks = checks_of(trusted.stdout)
    assert checks["safety"]["status"] == "passed"
    assert checks["load"]["status"] == "passed"
    assert checks["load"]["details"]["predictions"] == [{"prediction": 2}, {"prediction": 4}]


# --------------------------------------------------------------------------------------------------
# data


def _bad_files(tmp_path: Path, frame) -> dict[str, tuple[Path, str]]:
    """(file, the column its violation names) for each kind of violation."""
    out: dict[str, tuple[Path, str]] = {}

    def write(name: str, df, column: str) -> None:
        path = tmp_path / f"{name}.csv"
        df.to_csv(path, index=False)
        out[name] = (path, column)

    write("missing_column", frame.drop(columns=["ratio"]), "ratio")
    text_in_long = frame.astype({"count": object})
    text_in_long.loc[[2, 5], "count"] = "many"
    write("text_in_long", text_in_long, "count")
    nulls_in_long = frame.astype({"count": "float64"})
    nulls_in_long.loc[[1, 4], "count"] = None
    write("nulls_in_long", nulls_in_long, "count")
    text_in_double = frame.astype({"ratio": object})
    text_in_double.loc[7, "ratio"] = "unknown"
    write("text_in_double", text_in_double, "ratio")
    not_boolean = frame.astype({"flag": object})
    not_boolean.loc[0, "flag"] = "maybe"
    write("not_boolean", not_boolean, "flag")
    return out


@pytest.mark.parametrize(
    "kind", ["missing_column", "text_in_long", "nulls_in_long", "text_in_double", "not_boolean"]
)
def test_data_violations_fail_with_column_and_rows(
    packed: Path, tmp_path: Path, mixed_frame, kind: str
) -> None:
    path, column = _bad_files(tmp_path, mixed_frame)[kind]
    result = runner.invoke(app, ["validate", str(packed), "--data", str(path), "--json"])
    assert result.exit_code == 3, result.stdout
    check = checks_of(result.stdout)["data"]
    assert check["status"] == "failed"
    violations = check["details"]["violations"]
    assert column in {v["column"] for v in violations}
    assert column in check["reason"]
    human = runner.invoke(app, ["validate", str(packed), "--data", str(path)])
    assert "FAIL  data" in human.stdout and f"column '{column}'" in human.stdout


def test_data_violation_reports_rows_and_examples(packed: Path, tmp_path: Path, mixed_frame) -> None:
    path, _ = _bad_files(tmp_path, mixed_frame)["text_in_long"]
    result = runner.invoke(app, ["validate", str(packed), "--data", str(path), "--json"])
    violation = next(
        v for v in checks_of(result.stdout)["data"]["details"]["violations"] if v["column"] == "count"
    )
    assert violation["rows"] == [2, 5]
    assert "many" in violation["examples"]


def test_every_violation_is_reported(packed: Path, tmp_path: Path, mixed_frame) -> None:
    bad = mixed_frame.drop(columns=["color"]).astype({"flag": object})
    bad.loc[3, "flag"] = "perhaps"
    path = tmp_path / "two.csv"
    bad.to_csv(path, index=False)
    result = runner.invoke(app, ["validate", str(packed), "--data", str(path), "--json"])
    columns = {v["column"] for v in checks_of(result.stdout)["data"]["details"]["violations"]}
    assert {"color", "flag"} <= columns


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_good_data_passes_and_is_predicted(packed: Path, tmp_path: Path, mixed_frame, suffix: str) -> None:
    path = tmp_path / f"good{suffix}"
    if suffix == ".csv":
        mixed_frame.to_csv(path, index=False)
    elif suffix == ".parquet":
        mixed_frame.to_parquet(path, index=False)
    else:
        mixed_frame.to_json(path, orient="records", lines=True)
    result = runner.invoke(app, ["validate", str(packed), "--data", str(path), "--json"])
    assert result.exit_code == 0, result.stdout
    check = checks_of(result.stdout)["data"]
    assert check["status"] == "passed", check
    assert check["details"]["rows_checked"] == len(mixed_frame)
    assert check["details"]["rows_predicted"] == len(mixed_frame)
    assert check["details"]["output_violations"] == []


def test_extra_column_is_a_warning_not_a_failure(packed: Path, tmp_path: Path, mixed_frame) -> None:
    path = tmp_path / "extra.csv"
    mixed_frame.assign(zzz=1).to_csv(path, index=False)
    result = runner.invoke(app, ["validate", str(packed), "--data", str(path), "--json"])
    assert result.exit_code == 0, result.stdout
    check = checks_of(result.stdout)["data"]
    assert check["status"] == "warned"
    assert "zzz" in json.dumps(check["details"]["violations"])


def test_data_with_no_load_checks_but_does_not_predict(packed: Path, tmp_path: Path, mixed_frame) -> None:
    path = tmp_path / "good.csv"
    mixed_frame.to_csv(path, index=False)
    result = runner.invoke(app, ["validate", str(packed), "--data", str(path), "--no-load", "--json"])
    assert result.exit_code == 0
    check = checks_of(result.stdout)["data"]
    assert "predictions not tried: --no-load" in check["reason"]
    assert "rows_predicted" not in check["details"]


# --------------------------------------------------------------------------------------------------
# environment


def test_version_skew_warns_with_both_versions(packed: Path) -> None:
    mlmodel = yaml.safe_load((packed / "MLmodel").read_text())
    mlmodel["flavors"]["python_function"]["python_version"] = "2.7.18"
    mlmodel["flavors"]["sklearn"]["sklearn_version"] = "0.20.3"
    (packed / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    write_manifest(packed)  # the edit is deliberate; keep integrity green
    result = runner.invoke(app, ["validate", str(packed), "--no-load", "--json"])
    check = checks_of(result.stdout)["environment"]
    assert check["status"] == "warned"
    assert f"Python 2.7.18 recorded, {platform.python_version()} running" in check["reason"]
    assert "scikit-learn" in check["reason"] and "0.20.3" in check["reason"]
    assert result.exit_code == 0  # a warning, not a failure


# --------------------------------------------------------------------------------------------------
# start-up cost


def test_no_load_imports_no_numpy_pandas_or_sklearn(packed: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ASSETS / "print_modules.py"), "validate", str(packed), "--no-load"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "PASS  safety" in proc.stdout, proc.stdout + proc.stderr
    line = next(line for line in proc.stderr.splitlines() if line.startswith("HEAVY:"))
    heavy = set(line.removeprefix("HEAVY:").split(",")) - {""}
    assert heavy <= {"jsonschema"}, heavy


def test_no_manifest_folder_copy_still_validates(packed: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(packed, copy)
    (copy / MANIFEST_FILE).unlink()
    result = runner.invoke(app, ["validate", str(copy), "--json"])
    assert result.exit_code == 0
    assert checks_of(result.stdout)["integrity"]["status"] == "warned"


# --------------------------------------------------------------------------------------------------
# registry URIs


def test_registry_uri_validates_the_stored_version(packed: Path) -> None:
    registered = runner.invoke(app, ["register", str(packed), "--name", "mixed"])
    assert registered.exit_code == 0, registered.stderr
    result = runner.invoke(app, ["validate", "models:/mixed/1", "--json"])
    assert result.exit_code == 0, result.stdout
    data = json.loads(result.stdout)["data"]
    assert data["uri"] == "models:/mixed/1"
    assert data["registry"]["name"] == "mixed" and data["registry"]["version"] == 1
    assert {c["name"]: c["status"] for c in data["checks"]}["integrity"] == "passed"
    human = runner.invoke(app, ["validate", "models:/mixed/latest"])
    assert human.stdout.startswith("validate models:/mixed/latest")


def test_unknown_registry_uri_exits_4() -> None:
    result = runner.invoke(app, ["validate", "models:/nothing/1"])
    assert result.exit_code == 4
    assert result.stderr.startswith("error:")


@pytest.mark.parametrize("command", ["validate", "predict"])
def test_help_imports_nothing_heavy(command: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(ASSETS / "print_modules.py"), command, "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "--trust-pickle" in proc.stdout
    line = next(line for line in proc.stderr.splitlines() if line.startswith("HEAVY:"))
    assert line == "HEAVY:"
