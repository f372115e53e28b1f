"""Trust by content digest: a package the user vouched for loads; any change ends the trust."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelpack.cli import app
from modelpack.package.manifest import write_manifest

runner = CliRunner()

USER_MODEL = """
class Doubler:
    def predict(self, data):
        return (data["count"] * 2).to_numpy()


def make():
    return Doubler()
"""


@pytest.fixture
def by_value_package(tmp_path: Path, sample_csv: Path) -> Path:
    """A generic-flavor package whose class travels by value (code the scan cannot clear)."""
    source = tmp_path / "user_model.py"
    source.write_text(USER_MODEL)
    out = tmp_path / "pkg"
    result = runner.invoke(app, ["pack", f"{source}:make", "-s", str(sample_csv), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert f"warning: validate and predict will refuse {out}: " in result.stderr
    return out


def _validate(target: Path, *extra: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["validate", str(target), "--json", *extra])
    return result.exit_code, json.loads(result.stdout)


def _safety(doc: dict) -> dict:
    return next(c for c in doc["data"]["checks"] if c["name"] == "safety")


def test_untrusted_by_value_package_is_refused_with_the_remedy_that_works(
    by_value_package: Path, sample_csv: Path
) -> None:
    code, doc = _validate(by_value_package)
    assert code == 3
    assert _safety(doc)["status"] == "failed"
    remedy = f"while loading; if you built this package, run 'modelpack trust {by_value_package}'"
    assert remedy in _safety(doc)["reason"]
    predicted = runner.invoke(app, ["predict", str(by_value_package), "--data", str(sample_csv)])
    assert predicted.exit_code == 3
    assert predicted.stderr.splitlines()[1].startswith("hint: ")
    assert remedy in predicted.stderr.splitlines()[1]


def test_trusted_content_validates_and_predicts(
    tmp_path: Path, by_value_package: Path, sample_csv: Path
) -> None:
    result = runner.invoke(app, ["trust", str(by_value_package)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("trusted ")
    again = runner.invoke(app, ["trust", str(by_value_package), "--json"])
    assert json.loads(again.stdout)["data"]["action"] == "unchanged"

    code, doc = _validate(by_value_package, "--data", str(sample_csv))
    assert code == 0, doc
    assert _safety(doc)["status"] == "passed"
    assert "you trusted this exact content" in _safety(doc)["reason"]

    out = tmp_path / "scores.csv"
    predicted = runner.invoke(
        app, ["predict", str(by_value_package), "--data", str(sample_csv), "-o", str(out)]
    )
    assert predicted.exit_code == 0, predicted.stderr
    import pandas as pd

    assert list(pd.read_csv(out).iloc[:, 0]) == list(pd.read_csv(sample_csv)["count"] * 2)

    removed = runner.invoke(app, ["trust", str(by_value_package), "--remove"])
    assert removed.exit_code == 0
    assert _validate(by_value_package)[0] == 3


def test_changed_content_loses_trust_and_payload_never_runs(
    tmp_path: Path, by_value_package: Path, sample_csv: Path
) -> None:
    assert runner.invoke(app, ["trust", str(by_value_package)]).exit_code == 0
    marker = tmp_path / "PWNED"

    class Payload:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    (by_value_package / "model.pkl").write_bytes(pickle.dumps(Payload()))
    write_manifest(by_value_package)  # even a re-sealed manifest does not carry the trust over
    code, doc = _validate(by_value_package)
    assert code == 3
    assert _safety(doc)["status"] == "failed"
    predicted = runner.invoke(app, ["predict", str(by_value_package), "--data", str(sample_csv)])
    assert predicted.exit_code == 3
    assert "refusing to load" in predicted.stderr
    assert not marker.exists()


def test_remove_untrusted_is_not_found(by_value_package: Path) -> None:
    result = runner.invoke(app, ["trust", str(by_value_package), "--remove"])
    assert result.exit_code == 4
    assert "not trusted" in result.stderr


def test_corrupt_trust_record_is_a_clean_error(by_value_package: Path, _isolate: Path) -> None:
    _isolate.mkdir(parents=True, exist_ok=True)
    (_isolate / "trust.json").write_text("{broken")
    result = runner.invoke(app, ["validate", str(by_value_package)])
    assert result.exit_code == 1
    assert "trust.json is corrupt" in result.stderr


# --------------------------------------------------------------------------------------------------
# model files: a user's own class pickled by value, trusted for pack

USER_CLASS = """
class Scaler:
    label = "scaler-v1"

    def __init__(self, factor):
        self.factor = factor

    def predict(self, data):
        return (data["count"] * self.factor).to_numpy()
