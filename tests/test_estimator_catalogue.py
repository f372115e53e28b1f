"""Every scikit-learn estimator a user can fit gets through modelpack.

The catalogue (tests/estimator_catalogue.py) fits every class ``all_estimators()`` lists. Each
fitted estimator, saved the ways people save models, must pass the static safety scan with the
shipped allowlist; and each one that predicts must pack (from a pickle, joblib or cloudpickle
file, with the default serialization), validate and predict through the public API with the
predictions the estimator itself gives. A scikit-learn release that adds or changes a type
fails here, not in a user's hands; ``tools/gen_allowlist.py --merge`` then regenerates the
allowlist from the same catalogue.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from modelpack import api
from modelpack.safety import scan_folder
from tests import estimator_catalogue as catalogue

NAMES = catalogue.names()
# The model file pack reads: each entry gets one of these, in turn.
PACK_INPUTS = ("joblib", "pickle", "cloudpickle")


def test_every_estimator_has_an_entry_or_a_reason() -> None:
    covered = {name.partition("[")[0] for name in NAMES}
    missing = sorted(set(catalogue.estimator_classes()) - covered - set(catalogue.SKIPPED))
    assert not missing
    # A reason for a class scikit-learn no longer has would hide nothing; keep the list honest.
    assert not set(catalogue.SKIPPED) - set(catalogue.estimator_classes())
    assert len(NAMES) > 200


def test_entries_are_fitted_on_named_columns() -> None:
    entry = catalogue.get("GradientBoostingClassifier[multiclass]")
    assert entry.task == "multiclass"
    assert entry.method == "predict"
    assert list(entry.X.columns) == ["width", "height", "depth", "weight"]
    assert list(entry.estimator.feature_names_in_) == list(entry.X.columns)
    assert len(set(entry.y)) == 3
    assert catalogue.get("DBSCAN[cluster]").method is None
    assert entry.astuple() == (entry.name, entry.estimator, entry.X, entry.task)


@pytest.mark.parametrize("name", NAMES)
def test_every_saved_form_passes_the_scan(name: str, tmp_path: Path) -> None:
    entry = catalogue.get(name)
    for fmt in catalogue.DUMP_FORMATS:
        data = catalogue.dump(entry.estimator, fmt)
        if data is not None:  # None: skops cannot save this type
            (tmp_path / f"model.{fmt}").write_bytes(data)
    # The folder scan is what validate and predict run on a package.
    results = scan_folder(tmp_path)
    refused = {r.file: [f.describe() for f in r.findings] for r in results if not r.ok}
    assert not refused, "regenerate with tools/gen_allowlist.py --merge, or vet the names"
    assert len(results) == len(list(tmp_path.iterdir()))
    assert {"pickle", "joblib"} <= {r.format for r in results}


PREDICTING = [n for n in NAMES if catalogue.method_of(n) is not None]


@pytest.mark.slow
@pytest.mark.parametrize("name", PREDICTING)
def test_pack_validate_predict(name: str, tmp_path: Path) -> None:
    import numpy as np

    entry = catalogue.get(name)
    fmt = PACK_INPUTS[PREDICTING.index(name) % len(PACK_INPUTS)]
    model_file = tmp_path / f"model.{fmt}"
    model_file.write_bytes(catalogue.dump(entry.estimator, fmt) or b"")
    sample = tmp_path / "sample.parquet"
    entry.X.to_parquet(sample, index=False)
    out = tmp_path / "packed"

    with warnings.catch_warnings():
        # Models fitted on 60 rows warn about convergence and the like; not ours to judge.
        warnings.simplefilter("ignore")
        packed = api.pack(model_file, sample=sample, output=out)
        report = api.validate(out, data=sample)
        result = api.predict(out, data=sample)
        expected = np.asarray(entry.estimator.predict(entry.X))

    assert packed.serialization in ("skops", "cloudpickle")
    assert report.exit_code == 0, [(c.name, c.reason) for c in report.failed]
    assert report.check("safety").status == "passed"
    assert result.rows == len(entry.X)
    _assert_same(result.predictions, result.columns, expected)


def _assert_same(rows: list[dict[str, Any]] | None, columns: list[str], expected: Any) -> None:
    import numpy as np

    assert rows is not None
    got = np.array([[row[c] for c in columns] for row in rows], dtype=object)
    want = expected.reshape(len(expected), -1).astype(object)
    assert got.shape == want.shape
    if all(isinstance(v, (int, float, np.number, bool, np.bool_)) for v in want.ravel()):
        np.testing.assert_allclose(got.astype(float), want.astype(float), rtol=1e-6, atol=1e-9)
    else:
        assert got.tolist() == want.tolist()
