"""``register(source=, origin=)`` on the local store, the ``origin`` record through doctor, and the
archive's own guarantees (deterministic bytes, streaming writes, refusal of a hand-made tar)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from modelpack.errors import ArchiveError, RegistryError
from modelpack.registry import FileRegistry
from modelpack.registry.doctor import run_doctor
from modelpack.registry.transfer import copy_version, export_target, import_archive
from tests.registry_models import make_model

ORIGIN = {
    "uri": "s3://team/reg#models:/churn/4",
    "created": "2025-01-31T12:00:00Z",
    "user": "ana",
    "host": "ci-7",
    "source": "/builds/churn",
}


def test_register_records_the_given_source_and_origin(tmp_path: Path) -> None:
    registry = FileRegistry(tmp_path / "home")
    folder = make_model(tmp_path / "m", seed=1)
    v = registry.register(folder, name="churn", source=ORIGIN["uri"], origin=ORIGIN).version
    assert v.source == ORIGIN["uri"] and v.facts["origin"] == ORIGIN
    plain = registry.register(make_model(tmp_path / "p", seed=2), name="churn").version
    assert plain.source == str(folder.parent.joinpath("p").resolve()) and "origin" not in plain.facts
    assert registry.history("churn", version=1)[0]["source"] == ORIGIN["uri"]
    assert run_doctor(registry).findings == []


def test_doctor_keeps_origin_when_it_rebuilds_version_json_and_reports_a_bad_one(tmp_path: Path) -> None:
    registry = FileRegistry(tmp_path / "home")
    registry.register(
        make_model(tmp_path / "m", seed=1), name="churn", source="x#models:/churn/4", origin=ORIGIN
    )
    path = registry.layout.version_file("churn", 1)
    facts = json.loads(path.read_text())
    path.write_text(json.dumps({**facts, "digest": "nonsense"}))
    run_doctor(registry, repair=True)
    assert registry.get_version("churn", 1).facts["origin"] == ORIGIN
    assert run_doctor(registry).findings == []
    path.write_text(json.dumps({**facts, "origin": {"uri": "x"}}))
    with pytest.raises(RegistryError, match="origin"):
        registry.get_version("churn", 1)
    assert [f.kind for f in run_doctor(registry).errors] == ["corrupt_metadata"]


def test_copy_within_one_registry_and_archives_of_it(tmp_path: Path) -> None:
    registry = FileRegistry(tmp_path / "home")
    registry.register(make_model(tmp_path / "m", seed=1), name="churn", tags={"a": "1"})
    copied = copy_version(registry, "models:/churn/latest", registry, name="churn-copy")
    assert copied.version.source == f"{registry.home}#models:/churn/1"
    assert copied.version.facts["tags"] == {"a": "1"}
    out = tmp_path / "a.tar"
    first = export_target(registry, "models:/churn-copy/1", out)
    # The copy's export carries the copy's own source and the first registration's origin.
    with tarfile.open(out) as tar:
        fh = tar.extractfile("modelpack-export.json")
        assert fh is not None
        doc = json.loads(fh.read())
    assert doc["source"] == f"{registry.home}#models:/churn-copy/1"
    assert doc["origin"]["uri"] == f"{registry.home}#models:/churn/1"
    again = export_target(registry, "models:/churn-copy/1", out, force=True)
    assert again.sha256 == first.sha256  # the same version exports to the same bytes
    result = import_archive(FileRegistry(tmp_path / "other"), out)
    assert result.version.name == "churn-copy" and result.version.source == doc["source"]


def test_a_tar_not_written_by_export_is_refused(tmp_path: Path) -> None:
    folder = make_model(tmp_path / "m", seed=1)
    plain = tmp_path / "plain.tar"
    with tarfile.open(plain, "w") as tar:
        tar.add(folder, arcname="model")
    with pytest.raises(ArchiveError, match="first member"):
        import_archive(FileRegistry(tmp_path / "home"), plain, name="x")
    assert not (tmp_path / "home").exists()


def test_a_malformed_origin_is_a_usage_error_and_writes_nothing(tmp_path: Path) -> None:
    from modelpack.errors import UsageError

    registry = FileRegistry(tmp_path / "home")
    with pytest.raises(UsageError, match="origin must be"):
        registry.register(make_model(tmp_path / "m", seed=1), name="churn", origin={"uri": "x"})
    assert not (tmp_path / "home").exists()


RUN_PROVENANCE = {
    "mlflow": {
        "run_id": "c" * 32,
        "experiment_id": "7",
        "experiment_name": "churn",
        "tracking_uri": "sqlite:///mlflow.db",
        "artifact_path": "model",
    },
    "git": {"commit": "0" * 40, "branch": "main", "dirty": False, "remote": None},
    "metrics": {"auc": 0.91},
    "params": {"depth": "3"},
    "registered_from": {"ci": {"system": "gitlab-ci", "run_url": None, "job": "train", "run_id": "12"}},
}


def test_an_archive_carries_the_version_provenance_and_the_import_records_it(tmp_path: Path) -> None:
    registry = FileRegistry(tmp_path / "home")
    registry.register(make_model(tmp_path / "m", seed=1), name="churn", provenance=RUN_PROVENANCE)
    registry.register(make_model(tmp_path / "p", seed=2), name="plain")
    out, plain = tmp_path / "churn.tar", tmp_path / "plain.tar"
    first = export_target(registry, "models:/churn/1", out)
    export_target(registry, "models:/plain/1", plain)
    assert export_target(registry, "models:/churn/1", out, force=True).sha256 == first.sha256
    with tarfile.open(out) as tar, tarfile.open(plain) as bare:
        doc = json.loads(tar.extractfile("modelpack-export.json").read())  # type: ignore[union-attr]
        bare_doc = json.loads(bare.extractfile("modelpack-export.json").read())  # type: ignore[union-attr]
    assert doc["format_version"] == 2 and doc["provenance"] == RUN_PROVENANCE
    assert bare_doc["format_version"] == 1 and "provenance" not in bare_doc
    other = FileRegistry(tmp_path / "other")
    assert import_archive(other, out).version.provenance == RUN_PROVENANCE
    assert import_archive(other, plain).version.provenance == {}
    assert run_doctor(other).findings == []