"""


def _dump_by_value(tmp_path: Path, how: str) -> Path:
    """A real cloudpickle file holding a user class by value, made the two ways users make one."""
    import importlib
    import importlib.util
    import sys

    import cloudpickle

    src = tmp_path / "src"
    src.mkdir()
    module_name = f"user_scaler_{how}"
    (src / f"{module_name}.py").write_text(USER_CLASS)
    if how == "registered":  # an importable module the user asked cloudpickle to ship by value
        sys.path.insert(0, str(src))
        try:
            module = importlib.import_module(module_name)
            cloudpickle.register_pickle_by_value(module)
            try:
                payload = cloudpickle.dumps(module.Scaler(3))
            finally:
                cloudpickle.unregister_pickle_by_value(module)
        finally:
            sys.path.remove(str(src))
            sys.modules.pop(module_name, None)
    else:  # a file.py loaded by path, never importable by name: cloudpickle ships it by value
        spec = importlib.util.spec_from_file_location(module_name, src / f"{module_name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        payload = cloudpickle.dumps(module.Scaler(3))
    assert b"scaler-v1" in payload  # the class body travels in the file
    path = tmp_path / "scaler.pkl"
    path.write_bytes(payload)
    return path


def _pack(model: Path, sample: Path, out: Path, *extra: str):
    return runner.invoke(app, ["pack", str(model), "-s", str(sample), "-o", str(out), *extra])


@pytest.mark.parametrize("how", ["registered", "by_path"])
def test_trusted_model_file_packs_and_any_changed_byte_ends_the_trust(
    tmp_path: Path, sample_csv: Path, how: str
) -> None:
    model = _dump_by_value(tmp_path, how)
    out = tmp_path / "pkg"

    refused = _pack(model, sample_csv, out)
    assert refused.exit_code == 3, refused.stderr
    assert "<computed" in refused.stderr  # what no module name can cover
    hint = refused.stderr.splitlines()[1]
    assert hint.startswith("hint: no --trust-pickle can cover code carried by value and names computed")
    assert f"if you built this file, run 'modelpack trust {model}'" in hint
    assert not out.exists()

    trusted = runner.invoke(app, ["trust", str(model), "--json"])
    assert trusted.exit_code == 0, trusted.stderr
    record = json.loads(trusted.stdout)["data"]
    assert record["action"] == "trusted"
    assert record["kind"] == "file"
    assert record["source"] == str(model.resolve())
    assert record["digest"] == "sha256:" + __import__("hashlib").sha256(model.read_bytes()).hexdigest()

    packed = _pack(model, sample_csv, out, "--json")
    assert packed.exit_code == 0, packed.stdout
    warnings = json.loads(packed.stdout)["warnings"]
    assert any("loaded because you trusted its exact bytes" in w for w in warnings)
    assert any(f"will refuse {out} (trusting the model file does not carry over" in w for w in warnings)
    assert any(f"if you built this package, run 'modelpack trust {out}'" in w for w in warnings)

    # The folder holds other bytes than the file: it is trusted on its own, not by carry-over.
    code, doc = _validate(out, "--data", str(sample_csv))
    assert code == 3
    assert f"run 'modelpack trust {out}'" in _safety(doc)["reason"]
    assert runner.invoke(app, ["trust", str(out)]).exit_code == 0
    code, doc = _validate(out, "--data", str(sample_csv))
    assert code == 0, doc
    import pandas as pd

    predicted = runner.invoke(app, ["predict", str(out), "--data", str(sample_csv), "--json"])
    assert predicted.exit_code == 0, predicted.stderr
    scores = [r["prediction"] for r in json.loads(predicted.stdout)["data"]["predictions"]]
    assert scores == list(pd.read_csv(sample_csv)["count"] * 3)

    # One changed byte (still a valid pickle of the same class) and the trust is gone.
    original = model.read_bytes()
    model.write_bytes(original.replace(b"scaler-v1", b"scaler-v2"))
    again = _pack(model, sample_csv, tmp_path / "pkg2")
    assert again.exit_code == 3
    assert "refusing to unpickle" in again.stderr
    assert not (tmp_path / "pkg2").exists()

    model.write_bytes(original)
    assert _pack(model, sample_csv, tmp_path / "pkg3").exit_code == 0
    removed = runner.invoke(app, ["trust", str(model), "--remove", "--json"])
    assert removed.exit_code == 0
    assert json.loads(removed.stdout)["data"]["action"] == "untrusted"
    assert _pack(model, sample_csv, tmp_path / "pkg4").exit_code == 3
    gone = runner.invoke(app, ["trust", str(model), "--remove"])
    assert gone.exit_code == 4
    assert "not trusted" in gone.stderr


def test_trusted_file_replaced_by_a_payload_never_runs(tmp_path: Path, sample_csv: Path) -> None:
    model = _dump_by_value(tmp_path, "by_path")
    assert runner.invoke(app, ["trust", str(model)]).exit_code == 0
    marker = tmp_path / "PWNED"

    class Payload:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    model.write_bytes(pickle.dumps(Payload()))
    result = _pack(model, sample_csv, tmp_path / "pkg")
    assert result.exit_code == 3
    assert "system" in result.stderr.splitlines()[0]
    assert not marker.exists()


def test_trusting_a_folder_does_not_trust_a_file_and_the_reverse(
    tmp_path: Path, by_value_package: Path, sample_csv: Path
) -> None:
    """Folder and file records are kept apart, so neither kind of trust stands in for the other."""
    model = _dump_by_value(tmp_path, "by_path")
    assert runner.invoke(app, ["trust", str(model)]).exit_code == 0
    assert _validate(by_value_package)[0] == 3
    assert runner.invoke(app, ["trust", str(by_value_package)]).exit_code == 0
    assert runner.invoke(app, ["trust", str(model), "--remove"]).exit_code == 0
    assert _pack(model, sample_csv, tmp_path / "out").exit_code == 3
    assert _validate(by_value_package)[0] == 0


def test_class_by_reference_hint_names_trust_pickle_which_works(
    tmp_path: Path, sample_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain globals outside the allowlist: --trust-pickle can name them, so the hint offers it."""
    import joblib

    src = tmp_path / "src"
    src.mkdir()
    (src / "house_scaler.py").write_text(USER_CLASS)
    monkeypatch.syspath_prepend(str(src))
    import house_scaler  # type: ignore[import-not-found]

    model = tmp_path / "model.joblib"
    joblib.dump(house_scaler.Scaler(2), model)
    refused = _pack(model, sample_csv, tmp_path / "a")
    assert refused.exit_code == 3
    hint = refused.stderr.splitlines()[1]
    assert "pass --trust-pickle house_scaler.Scaler" in hint
    assert f"or run 'modelpack trust {model}'" in hint
    assert _pack(model, sample_csv, tmp_path / "a", "--trust-pickle", "house_scaler.Scaler").exit_code == 0
    # Trusting the file's bytes works too, and reads them from the same handle it hashed.
    assert runner.invoke(app, ["trust", str(model)]).exit_code == 0
    assert _pack(model, sample_csv, tmp_path / "b").exit_code == 0


