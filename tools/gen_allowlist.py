"""Generate modelpack/safety/allowlist.json, the pickle allowlist shipped with modelpack.

Run from the repository root in an environment that has modelpack's dependencies installed
(scikit-learn, numpy, scipy, pandas, pyarrow, joblib, cloudpickle, skops):

    python tools/gen_allowlist.py            # rewrite modelpack/safety/allowlist.json
    python tools/gen_allowlist.py --merge    # add this environment's names to the committed ones
    python tools/gen_allowlist.py --check    # exit 1 if this environment needs names not committed

Library versions rename private classes (scikit-learn 1.7 and 1.9 place their loss classes
differently; pandas 2 pickles time zones through pytz, pandas 3 through zoneinfo), and modelpack
supports several versions at once: on Python 3.10, ``pip install -e .`` resolves to
scikit-learn 1.7, pandas 2.3 and numpy 2.2. So the committed file is the union over the
supported environments: run ``--merge`` once in each (``generated_with`` lists them), e.g.

    python3.10 -m venv /tmp/py310 && /tmp/py310/bin/pip install -e .
    /tmp/py310/bin/python tools/gen_allowlist.py --merge
    .venv/bin/python tools/gen_allowlist.py --merge

and ``--check`` in each before a release (``make test`` checks the running one).

Two sources
-----------
* **Rules** (below) list what whole families of classes and helpers need, whether or not an
  estimator happens to use them with default parameters.
* **The estimator catalogue** (``tests/estimator_catalogue.py``): every estimator
  ``sklearn.utils.all_estimators()`` lists, fitted on small tables (binary and multiclass,
  regression, multi-output, clustering, outliers, transformers in pipelines) plus everyday
  pipelines, is dumped with pickle (protocols 2 and 5), joblib, cloudpickle and skops and
  scanned with ``modelpack.safety``; every global those files name goes in. A name found this
  way is admitted on its own only when it is a class defined in scikit-learn (a fitted-state
  holder such as a Cython loss, ``MetadataRequest`` or ``make_column_selector``) or the Cython
  ``__pyx_unpickle_<Class>`` helper of an admitted class (it checks a checksum and calls
  ``Class.__new__``); anything else (a function, another package's name) stops the generator
  until a person has vetted it and listed it in a rule here. ``--check`` also fails when a
  catalogue file does not pass the scan with the committed allowlist.

The scanner never imports these libraries; the committed JSON file is the source of truth at
run time. Every entry is an exact ``(module, qualname)`` pair, the way pickle names a global.

Rules
-----
1. scikit-learn: every class (a type, not a function) defined in a ``sklearn.*`` module that
   subclasses ``sklearn.base.BaseEstimator``, plus the helper classes fitted estimators keep
   (trees, neighbour trees, losses, links, distance metrics, kernels, optimizers,
   cross-validation splitters, scorers), plus the scoring functions behind sklearn's named
   scorers and the univariate feature-selection score functions. Test modules are skipped.
2. numpy: array, dtype and scalar reconstructors, the scalar types, the ufuncs exposed as
   ``numpy.<name>``, a few reductions estimators take as parameters (``numpy.mean``...),
   masked arrays, matrices, and the ``numpy.random`` pickling helpers and bit generators.
   Older ``numpy.core`` spellings are kept so files written by numpy 1.x pass.
3. scipy: the sparse matrix and sparse array classes, and ``BSpline`` (SplineTransformer).
4. pandas: the frames, series, indexes, extension arrays, dtypes, scalars, date offsets and the
   private reconstructors pandas' own pickles call. Each is listed under the name pickle uses
   today and, where it differs, under the module that defines it (older pandas wrote that).
5. pyarrow: the three functions pandas' Arrow-backed string arrays pickle through.
6. Standard library: plain data types only (see STDLIB below).
7. joblib: ``NumpyArrayWrapper``, which the scanner handles specially (it may only be
   instantiated directly, and the array bytes after it are skipped exactly as joblib does).

A Cython class's ``__pyx_unpickle_<Class>`` helper is listed next to every admitted class
that has one.

Never allowed, whatever package they live in: anything that imports by name, evaluates or
compiles code, opens or loads files, or calls an arbitrary callable it is given:
``numpy.load``, ``numpy.fromfile``, ``numpy.core._ufunc_reconstruct`` (imports any module by
name), ``pandas.read_pickle``, ``pandas.eval``, ``joblib.load``, ``scipy.stats`` distributions
(their pickled state rebuilds argument parsers with ``exec``), ``functools.partial``,
``operator.attrgetter``/``methodcaller``/``itemgetter``, ``builtins.getattr`` (except the
narrow rule in modelpack.safety), ``builtins.eval``/``exec``/``compile``/``__import__``/
``open``, ``types.*``, ``importlib.*``, ``pickle.*``, ``cloudpickle.*``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import io
import json
import pkgutil
import sys
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "modelpack" / "safety" / "allowlist.json"
# Judged by modelpack.safety's own narrow rules, never by the allowlist.
RESTRICTED = {("builtins", "getattr"), ("functools", "partial")}
FORMAT_VERSION = 1

# Plain data types and the reconstructors pickle itself emits. Each one, called with any
# arguments, only builds a value.
STDLIB = [
    "builtins.bool",
    "builtins.bytearray",
    "builtins.bytes",
    "builtins.complex",
    "builtins.dict",
    "builtins.float",
    "builtins.frozenset",
    "builtins.int",
    "builtins.list",
    "builtins.object",
    "builtins.range",
    "builtins.set",
    "builtins.slice",
    "builtins.str",
    "builtins.tuple",
    "builtins.Ellipsis",
    "builtins.NotImplemented",
    # Protocols 0-2 spell bytes as _codecs.encode(text, "latin1"). A codec lookup can only
    # import modules of the stdlib "encodings" package; a second look is welcome.
    "_codecs.encode",
    # Protocols 0-1 rebuild plain objects through these; the class is a separate global and is
    # judged on its own.
    "copyreg._reconstructor",
    "copyreg.__newobj__",
    "copyreg.__newobj_ex__",
    "collections.OrderedDict",
    "collections.defaultdict",
    "collections.deque",
    "collections.Counter",
    "datetime.date",
    "datetime.datetime",
    "datetime.time",
    "datetime.timedelta",
    "datetime.timezone",
    "decimal.Decimal",
    "fractions.Fraction",
    "uuid.UUID",
    # tz-aware pandas timestamps pickle their zone as getattr(ZoneInfo, "_unpickle")(key).
    # _unpickle reads tz data for a key from the system tz database and refuses paths; a
    # second look is welcome.
    "zoneinfo.ZoneInfo",
    "zoneinfo.ZoneInfo._unpickle",
]

# Named without importing their package. MLflow's PythonModel pickles (python_model.pkl) carry the predict method's type hints in this
# holder: __init__ stores two attributes and nothing else. The hints inside are globals of their
# own and are judged separately. Named here so the list needs no MLflow install to generate.
MLFLOW = [
    "mlflow.models.signature._TypeHints",
    # pandas 2 pickles a pytz time zone as pytz._p(zone, offsets...) (pytz._UTC for UTC): both
    # look the zone up by name in pytz's bundled database and build a tzinfo, like
    # zoneinfo.ZoneInfo._unpickle above. Kept here because they too are named without importing.
    "pytz._p",
    "pytz._UTC",
]

NUMPY = [
    # Array and scalar reconstructors (numpy 2 spells numpy._core, numpy 1 numpy.core). They
    # allocate an array of a given (allowlisted) subclass, or wrap bytes, nothing else.
    "numpy._core.multiarray._reconstruct",
    "numpy._core.multiarray.scalar",
    "numpy._core.numeric._frombuffer",
    "numpy.core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar",
    "numpy.core.numeric._frombuffer",
    "numpy.dtype",
    "numpy.ndarray",
    "numpy.matrix",
    "numpy.ma.core.MaskedArray",
    "numpy.ma.MaskedArray",
    "numpy.ma.core._mareconstruct",
    # numpy.random pickles: the ctors look a bit generator up by name in a fixed table or
    # call the (separately judged) class they are given with no arguments.
    "numpy.random._pickle.__randomstate_ctor",
    "numpy.random._pickle.__bit_generator_ctor",
    "numpy.random._pickle.__generator_ctor",
    "numpy.random.bit_generator.SeedSequence",
    # Cython's generated unpickler: it checks the class it is given against SeedSequence.
    "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
    "numpy.random.mtrand.RandomState",
    "numpy.random._generator.Generator",
    # Aggregations estimators take as parameters (FeatureAgglomeration(pooling_func=np.mean),
    # SimpleImputer-like helpers). They reduce arrays and nothing else.
    "numpy.mean",
    "numpy.median",
    "numpy.sum",
    "numpy.max",
    "numpy.min",
    "numpy.std",
    "numpy.var",
    "numpy.nanmean",
    "numpy.nanmedian",
]

PANDAS_CLASSES = [
    "pandas.DataFrame",
    "pandas.Series",
    "pandas.Index",
    "pandas.RangeIndex",
    "pandas.MultiIndex",
    "pandas.CategoricalIndex",
    "pandas.DatetimeIndex",
    "pandas.TimedeltaIndex",
    "pandas.PeriodIndex",
    "pandas.IntervalIndex",
    "pandas.Categorical",
    "pandas.CategoricalDtype",
    "pandas.DatetimeTZDtype",
    "pandas.PeriodDtype",
    "pandas.IntervalDtype",
    "pandas.SparseDtype",
    "pandas.StringDtype",
    "pandas.BooleanDtype",
    "pandas.Int8Dtype",
    "pandas.Int16Dtype",
    "pandas.Int32Dtype",
    "pandas.Int64Dtype",
    "pandas.UInt8Dtype",
    "pandas.UInt16Dtype",
    "pandas.UInt32Dtype",
    "pandas.UInt64Dtype",
    "pandas.Float32Dtype",
    "pandas.Float64Dtype",
    "pandas.ArrowDtype",
    "pandas.Timestamp",
    "pandas.Timedelta",
    "pandas.Period",
    "pandas.Interval",
    "pandas.arrays.ArrowStringArray",
    "pandas.arrays.ArrowExtensionArray",
    "pandas.arrays.BooleanArray",
    "pandas.arrays.DatetimeArray",
    "pandas.arrays.FloatingArray",
    "pandas.arrays.IntegerArray",
    "pandas.arrays.IntervalArray",
    "pandas.arrays.NumpyExtensionArray",
    "pandas.arrays.PeriodArray",
    "pandas.arrays.SparseArray",
    "pandas.arrays.StringArray",
    "pandas.arrays.TimedeltaArray",
    "pandas.core.internals.managers.BlockManager",
    "pandas.core.internals.managers.SingleBlockManager",
    "pandas._libs.internals.BlockPlacement",
]
# pandas' own reconstructors: each builds one pandas object from data and a class it is given
# (which is judged on its own). Values, not classes, so only their own names are listed.
PANDAS_HELPERS = [
    "pandas._libs.internals._unpickle_block",
    "pandas._libs.arrays.__pyx_unpickle_NDArrayBacked",
    "pandas._libs.interval.__pyx_unpickle_IntervalMixin",
    "pandas._libs.tslibs.timestamps._unpickle_timestamp",
    "pandas._libs.tslibs.timedeltas._timedelta_unpickle",
    "pandas._libs.tslibs.nattype._nat_unpickle",
    "pandas.core.indexes.base._new_Index",
    "pandas.core.indexes.datetimes._new_DatetimeIndex",
    "pandas.core.indexes.period._new_PeriodIndex",
    "pandas._libs.missing.NA",
    "pandas.NA",
    "pandas.NaT",
    "pandas._libs.tslibs.nattype.NaT",
]
# pandas 3 stores string columns as Arrow arrays and pickles them through these: an alias
# lookup, a buffer wrapper and an array rebuilt from buffers. _restore_array trusts the buffer
# layout it is given (a crafted file may crash rather than run code); a second look is welcome.
PYARROW = [
    "pyarrow.lib._restore_array",
    "pyarrow.lib.py_buffer",
    "pyarrow.lib.type_for_alias",
]

SKLEARN_HELPER_CLASSES = [
    # Tree structure of every tree model and forest; Cython, state is arrays.
    "sklearn.tree._tree.Tree",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.utils._bunch.Bunch",
    # GridSearchCV without scoring= keeps this: it calls estimator.score, nothing else.
    "sklearn.metrics._scorer._PassthroughScorer",
    # Fitted-state holders of CalibratedClassifierCV, Birch and BisectingKMeans.
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.cluster._birch._CFNode",
    "sklearn.cluster._birch._CFSubcluster",
    "sklearn.cluster._bisect_k_means._BisectingTree",
]
# Helper functions sklearn's own pickles call. newObj(cls) is cls.__new__(cls) for the
# (separately judged) class it is given.
SKLEARN_HELPER_FUNCTIONS = [
    "sklearn.neighbors._kd_tree.newObj",
    "sklearn.neighbors._ball_tree.newObj",
    "sklearn.metrics._dist_metrics.newObj",
    # BisectingKMeans keeps the k-means routine it runs; it only computes.
    "sklearn.cluster._kmeans._kmeans_single_lloyd",
    "sklearn.cluster._kmeans._kmeans_single_elkan",
    # HistGradientBoosting with categorical features keeps partial(check_array, dtype=...) as
    # a preprocessing step (modelpack.safety allows functools.partial only around an allowed
    # global); check_array validates and converts an array.
    "sklearn.utils.validation.check_array",
]
# Base classes whose sklearn subclasses are data holders kept by fitted estimators.
SKLEARN_HELPER_BASES = [
    "sklearn._loss.loss.BaseLoss",
    "sklearn._loss.link.BaseLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss._loss.CyLossFunction",
    "sklearn.metrics._dist_metrics.DistanceMetric",
    "sklearn.metrics._dist_metrics.DistanceMetric64",
    "sklearn.metrics._dist_metrics.DistanceMetric32",
    "sklearn.gaussian_process.kernels.Kernel",
    "sklearn.gaussian_process.kernels.Hyperparameter",
    "sklearn.neural_network._stochastic_optimizers.BaseOptimizer",
    "sklearn.model_selection._split.BaseCrossValidator",
    "sklearn.model_selection._split.BaseShuffleSplit",
    "sklearn.model_selection._split._RepeatedSplits",
    "sklearn.metrics._scorer._BaseScorer",
]
SKIP_MODULE_PARTS = {"tests", "externals", "_build_utils", "conftest", "estimator_checks", "_testing"}

JOBLIB = ["joblib.numpy_pickle.NumpyArrayWrapper"]


def split(dotted: str) -> tuple[str, str]:
    """'a.b.C' -> ('a.b', 'C') by importing the longest importable module prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module = ".".join(parts[:cut])
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        obj: object = mod
        try:
            for part in parts[cut:]:
                obj = getattr(obj, part)
        except AttributeError:
            continue
        return module, ".".join(parts[cut:])
    # Listed for another library version (e.g. pandas 3's _nat_unpickle under pandas 2): keep the
    # name as written, split at its last dot, so one list serves every supported version.
    print(f"note: {dotted} does not exist here; kept as written", file=sys.stderr)
    module, _, name = dotted.rpartition(".")
    return module, name


