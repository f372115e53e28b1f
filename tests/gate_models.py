"""Real packed scikit-learn models for the compatibility gate.

Version 1 is fitted on three columns. Version 2 adds ``petal_width``, which has gaps in its sample,
so the signature ``pack`` infers marks it optional (``required: false``), yet the model reads it:
scikit-learn refuses a frame without a column the model was fitted on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

OLD_COLUMNS = ["sepal_length", "sepal_width", "petal_length"]
NEW_COLUMN = "petal_width"


def _frame():
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    frame = pd.DataFrame(rng.random((60, 4)).round(3), columns=[*OLD_COLUMNS, NEW_COLUMN])
    frame.loc[::7, NEW_COLUMN] = np.nan  # gaps: inferred as an optional input
    return frame


def fit(fit_on: list[str], *, fit_on_array: bool = False) -> tuple[Any, Any]:
    """A pipeline fitted on the columns ``fit_on``, and the whole frame (with ``NEW_COLUMN``).

    ``fit_on_array`` fits on a bare array, so the model records no feature names.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    frame = _frame()
    target = (frame["sepal_length"] + frame["petal_length"] > 1).astype(int)
    # The column transformer picks its columns by name and ignores the others, as a model
    # that does not read a new input would.
    picked = list(range(len(fit_on))) if fit_on_array else fit_on
    model = make_pipeline(ColumnTransformer([("picked", SimpleImputer(), picked)]), LogisticRegression())
    model.fit(frame[fit_on].to_numpy() if fit_on_array else frame[fit_on], target)
    return model, frame


def pack_version(
    tmp_path: Path,
    label: str,
    *,
    fit_on: list[str],
    sample_of: list[str],
    fit_on_array: bool = False,
) -> tuple[Path, Path]:
    """Fit a model on the columns ``fit_on``, pack it from a CSV of ``sample_of``.

    ``fit_on_array`` fits on a bare array, so nothing tells which columns the model reads (as
    with a folder MLflow saved). Returns (folder, sample CSV).
    """
    import joblib

    from modelpack import api

    model, frame = fit(fit_on, fit_on_array=fit_on_array)
    model_file = tmp_path / f"{label}.joblib"
    joblib.dump(model, model_file)
    sample = tmp_path / f"{label}.csv"
    frame[sample_of].to_csv(sample, index=False)
    out = tmp_path / label
    api.pack(model_file, sample=sample, output=out, name=label)
    return out, sample
