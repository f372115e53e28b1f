"""The same-form invariant, shared by tests/test_same_form.py and its MLflow half in tests/interop.

A sample file reaches the model in the same form at pack, validate, predict and serve time, and
the signature records exactly that form. Each case trains an estimator on a file *as pandas reads
it* (what a user trains on), packs it from that same file, and expects every later reader of the
file (modelpack's validate and predict, MLflow's pyfunc and CLI) to give identical predictions.

``CASES`` is the one parameter: a short list of hand-made cases, run in every sample format.
``catalogue_cases()`` points the same machinery at every estimator of tests/estimator_catalogue.py
that predicts: each in CSV and Parquet, plus one of TSV, JSON, JSONL and NPY in turn (every format
for the tables other than the plain numeric one, which most entries share).
"""

from __future__ import annotations

import json
import pickle
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

ROWS = 40
FORMATS = ("csv", "tsv", "parquet", "json", "jsonl", "npy")


@dataclass(frozen=True)
class Case:
    """One estimator and the table it is trained on.

    Attributes:
        name: test id.
        make: builds the unfitted estimator.
        table: ``numeric`` (floats: every format, NPY included), ``mixed`` (text, ISO-date text
            and a number), ``gaps`` (integers with missing values and a number) or ``flags``
            (booleans with missing values and a number: CSV/TSV only, since pandas reads the
            other formats' gaps as None, which no scikit-learn estimator trains on).
        classifier: predictions are labels (compared exactly) rather than scores.
        data: the table and its target, when they are not ``table(table)``.
        fitted: an estimator already fitted on ``data()``'s table, used instead of a new fit
            when the file reads back as exactly that table (saves refitting the catalogue).
        only: the formats to run, when not every format the table allows.
        noisy: the estimator warns on small data (convergence, feature names); not ours to judge.
    """

    name: str
    make: Callable[[], Any]
    table: str
    classifier: bool = True
    data: Callable[[], tuple[Any, Any]] | None = None
    fitted: Callable[[], Any] | None = None
    only: tuple[str, ...] | None = None
    noisy: bool = False


@contextmanager
def quiet(case: Case) -> Iterator[None]:
    """Where ``case``'s estimator fits, is packed and predicts: its warnings ignored if noisy."""
    with warnings.catch_warnings():
        if case.noisy:
            warnings.simplefilter("ignore")
        yield


def _logistic() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=500)


def _ridge() -> Any:
    from sklearn.linear_model import Ridge

    return Ridge()


def _one_hot_pipeline() -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    encode = ColumnTransformer([("onehot", OneHotEncoder(), ["city", "opened"])], remainder="passthrough")
    return Pipeline([("encode", encode), ("model", LogisticRegression(max_iter=500))])


def _gaps_model() -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=5, random_state=0)


def _impute_flags_pipeline() -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    # SimpleImputer counts NaN as missing but not None, so the gaps must reach it as pandas read them.
    flags = make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder())
    encode = ColumnTransformer([("flags", flags, ["flag"])], remainder="passthrough")
    return Pipeline([("encode", encode), ("model", LogisticRegression(max_iter=500))])


CASES: tuple[Case, ...] = (
    Case("logistic", _logistic, "numeric"),
    Case("ridge", _ridge, "numeric", classifier=False),
    Case("onehot-text-and-iso-dates", _one_hot_pipeline, "mixed"),
    Case("ints-with-gaps", _gaps_model, "gaps"),
    Case("bools-with-gaps", _impute_flags_pipeline, "flags"),
)


def formats(case: Case) -> tuple[str, ...]:
    """NPY holds one numeric array, so only numeric tables have an NPY sample."""
    if case.only is not None:
        return case.only
    if case.table == "flags":
        return ("csv", "tsv")
    return FORMATS if case.table == "numeric" else tuple(f for f in FORMATS if f != "npy")


def params(cases: tuple[Case, ...] = CASES) -> Iterator[tuple[Case, str]]:
    for case in cases:
        for fmt in formats(case):
            yield case, fmt


# Catalogue tables whose every value is a number (NaN included): they have an NPY sample too.
_NUMERIC_DATA = frozenset({"num", "counts", "one", "gaps"})
_EXTRA_FORMATS = ("tsv", "json", "jsonl", "npy")
# Catalogue entries that cannot be trained on some formats as pandas reads them, and why.
PARQUET_ONLY: dict[str, str] = {
    "pipeline:categorical-dtype-hgb[multiclass]": (
        "categorical_features='from_dtype' needs pandas category columns; Parquet keeps them as "
        "dictionary columns, but pandas reads CSV, TSV, JSON and JSONL back as strings, and NPY "
        "holds no text"
    ),
}
# Catalogue entries whose predictions change between two calls on the same input, and why
# (none today: the catalogue fixes every random_state, and predicting twice gives the same).
NONDETERMINISTIC: dict[str, str] = {}


