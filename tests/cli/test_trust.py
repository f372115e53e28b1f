"""Trust by content digest: a package the user vouched for loads; any change ends the trust."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelpack.cli import app
from modelpack.manifest import write_manifest

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
    return out


def _validate(target: Path, *extra: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["validate", str(target), "--json", *extra])
    return result.exit_code, json.loads(result.stdout)


def _safety(doc: dict) -> dict:
    return next(c for c in doc["data"]["checks"] if c["name"] == "safety")


def test_untrusted_by_value_package_is_refused(by_value_package: Path) -> None:
    code, doc = _validate(by_value_package)
    assert code == 3
    assert _safety(doc)["status"] == "failed"


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
