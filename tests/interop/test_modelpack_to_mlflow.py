"""modelpack -> MLflow: every sample model, packed from every sample format, works in MLflow.

For each folder ``modelpack pack`` writes, MLflow itself must load it and predict what the
original model predicts, read a signature equal to ``mlflow.models.infer_signature`` on the same
data (or differ exactly as docs/INTEROP.md says), and serve it through ``mlflow models predict``.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tests.interop.conftest import SampleModels, mlflow_cli, modelpack, read_sample, run_cli

pytestmark = pytest.mark.interop

CUSTOM = "custom"


@dataclass(frozen=True)
class PackCase:
    """One sample model packed from one sample file."""

    id: str
    model: str  # a path under the trained sample root, or CUSTOM for sample_models/custom_model.py
    sample: str
    flavor: str  # the flavor besides python_function: "sklearn" or the generic "modelpack"
    exact: bool  # class labels compare exactly; scores and regressions with a tolerance

    def model_argument(self, samples: SampleModels) -> str:
        if self.model == CUSTOM:
            return f"{REPO_ROOT / 'sample_models' / 'custom_model.py'}:build"
        return str(samples.path(self.model))


CASES = [
    PackCase("iris-csv", "iris/model.joblib", "iris/sample.csv", "sklearn", exact=True),
    PackCase("wifi-csv", "wifi/model.joblib", "wifi/sample.csv", "sklearn", exact=True),
    PackCase("wifi-parquet", "wifi/model.joblib", "wifi/sample.parquet", "sklearn", exact=True),
    PackCase("wifi-json", "wifi/model.joblib", "wifi/sample.json", "sklearn", exact=True),
    PackCase("regressor-npy", "regressor/model.joblib", "regressor/sample.npy", "sklearn", exact=False),
    PackCase("custom-csv", CUSTOM, "wifi/sample.csv", "modelpack", exact=False),
]
SKLEARN_CASES = [c for c in CASES if c.flavor == "sklearn"]
# `mlflow models predict` costs ~5 s a call: one sklearn folder and the generic flavor.
SERVED_CASES = [c for c in CASES if c.id in ("wifi-csv", "custom-csv")]


@dataclass(frozen=True)
class Packed:
    case: PackCase
    folder: Path
    sample: Path


def _original(case: PackCase, samples: SampleModels) -> Any:
    if case.model == CUSTOM:
        spec = importlib.util.spec_from_file_location(
            "custom_model", REPO_ROOT / "sample_models" / "custom_model.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.build()
    import joblib

    return joblib.load(samples.path(case.model))


@pytest.fixture(scope="session")
def packed_folders(
    tmp_path_factory: pytest.TempPathFactory, sample_models: SampleModels
) -> dict[str, Packed]:
    root = tmp_path_factory.mktemp("packed")
    out = {}
    for case in CASES:
        folder = root / case.id
        sample = sample_models.path(case.sample)
        result = modelpack(
            "pack",
            case.model_argument(sample_models),
            "--sample",
            str(sample),
            "--output",
            str(folder),
            "--json",
        )
        assert result.returncode == 0, result.explain()
        out[case.id] = Packed(case, folder, sample)
    return out


def _packed(request: pytest.FixtureRequest, packed_folders: dict[str, Packed]) -> Packed:
    return packed_folders[request.param.id]


@pytest.fixture(params=CASES, ids=lambda c: c.id)
def packed(request: pytest.FixtureRequest, packed_folders: dict[str, Packed]) -> Packed:
    return _packed(request, packed_folders)


@pytest.fixture(params=SKLEARN_CASES, ids=lambda c: c.id)
def packed_sklearn(request: pytest.FixtureRequest, packed_folders: dict[str, Packed]) -> Packed:
    return _packed(request, packed_folders)


@pytest.fixture(params=SERVED_CASES, ids=lambda c: c.id)
def packed_served(request: pytest.FixtureRequest, packed_folders: dict[str, Packed]) -> Packed:
    return _packed(request, packed_folders)


def _assert_same_predictions(ours: Any, theirs: Any, *, exact: bool) -> None:
    import numpy as np

    ours, theirs = np.asarray(ours).reshape(-1), np.asarray(theirs).reshape(-1)
    assert ours.shape == theirs.shape
    if exact:
        np.testing.assert_array_equal(ours, theirs)
    else:
        np.testing.assert_allclose(ours.astype(float), theirs.astype(float), rtol=1e-9, atol=1e-12)


def test_mlflow_pyfunc_predicts_like_the_original_model(packed: Packed, sample_models: SampleModels):
    import mlflow

    data = read_sample(packed.sample)
    model = mlflow.pyfunc.load_model(str(packed.folder))
    expected = _original(packed.case, sample_models).predict(data)
    _assert_same_predictions(model.predict(data), expected, exact=packed.case.exact)


def test_mlmodel_names_the_flavors_mlflow_expects(packed: Packed):
    from mlflow.models import Model

    flavors = Model.load(str(packed.folder)).flavors
    assert set(flavors) == {"python_function", packed.case.flavor}
    expected_loader = "mlflow.sklearn" if packed.case.flavor == "sklearn" else "modelpack.pyfunc_loader"
    assert flavors["python_function"]["loader_module"] == expected_loader


def test_mlflow_sklearn_loads_the_estimator(packed_sklearn: Packed, sample_models: SampleModels):
    import mlflow

    estimator = mlflow.sklearn.load_model(str(packed_sklearn.folder))
    data = read_sample(packed_sklearn.sample)
    original = _original(packed_sklearn.case, sample_models)
    assert type(estimator) is type(original)
    _assert_same_predictions(estimator.predict(data), original.predict(data), exact=packed_sklearn.case.exact)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_signature_equals_mlflow_inference(
    case: PackCase, packed_folders: dict[str, Packed], sample_models: SampleModels
):
    import pandas as pd
    from mlflow.models import Model, infer_signature

    packed = packed_folders[case.id]
    data = read_sample(packed.sample)
    predictions = _original(packed.case, sample_models).predict(data)
    theirs = infer_signature(data, predictions)
    ours = Model.load(str(packed.folder)).signature
    assert ours is not None
    assert ours.inputs == theirs.inputs
    assert ours.params == theirs.params is None
    if isinstance(data, pd.DataFrame):
        # Documented difference (docs/INTEROP.md): a 1-D prediction for column-based input is one
        # unnamed column, as MLflow's own save_model(input_example=...) writes it; infer_signature
        # on the raw ndarray would say 1-D tensor.
        assert ours.outputs == infer_signature(data, pd.Series(predictions)).outputs
        (tensor,) = theirs.outputs.inputs
        assert tensor.shape == (-1,)
        assert tensor.type == predictions.dtype
    else:
        assert ours.outputs == theirs.outputs


def test_mlflow_models_predict_serves_the_folder(
    packed_served: Packed, sample_models: SampleModels, tmp_path: Path
):
    import pandas as pd

    folder = packed_served.folder
    serving_input = folder / "serving_input_example.json"
    assert serving_input.is_file()
    out = tmp_path / "predictions.json"
    result = run_cli(
        [
            mlflow_cli(),
            "models",
            "predict",
            "-m",
            str(folder),
            "-i",
            str(serving_input),
            "-t",
            "json",
            "-o",
            str(out),
            "--env-manager",
            "local",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.explain()
    predictions = json.loads(out.read_text())["predictions"]

    split = json.loads(serving_input.read_text())["dataframe_split"]
    rows = pd.DataFrame(split["data"], columns=split["columns"])
    expected = _original(packed_served.case, sample_models).predict(rows)
    _assert_same_predictions(predictions, expected, exact=packed_served.case.exact)


@pytest.mark.parametrize("case", [c for c in CASES if c.id in ("wifi-csv", "custom-csv")], ids=lambda c: c.id)
def test_mlflow_loads_a_folder_with_a_model_card(case: PackCase, sample_models: SampleModels, tmp_path: Path):
    """A card (README.md, named in MLmodel's modelpack section) changes nothing for MLflow."""
    import mlflow
    from mlflow.models import Model

    card = tmp_path / "card.md"
    card.write_text("---\nlicense: mit\n---\n# Wifi\n\nWhich room a phone is in.\n")
    folder = tmp_path / "carded"
    sample = sample_models.path(case.sample)
    argv = [case.model_argument(sample_models), "-s", str(sample), "-o", str(folder)]
    result = modelpack("pack", *argv, "--card", str(card), "--generate-card", "--json")
    assert result.returncode == 0, result.explain()
    assert (folder / "README.md").is_file()
    assert Model.load(str(folder)).flavors["python_function"]
    data = read_sample(sample)
    model = mlflow.pyfunc.load_model(str(folder))
    expected = _original(case, sample_models).predict(data)
    _assert_same_predictions(model.predict(data), expected, exact=case.exact)


def test_hugging_face_reads_the_card_metadata(tmp_path: Path):
    """The Hub's own parser (huggingface_hub) reads what a generated card's front matter says,
    metrics included (rendered here with provenance, which pack records on its own branch)."""
    pytest.importorskip("huggingface_hub")
    from huggingface_hub import ModelCard

    from modelpack.package.card import CardFacts, render_card

    facts = CardFacts(
        name="wifi",
        flavor="sklearn",
        estimator="sklearn.ensemble.RandomForestClassifier",
        task="classification",
        serialization="skops",
        model_file="model.skops",
        provenance={
            "training_data": {"name": "wifi.csv", "sha256": "ab" * 32, "size": 100},
            "metrics": {"accuracy": 0.97, "f1": 0.96},
        },
    )
    path = tmp_path / "README.md"
    path.write_text(render_card(facts), encoding="utf-8")
    card = ModelCard.load(path)
    assert card.data.library_name == "sklearn"
    assert card.data.pipeline_tag == "tabular-classification"
    assert "modelpack" in card.data.tags
    assert card.data.model_name == "wifi"
    results = {(r.metric_type, r.metric_value, r.task_type, r.dataset_name) for r in card.data.eval_results}
    assert results == {
        ("accuracy", 0.97, "tabular-classification", "wifi.csv"),
        ("f1", 0.96, "tabular-classification", "wifi.csv"),
    }
    assert card.text.startswith("# wifi\n")