def catalogue_cases() -> tuple[Case, ...]:
    """Every catalogue entry that predicts, trained on its table as pandas reads each sample."""
    from tests import estimator_catalogue as catalogue

    cases = []
    turn = 0
    for name in catalogue.names():
        if catalogue.method_of(name) is None or name in NONDETERMINISTIC:
            continue
        task, data = catalogue.task_and_data(name)
        allowed = FORMATS if data in _NUMERIC_DATA else tuple(f for f in FORMATS if f != "npy")
        if name in PARQUET_ONLY:
            only: tuple[str, ...] = ("parquet",)
        elif data == "num":
            # Most entries share this table: CSV and Parquet for each, the other formats in turn.
            only = ("csv", "parquet", _EXTRA_FORMATS[turn % len(_EXTRA_FORMATS)])
            turn += 1
        else:
            only = allowed
        cases.append(
            Case(
                name,
                make=partial(_catalogue_unfitted, name),
                table=f"catalogue:{data}",
                classifier=task not in ("regression", "multioutput"),
                data=partial(_catalogue_data, name),
                fitted=partial(_catalogue_fitted, name),
                only=only,
                noisy=True,
            )
        )
    return tuple(cases)


def _catalogue_unfitted(name: str) -> Any:
    from sklearn.base import clone

    from tests import estimator_catalogue as catalogue

    return clone(catalogue.get(name).estimator)


def _catalogue_data(name: str) -> tuple[Any, Any]:
    from tests import estimator_catalogue as catalogue

    entry = catalogue.get(name)
    return entry.X, entry.y


def _catalogue_fitted(name: str) -> Any:
    from tests import estimator_catalogue as catalogue

    return catalogue.get(name).estimator


def table(kind: str) -> tuple[Any, Any]:
    """A small table of the given kind and its target, as the user holds it before saving."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    x = rng.normal(size=(ROWS, 3)).round(6)
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")
    if kind == "numeric":
        return pd.DataFrame(x, columns=["a", "b", "c"]), y
    if kind == "mixed":
        cities = np.array(["Paris", "Oslo", "Lima", "Pune"])[np.arange(ROWS) % 4]
        opened = np.array(["1935-06-01", "1999-12-31", "2024-02-29", "2010-07-04", "1971-01-01"])
        frame = pd.DataFrame({"city": cities, "opened": opened[np.arange(ROWS) % 5], "x": x[:, 0]})
        return frame, y
    if kind == "gaps":
        counts = pd.array([None if i % 4 == 1 else int(i % 7) for i in range(ROWS)], dtype="Int64")
        return pd.DataFrame({"n": counts, "x": x[:, 0]}), y
    if kind == "flags":
        flags = pd.array([None if i % 3 == 1 else bool(y[i]) for i in range(ROWS)], dtype="boolean")
        return pd.DataFrame({"flag": flags, "x": x[:, 0]}), y
    raise ValueError(kind)


def write_sample(frame: Any, fmt: str, folder: Path) -> Path:
    """The table saved as a user would save it in that format."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = folder / f"sample.{fmt}"
    if fmt in ("csv", "tsv"):
        frame.to_csv(path, index=False, sep="," if fmt == "csv" else "\t")
    elif fmt == "parquet":
        # A plain Parquet file (no pandas metadata), as most tools write it.
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None), path)
    elif fmt == "json":
        path.write_text(frame.to_json(orient="records"))
    elif fmt == "jsonl":
        path.write_text(frame.to_json(orient="records", lines=True))
    elif fmt == "npy":
        np.save(path, frame.to_numpy(dtype="float64"))
    else:
        raise ValueError(fmt)
    return path


def read_as_pandas(path: Path) -> Any:
    """The file as a pandas/numpy user reads it to train or to call MLflow."""
    import numpy as np
    import pandas as pd

    fmt = path.suffix.lstrip(".")
    if fmt in ("csv", "tsv"):
        return pd.read_csv(path, sep="," if fmt == "csv" else "\t")
    if fmt == "parquet":
        return pd.read_parquet(path)
    if fmt in ("json", "jsonl"):
        # Records as MLflow's serving reads them: no dates guessed from column names.
        return pd.DataFrame.from_records(
            [json.loads(line) for line in path.read_text().splitlines()]
            if fmt == "jsonl"
            else json.loads(path.read_text())
        )
    return np.load(path)


