"""Static pickle safety scan: payloads that must fail (and never run), models that must pass."""

from __future__ import annotations

import copyreg
import json
import pickle
import struct
import subprocess
import sys
import tracemalloc
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytest

from modelpack import safety
from modelpack.safety import (
    Finding,
    ScanResult,
    is_code_executing_format,
    referenced_modules,
    scan_file,
    scan_folder,
)
from tests.unit import safety_payloads as sp

# ---------------------------------------------------------------------------------------------
# Malicious payloads


def _scan_payload(payload: sp.Payload, folder: Path, marker: Path) -> tuple[Path, list[ScanResult]]:
    path = payload.build(folder, marker)
    results = scan_folder(folder) if payload.folder_scan else [scan_file(path, root=folder)]
    return path, results


@pytest.mark.parametrize("payload", sp.PAYLOADS, ids=[p.name for p in sp.PAYLOADS])
def test_payload_is_refused_and_never_runs(payload: sp.Payload, tmp_path: Path) -> None:
    folder = tmp_path / "pkg"
    folder.mkdir()
    marker = tmp_path / "MARKER"
    path, results = _scan_payload(payload, folder, marker)

    flagged = [r for r in results if not r.ok]
    assert flagged, f"{payload.name} passed the scan"
    names = [f.global_name for r in flagged for f in r.findings]
    for expected in payload.expect:
        assert any(expected in name for name in names), (expected, names)
    # The refusal names the file it is about.
    rel = path.relative_to(folder).as_posix()
    assert any(f.file == rel or f.file.startswith(rel + "!") for r in flagged for f in r.findings)
    assert not marker.exists()


def test_payload_suite_is_large_enough() -> None:
    assert len(sp.PAYLOADS) >= 20
    assert len({p.name for p in sp.PAYLOADS}) == len(sp.PAYLOADS)


LIVE = [p for p in sp.PAYLOADS if p.loader != "none"]


@pytest.mark.slow
@pytest.mark.parametrize("payload", LIVE, ids=[p.name for p in LIVE])
def test_payload_is_live_when_actually_loaded(payload: sp.Payload, tmp_path: Path) -> None:
    """Control: each payload does create its marker when a victim loads it, so the refusals
    above are refusals of working exploits, not of broken files."""
    folder = tmp_path / "pkg"
    folder.mkdir()
    marker = tmp_path / "MARKER"
    path = payload.build(folder, marker)
    assert not marker.exists()
    proc = sp.load_in_subprocess(path, payload.loader, tmp_path)
    assert marker.exists(), proc.stderr


def test_findings_name_reason_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "m.pkl"
    path.write_bytes(sp.glob0("os", "system") + b"(Vtrue\ntR.")
    result = scan_file(path)
    assert result.format == "pickle"
    assert result.findings == (
        Finding(file="m.pkl", global_name="os.system", reason="not_allowlisted", offset=0),
    )
    assert "os.system" in result.globals_seen
    assert result.findings[0].describe() == "m.pkl: os.system is not on the allowlist (offset 0)"