def test_trust_refuses_a_file_that_is_not_a_model(sample_csv: Path) -> None:
    result = runner.invoke(app, ["trust", str(sample_csv)])
    assert result.exit_code == 1
    assert "is not a pickle, joblib, cloudpickle or skops file" in result.stderr


def test_trust_records_written_before_model_files_still_read(
    tmp_path: Path, by_value_package: Path, _isolate: Path
) -> None:
    """A trust.json with folder records only (as older versions wrote) keeps them and gains files."""
    assert runner.invoke(app, ["trust", str(by_value_package)]).exit_code == 0
    path = _isolate / "trust.json"
    doc = json.loads(path.read_text())
    assert set(doc) == {"format_version", "packages"}
    model = _dump_by_value(tmp_path, "by_path")
    assert runner.invoke(app, ["trust", str(model)]).exit_code == 0
    doc = json.loads(path.read_text())
    assert len(doc["packages"]) == 1 and len(doc["files"]) == 1
    assert _validate(by_value_package)[0] == 0


def test_registered_by_value_package_hint_names_the_uri(by_value_package: Path, sample_csv: Path) -> None:
    """A refusal names the package as the user did, so the hinted command is the one to type."""
    registered = runner.invoke(app, ["register", str(by_value_package), "--name", "doubler"])
    assert registered.exit_code == 0, registered.stderr
    uri = "models:/doubler/1"
    predicted = runner.invoke(app, ["predict", uri, "--data", str(sample_csv)])
    assert predicted.exit_code == 3
    assert predicted.stderr.startswith(f"error: refusing to load {uri}:")
    assert f"run 'modelpack trust {uri}'" in predicted.stderr.splitlines()[1]
    code, doc = _validate(Path(uri))
    assert code == 3
    assert f"run 'modelpack trust {uri}'" in _safety(doc)["reason"]

    assert runner.invoke(app, ["trust", uri]).exit_code == 0
    assert runner.invoke(app, ["predict", uri, "--data", str(sample_csv)]).exit_code == 0


@pytest.mark.parametrize(
    ("found", "by_name"),
    [
        ([("house.Model", "not_allowlisted")], True),
        (
            [
                ("a.A", "not_allowlisted"),
                ("b.B", "not_allowlisted"),
                ("c.C", "not_allowlisted"),
                ("d.D", "not_allowlisted"),
            ],
            True,
        ),
        (
            [("house.Model", "not_allowlisted"), ("cloudpickle.cloudpickle._make_function", "code_object")],
            False,
        ),
        ([("<computed callable>", "unresolvable")], False),
        ([("os.system", "nested_pickle")], False),
        ([("builtins.getattr <indirect use>", "not_allowlisted")], False),
    ],
)
def test_trust_advice_offers_trust_pickle_only_when_names_can_cover(
    found: list[tuple[str, str]], by_name: bool
) -> None:
    from modelpack.safety import Finding, trust_advice

    advice = trust_advice([Finding("m.pkl", name, reason) for name, reason in found], "m.pkl", noun="file")
    assert "'modelpack trust m.pkl'" in advice
    assert ("pass --trust-pickle" in advice) is by_name
    if by_name and len(found) <= 3:
        assert all(f"--trust-pickle {name}" in advice for name, _ in found)
