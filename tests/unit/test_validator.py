"""The validator's pieces: the MLmodel JSON Schema, named files, version comparison, the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from modelpack.errors import NotFoundError
from modelpack.serving import validator
from modelpack.serving.validator import Check, ValidateOptions, ValidationReport, validate_folder

# The MLmodel mlflow.sklearn.save_model writes (FORMAT.md 1.1), verbatim.
MLFLOW_SKLEARN = """
flavors:
  python_function:
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: model.skops
    predict_fn: predict
    python_version: 3.11.7
  sklearn:
    code: null
    pickled_model: model.skops
    serialization_format: skops
    sklearn_version: 1.9.1
    skops_trusted_types: null
is_signature_from_type_hint: false
mlflow_version: 3.18.0
model_id: null
model_size_bytes: 10678
model_uuid: dc6f8778c5d9496883b45355224966ac
prompts: null
saved_input_example_info:
  artifact_path: input_example.json
  pandas_orient: split
  serving_input_path: serving_input_example.json
  type: dataframe
signature:
  inputs: '[{"type": "long", "name": "a", "required": true}, {"type": "double", "name":
    "b", "required": true}]'
  outputs: '[{"type": "long", "required": true}]'
  params: null
type_hint_from_example: false
utc_time_created: '2026-11-27 20:17:23.200643'
"""


def _doc(text: str = MLFLOW_SKLEARN) -> dict:
    return yaml.safe_load(text)


# --------------------------------------------------------------------------------------------------
# the JSON Schema accepts what MLflow writes


def test_schema_accepts_mlflow_sklearn_mlmodel() -> None:
    assert validator.schema_errors(_doc()) == []


def test_schema_accepts_the_minimal_mlmodel() -> None:
    assert (
        validator.schema_errors({"flavors": {"python_function": {"loader_module": "modelpack_loader"}}}) == []
    )


def test_schema_accepts_legacy_string_env_extra_keys_and_unquoted_times() -> None:
    doc = _doc()
    doc["flavors"]["python_function"]["env"] = "conda.yaml"
    doc["flavors"]["python_function"]["streamable"] = False
    doc["flavors"]["xgboost"] = {"data": "model.xgb", "model_format": "xgb"}
    doc["modelpack_something"] = {"x": 1}
    doc["metadata"] = {"mlflow.model.isExternal": False, "team": "network"}
    doc["run_id"] = "abc"
    doc["artifact_path"] = "file:///tmp/mlruns/0/models/m-1/artifacts"
    doc["env_vars"] = ["OPENAI_API_KEY"]
    # an unquoted timestamp reads back from YAML as a datetime
    doc.update(yaml.safe_load("utc_time_created: 2026-11-27 20:17:23.200643"))
    assert validator.schema_errors(doc) == []


def test_schema_accepts_mlmodel_without_optional_keys() -> None:
    doc = _doc()
    for key in ("signature", "saved_input_example_info", "model_size_bytes", "prompts", "model_id"):
        del doc[key]
    del doc["flavors"]["sklearn"]["serialization_format"]  # readers assume pickle
    assert validator.schema_errors(doc) == []


def test_schema_accepts_pythonmodel_and_numeric_versions() -> None:
    doc = {
        "flavors": {
            "python_function": {
                "cloudpickle_version": "3.1.3",
                "code": None,
                "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
                "loader_module": "mlflow.pyfunc.model",
                "python_model": "python_model.pkl",
                "python_version": 3.10,  # an unquoted version in YAML
                "artifacts": {"weights": {"path": "artifacts/w.json", "uri": "/tmp/w.json"}},
            }
        },
        "saved_input_example_info": {"artifact_path": "input_example.json", "type": "json_object"},
    }
    assert validator.schema_errors(doc) == []


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.pop("flavors"), "'flavors' is a required property"),
        (lambda d: d.update(flavors={}), "flavors"),
        (lambda d: d["flavors"]["python_function"].pop("loader_module"), "loader_module"),
        (lambda d: d["flavors"]["sklearn"].update(serialization_format="marshal"), "marshal"),
        (lambda d: d["saved_input_example_info"].update(type="movie"), "movie"),
        (lambda d: d.update(model_size_bytes=-1), "model_size_bytes"),
        (lambda d: d["signature"].update(inputs=42), "signature.inputs"),
    ],
)
def test_schema_rejects_broken_mlmodels(mutate, expected: str) -> None:
    doc = _doc()
    mutate(doc)
    errors = validator.schema_errors(doc)
    assert errors
    assert any(expected in e for e in errors), errors


def test_schema_ships_as_package_data() -> None:
    schema = validator.load_mlmodel_schema()
    assert schema["required"] == ["flavors"]
    assert Path(validator.__file__).parent.parent.joinpath("package", "mlmodel.schema.json").is_file()


def test_named_files_covers_flavors_env_and_example() -> None:
    named = dict(validator.named_files(_doc()))
    assert named["flavors.sklearn.pickled_model"] == "model.skops"
    assert named["flavors.python_function.model_path"] == "model.skops"
    assert named["flavors.python_function.env.conda"] == "conda.yaml"
    assert named["flavors.python_function.env.virtualenv"] == "python_env.yaml"
    assert named["saved_input_example_info.serving_input_path"] == "serving_input_example.json"
    assert "flavors.sklearn.code" not in named  # null means no code dir


# --------------------------------------------------------------------------------------------------
# environment


def _installed(versions: dict[str, str]):
    return lambda name: versions.get(name)


def test_matching_versions_give_no_warning() -> None:
    warnings, details = validator.compare_versions(
        "3.11.7",
        {"scikit-learn": "1.9.1", "numpy": "2.4.0", "mlflow": "3.18.0"},
        running_python="3.11.9",
        installed=_installed({"scikit-learn": "1.9.1", "numpy": "2.4.6"}),
    )
    assert warnings == []
    assert details["libraries"]["numpy"]["state"] == "same major.minor"
    assert details["libraries"]["mlflow"]["state"] == "not installed"  # not needed to unpickle


def test_minor_skew_of_python_or_unpickling_libraries_warns() -> None:
    warnings, details = validator.compare_versions(
        "3.10.4",
        {"scikit-learn": "1.3.0", "skops": "0.16", "pandas": "2.0.0"},
        running_python="3.11.7",
        installed=_installed({"scikit-learn": "1.9.1", "pandas": "3.1.1"}),
    )
    assert "Python 3.10.4 recorded, 3.11.7 running" in warnings
    assert "scikit-learn 1.3.0 recorded, 1.9.1 running" in warnings
    assert "skops 0.16 recorded, not installed running" in warnings
    assert not any("pandas" in w for w in warnings)
    assert details["libraries"]["pandas"]["state"] == "differs"


def test_missing_python_version_warns() -> None:
    warnings, _ = validator.compare_versions(None, {}, running_python="3.11.7")
    assert warnings == ["no Python version recorded (running 3.11.7)"]


def test_major_minor() -> None:
    assert validator.major_minor("1.9.1") == (1, 9)
    assert validator.major_minor("3.10") == (3, 10)
    assert validator.major_minor("dev") is None


# --------------------------------------------------------------------------------------------------
# the report


def test_report_exit_code_and_dict() -> None:
    report = ValidationReport(
        path="m",
        uri=None,
        checks=[Check("structure", "passed", "ok"), Check("integrity", "warned", "no manifest")],
    )
    assert report.exit_code == 0 and report.status == "ok"
    failed = ValidationReport(path="m", uri=None, checks=[Check("safety", "failed", "bad", {"files": []})])
    assert failed.exit_code == 3 and failed.status == "failed"
    data = failed.to_dict()
    assert data["passed"] is False
    assert data["counts"]["failed"] == 1
    assert data["checks"] == [
        {"name": "safety", "status": "failed", "reason": "bad", "details": {"files": []}}
    ]
    json.dumps(data)


def test_validate_folder_static_checks(packed: Path) -> None:
    report = validate_folder(packed, ValidateOptions(load=False))
    assert [c.name for c in report.checks] == list(validator.CHECKS)
    assert report.check("structure").status == "passed"
    assert report.check("integrity").status == "passed"
    assert report.check("load").status == "skipped"
    assert report.check("data").status == "skipped"


def test_validate_folder_missing_data_file_raises(packed: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        validate_folder(packed, ValidateOptions(data=tmp_path / "missing.csv"))


def test_corrupt_mlmodel_fails_structure_but_integrity_still_runs(packed: Path) -> None:
    (packed / "MLmodel").write_text("flavors: [unclosed\n")
    report = validate_folder(packed, ValidateOptions(load=False))
    assert report.check("structure").status == "failed"
    assert "not valid YAML" in report.check("structure").reason
    assert report.check("integrity").details["changed"] == ["MLmodel"]