def test_registered_extension_code_is_judged_by_name(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(sp.proto(2) + pickle.EXT1 + b"\xf1" + sp.ustr("x") + pickle.TUPLE1 + pickle.REDUCE + b".")
    good = tmp_path / "good.pkl"
    good.write_bytes(sp.proto(2) + pickle.EXT1 + b"\xf2" + pickle.EMPTY_TUPLE + pickle.REDUCE + b".")
    copyreg.add_extension("posix", "system", 241)
    copyreg.add_extension("collections", "OrderedDict", 242)
    try:
        bad_result = scan_file(bad)
        good_result = scan_file(good)
    finally:
        copyreg.remove_extension("posix", "system", 241)
        copyreg.remove_extension("collections", "OrderedDict", 242)
    assert [(f.global_name, f.reason) for f in bad_result.findings] == [("posix.system", "extension_code")]
    assert good_result.ok, good_result.findings
    assert "collections.OrderedDict" in good_result.globals_seen


def test_getattr_on_an_allowlisted_class_is_judged_as_the_dotted_name(tmp_path: Path) -> None:
    # getattr(zoneinfo.ZoneInfo, "_unpickle") is how tz-aware timestamps pickle: allowed.
    ok = tmp_path / "ok.pkl"
    getattr_ = sp.glob0("builtins", "getattr")
    ok.write_bytes(
        sp.proto(2) + getattr_ + sp.glob0("zoneinfo", "ZoneInfo") + sp.ustr("_unpickle") + b"\x86R."
    )
    assert scan_file(ok).ok
    # The same rule on another attribute is not.
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(
        sp.proto(2) + getattr_ + sp.glob0("zoneinfo", "ZoneInfo") + sp.ustr("__init__") + b"\x86R."
    )
    assert [f.global_name for f in scan_file(bad).findings] == ["zoneinfo.ZoneInfo.__init__"]
    # getattr passed around instead of called is refused.
    passed = tmp_path / "passed.pkl"
    passed.write_bytes(sp.proto(2) + sp.call1(sp.glob0("builtins", "list"), getattr_ + pickle.TUPLE1) + b".")
    assert [f.reason for f in scan_file(passed).findings] == ["unresolvable"]


def test_unresolved_joblib_wrapper_fails_closed(tmp_path: Path) -> None:
    # Shape computed by a call: the scanner cannot know how many array bytes follow.
    data = sp.proto(4) + sp.glob0("joblib.numpy_pickle", "NumpyArrayWrapper") + pickle.EMPTY_TUPLE
    data += pickle.NEWOBJ + pickle.EMPTY_DICT + pickle.MARK + sp.ustr("shape")
    data += sp.call1(sp.glob0("builtins", "tuple"), sp.ustr("ab")) + sp.ustr("dtype") + pickle.NONE
    data += pickle.SETITEMS + pickle.BUILD + b"\x00\x01garbage."
    path = tmp_path / "x.joblib"
    path.write_bytes(data)
    result = scan_file(path)
    assert any(f.reason == "unresolvable" and "NumpyArrayWrapper" in f.global_name for f in result.findings)


def test_wrapper_class_smuggled_into_another_call_is_refused(tmp_path: Path) -> None:
    # pandas' _new_Index(cls, d) would build a NumpyArrayWrapper the scanner cannot see.
    data = sp.proto(4) + sp.glob0("pandas.core.indexes.base", "_new_Index")
    data += sp.glob0("joblib.numpy_pickle", "NumpyArrayWrapper") + pickle.EMPTY_DICT + pickle.TUPLE2
    data += pickle.REDUCE + b"."
    path = tmp_path / "x.pkl"
    path.write_bytes(data)
    result = scan_file(path)
    assert [(f.global_name, f.reason) for f in result.findings] == [
        ("joblib.numpy_pickle.NumpyArrayWrapper <indirect use>", "unresolvable")
    ]


def test_garbage_after_a_benign_pickle_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3]) + b"\xff\xfe" + pickle.dumps(sp.os_system(tmp_path / "M")))
    result = scan_file(path)
    assert [f.reason for f in result.findings] == ["trailing_data"]


def test_truncated_pickle_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps({"a": list(range(100))}, protocol=4)[:-20])
    assert [f.reason for f in scan_file(path).findings] == ["malformed"]


def test_persistent_ids_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.pkl"
    path.write_bytes(sp.proto(2) + b"Pweights\n.")
    assert [f.reason for f in scan_file(path).findings] == ["persistent_id"]


def test_lz4_joblib_cannot_be_vetted(tmp_path: Path) -> None:
    path = tmp_path / "x.joblib"
    path.write_bytes(b"\x04\x22\x4d\x18" + b"\x00" * 32)
    result = scan_file(path)
    assert result.format == "joblib"
    assert [f.reason for f in result.findings] == ["unsupported_compression"]