def resolve(dotted: str) -> object:
    module, qualname = split(dotted)
    obj: object = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def pickle_names(obj: object, listed: str) -> set[tuple[str, str]]:
    """The name pickle writes for ``obj`` today, plus the name it was listed under."""
    names = {split(listed)}
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str) and "<" not in qualname:
        names.add((module, qualname))
    return names


def alias_names(obj: object, package: str) -> set[tuple[str, str]]:
    """(module, name) for every loaded ``package.*`` module that holds ``obj`` under its name.

    Every alias is the same object, so allowing all of them allows nothing more.
    """
    name = getattr(obj, "__name__", "")
    out = set()
    for module_name, module in list(sys.modules.items()):
        if (module_name == package or module_name.startswith(package + ".")) and getattr(
            module, name, None
        ) is obj:
            out.add((module_name, name))
    return out


def walk_modules(package: str) -> Iterator[ModuleType]:
    root = importlib.import_module(package)
    yield root
    for info in pkgutil.walk_packages(root.__path__, prefix=package + "."):
        if SKIP_MODULE_PARTS & set(info.name.split(".")):
            continue
        try:
            yield importlib.import_module(info.name)
        except Exception:  # noqa: BLE001 - optional submodules may fail to import
            continue


def sklearn_entries() -> set[tuple[str, str]]:
    from sklearn.base import BaseEstimator

    bases = tuple(t for t in (resolve(name) for name in SKLEARN_HELPER_BASES) if isinstance(t, type))
    out: set[tuple[str, str]] = set()
    for module in walk_modules("sklearn"):
        for obj in vars(module).values():
            if not isinstance(obj, type):
                continue
            # scikit-learn 1.7's Cython loss classes call their module "_loss" and register that
            # name in sys.modules as an alias of sklearn._loss._loss; pickles use the alias.
            alias = obj.__module__ != module.__name__ and sys.modules.get(obj.__module__) is module
            if obj.__module__ != module.__name__ and not alias:
                continue
            if not module.__name__.startswith("sklearn."):
                continue
            if issubclass(obj, BaseEstimator) or issubclass(obj, bases):
                out.add((obj.__module__, obj.__qualname__))
    for name in SKLEARN_HELPER_CLASSES + SKLEARN_HELPER_FUNCTIONS:
        out |= pickle_names(resolve(name), name)
    out |= sklearn_score_functions()
    return out | cython_unpicklers(out)


