"""scikit-learn's whole estimator catalogue, fitted on small tables.

Every class ``sklearn.utils.all_estimators()`` lists becomes one or more fitted *entries*, plus
the everyday pipelines people actually ship (ColumnTransformer + OneHotEncoder/StandardScaler +
a model, imputers, text columns, a log-transformed target, ...). Tests use it to prove that
every estimator a user can fit gets through modelpack, and ``tools/gen_allowlist.py`` builds the
pickle allowlist from it, so a scikit-learn release that adds a type fails the suite instead of
refusing a user's model.

API::

    from tests import estimator_catalogue as catalogue

    catalogue.names()           # entry names, cheap: nothing is fitted
    catalogue.method_of(name)   # "predict" or None, also without fitting
    catalogue.task_and_data(name)  # ("multiclass", "num"): the task and the frame's name, unfitted
    entry = catalogue.get(name) # fitted on first use, then cached for the process
    catalogue.entries()         # every entry, fitted
    catalogue.SKIPPED           # class name -> why it has no entry
    catalogue.dump(entry.estimator, fmt)  # bytes, for fmt in DUMP_FORMATS (None: skops cannot)

An :class:`Entry` has ``name``, ``estimator`` (fitted), ``X`` (a DataFrame with named columns,
exactly what the estimator was fitted on), ``y`` (the target, or None), ``task`` and
``method`` (``"predict"`` when the estimator can be packed and predicted, None when it only
fits: DBSCAN, TSNE, covariance estimators...). ``for name, estimator, X, task in entries()``
style unpacking works through :meth:`Entry.astuple`.

Tasks: ``binary``, ``multiclass``, ``multilabel`` (two 0/1 target columns), ``regression``,
``multioutput`` (two target columns), ``cluster``, ``outlier``, ``unsupervised`` (fit only).
Classifiers are fitted twice (binary, with 0/1 labels, and multiclass, with string labels); a
transformer is fitted as ``Pipeline([transformer, LogisticRegression()])`` on the binary task,
so it can be packed and predicted like any model. Entry names are ``Class[variant]``
(``GradientBoostingClassifier[multiclass]``, ``PCA[pipeline]``), ``pipeline:what[task]``, or
``variant:what[task]`` for a common non-default setting (another loss, tree metric, kernel,
scorer).

The data is small (60 rows, 4 non-negative float columns unless an estimator needs other
input) and iteration counts are cut (5 trees, 5 boosting rounds), so the whole catalogue fits
in seconds. Fitting ignores warnings (convergence on tiny data is expected). Columns are
float64, int64 or strings (``str``/object); pandas ``category`` columns appear only in
``pipeline:categorical-dtype-hgb``, whose dtype does not survive a CSV round trip.

A class that cannot be built from defaults gets a recipe (a base estimator, a parameter grid);
a class the catalogue cannot fit on a table is listed in SKIPPED with the reason. A class that
is neither (new in a scikit-learn release) is fitted with defaults; if that fails, ``get``
raises CatalogueError naming it, so the new class gets a recipe or a reason, not silence.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

__all__ = [
    "DUMP_FORMATS",
    "SKIPPED",
    "CatalogueError",
    "Entry",
    "dump",
    "entries",
    "estimator_classes",
    "get",
    "method_of",
    "names",
    "task_and_data",
]

N_ROWS = 60

# Classes with no entry of their own, and why.
SKIPPED: dict[str, str] = {
    "DictVectorizer": "takes a list of dicts, not a table",
    "PatchExtractor": "takes images (n_samples, height, width), not a table",
    "KernelCenterer": "centres a precomputed kernel matrix (n_samples x n_samples), not features",
    "LabelEncoder": "fits target labels, not features (classifiers keep their label state)",
    "LabelBinarizer": "fits target labels, not features (OneVsRestClassifier keeps one)",
    "MultiLabelBinarizer": "fits sets of target labels, not features",
    "FeatureHasher": "hashes a dict or token list per sample, not table columns (HashingVectorizer covers text)",
    # Covered by the pipelines below: they need their steps as arguments.
    "Pipeline": "covered by the pipeline:* entries",
    "ColumnTransformer": "covered by the pipeline:* entries",
    "FeatureUnion": "covered by pipeline:feature-union-svc",
}


class CatalogueError(RuntimeError):
    """An estimator the catalogue cannot construct or fit."""


@dataclass(frozen=True)
class Entry:
    """One fitted estimator and the data it was fitted on."""

    name: str
    estimator: Any
    X: Any  # pandas.DataFrame with named columns
    y: Any  # numpy array, DataFrame (multi-output) or None
    task: str
    method: str | None  # "predict", or None when the estimator only fits

    def astuple(self) -> tuple[str, Any, Any, str]:
        """``(name, fitted estimator, X, task)``."""
        return self.name, self.estimator, self.X, self.task


@dataclass(frozen=True)
class _Spec:
    name: str
    task: str
    data: str  # key of _datasets()
    build: Callable[[], Any]


# ---------------------------------------------------------------------------------------------
# Data


@cache
def _datasets() -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    group = np.repeat([0, 1, 2], N_ROWS // 3)
    rng.shuffle(group)
    # Non-negative everywhere (NMF, chi2, MultinomialNB need it), with a signal per class.
    values = rng.uniform(0, 1, size=(N_ROWS, 4)) + group[:, None] * np.array([0.9, 0.6, 0.3, 0.0])
    num = pd.DataFrame(values, columns=["width", "height", "depth", "weight"])
    with_gaps = num.copy()
    with_gaps.loc[rng.random(N_ROWS) < 0.15, "height"] = np.nan
    with_gaps.loc[rng.random(N_ROWS) < 0.15, "depth"] = np.nan
    mixed = pd.DataFrame(
        {
            "width": num["width"],
            "height": num["height"],
            "color": np.where(rng.random(N_ROWS) < 0.7, np.array(["red", "green", "blue"])[group], "grey"),
            "size": rng.choice(["S", "M", "L"], N_ROWS),
        }
    )
    words = np.array([["cheap", "small", "light"], ["fair", "medium", "plain"], ["costly", "large", "heavy"]])
    text = pd.DataFrame(
        {"text": [" ".join(rng.choice(words[g], 3)) + " " + rng.choice(["item", "thing"]) for g in group]}
    )
    counts = pd.DataFrame(
        np.minimum(rng.integers(0, 3, size=(N_ROWS, 4)) + group[:, None], 3).astype("int64"),
        columns=["a", "b", "c", "d"],
    )
    categorical = mixed.astype({"color": "category", "size": "category"})
    target = values @ np.array([1.0, 2.0, -0.5, 0.3]) + 2.0 + rng.normal(0, 0.1, N_ROWS)
    return {
        "frames": {
            "num": num,
            "gaps": with_gaps,
            "mixed": mixed,
            "text": text,
            "counts": counts,
            "one": num[["width"]],
            "categorical": categorical,
        },
        "binary": (group == 2).astype("int64"),
        "multiclass": np.array(["low", "mid", "high"], dtype=object)[group],
        "multilabel": pd.DataFrame({"tall": (group > 0).astype("int64"), "wide": (values[:, 0] > 1.2) * 1}),
        "regression": target,
        "multioutput": pd.DataFrame({"price": target, "volume": values[:, 1] * 3 + 1.0}),
    }


# ---------------------------------------------------------------------------------------------
# Estimators


def _fast(est: Any) -> Any:
    """Few iterations and a fixed seed, wherever the estimator has those parameters."""
    params = est.get_params(deep=False)
    updates: dict[str, Any] = {}
    if "random_state" in params and params["random_state"] is None:
        updates["random_state"] = 0
    if isinstance(params.get("n_estimators"), int) and params["n_estimators"] > 5:
        updates["n_estimators"] = 5
    name = type(est).__name__
    if name.startswith("HistGradientBoosting"):
        updates["max_iter"] = 5
    elif name.startswith("MLP"):
        updates["max_iter"] = 30
    elif name == "TSNE":
        updates["perplexity"] = 10.0
    elif name == "QuantileTransformer":
        updates["n_quantiles"] = N_ROWS
    return est.set_params(**updates) if updates else est


def _lr() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression()


def _with_base(cls: type, base: Callable[[], Any], **kwargs: Any) -> Callable[[], Any]:
    """A meta-estimator around ``base()``, whichever name its base parameter has."""

    def build() -> Any:
        params = inspect.signature(cls).parameters
        key = "estimator" if "estimator" in params else "base_estimator"
        return cls(**{key: base()}, **kwargs)

    return build


def _frozen(cls: type) -> Callable[[], Any]:
    def build() -> Any:
        # Fitted on the binary task; the entry's own fit is a no-op.
        d = _datasets()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cls(_lr().fit(d["frames"]["num"], d["binary"]))

    return build


def _recipes(classes: dict[str, type]) -> dict[str, list[tuple[str, str, Callable[[], Any]]]]:
    """(task, dataset, build) for classes that need arguments or special data."""
    from sklearn.linear_model import Ridge
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    def c(name: str) -> type:
        return classes[name]

    def ridge() -> Any:
        return Ridge()

    def clf_pair() -> list[tuple[str, Any]]:
        return [("lr", _lr()), ("tree", DecisionTreeClassifier(max_depth=3, random_state=0))]

    def reg_pair() -> list[tuple[str, Any]]:
        return [("ridge", Ridge()), ("tree", DecisionTreeRegressor(max_depth=3, random_state=0))]

    both = ("binary", "multiclass")
    out: dict[str, list[tuple[str, str, Callable[[], Any]]]] = {}

    def add(name: str, tasks: tuple[str, ...], data: str, build: Callable[[], Any]) -> None:
        if name in classes:
            out[name] = [(task, data, build) for task in tasks]

    for name in ("OneVsOneClassifier", "OneVsRestClassifier", "OutputCodeClassifier"):
        add(name, both, "num", _with_base(classes.get(name, object), _lr))
    add(
        "FixedThresholdClassifier",
        ("binary",),
        "num",
        _with_base(classes.get("FixedThresholdClassifier", object), _lr),
    )
    add(
        "TunedThresholdClassifierCV",
        ("binary",),
        "num",
        _with_base(classes.get("TunedThresholdClassifierCV", object), _lr, cv=3),
    )
    for name in ("ClassifierChain", "MultiOutputClassifier"):
        add(name, ("multilabel",), "num", _with_base(classes.get(name, object), _lr))
    for name in ("RegressorChain", "MultiOutputRegressor"):
        add(name, ("multioutput",), "num", _with_base(classes.get(name, object), ridge))
    add("SelfTrainingClassifier", both, "num", _with_base(classes.get("SelfTrainingClassifier", object), _lr))
    if "FrozenEstimator" in classes:
        add("FrozenEstimator", ("binary",), "num", _frozen(c("FrozenEstimator")))
    if "GridSearchCV" in classes:
        add("GridSearchCV", both, "num", lambda: c("GridSearchCV")(_lr(), {"C": [0.1, 1.0]}, cv=3))
    if "RandomizedSearchCV" in classes:
        add(
            "RandomizedSearchCV",
            both,
            "num",
            lambda: c("RandomizedSearchCV")(
                _lr(), {"C": [0.1, 1.0, 10.0]}, n_iter=2, scoring="balanced_accuracy", cv=3, random_state=0
            ),
        )
    if "StackingClassifier" in classes:
        add("StackingClassifier", both, "num", lambda: c("StackingClassifier")(clf_pair()))
        add("VotingClassifier", both, "num", lambda: c("VotingClassifier")(clf_pair(), voting="soft"))
        add("StackingRegressor", ("regression",), "num", lambda: c("StackingRegressor")(reg_pair()))
        add("VotingRegressor", ("regression",), "num", lambda: c("VotingRegressor")(reg_pair()))
    add("CategoricalNB", both, "counts", lambda: c("CategoricalNB")())
    add("IsotonicRegression", ("regression",), "one", lambda: c("IsotonicRegression")())
    for name in ("CCA", "PLSCanonical"):
        add(name, ("multioutput",), "num", classes.get(name, object))
    for name in ("MultiTaskElasticNet", "MultiTaskElasticNetCV", "MultiTaskLasso", "MultiTaskLassoCV"):
        add(name, ("multioutput",), "num", classes.get(name, object))
    # Its fit_transform(X, y) returns a pair, so it cannot be a pipeline step; fit alone.
    add("PLSSVD", ("multioutput",), "num", classes.get("PLSSVD", object))
    add("LocalOutlierFactor", ("outlier",), "num", lambda: c("LocalOutlierFactor")(novelty=True))
    return out


def _transformer_recipes(classes: dict[str, type]) -> dict[str, tuple[str, Callable[[], Any]]]:
    """(dataset, build) for transformers that need arguments or other input than numbers."""
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline

    def on(columns: Any, make: Callable[[], Any], remainder: str = "drop") -> Callable[[], Any]:
        return lambda: ColumnTransformer([("t", make(), columns)], remainder=remainder)

    out: dict[str, tuple[str, Callable[[], Any]]] = {}
    text = {
        "CountVectorizer": lambda: classes["CountVectorizer"](),
        "TfidfVectorizer": lambda: classes["TfidfVectorizer"](),
        "HashingVectorizer": lambda: classes["HashingVectorizer"](n_features=64),
        "TfidfTransformer": lambda: make_pipeline(
            classes["CountVectorizer"](), classes["TfidfTransformer"]()
        ),
    }
    for name, make in text.items():
        if name in classes:
            # A text vectorizer reads one column of strings (a 1-D selection).
            out[name] = ("text", on("text", make))
    for name in ("OneHotEncoder", "OrdinalEncoder", "TargetEncoder"):
        if name in classes:
            out[name] = ("mixed", on(["color", "size"], classes[name], remainder="passthrough"))
    for name in ("SimpleImputer", "KNNImputer", "MissingIndicator"):
        if name in classes:
            out[name] = ("gaps", classes[name])
    for name in ("RFE", "RFECV", "SelectFromModel"):
        if name in classes:
            out[name] = ("num", _with_base(classes[name], _lr))
    if "SequentialFeatureSelector" in classes:
        out["SequentialFeatureSelector"] = (
            "num",
            _with_base(classes["SequentialFeatureSelector"], _lr, n_features_to_select=2, cv=3),
        )
    if "SparseCoder" in classes:
        atoms = np.random.default_rng(1).uniform(0.1, 1, size=(3, 4))
        atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
        out["SparseCoder"] = ("num", lambda: classes["SparseCoder"](dictionary=atoms))
    for name in ("GaussianRandomProjection", "SparseRandomProjection"):
        if name in classes:
            # The default size follows the Johnson-Lindenstrauss bound: thousands of columns.
            out[name] = ("num", lambda name=name: classes[name](n_components=2))
    return out


def _variants() -> list[_Spec]:
    """Common non-default settings that keep other helper objects in the fitted model.

    Each loss, neighbour-tree metric, kernel and scorer is its own pickled class; defaults
    alone would leave them untested.
    """
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
    )
    from sklearn.gaussian_process import GaussianProcessClassifier, GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Matern, PairwiseKernel, WhiteKernel
    from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier, SGDRegressor
    from sklearn.model_selection import GridSearchCV, KFold, RandomizedSearchCV, StratifiedKFold
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.neural_network import MLPClassifier

    def spec(label: str, task: str, build: Callable[[], Any]) -> _Spec:
        return _Spec(f"variant:{label}[{task}]", task, "num", build)

    out = [
        spec("gb-exponential-loss", "binary", lambda: GradientBoostingClassifier(loss="exponential")),
        *[
            spec(
                f"gb-{loss.replace('_', '-')}-loss",
                "regression",
                lambda loss=loss: GradientBoostingRegressor(loss=loss),
            )
            for loss in ("huber", "quantile", "absolute_error")
        ],
        *[
            spec(
                f"hgb-{loss.replace('_', '-')}-loss",
                "regression",
                lambda loss=loss: HistGradientBoostingRegressor(
                    loss=loss, quantile=0.3 if loss == "quantile" else None
                ),
            )
            for loss in ("poisson", "gamma", "quantile", "absolute_error")
        ],
        *[
            spec(
                f"sgd-{loss.replace('_', '-')}-loss", "multiclass", lambda loss=loss: SGDClassifier(loss=loss)
            )
            for loss in ("log_loss", "modified_huber", "squared_hinge", "perceptron")
        ],
        *[
            spec(
                f"sgd-{loss.replace('_', '-')}-loss", "regression", lambda loss=loss: SGDRegressor(loss=loss)
            )
            for loss in ("huber", "epsilon_insensitive", "squared_epsilon_insensitive")
        ],
        spec("knn-kd-tree", "multiclass", lambda: KNeighborsClassifier(algorithm="kd_tree")),
        spec(
            "knn-ball-tree-manhattan",
            "multiclass",
            lambda: KNeighborsClassifier(algorithm="ball_tree", metric="manhattan", weights="distance"),
        ),
        spec(
            "knn-ball-tree-canberra",
            "multiclass",
            lambda: KNeighborsClassifier(algorithm="ball_tree", metric="canberra"),
        ),
        spec(
            "knn-kd-tree-chebyshev",
            "regression",
            lambda: KNeighborsRegressor(algorithm="kd_tree", metric="chebyshev"),
        ),
        spec(
            "knn-brute-cosine", "multiclass", lambda: KNeighborsClassifier(algorithm="brute", metric="cosine")
        ),
        spec(
            "gp-kernel-sum",
            "multiclass",
            lambda: GaussianProcessClassifier(kernel=ConstantKernel() * RBF() + WhiteKernel()),
        ),
        spec("gp-matern-kernel", "regression", lambda: GaussianProcessRegressor(kernel=Matern(), alpha=0.1)),
        spec(
            "gp-pairwise-kernel",
            "regression",
            lambda: GaussianProcessRegressor(kernel=PairwiseKernel(metric="laplacian"), alpha=0.1),
        ),
        # Binary: scikit-learn 1.7's early stopping fails on string labels.
        spec("mlp-sgd", "binary", lambda: MLPClassifier(solver="sgd", early_stopping=True)),
        spec(
            "grid-search-multimetric",
            "multiclass",
            lambda: GridSearchCV(
                LogisticRegression(),
                {"C": [1.0, 2.0]},
                scoring=["accuracy", "f1_macro", "roc_auc_ovr"],
                refit="accuracy",
                cv=3,
            ),
        ),
        spec(
            "grid-search-scorer-dict",
            "regression",
            lambda: GridSearchCV(
                Ridge(),
                {"alpha": [1.0, 2.0]},
                scoring={"r2": "r2", "mae": "neg_mean_absolute_error"},
                refit="r2",
                cv=KFold(3),
            ),
        ),
        spec(
            "random-search-stratified-folds",
            "multiclass",
            lambda: RandomizedSearchCV(
                LogisticRegression(),
                {"C": [1.0, 2.0]},
                n_iter=2,
                cv=StratifiedKFold(3, shuffle=True, random_state=0),
            ),
        ),
        spec(
            "forest-balanced-oob",
            "multiclass",
            lambda: RandomForestClassifier(
                class_weight="balanced_subsample", max_samples=0.5, oob_score=True
            ),
        ),
        spec(
            "logreg-class-weights",
            "multiclass",
            lambda: LogisticRegression(class_weight={"low": 1.0, "mid": 2.0, "high": 1.0}),
        ),
    ]
    return out


def _pipelines() -> list[_Spec]:
    """Everyday compositions: what people fit on real tables and ship."""
    import numpy as np
    from sklearn.compose import (
        ColumnTransformer,
        TransformedTargetRegressor,
        make_column_selector,
        make_column_transformer,
    )
    from sklearn.decomposition import PCA
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        RandomForestRegressor,
    )
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.feature_selection import SelectKBest
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler
    from sklearn.svm import SVC

    def prep() -> Any:
        return ColumnTransformer(
            [
                ("num", StandardScaler(), ["width", "height"]),
                ("cat", OneHotEncoder(handle_unknown="ignore"), ["color", "size"]),
            ]
        )

    def with_model(model: Callable[[], Any]) -> Callable[[], Any]:
        return lambda: Pipeline([("prep", prep()), ("model", _fast(model()))])

    specs: list[_Spec] = []
    for task in ("binary", "multiclass"):
        specs += [
            _Spec(f"pipeline:onehot-scaler-logreg[{task}]", task, "mixed", with_model(LogisticRegression)),
            _Spec(
                f"pipeline:onehot-scaler-gradient-boosting[{task}]",
                task,
                "mixed",
                with_model(GradientBoostingClassifier),
            ),
            _Spec(
                f"pipeline:onehot-scaler-hist-gradient-boosting[{task}]",
                task,
                "mixed",
                with_model(HistGradientBoostingClassifier),
            ),
        ]
    specs += [
        _Spec(
            "pipeline:onehot-scaler-random-forest[regression]",
            "regression",
            "mixed",
            with_model(RandomForestRegressor),
        ),
        _Spec(
            "pipeline:column-selector-ordinal-hgb[multiclass]",
            "multiclass",
            "mixed",
            lambda: make_pipeline(
                make_column_transformer(
                    (
                        OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                        make_column_selector(dtype_exclude="number"),
                    ),
                    (StandardScaler(), make_column_selector(dtype_include="number")),
                ),
                _fast(HistGradientBoostingClassifier(categorical_features=[0, 1])),
            ),
        ),
        _Spec(
            "pipeline:categorical-dtype-hgb[multiclass]",
            "multiclass",
            "categorical",
            lambda: _fast(HistGradientBoostingClassifier(categorical_features="from_dtype")),
        ),
        _Spec(
            "pipeline:impute-scale-logreg[multiclass]",
            "multiclass",
            "gaps",
            lambda: make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression()),
        ),
        _Spec(
            "pipeline:pandas-output-logreg[binary]",
            "binary",
            "mixed",
            lambda: Pipeline(
                [
                    (
                        "prep",
                        ColumnTransformer(
                            [
                                ("num", StandardScaler(), ["width", "height"]),
                                ("cat", OneHotEncoder(sparse_output=False), ["color", "size"]),
                            ]
                        ).set_output(transform="pandas"),
                    ),
                    ("model", LogisticRegression()),
                ]
            ),
        ),
        _Spec(
            "pipeline:feature-union-svc[multiclass]",
            "multiclass",
            "num",
            lambda: make_pipeline(
                FeatureUnion([("pca", PCA(n_components=2)), ("best", SelectKBest(k=2))]),
                SVC(probability=True),
            ),
        ),
        _Spec(
            "pipeline:tfidf-logreg[multiclass]",
            "multiclass",
            "text",
            lambda: make_pipeline(
                ColumnTransformer([("tfidf", TfidfVectorizer(), "text")]), LogisticRegression()
            ),
        ),
        _Spec(
            "pipeline:log1p-scaler-logreg[binary]",
            "binary",
            "num",
            lambda: make_pipeline(FunctionTransformer(np.log1p), StandardScaler(), LogisticRegression()),
        ),
        _Spec(
            "pipeline:log-target-regression[regression]",
            "regression",
            "num",
            lambda: TransformedTargetRegressor(
                regressor=LinearRegression(), func=np.log1p, inverse_func=np.expm1
            ),
        ),
    ]
    return specs


@cache
def estimator_classes() -> dict[str, type]:
    """Every class ``sklearn.utils.all_estimators()`` lists, by name."""
    from sklearn.utils import all_estimators

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dict(all_estimators())


def _kinds() -> dict[str, set[str]]:
    from sklearn.utils import all_estimators

    out: dict[str, set[str]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for kind in ("classifier", "regressor", "cluster", "transformer"):
            for name, _ in all_estimators(type_filter=kind):
                out.setdefault(name, set()).add(kind)
    return out


@cache
def _specs() -> dict[str, _Spec]:
    from sklearn.base import is_outlier_detector
    from sklearn.pipeline import Pipeline

    classes = estimator_classes()
    kinds = _kinds()
    recipes = _recipes(classes)
    transformers = _transformer_recipes(classes)
    specs: list[_Spec] = []

    def pipeline_of(make: Callable[[], Any]) -> Callable[[], Any]:
        return lambda: Pipeline([("transform", _fast(make())), ("model", _lr())])

    for name, cls in sorted(classes.items()):
        if name in SKIPPED:
            continue
        kind = kinds.get(name, set())
        if name in recipes:
            specs += [_Spec(f"{name}[{task}]", task, data, build) for task, data, build in recipes[name]]
        elif "classifier" in kind:
            specs += [_Spec(f"{name}[{task}]", task, "num", cls) for task in ("binary", "multiclass")]
        elif "regressor" in kind:
            specs.append(_Spec(f"{name}[regression]", "regression", "num", cls))
        elif _safe_outlier(cls, is_outlier_detector):
            specs.append(_Spec(f"{name}[outlier]", "outlier", "num", cls))
        elif name in transformers:
            data, make = transformers[name]
            specs.append(_Spec(f"{name}[pipeline]", "binary", data, pipeline_of(make)))
        elif hasattr(cls, "predict") and ("cluster" in kind or hasattr(cls, "fit_predict")):
            specs.append(_Spec(f"{name}[cluster]", "cluster", "num", cls))
        elif hasattr(cls, "transform"):
            specs.append(_Spec(f"{name}[pipeline]", "binary", "num", pipeline_of(cls)))
        elif hasattr(cls, "predict"):
            # GaussianMixture and friends: predict assigns a component.
            specs.append(_Spec(f"{name}[cluster]", "cluster", "num", cls))
        else:
            # Fit-only: DBSCAN, TSNE, covariance estimators, KernelDensity, NearestNeighbors...
            task = "cluster" if "cluster" in kind else "unsupervised"
            specs.append(_Spec(f"{name}[{task}]", task, "num", cls))
    specs += _pipelines()
    specs += _variants()
    out = {s.name: s for s in specs}
    assert len(out) == len(specs), "duplicate catalogue names"
    return out


def _safe_outlier(cls: type, is_outlier_detector: Callable[[Any], bool]) -> bool:
    try:
        return bool(is_outlier_detector(cls()))
    except Exception:  # noqa: BLE001 - classes needing arguments are not plain detectors
        return False


# ---------------------------------------------------------------------------------------------
# Public API


def names() -> list[str]:
    """Every entry name, in a stable order; fits nothing."""
    return list(_specs())


@cache
def method_of(name: str) -> str | None:
    """``Entry.method`` of entry ``name`` without fitting it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = _specs()[name].build()
    return "predict" if callable(getattr(est, "predict", None)) else None