def test_text_file_given_explicitly_is_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    path.write_text('{"not": "a pickle"}')
    result = scan_file(path)
    assert result.format == "unknown"
    assert [f.reason for f in result.findings] == ["unknown_format"]


# ---------------------------------------------------------------------------------------------
# functools.partial: only around an allowed global


@pytest.mark.parametrize("protocol", range(6))
def test_partial_of_an_allowlisted_function_passes(protocol: int, tmp_path: Path) -> None:
    # HistGradientBoosting with categorical features keeps exactly this.
    import functools

    import numpy as np
    from sklearn.utils.validation import check_array

    path = tmp_path / "p.pkl"
    path.write_bytes(
        pickle.dumps(functools.partial(check_array, dtype=[np.float64], ensure_all_finite=False), protocol)
    )
    result = scan_file(path)
    assert result.ok, [f.describe() for f in result.findings]
    assert "functools.partial" in result.globals_seen


def _partial_stream(func: bytes, state_func: bytes, *, call: bool = False) -> bytes:
    data = sp.proto(4) + sp.call1(sp.glob0("functools", "partial"), func)
    data += pickle.MARK + state_func + pickle.EMPTY_TUPLE + pickle.EMPTY_DICT + pickle.NONE + pickle.TUPLE
    data += pickle.BUILD
    if call:
        data += pickle.EMPTY_TUPLE + pickle.REDUCE
    return data + b"."


def test_partial_is_refused_unless_it_wraps_an_allowed_global(tmp_path: Path) -> None:
    mean = sp.glob0("numpy", "mean")
    system = sp.glob0("os", "system")
    cases = {
        "ok": _partial_stream(mean, mean),
        "wraps": _partial_stream(system, system),
        "swapped": _partial_stream(mean, system),
        "getattr": _partial_stream(mean, sp.glob0("builtins", "getattr")),
        "object": _partial_stream(mean, sp.call1(sp.glob0("collections", "OrderedDict"), pickle.EMPTY_TUPLE)),
        "called": _partial_stream(mean, mean, call=True),
    }
    found = {}
    for name, data in cases.items():
        path = tmp_path / f"{name}.pkl"
        path.write_bytes(data)
        found[name] = sorted((f.global_name, f.reason) for f in scan_file(path).findings)
    assert found["ok"] == []
    assert ("functools.partial", "not_allowlisted") in found["wraps"]
    assert ("os.system", "not_allowlisted") in found["swapped"]
    assert ("functools.partial <state wraps a callable not allowed>", "unresolvable") in found["swapped"]
    assert ("builtins.getattr <indirect use>", "unresolvable") in found["getattr"]
    assert ("functools.partial <state wraps a callable not allowed>", "unresolvable") in found["object"]
    assert ("functools.partial <called while unpickling>", "unresolvable") in found["called"]
    # The partial class itself passed around (not called) is refused too.
    passed = tmp_path / "passed.pkl"
    passed.write_bytes(
        sp.proto(4)
        + sp.call1(sp.glob0("builtins", "list"), sp.glob0("functools", "partial") + pickle.TUPLE1)
        + b"."
    )
    assert [f.reason for f in scan_file(passed).findings] == ["unresolvable"]
    # Trusting the wrapped global is what lets a user's own partial through.
    user = tmp_path / "user.pkl"
    user.write_bytes(_partial_stream(sp.glob0("mypkg", "score"), sp.glob0("mypkg", "score")))
    assert not scan_file(user).ok
    assert scan_file(user, trusted=["mypkg"]).ok