@dataclass(frozen=True)
class Packed:
    case: Case
    sample: Path
    folder: Path
    expected: Any  # the fitted model's predictions on the file as pandas reads it


def train_and_pack(case: Case, fmt: str, folder: Path) -> Packed:
    """Train on the sample as pandas reads it, then pack from the sample file itself."""
    from modelpack import api

    folder.mkdir(parents=True, exist_ok=True)
    frame, y = table(case.table) if case.data is None else case.data()
    sample = write_sample(frame, fmt, folder)
    data = read_as_pandas(sample)
    with quiet(case):
        if case.fitted is not None and _same_table(data, frame):
            model = case.fitted()
        else:
            model = case.make()
            model.fit(data) if y is None else model.fit(data, y)
        model_file = folder / "model.pkl"
        model_file.write_bytes(pickle.dumps(model))
        out = folder / "packed"
        api.pack(model_file, sample=sample, output=out)
        return Packed(case, sample, out, model.predict(data))


def _same_table(data: Any, frame: Any) -> bool:
    import pandas as pd

    return (
        isinstance(data, pd.DataFrame)
        and list(data.columns) == list(frame.columns)
        and list(data.dtypes) == list(frame.dtypes)
        and data.equals(frame)
    )


def modelpack_predict(case: Case, packed: Packed) -> Any:
    """Validate the folder on its sample, then predict on it: the predictions, one row each."""
    from modelpack import api

    with quiet(case):
        report = api.validate(packed.folder, data=packed.sample)
        assert report.exit_code == 0, [(c.name, c.reason) for c in report.failed]
        result = api.predict(packed.folder, data=packed.sample)
    assert result.predictions is not None
    return [[row[column] for column in result.columns] for row in result.predictions]


def assert_same(case: Case, got: Any, expected: Any) -> None:
    import numpy as np

    got = np.asarray(got).ravel()
    expected = np.asarray(expected).ravel()
    if case.classifier:
        assert got.tolist() == expected.tolist()
    else:
        # The same float64 values through the same code give the same bits (the whole catalogue
        # matches exactly today); 1e-12 leaves room only for a BLAS summing in another order
        # because a frame read from one format is laid out column-major and another row-major.
        np.testing.assert_allclose(got.astype("float64"), expected, rtol=1e-12, atol=0)


class NeedsDeclaredTypes:
    """Fails unless ``zip`` arrives as text with its leading zeros and ``when`` as datetime64,
    as the schema declared for it says (a declared type decides how the file is read)."""

    def predict(self, data: Any) -> Any:
        import numpy as np

        if data["zip"].tolist()[0] != "02134":
            raise TypeError(f"zip arrived as {data['zip'].dtype}: {data['zip'].tolist()}")
        if not str(data["when"].dtype).startswith("datetime64"):
            raise TypeError(f"when arrived as {data['when'].dtype}")
        return np.zeros(len(data))


# Catalogue entries MLflow's pyfunc refuses on the file as pandas reads it, and why. The test
# asserts the refusal (so a change in MLflow shows) and scores the rows as the JSON a server
# receives gives them, which must match.
MLFLOW_REFUSES: dict[str, str] = {
    "pipeline:categorical-dtype-hgb[multiclass]": (
        "pandas reads Parquet dictionary columns as category; MLflow has no category type, so "
        "its own infer_signature records them as string (as pack does) and its enforcement "
        "refuses a category column for a string field ('Can not safely convert category')"
    ),
}


def mlflow_predict_all(manifest: Path, out: Path) -> None:
    """In MLflow's interpreter: score each folder on its sample, all in this one process.

    ``manifest`` is a JSON list of ``[key, folder, sample, as_text]``; ``as_text`` turns category
    columns into the strings a server's JSON carries. Writes a pickle of ``{key: predictions or
    "error: ..."}`` to ``out``: one folder that fails does not hide the others.
    """
    import mlflow.pyfunc
    import numpy as np

    warnings.simplefilter("ignore")  # MLflow's hints about pickles, integer columns, versions
    results: dict[str, Any] = {}
    for key, folder, sample, as_text in json.loads(manifest.read_text()):
        try:
            data = read_as_pandas(Path(sample))
            if as_text:
                data = data.astype({c: str for c in data.columns if data[c].dtype == "category"})
            results[key] = np.asarray(mlflow.pyfunc.load_model(folder).predict(data))
        except Exception as exc:  # noqa: BLE001 - reported per folder to the test
            results[key] = f"error: {type(exc).__name__}: {exc}"
    out.write_bytes(pickle.dumps(results))