def task_and_data(name: str) -> tuple[str, str]:
    """``(task, data)`` of entry ``name`` without fitting it: ``data`` names the frame it is
    fitted on (``num``, ``gaps``, ``mixed``, ``text``, ``counts``, ``one``, ``categorical``)."""
    spec = _specs()[name]
    return spec.task, spec.data


@cache
def get(name: str) -> Entry:
    """The fitted entry ``name`` (fitted once per process)."""
    try:
        spec = _specs()[name]
    except KeyError:
        raise CatalogueError(f"no catalogue entry {name!r}") from None
    d = _datasets()
    X = d["frames"][spec.data]
    y = None if spec.task in ("cluster", "outlier", "unsupervised") else d[spec.task]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = _fast(spec.build())
            est.fit(X) if y is None else est.fit(X, y)
    except Exception as exc:
        raise CatalogueError(
            f"{name}: cannot fit with defaults ({type(exc).__name__}: {exc}); "
            "give it a recipe or a SKIPPED reason in tests/estimator_catalogue.py"
        ) from exc
    return Entry(name=name, estimator=est, X=X, y=y, task=spec.task, method=method_of(name))


def entries() -> list[Entry]:
    """Every entry, fitted."""
    return [get(name) for name in names()]


# How people save a fitted estimator. "pickle-2" is what older tools and Python 2 era code
# write (copyreg reconstructors, compat names); "pickle" the highest protocol.
DUMP_FORMATS = ("pickle", "pickle-2", "joblib", "cloudpickle", "skops")


def dump(estimator: Any, fmt: str) -> bytes | None:
    """The bytes of ``estimator`` saved in ``fmt``; None when skops cannot save it."""
    import io
    import pickle

    if fmt == "pickle":
        return pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL)
    if fmt == "pickle-2":
        return pickle.dumps(estimator, protocol=2)
    if fmt == "joblib":
        import joblib

        buf = io.BytesIO()
        joblib.dump(estimator, buf)
        return buf.getvalue()
    if fmt == "cloudpickle":
        import cloudpickle

        return bytes(cloudpickle.dumps(estimator))
    if fmt == "skops":
        import skops.io as sio

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return bytes(sio.dumps(estimator))
        except (TypeError, NotImplementedError):
            return None  # "Objects of type Birch are not supported yet"
    raise ValueError(f"unknown dump format {fmt!r}")
