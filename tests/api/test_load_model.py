"""``modelpack.load_model``: integrity, safety scan, trust, conforming and MLflow-shaped outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modelpack
from modelpack import api
from modelpack.errors import InvalidModelError, NotFoundError, SchemaViolationError, UnsafeModelError
from modelpack.registry import FileRegistry
from tests.cli.test_validate import malicious_folders


def _frame(n: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({"a": rng.integers(0, 100, n).astype("int64"), "b": rng.random(n)})


@pytest.fixture
def fitted() -> tuple[object, pd.DataFrame]:
    from sklearn.linear_model import LogisticRegression

    frame = _frame()
    return LogisticRegression().fit(frame, (frame["a"] > 50).astype("int64")), frame


def test_predict_equals_the_estimators_own_predictions(tmp_path: Path, fitted) -> None:
    estimator, frame = fitted
    api.pack(estimator, frame, tmp_path / "m")
    model = modelpack.load_model(tmp_path / "m")
    out = model.predict(frame)
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, estimator.predict(frame))
    assert model.version is None and model.uri is None
    assert type(model.raw) is type(estimator)
    assert model.signature is not None and [s.name for s in model.signature.inputs] == ["a", "b"]
    assert "LogisticRegression" in repr(model)
    assert "<table>" in model._repr_html_() and "<td>a</td>" in model._repr_html_()


def test_predict_takes_dicts_records_and_frames_alike(tmp_path: Path, fitted) -> None:
    estimator, frame = fitted
    api.pack(estimator, frame, tmp_path / "m")
    model = modelpack.load_model(str(tmp_path / "m"))
    head = frame.head(4)
    expected = estimator.predict(head)
    np.testing.assert_array_equal(model.predict({"a": head["a"].tolist(), "b": head["b"].tolist()}), expected)
    np.testing.assert_array_equal(model.predict(head.to_dict(orient="records")), expected)
    # Extra columns are dropped (a warning), column order does not matter, ints widen to double.
    shuffled = head[["b", "a"]].assign(extra=1)
    np.testing.assert_array_equal(model.predict(shuffled), expected)
    assert any("extra" in w for w in model.warnings)


def test_tensor_model_takes_a_numpy_array(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    x = np.random.default_rng(2).random((25, 3))
    estimator = LinearRegression().fit(x, x.sum(axis=1))
    api.pack(estimator, x, tmp_path / "t")
    model = modelpack.load_model(tmp_path / "t")
    np.testing.assert_allclose(model.predict(x[:5]), estimator.predict(x[:5]))
    assert model.signature is not None and model.signature.inputs.is_tensor_spec()


def test_violations_raise_one_error_listing_every_violation(tmp_path: Path, fitted) -> None:
    estimator, frame = fitted
    api.pack(estimator, frame, tmp_path / "m")
    model = modelpack.load_model(tmp_path / "m")
    bad = pd.DataFrame({"a": ["x", "y", "3"]})  # a is text, b is missing
    with pytest.raises(SchemaViolationError) as caught:
        model.predict(bad)
    message = caught.value.message
    assert "2 violations" in message
    assert "'b'" in message and "missing" in message
    assert "'a'" in message and "'x' at row 0" in message
    assert {v["column"] for v in caught.value.violations} == {"a", "b"}


def test_registry_uri_default_home_and_version(tmp_path: Path, fitted, _isolate: Path) -> None:
    estimator, frame = fitted
    api.pack(estimator, frame, tmp_path / "m")
    FileRegistry(_isolate).register(tmp_path / "m", name="churn", alias="champion")
    model = modelpack.load_model("models:/churn@champion")  # MODELPACK_HOME, as the CLI
    assert model.version == 1 and isinstance(model.version, int)
    assert model.uri == "models:/churn@champion" and model.name == "churn"
    np.testing.assert_array_equal(model.predict(frame), estimator.predict(frame))
    with pytest.raises(NotFoundError):
        modelpack.load_model("models:/churn@nobody")


def test_changed_file_fails_the_integrity_check(tmp_path: Path, fitted) -> None:
    estimator, frame = fitted
    api.pack(estimator, frame, tmp_path / "m")
    example = tmp_path / "m" / "input_example.json"
    example.write_text(example.read_text() + " ")
    with pytest.raises(InvalidModelError, match="integrity"):
        modelpack.load_model(tmp_path / "m")


def test_tampered_registry_version_is_refused(tmp_path: Path, fitted, _isolate: Path) -> None:
    estimator, frame = fitted
    api.pack(estimator, frame, tmp_path / "m")
    record = FileRegistry(_isolate).register(tmp_path / "m", name="churn").version
    stored = record.local_path / "MLmodel"
    stored.chmod(0o644)
    stored.write_text(stored.read_text() + "\n# edited\n")
    with pytest.raises(InvalidModelError, match="integrity"):
        modelpack.load_model("models:/churn/1")


def test_unsafe_folder_raises_before_anything_is_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    folders = malicious_folders(tmp_path / "evil", marker)
    for kind in ("sealed", "joblib", "cloudpickle_lambda", "nested_pickle"):
        with pytest.raises(UnsafeModelError) as caught:
            modelpack.load_model(folders[kind])
        assert caught.value.findings, kind
        assert (
            "system" in caught.value.message
            or "builtins" in caught.value.message
            or "<" in caught.value.message
        )
        assert not marker.exists(), kind


def test_unsafe_sealed_folder_names_the_global(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    folder = malicious_folders(tmp_path / "evil", marker)["sealed"]
    with pytest.raises(UnsafeModelError, match=r"(posix|os)\.system"):
        modelpack.load_model(folder)
    assert not marker.exists()


def test_predict_proba_method(tmp_path: Path, fitted) -> None:
    estimator, frame = fitted
    api.pack(estimator, frame, tmp_path / "m")
    model = modelpack.load_model(tmp_path / "m", method="predict_proba")
    np.testing.assert_allclose(model.predict(frame), estimator.predict_proba(frame))