def test_skops_partial_is_judged_by_what_it_wraps(tmp_path: Path) -> None:
    import functools

    import numpy as np
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.utils.validation import check_array

    transformer = FunctionTransformer(functools.partial(check_array, dtype=[np.float64]))
    path = tmp_path / "model.skops"
    path.write_bytes(sio.dumps(transformer))
    result = scan_file(path)
    assert result.ok, [f.describe() for f in result.findings]
    assert "functools.partial" in result.globals_seen
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    text = members["schema.json"].decode()
    assert '"check_array"' in text
    members["schema.json"] = (
        text.replace('"check_array"', '"system"').replace('"sklearn.utils.validation"', '"os"').encode()
    )
    evil = tmp_path / "evil.skops"
    with zipfile.ZipFile(evil, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    assert [f.global_name for f in scan_file(evil).findings] == ["os.system"]


def test_zip_inside_a_zip_is_scanned(tmp_path: Path) -> None:
    # A skops file keeps a sparse matrix as an .npz (a zip) inside its own zip.
    import scipy.sparse
    import skops.io as sio

    path = tmp_path / "m.skops"
    path.write_bytes(sio.dumps({"matrix": scipy.sparse.random(5, 5, density=0.4, format="csr")}))
    result = scan_file(path)
    assert result.ok, [f.describe() for f in result.findings]
    with zipfile.ZipFile(path) as zf:
        assert any(name.endswith(".npz") for name in zf.namelist())


# ---------------------------------------------------------------------------------------------
# Trust for one run


def _custom_global_pickle(path: Path, module: str, qualname: str) -> Path:
    path.write_bytes(sp.proto(4) + sp.sglob(module, qualname) + pickle.EMPTY_TUPLE + pickle.REDUCE + b".")
    return path


def test_trust_module_prefix_and_exact_names(tmp_path: Path) -> None:
    path = _custom_global_pickle(tmp_path / "m.pkl", "mypkg.models", "Custom")
    assert [f.global_name for f in scan_file(path).findings] == ["mypkg.models.Custom"]
    assert scan_file(path, trusted=["mypkg"]).ok
    assert scan_file(path, trusted=["mypkg.models"]).ok
    assert scan_file(path, trusted=["mypkg.models.Custom"]).ok
    assert scan_file(path, trusted=["mypkg.models:Custom"]).ok
    assert not scan_file(path, trusted=["mypkg.mod"]).ok
    assert not scan_file(path, trusted=["mypkg.models.Other"]).ok
    assert not scan_file(path, trusted=["mypk"]).ok


def test_trusted_prefix_never_covers_attribute_paths(tmp_path: Path) -> None:
    # "mypkg" trusted must not let mypkg.os.system through.
    dotted = _custom_global_pickle(tmp_path / "d.pkl", "mypkg", "os.system")
    assert not scan_file(dotted, trusted=["mypkg"]).ok
    dunder = _custom_global_pickle(tmp_path / "u.pkl", "mypkg", "__builtins__")
    assert not scan_file(dunder, trusted=["mypkg"]).ok
    # ... unless the exact dotted name is trusted.
    assert scan_file(dotted, trusted=["mypkg.os.system"]).ok


def test_trust_does_not_leak_between_scans(tmp_path: Path) -> None:
    path = _custom_global_pickle(tmp_path / "m.pkl", "mypkg.models", "Custom")
    assert scan_file(path, trusted=["mypkg"]).ok
    assert not scan_file(path).ok


def test_cloudpickle_lambda_passes_only_when_trusted(tmp_path: Path) -> None:
    import cloudpickle

    path = tmp_path / "f.pkl"
    path.write_bytes(cloudpickle.dumps(lambda x: x + 1))
    result = scan_file(path)
    assert result.format == "cloudpickle"
    assert "code_object" in {f.reason for f in result.findings}
    assert all(f.reason in {"code_object", "unresolvable"} for f in result.findings)
    assert scan_file(path, trusted=["cloudpickle"]).ok


# ---------------------------------------------------------------------------------------------
# Benign models must pass


@pytest.fixture(scope="module")
def models() -> dict[str, Any]:
    import numpy as np
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        IsolationForest,
        RandomForestClassifier,
    )
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.svm import SVC

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(int)
    frame = pd.DataFrame(
        {
            "num": rng.normal(size=60),
            "cat": pd.Categorical(rng.choice(["a", "b", "c"], size=60)),
            "txt": rng.choice(["x", "y"], size=60),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline = Pipeline(
            [
                (
                    "prep",
                    ColumnTransformer(
                        [
                            ("onehot", OneHotEncoder(handle_unknown="ignore"), ["cat", "txt"]),
                            ("scale", StandardScaler(), ["num"]),
                        ]
                    ),
                ),
                ("clf", LogisticRegression()),
            ]
        ).fit(frame, y)
        return {
            "pipeline": pipeline,
            "random_forest": RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y),
            "gradient_boosting": GradientBoostingClassifier(n_estimators=3, random_state=0).fit(X, y),
            "knn": KNeighborsClassifier(n_neighbors=3).fit(X, y),
            "isolation_forest": IsolationForest(n_estimators=3, random_state=0).fit(X),
            "hist_gradient_boosting": HistGradientBoostingClassifier(max_iter=3).fit(X, y),
            "svc": SVC(probability=True, random_state=0).fit(X, y),
        }


@pytest.fixture(scope="module")
def data_objects() -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    return {
        "dataframe": pd.DataFrame(
            {
                "i": [1, 2, 3],
                "f": [0.5, 1.5, None],
                "s": ["a", "b", "c"],
                "c": pd.Categorical(["u", "v", "u"]),
                "t": pd.to_datetime(["2020-01-01", "2021-06-01", "2022-12-31"]),
                "tz": pd.to_datetime(["2020-01-01", "2021-06-01", "2022-12-31"]).tz_localize("Europe/Paris"),
                "n": pd.array([1, None, 3], dtype="Int64"),
            }
        ),
        "arrays": {
            "f8": np.linspace(0, 1, 50),
            "i4": np.arange(7, dtype=np.int32),
            "u1": np.full(100, ord("."), dtype=np.uint8),
            "bool": np.array([True, False]),
            "c16": np.array([1 + 2j]),
            "str": np.array(["ab", "cde"]),
            "obj": np.array(["a", 1, None, 2.5], dtype=object),
            "datetime": np.array(["2020-01-01T10:00"], dtype="datetime64[s]"),
            "timedelta": np.array([5], dtype="timedelta64[ms]"),
            "structured": np.zeros(2, dtype=[("a", "i4"), ("b", "f8")]),
            "fortran": np.asfortranarray(np.ones((3, 4))),
            "scalar": np.float64(2.5),
        },
    }


def _dump(obj: Any, path: Path, how: str) -> None:
    import cloudpickle
    import joblib

    if how.startswith("pickle"):
        path.write_bytes(pickle.dumps(obj, protocol=int(how[-1])))
    elif how == "cloudpickle":
        path.write_bytes(cloudpickle.dumps(obj))
    elif how == "joblib":
        joblib.dump(obj, path)
    elif how.startswith("joblib-"):
        joblib.dump(obj, path, compress=(how.split("-")[1], 3))
    elif how == "skops":
        import skops.io

        skops.io.dump(obj, path)
    else:  # pragma: no cover
        raise AssertionError(how)


DUMPERS = ["pickle2", "pickle5", "cloudpickle", "joblib", "joblib-zlib", "joblib-gzip", "joblib-xz", "skops"]
MODEL_NAMES = [
    "pipeline",
    "random_forest",
    "gradient_boosting",
    "knn",
    "isolation_forest",
    "hist_gradient_boosting",
    "svc",
]


@pytest.mark.parametrize("how", DUMPERS)
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_fitted_models_pass(models: dict[str, Any], name: str, how: str, tmp_path: Path) -> None:
    path = tmp_path / f"model.{how}"
    _dump(models[name], path, how)
    result = scan_file(path)
    assert result.ok, [f.describe() for f in result.findings]
    # cloudpickle writes plain pickles for objects importable by reference.
    expected_format = {"cloudpickle": "pickle"}.get(how, how.split("-")[0].rstrip("0123456789"))
    assert result.format == expected_format
    assert any(g.startswith("sklearn.") for g in result.globals_seen)


@pytest.mark.parametrize("protocol", range(6))
def test_every_protocol_passes(models: dict[str, Any], protocol: int, tmp_path: Path) -> None:
    for name in ("pipeline", "hist_gradient_boosting", "knn"):
        path = tmp_path / f"{name}.pkl"
        path.write_bytes(pickle.dumps(models[name], protocol=protocol))
        result = scan_file(path)
        assert result.ok, (name, [f.describe() for f in result.findings])


@pytest.mark.parametrize("how", ["pickle2", "pickle5", "cloudpickle", "joblib", "joblib-bz2", "joblib-lzma"])
@pytest.mark.parametrize("name", ["dataframe", "arrays"])
def test_data_objects_pass(data_objects: dict[str, Any], name: str, how: str, tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    _dump(data_objects[name], path, how)
    result = scan_file(path)
    assert result.ok, [f.describe() for f in result.findings]


def test_joblib_arrays_are_skipped_not_parsed(data_objects: dict[str, Any], tmp_path: Path) -> None:
    import joblib
    import numpy as np

    path = tmp_path / "a.joblib"
    # Array data full of opcode bytes (GLOBAL 'c', REDUCE 'R', STOP '.') must read as data.
    noisy = np.frombuffer(b"cos\nsystem\nR." * 100, dtype=np.uint8)
    joblib.dump({"noisy": noisy, "arrays": data_objects["arrays"]}, path)
    result = scan_file(path)
    assert result.ok, [f.describe() for f in result.findings]
    assert result.format == "joblib"
    assert "os.system" not in result.globals_seen


# ---------------------------------------------------------------------------------------------
# Folders, containers, formats


def test_scan_folder_sniffs_content_and_skips_text(models: dict[str, Any], tmp_path: Path) -> None:
    import numpy as np

    folder = tmp_path / "model"
    (folder / "data").mkdir(parents=True)
    (folder / "MLmodel").write_text(
        "artifact_path: model\nflavors:\n  sklearn:\n    pickled_model: model.pkl\n"
    )
    (folder / "conda.yaml").write_text("channels:\n- conda-forge\ndependencies:\n- python=3.11\n")
    (folder / "python_env.yaml").write_text("python: 3.11.7\nbuild_dependencies:\n- pip\n")
    (folder / "requirements.txt").write_text("mlflow==3.1\nscikit-learn==1.9\n")
    (folder / "input_example.json").write_text('{"columns": ["a"], "data": [[1]]}')
    (folder / "data" / "sample.csv").write_text("cat,dog\nclass,value\n1,2\n")
    (folder / "data" / "notes.txt").write_text("x^2 + y^2 is not zlib\n")
    np.save(folder / "data" / "numbers.npy", np.arange(10))
    (folder / "model.pkl").write_bytes(pickle.dumps(models["random_forest"]))
    results = scan_folder(folder)
    assert [(r.file, r.format, r.ok) for r in results] == [("model.pkl", "pickle", True)]


def test_scan_folder_reports_relative_posix_paths(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    (folder / "a" / "b").mkdir(parents=True)
    (folder / "a" / "b" / "evil.dat").write_bytes(pickle.dumps(sp.os_system(tmp_path / "M")))
    (folder / "ok.pkl").write_bytes(pickle.dumps({"x": 1}))
    results = scan_folder(folder)
    assert [(r.file, r.ok) for r in results] == [("a/b/evil.dat", False), ("ok.pkl", True)]
    assert results[0].findings[0].file == "a/b/evil.dat"


def test_zip_members_are_scanned(models: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "bundle.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("model/model.pkl", pickle.dumps(models["svc"]))
        zf.writestr("model/MLmodel", "flavors: {}\n")
    result = scan_file(path)
    assert result.format == "zip"
    assert result.ok
    assert "sklearn.svm._classes.SVC" in result.globals_seen


def test_skops_benign_and_untrusted_types(models: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    _dump(models["pipeline"], path, "skops")
    result = scan_file(path)
    assert result.format == "skops"
    assert result.ok
    assert "sklearn.pipeline.Pipeline" in result.globals_seen
    # Rewrite the schema to name a type skops would not trust by default.
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    schema = json.loads(members["schema.json"])
    schema["__module__"], schema["__class__"] = "mypkg.models", "Custom"
    members["schema.json"] = json.dumps(schema).encode()
    evil = tmp_path / "evil.skops"
    with zipfile.ZipFile(evil, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    bad = scan_file(evil)
    assert [(f.global_name, f.reason) for f in bad.findings] == [("mypkg.models.Custom", "not_allowlisted")]
    assert bad.findings[0].file == "evil.skops!schema.json"
    assert scan_file(evil, trusted=["mypkg"]).ok


def test_skops_scan_imports_nothing_from_the_schema(tmp_path: Path) -> None:
    # A module named in schema.json must never be imported by the scan.
    (tmp_path / "planted_module.py").write_text(f"open({str(tmp_path / 'MARKER')!r}, 'w').close()\n")
    schema = {"__class__": "X", "__module__": "planted_module", "__loader__": "ObjectNode", "content": {}}
    path = tmp_path / "m.skops"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("schema.json", json.dumps(schema))
    code = (
        "import sys; from pathlib import Path; from modelpack.safety import scan_file; "
        "r = scan_file(Path(sys.argv[1])); print(r.ok)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path)], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.stdout.strip() == "False", proc.stderr
    assert not (tmp_path / "MARKER").exists()


def test_scanner_imports_only_the_standard_library(models: dict[str, Any], tmp_path: Path) -> None:
    import joblib

    path = tmp_path / "m.joblib"
    joblib.dump(models["hist_gradient_boosting"], path, compress=3)
    code = (
        "import sys; from pathlib import Path; from modelpack.safety import scan_file; "
        "r = scan_file(Path(sys.argv[1])); "
        "heavy = sorted(m for m in ('numpy','sklearn','scipy','pandas','joblib','cloudpickle','skops') "
        "if m in sys.modules); print(r.ok, heavy)"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert proc.stdout.strip() == "True []", proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("compress", [0, 3])
def test_large_joblib_is_scanned_in_bounded_memory(compress: int, tmp_path: Path) -> None:
    import joblib
    import numpy as np

    path = tmp_path / "big.joblib"
    joblib.dump(
        {"w": np.zeros(8 * 1024 * 1024), "evil": sp.os_system(tmp_path / "M")}, path, compress=compress
    )
    tracemalloc.start()
    try:
        result = scan_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [f.global_name for f in result.findings] == ["posix.system"]
    # 64 MiB of array data; the scan holds a few MiB at most.
    assert peak < 16 * 1024 * 1024


def test_large_plain_pickle_bytes_are_skipped(tmp_path: Path) -> None:
    import numpy as np

    path = tmp_path / "big.pkl"
    path.write_bytes(pickle.dumps(np.zeros(3 * 1024 * 1024), protocol=4))
    tracemalloc.start()
    try:
        result = scan_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.ok
    assert peak < 8 * 1024 * 1024


# ---------------------------------------------------------------------------------------------
# Small public helpers


def test_referenced_modules(models: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps(models["pipeline"]))
    mods = referenced_modules(path)
    assert {"sklearn", "numpy"} <= mods
    skops_path = tmp_path / "m.skops"
    _dump(models["random_forest"], skops_path, "skops")
    assert "sklearn" in referenced_modules(skops_path)
    # Odd inputs never raise.
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "junk").write_bytes(b"\x80\x04\x95" + b"\xff" * 40)
    assert referenced_modules(tmp_path / "empty") == set()
    assert referenced_modules(tmp_path / "junk") == set()
    assert referenced_modules(tmp_path / "missing.pkl") == set()
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(sp.os_system(tmp_path / "M")) + b"\x00junk")
    assert referenced_modules(evil) == {"posix"}


def test_code_executing_formats() -> None:
    assert is_code_executing_format("pickle")
    assert is_code_executing_format("joblib")
    assert is_code_executing_format("cloudpickle")
    assert is_code_executing_format("unknown")
    assert not is_code_executing_format("skops")


def test_result_to_dict(tmp_path: Path) -> None:
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps(sp.os_system(tmp_path / "M"), protocol=2))
    doc = scan_file(path).to_dict()
    assert doc == {
        "file": "m.pkl",
        "format": "pickle",
        "ok": False,
        "globals_seen": ["posix.system"],
        "findings": [
            {"file": "m.pkl", "global_name": "posix.system", "reason": "not_allowlisted", "offset": 2}
        ],
    }
    json.dumps(doc)


def test_allowlist_holds_data_constructors_and_no_loaders() -> None:
    doc = json.loads((Path(safety.__file__).parent / "allowlist.json").read_text())
    pairs = {(m, q) for m, names in doc["globals"].items() for q in names}
    for needed in [
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy", "dtype"),
        ("numpy.random._pickle", "__randomstate_ctor"),
        ("sklearn.linear_model._logistic", "LogisticRegression"),
        ("sklearn.tree._tree", "Tree"),
        ("scipy.sparse._csr", "csr_matrix"),
        ("pandas", "DataFrame"),
        ("copyreg", "_reconstructor"),
        ("builtins", "slice"),
    ]:
        assert needed in pairs, needed
    for banned_module, banned_name in [
        ("numpy", "load"),
        ("numpy", "fromfile"),
        ("pandas", "read_pickle"),
        ("pandas", "eval"),
        ("joblib", "load"),
        ("builtins", "getattr"),
        ("builtins", "eval"),
        ("builtins", "exec"),
        ("builtins", "__import__"),
        ("functools", "partial"),
        ("operator", "attrgetter"),
        ("operator", "methodcaller"),
    ]:
        assert (banned_module, banned_name) not in pairs
    tops = {m.split(".")[0] for m, _ in pairs}
    assert not tops & {
        "os",
        "posix",
        "subprocess",
        "importlib",
        "pickle",
        "_pickle",
        "runpy",
        "types",
        "cloudpickle",
    }
    # Only classes, reconstructors and values from sklearn: no sklearn.utils helpers that load.
    assert not any(q.startswith(("load", "_load", "read")) for m, q in pairs if m.startswith("sklearn"))


def test_struct_helpers_roundtrip() -> None:
    # The assembler used by the payloads produces what the real pickler produces.
    assert sp.ustr("os") == b"\x8c\x02os"
    assert struct.unpack("<I", sp.ustr("x" * 300)[1:5])[0] == 300
    assert (
        pickle.loads(sp.proto(4) + sp.sglob("collections", "OrderedDict") + b".")
        is __import__("collections").OrderedDict
    )


def test_mlflow_python_model_type_hints_holder_is_allowed(tmp_path: Path) -> None:
    """Every MLflow 3 PythonModel pickle carries this plain holder of the predict type hints."""
    stream = b"\x80\x04\x8c\x17mlflow.models.signature\x94\x8c\n_TypeHints\x94\x93\x94)\x81\x94."
    path = tmp_path / "python_model.pkl"
    path.write_bytes(stream)
    result = scan_file(path)
    assert result.ok
    assert result.globals_seen == ("mlflow.models.signature._TypeHints",)
