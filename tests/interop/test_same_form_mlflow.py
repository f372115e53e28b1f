"""The same-form invariant in MLflow: a folder packed from a sample scores that sample in MLflow.

For every case and sample format in tests/same_form.py, ``mlflow.pyfunc.load_model(folder)``
predicts on the file as pandas reads it (the signature enforcement included) and gives the
fitted model's own predictions; ``mlflow models predict`` does the same from the CSV file for the
pipeline that one-hot encodes text and ISO-date text. Every estimator of the catalogue that
predicts is packed the same way and scored by modelpack and by MLflow, one MLflow process per
sample format loading every folder.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from tests import same_form
from tests.interop.conftest import mlflow_cli, run_cli

pytestmark = pytest.mark.interop

CASES = [pytest.param(case, fmt, id=f"{case.name}-{fmt}") for case, fmt in same_form.params()]


@pytest.mark.parametrize(("case", "fmt"), CASES)
def test_mlflow_pyfunc_scores_the_sample_the_folder_was_packed_from(
    case: same_form.Case, fmt: str, tmp_path: Path
):
    import mlflow

    packed = same_form.train_and_pack(case, fmt, tmp_path)
    model = mlflow.pyfunc.load_model(str(packed.folder))
    got = model.predict(same_form.read_as_pandas(packed.sample))
    same_form.assert_same(case, got, packed.expected)


def test_mlflow_models_predict_scores_the_csv_sample(tmp_path: Path):
    case = next(c for c in same_form.CASES if c.table == "mixed")
    packed = same_form.train_and_pack(case, "csv", tmp_path)
    out = tmp_path / "out.json"
    argv = [mlflow_cli(), "models", "predict", "-m", str(packed.folder), "-i", str(packed.sample)]
    result = run_cli([*argv, "-t", "csv", "-o", str(out), "--env-manager", "local"], cwd=tmp_path)
    assert result.returncode == 0, result.explain()
    same_form.assert_same(case, json.loads(out.read_text())["predictions"], packed.expected)


def test_mlflow_serves_the_saved_example_with_boolean_gaps(tmp_path: Path):
    # JSON nulls in an optional boolean column reach the model as missing values it was trained on.
    case = next(c for c in same_form.CASES if c.table == "flags")
    packed = same_form.train_and_pack(case, "csv", tmp_path)
    example = packed.folder / "serving_input_example.json"
    rows = len(json.loads(example.read_text())["dataframe_split"]["data"])
    assert any(None in row for row in json.loads(example.read_text())["dataframe_split"]["data"])
    out = tmp_path / "out.json"
    argv = [mlflow_cli(), "models", "predict", "-m", str(packed.folder), "-i", str(example)]
    result = run_cli([*argv, "-o", str(out), "--env-manager", "local"], cwd=tmp_path)
    assert result.returncode == 0, result.explain()
    same_form.assert_same(case, json.loads(out.read_text())["predictions"], packed.expected[:rows])


@pytest.mark.parametrize("fmt", same_form.FORMATS)
def test_modelpack_and_mlflow_give_every_catalogue_estimator_its_own_predictions(fmt: str, tmp_path: Path):
    cases = [case for case in same_form.catalogue_cases() if fmt in same_form.formats(case)]
    packed = {
        case.name: same_form.train_and_pack(case, fmt, tmp_path / str(i)) for i, case in enumerate(cases)
    }
    manifest = [[name, str(p.folder), str(p.sample), False] for name, p in packed.items()]
    manifest += [
        [f"{name} as text", str(packed[name].folder), str(packed[name].sample), True]
        for name in same_form.MLFLOW_REFUSES
        if name in packed
    ]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    script = "import sys; from pathlib import Path; from tests.same_form import mlflow_predict_all as run; run(Path(sys.argv[1]), Path(sys.argv[2]))"
    proc = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "manifest.json"), str(tmp_path / "out.pkl")],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    theirs = pickle.loads((tmp_path / "out.pkl").read_bytes())

    failures = []
    for case in cases:
        p = packed[case.name]
        mlflow_got = theirs[case.name]
        if case.name in same_form.MLFLOW_REFUSES:
            if not (isinstance(mlflow_got, str) and "Can not safely convert category" in mlflow_got):
                failures.append(
                    f"{case.name}: MLflow no longer refuses category columns: {mlflow_got!r:.300}"
                )
            mlflow_got = theirs[f"{case.name} as text"]
        try:
            same_form.assert_same(case, same_form.modelpack_predict(case, p), p.expected)
        except AssertionError as exc:
            failures.append(f"{case.name} (modelpack): {str(exc)[:500]}")
        try:
            assert not isinstance(mlflow_got, str), mlflow_got
            same_form.assert_same(case, mlflow_got, p.expected)
        except AssertionError as exc:
            failures.append(f"{case.name} (MLflow): {str(exc)[:500]}")
    assert not failures, "\n".join(failures)