def cython_unpicklers(pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """``module.__pyx_unpickle_C`` for every listed class ``module.C`` whose module has one.

    Cython pickles an extension type ``C`` as ``__pyx_unpickle_C(C, checksum, state)``: the
    helper checks the checksum, calls ``C.__new__`` and sets the state. ``C`` is a global of
    its own in the stream and is judged separately.
    """
    out = set()
    for module, qualname in pairs:
        mod = sys.modules.get(module)
        if mod is not None and "." not in qualname and hasattr(mod, f"__pyx_unpickle_{qualname}"):
            out.add((module, f"__pyx_unpickle_{qualname}"))
    return out


def sklearn_score_functions() -> set[tuple[str, str]]:
    """Score functions behind sklearn's named scorers, and feature-selection scores.

    A fitted search keeps its scorer, which pickles its metric function. These compute
    numbers from arrays.
    """
    import sklearn.feature_selection as fs
    from sklearn.metrics import get_scorer, get_scorer_names

    out: set[tuple[str, str]] = set()
    for name in get_scorer_names():
        scorer = get_scorer(name)
        func = getattr(scorer, "_score_func", None)
        if inspect.isfunction(func) and func.__module__.startswith("sklearn."):
            out.add((func.__module__, func.__qualname__))
    for name in (
        "f_classif",
        "f_regression",
        "chi2",
        "r_regression",
        "mutual_info_classif",
        "mutual_info_regression",
    ):
        func = getattr(fs, name)
        out.add((func.__module__, func.__qualname__))
    return out


def numpy_entries() -> set[tuple[str, str]]:
    import numpy as np

    out: set[tuple[str, str]] = set()
    for name in NUMPY:
        try:
            obj = resolve(name)
        except SystemExit:
            # numpy.core.* spellings may be missing on a future numpy; keep the names.
            module, _, qualname = name.rpartition(".")
            out.add((module, qualname))
            continue
        out |= pickle_names(obj, name)
    for attr in dir(np):
        obj = getattr(np, attr, None)
        # Scalar types (numpy.float64, ...) are estimator parameters (dtype=np.float64).
        # ufuncs pickle by name (FunctionTransformer(np.log1p)); calling one only computes.
        if (isinstance(obj, type) and issubclass(obj, np.generic)) or isinstance(obj, np.ufunc):
            out.add(("numpy", attr))
    for attr in dir(np.random):
        obj = getattr(np.random, attr)
        if (
            isinstance(obj, type)
            and issubclass(obj, np.random.BitGenerator)
            and obj is not np.random.BitGenerator
        ):
            out.add((obj.__module__, obj.__qualname__))
    return out


# SplineTransformer keeps fitted B-splines; a BSpline holds knots and coefficients, and keeps
# the array-API asarray it was built with (a conversion function). Private path, version-bound.
SCIPY = [
    "scipy.interpolate._bsplines.BSpline",
    "scipy._lib.array_api_compat.numpy._aliases.asarray",
]


def scipy_entries() -> set[tuple[str, str]]:
    import scipy.sparse as sp
    from scipy.sparse._base import _spbase

    out: set[tuple[str, str]] = set()
    for name in SCIPY:
        out |= pickle_names(resolve(name), name)
    for attr in dir(sp):
        obj = getattr(sp, attr)
        if isinstance(obj, type) and issubclass(obj, _spbase):
            out.add((obj.__module__, obj.__qualname__))
    return out


def pandas_entries() -> set[tuple[str, str]]:
    import pandas as pd
    from pandas._libs.tslibs.offsets import BaseOffset

    out: set[tuple[str, str]] = set()
    for name in PANDAS_CLASSES:
        obj = resolve(name)
        out |= pickle_names(obj, name)
        # pandas 3 sets __module__ to the public path; pandas 2 pickles name the defining
        # module (pandas.core.frame.DataFrame), which still holds the same class.
        out |= alias_names(obj, "pandas")
    for name in PANDAS_HELPERS:
        out.add(split(name))
    # Date offsets (Day, MonthEnd, ...) are plain value classes.
    offsets = importlib.import_module("pandas._libs.tslibs.offsets")
    for obj in vars(offsets).values():
        if isinstance(obj, type) and issubclass(obj, BaseOffset):
            out.add((obj.__module__, obj.__qualname__))
            if hasattr(pd.offsets, obj.__name__):
                out.add(("pandas._libs.tslibs.offsets", obj.__name__))
    return out


def stdlib_entries() -> set[tuple[str, str]]:
    out = set()
    for name in STDLIB:
        if name.startswith("zoneinfo.ZoneInfo._unpickle"):
            out.add(("zoneinfo", "ZoneInfo._unpickle"))
        else:
            out.add(split(name))
    return out


def skops_defaults() -> tuple[list[str], list[str]]:
    """skops's default trusted type names (union over its node types) and its loader names."""
    from skops.io import _trusted_types as tt
    from skops.io._audit import NODE_TYPE_MAPPING

    names: set[str] = set()
    for value in vars(tt).values():
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            names.update(value)
    loaders = sorted({key[0] for key in NODE_TYPE_MAPPING})
    return sorted(names), loaders


def forbidden() -> set[tuple[str, str]]:
    """Names that must never appear, checked against the generated set as a safety net."""
    return {
        ("numpy", "load"),
        ("numpy", "fromfile"),
        ("numpy", "loadtxt"),
        ("numpy.core", "_ufunc_reconstruct"),
        ("numpy._core", "_ufunc_reconstruct"),
        ("pandas", "read_pickle"),
        ("pandas", "eval"),
        ("joblib", "load"),
        ("builtins", "getattr"),
        ("builtins", "eval"),
        ("builtins", "exec"),
        ("builtins", "compile"),
        ("builtins", "__import__"),
        ("builtins", "open"),
        ("functools", "partial"),
        ("operator", "attrgetter"),
        ("operator", "methodcaller"),
    }


@dataclass
class CatalogueScan:
    """What the catalogue's files name, and what the committed allowlist made of them."""

    names: set[tuple[str, str]] = field(default_factory=set)
    # name -> "Entry[variant]/format" of the first file that named it
    where: dict[tuple[str, str], str] = field(default_factory=dict)
    # (Entry[variant]/format, finding) for every file the committed allowlist refuses
    failures: list[tuple[str, Any]] = field(default_factory=list)
    # the bytes of those files, to scan again with the file this run writes
    refused: dict[str, bytes] = field(default_factory=dict)
    files: int = 0


def scan_catalogue(skops_trusted: set[str]) -> CatalogueScan:
    """Dump every catalogue estimator in every format and scan it with modelpack.safety."""
    import tempfile

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from modelpack import safety
    from tests import estimator_catalogue as catalogue

    out = CatalogueScan()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model"
        for name in catalogue.names():
            entry = catalogue.get(name)
            for fmt in catalogue.DUMP_FORMATS:
                data = catalogue.dump(entry.estimator, fmt)
                if data is None:
                    continue
                path.write_bytes(data)
                result = safety.scan_file(path)
                out.files += 1
                label = f"{name}/{fmt}"
                for global_name in result.globals_seen:
                    if fmt == "skops" and global_name in skops_trusted:
                        continue
                    if split_quiet(global_name) in RESTRICTED:
                        continue
                    pair = split_quiet(global_name)
                    out.names.add(pair)
                    out.where.setdefault(pair, label)
                out.failures += [(label, f) for f in result.findings]
                if result.findings:
                    out.refused[label] = data
    return out


def split_quiet(dotted: str) -> tuple[str, str]:
    with contextlib.redirect_stderr(io.StringIO()):
        return split(dotted)


def admit(pair: tuple[str, str], admitted: set[tuple[str, str]]) -> bool:
    """Whether a name the catalogue found may go in without a person vetting it first."""
    module, qualname = pair
    mod = sys.modules.get(module)
    # Defined in scikit-learn (1.7's Cython losses live in a module registered as "_loss").
    if mod is None or not mod.__name__.startswith("sklearn."):
        return False
    if SKIP_MODULE_PARTS & set(mod.__name__.split(".")):
        return False
    if qualname.startswith("__pyx_unpickle_"):
        cls = (module, qualname.removeprefix("__pyx_unpickle_"))
        return cls in admitted or admit(cls, admitted)
    obj: object = mod
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return isinstance(obj, type)


def catalogue_entries(rules: set[tuple[str, str]], scan: CatalogueScan) -> set[tuple[str, str]]:
    found = scan.names - rules
    unvetted = sorted(p for p in found if not admit(p, rules))
    if unvetted:
        lines = [f"  {m}.{q} (first in {scan.where[(m, q)]})" for m, q in unvetted]
        raise SystemExit(
            "the estimator catalogue pickles names no rule admits; check each against "
            "the rules at the top of this file (a data holder or a function that only computes) "
            "and list it there:\n" + "\n".join(lines)
        )
    return found | cython_unpicklers(found)


def build(scan: CatalogueScan | None = None) -> dict[str, object]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        entries: set[tuple[str, str]] = set()
        entries |= stdlib_entries()
        # Split by hand: resolving would import MLflow, which the dev environment need not have.
        entries |= {(m, n) for m, _, n in (name.rpartition(".") for name in MLFLOW)}
        entries |= numpy_entries()
        entries |= scipy_entries()
        entries |= pandas_entries()
        entries |= sklearn_entries()
        entries |= {split(name) for name in PYARROW + JOBLIB}
        skops_trusted, skops_loaders = skops_defaults()
        if scan is None:
            scan = scan_catalogue(set(skops_trusted))
        entries |= catalogue_entries(entries, scan)
    bad = entries & forbidden()
    if bad:
        raise SystemExit(f"forbidden names in the allowlist: {sorted(bad)}")
    bad_modules = {
        m for m, _ in entries if m.split(".")[0] in {"os", "subprocess", "pickle", "importlib", "types"}
    }
    if bad_modules:
        raise SystemExit(f"forbidden modules in the allowlist: {sorted(bad_modules)}")
    by_module: dict[str, list[str]] = {}
    for module, qualname in sorted(entries):
        by_module.setdefault(module, []).append(qualname)
    return {
        "format_version": FORMAT_VERSION,
        "generated_by": "tools/gen_allowlist.py",
        "generated_with": versions(),
        "globals": by_module,
        "skops_trusted": skops_trusted,
        "skops_loaders": skops_loaders,
    }


def versions() -> dict[str, str]:
    out = {"python": ".".join(map(str, sys.version_info[:2]))}
    for dist in ("numpy", "scipy", "pandas", "scikit-learn", "pyarrow", "joblib", "skops"):
        from importlib.metadata import version

        out[dist] = version(dist)
    return out


def render(doc: dict[str, object]) -> str:
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def merge(doc: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """The union of ``doc`` (this environment) and the committed ``current`` file."""
    merged: dict[str, list[str]] = {m: list(v) for m, v in current["globals"].items()}
    for module, names in doc["globals"].items():
        merged[module] = sorted(set(merged.get(module, [])) | set(names))
    envs = current.get("generated_with", [])
    envs = envs if isinstance(envs, list) else [envs]
    if doc["generated_with"] not in envs:
        envs = [*envs, doc["generated_with"]]
    return {
        **doc,
        "generated_with": envs,
        "globals": dict(sorted(merged.items())),
        "skops_trusted": sorted(set(doc["skops_trusted"]) | set(current.get("skops_trusted", []))),
        "skops_loaders": sorted(set(doc["skops_loaders"]) | set(current.get("skops_loaders", []))),
    }


def missing_from(doc: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Names this environment needs that the committed file lacks."""
    out = []
    for module, names in doc["globals"].items():
        have = set(current["globals"].get(module, []))
        out += [f"{module}.{n}" for n in names if n not in have]
    out += [n for n in doc["skops_trusted"] if n not in set(current.get("skops_trusted", []))]
    return out


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="fail if this environment needs names not committed"
    )
    parser.add_argument(
        "--merge", action="store_true", help="add this environment's names to the committed file"
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scan = scan_catalogue(set(skops_defaults()[0]))
    doc: dict[str, Any] = build(scan)
    current = json.loads(OUT.read_text(encoding="utf-8")) if OUT.exists() else None
    if args.check:
        lacking = missing_from(doc, current or {"globals": {}})
        if lacking:
            print(f"{OUT.name} lacks {len(lacking)} names, e.g. {lacking[:3]}; run --merge", file=sys.stderr)
        for label, finding in scan.failures[:20]:
            print(f"refused: {label}: {finding.describe()}", file=sys.stderr)
        if scan.failures:
            print(f"{len(scan.failures)} findings in {scan.files} catalogue files", file=sys.stderr)
        return 1 if lacking or scan.failures else 0
    if args.merge and current is not None:
        doc = merge(doc, current)
    bad = forbidden() & {(m, n) for m, names in doc["globals"].items() for n in names}
    if bad:
        raise SystemExit(f"refusing to write forbidden names: {sorted(bad)}")
    OUT.write_text(render(doc), encoding="utf-8")
    count = sum(len(v) for v in doc["globals"].values())
    print(f"wrote {OUT} ({count} globals)")
    stuck = rescan(scan.refused)
    if stuck:
        print(
            "catalogue files the scanner still refuses with the new file:", *stuck, sep="\n", file=sys.stderr
        )
        return 1
    return 0


def rescan(files: dict[str, bytes]) -> list[str]:
    """Scan again, with the file just written, the catalogue files the old one refused."""
    import tempfile

    from modelpack import safety
    from modelpack.safety.allowlist import _allowlist

    _allowlist.cache_clear()  # the scanner reads the shipped file once per process
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model"
        for label, data in files.items():
            path.write_bytes(data)
            out += [f"{label}: {f.describe()}" for f in safety.scan_file(path).findings]
    return out


if __name__ == "__main__":
    raise SystemExit(main())
