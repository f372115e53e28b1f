"""``modelpack.pack`` with a model object and a sample in memory: the CLI's folder, byte for byte."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import modelpack
from modelpack import api
from modelpack.errors import InvalidModelError, UnsafeModelError
from tests.conftest import modelpack_cmd


def _cli_pack(model_file: Path, sample: Path, out: Path) -> str:
    proc = subprocess.run(
        modelpack_cmd("pack", str(model_file), "--sample", str(sample), "--output", str(out), "--json"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    import json

    return str(json.loads(proc.stdout)["data"]["digest"])


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_in_memory_pack_has_the_cli_digest(tmp_path: Path, sk_model_file: Path, sample_csv: Path) -> None:
    cli_digest = _cli_pack(sk_model_file, sample_csv, tmp_path / "cli")
    estimator = joblib.load(sk_model_file)
    result = api.pack(estimator, pd.read_csv(sample_csv), tmp_path / "mem")
    assert result.digest == cli_digest
    assert _tree(tmp_path / "mem") == _tree(tmp_path / "cli")
    assert repr(result).startswith(f"<PackResult {tmp_path / 'mem'}: sklearn")
    assert "<td>count</td>" in result._repr_html_()


def test_frame_with_missing_values_and_dates_follows_the_csv_rules(tmp_path: Path) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    rng = np.random.default_rng(3)
    n = 40
    frame = pd.DataFrame(
        {
            "n": [None if i % 7 == 0 else int(v) for i, v in enumerate(rng.integers(0, 9, n))],
            "when": [f"2024-01-{1 + i % 28:02d}" for i in range(n)],
            "zip": [f"0{1000 + i}" for i in range(n)],
            "ok": rng.random(n) < 0.5,
        }
    )
    csv = tmp_path / "s.csv"
    frame.to_csv(csv, index=False)
    pre = ColumnTransformer(
        [
            ("n", SimpleImputer(), ["n"]),
            ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), ["when", "zip"]),
        ]
    )
    from sklearn.tree import DecisionTreeClassifier

    read = pd.read_csv(csv)
    estimator = Pipeline([("pre", pre), ("tree", DecisionTreeClassifier(random_state=0))]).fit(
        read, read["ok"]
    )
    joblib.dump(estimator, tmp_path / "m.joblib")
    cli_digest = _cli_pack(tmp_path / "m.joblib", csv, tmp_path / "cli")
    result = api.pack(estimator, pd.read_csv(csv), tmp_path / "mem")
    assert result.digest == cli_digest


def test_numpy_and_arrow_samples_match_their_files(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    x = np.random.default_rng(4).random((30, 3))
    estimator = LinearRegression().fit(x, x @ np.array([1.0, 2.0, 3.0]))
    joblib.dump(estimator, tmp_path / "lr.joblib")
    np.save(tmp_path / "x.npy", x)
    assert api.pack(estimator, x, tmp_path / "np_mem").digest == _cli_pack(
        tmp_path / "lr.joblib", tmp_path / "x.npy", tmp_path / "np_cli"
    )

    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2]})
    on_frame = LinearRegression().fit(frame, x @ np.array([1.0, 2.0, 3.0]))
    joblib.dump(on_frame, tmp_path / "lrf.joblib")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, tmp_path / "x.parquet")
    assert api.pack(on_frame, table, tmp_path / "pa_mem").digest == _cli_pack(
        tmp_path / "lrf.joblib", tmp_path / "x.parquet", tmp_path / "pa_cli"
    )


def test_positional_and_keyword_forms_and_file_paths_still_work(
    tmp_path: Path, sk_model_file: Path, sample_csv: Path
) -> None:
    a = api.pack(sk_model_file, sample=sample_csv, output=tmp_path / "a")
    b = modelpack.pack(str(sk_model_file), str(sample_csv), str(tmp_path / "b"))
    assert a.digest == b.digest


def test_bad_objects_are_modelpack_errors(tmp_path: Path, mixed_frame, sk_model_file: Path) -> None:
    with pytest.raises(InvalidModelError, match="no predict method"):
        api.pack(object(), mixed_frame, tmp_path / "x")
    with pytest.raises(modelpack.DataFormatError, match="cannot use"):
        api.pack(joblib.load(sk_model_file), {"count": [1, 2]}, tmp_path / "y")
    with pytest.raises(modelpack.DataFormatError, match="no rows"):
        api.pack(joblib.load(sk_model_file), mixed_frame.head(0), tmp_path / "z")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


USER_MODULE = '''
import numpy as np


class Doubler:
    """A model class in the user's own file: not installed, not importable by name elsewhere."""

    def fit(self, frame):
        self.k = 2.0
        return self

    def predict(self, frame):
        return np.asarray(frame["a"], dtype="float64") * self.k
'''


def test_a_class_from_the_users_own_file_is_pickled_by_value(tmp_path: Path, _isolate: Path) -> None:
    import importlib.util

    source = tmp_path / "src" / "my_models_for_pack.py"
    source.parent.mkdir()
    source.write_text(USER_MODULE)
    spec = importlib.util.spec_from_file_location("my_models_for_pack", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["my_models_for_pack"] = module
    try:
        spec.loader.exec_module(module)
        frame = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
        model = module.Doubler().fit(frame)
        result = api.pack(model, frame, tmp_path / "byvalue")
        again = api.pack(model, frame, tmp_path / "again")
    finally:
        del sys.modules["my_models_for_pack"]
    assert result.digest == again.digest  # byte-reproducible, as file.py:attr
    assert any("refuse" in w for w in result.warnings)
    # The scan refuses a class pickled by value until the user trusts the package...
    with pytest.raises(UnsafeModelError):
        modelpack.load_model(tmp_path / "byvalue")
    api.trust(tmp_path / "byvalue", home=_isolate)
    # ...and then it loads in a process where the module does not exist.
    code = textwrap.dedent(
        f"""
        import modelpack, pandas as pd
        m = modelpack.load_model({str(tmp_path / "byvalue")!r})
        print(list(m.predict(pd.DataFrame({{"a": [5.0]}}))))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[np.float64(10.0)]" or proc.stdout.strip() == "[10.0]"


def test_a_class_from_main_is_pickled_by_value(tmp_path: Path) -> None:
    script = tmp_path / "notebook.py"
    script.write_text(
        USER_MODULE
        + textwrap.dedent(
            f"""
            import pandas as pd
            import modelpack
            frame = pd.DataFrame({{"a": [1.0, 2.0]}})
            print(modelpack.pack(Doubler().fit(frame), frame, {str(tmp_path / "main_pack")!r}).digest)
            """
        )
    )
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    code = textwrap.dedent(
        f"""
        import cloudpickle
        with open({str(tmp_path / "main_pack" / "model.pkl")!r}, "rb") as fh:
            m = cloudpickle.load(fh)
        print(type(m).__name__, float(m.predict({{"a": [4.0]}})[0]))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["Doubler", "8.0"]
