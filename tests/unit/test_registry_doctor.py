from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelpack.errors import ConflictError, NotFoundError
from modelpack.registry import FileRegistry, lock
from modelpack.registry import events as ev
from modelpack.registry.doctor import run_doctor
from modelpack.registry.journal import Journal
from modelpack.registry.journal import write as write_journal
from tests.registry_models import make_model


@pytest.fixture
def registry(tmp_path: Path) -> FileRegistry:
    registry = FileRegistry(tmp_path / "home")
    for seed in (1, 2):
        registry.register(make_model(tmp_path / f"m{seed}", seed=seed), name="iris")
    registry.promote("iris", 2, stage="Production", alias="champion")
    registry.promote("iris", 1, stage="Staging")
    return registry


def _kinds(report: object) -> list[tuple[str, str]]:
    return [(f.severity, f.kind) for f in report.findings]  # type: ignore[attr-defined]


def test_clean_registry_has_no_findings(registry: FileRegistry) -> None:
    report = run_doctor(registry)
    assert report.findings == []
    assert report.consistent and report.exit_code == 0
    assert report.versions == 2 and report.files_checked == 12
    assert report.bytes_hashed > 0


def test_missing_home_is_not_found_and_stays_missing(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no registry at"):
        run_doctor(FileRegistry(tmp_path / "nothing"))
    assert not (tmp_path / "nothing").exists()


def test_corrupt_model_json_is_found_and_rebuilt_from_the_log(registry: FileRegistry) -> None:
    before = registry.state("iris")
    registry.layout.model_file("iris").write_text("garbage")
    report = run_doctor(registry)
    assert ("error", "corrupt_metadata") in _kinds(report)
    assert report.exit_code == 3
    assert "model.json" in report.findings[0].path
    repaired = run_doctor(registry, repair=True)
    assert repaired.consistent and all(f.repaired for f in repaired.findings)
    after = registry.state("iris")
    assert (after.stages, after.aliases, after.deleted) == (before.stages, before.aliases, before.deleted)
    assert run_doctor(registry).findings == []


def test_lost_version_json_is_rebuilt_from_log_and_manifest(registry: FileRegistry) -> None:
    registry.layout.version_file("iris", 1).unlink()
    report = run_doctor(registry)
    assert report.errors[0].kind == "corrupt_metadata"
    assert report.errors[0].path == "models/iris/versions/1/version.json"
    run_doctor(registry, repair=True)
    assert registry.get_version("iris", 1).digest == registry.history("iris", version=1)[0]["digest"]
    assert run_doctor(registry).findings == []


def test_corrupted_blob_content_is_an_error_that_stays(registry: FileRegistry) -> None:
    stored = registry.get_version("iris", 2).local_path / "model.pkl"
    stored.chmod(0o644)
    stored.write_bytes(b"bit rot")  # same inode as the blob: the only copy is damaged
    report = run_doctor(registry, repair=True)
    assert ("error", "digest_mismatch") in _kinds(report)
    assert not report.consistent and report.exit_code == 3
    assert any("iris v2" in f.message for f in report.errors)


def test_replaced_file_is_restored_from_the_blob_store(registry: FileRegistry) -> None:
    stored = registry.get_version("iris", 1).local_path / "conda.yaml"
    stored.unlink()
    stored.write_text("edited in place\n")  # a new inode; the blob is intact
    report = run_doctor(registry)
    assert _kinds(report) == [("error", "digest_mismatch")]
    assert run_doctor(registry, repair=True).consistent
    assert registry.verify_version("iris", 1).ok
    assert run_doctor(registry).findings == []


def test_missing_file_is_restored(registry: FileRegistry) -> None:
    (registry.get_version("iris", 1).local_path / "MLmodel").unlink()
    assert _kinds(run_doctor(registry)) == [("error", "missing_files")]
    run_doctor(registry, repair=True)
    assert registry.verify_version("iris", 1).ok


def test_orphans_and_leftover_staging_are_warnings_repair_removes(registry: FileRegistry) -> None:
    orphan = registry.layout.blob("ab" + "0" * 62)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"nobody uses me")
    leftover = registry.layout.tmp / "123-dead"
    (leftover / "version").mkdir(parents=True)
    (registry.layout.tmp / "123-dead.lock").write_text("")
    report = run_doctor(registry)
    assert report.consistent
    assert sorted(_kinds(report)) == [("warning", "leftover_staging"), ("warning", "orphan_blob")]
    run_doctor(registry, repair=True)
    assert not orphan.exists() and not leftover.exists()
    assert run_doctor(registry).findings == []


def test_staging_of_a_live_process_is_left_alone(registry: FileRegistry) -> None:
    live = registry.layout.tmp / "999-live"
    live.mkdir()
    fd = lock.acquire(registry.layout.tmp / "999-live.lock")
    try:
        assert run_doctor(registry).findings == []
    finally:
        lock.release(fd)


def test_dangling_alias_is_dropped_with_an_event(registry: FileRegistry) -> None:
    path = registry.layout.model_file("iris")
    raw = json.loads(path.read_text())
    raw["aliases"]["ghost"] = 42
    path.write_text(json.dumps(raw))
    assert _kinds(run_doctor(registry)) == [("error", "dangling_reference")]
    run_doctor(registry, repair=True)
    assert "ghost" not in registry.state("iris").aliases
    assert registry.history("iris")[-1]["event"] == "alias_removed"
    assert run_doctor(registry).findings == []


def test_stale_digest_index_is_rebuilt(registry: FileRegistry, tmp_path: Path) -> None:
    for entry in registry.layout.digests("iris").iterdir():
        entry.unlink()
    assert _kinds(run_doctor(registry)) == [("warning", "stale_index")]
    run_doctor(registry, repair=True)
    again = registry.register(tmp_path / "m1", name="iris")
    assert again.already_registered and again.version.version == 1


def test_torn_event_line_is_cut(registry: FileRegistry) -> None:
    log = registry.layout.events("iris")
    with log.open("ab") as fh:
        fh.write(b'{"event": "registered", "vers')
    assert _kinds(run_doctor(registry)) == [("warning", "torn_event")]
    assert len(registry.history("iris")) == 5  # readers skip the torn line
    run_doctor(registry, repair=True)
    assert log.read_bytes().endswith(b"\n")
    assert run_doctor(registry).findings == []


def test_uncommitted_operation_is_invisible_then_rolled_back(registry: FileRegistry) -> None:
    """What a writer killed between its event append and its commit rename leaves behind."""
    log = registry.layout.events("iris")
    size = log.stat().st_size
    staged = registry.layout.tmp / "4242-dead" / "version"
    staged.mkdir(parents=True)
    write_journal(
        registry.layout,
        Journal(
            op="register",
            name="iris",
            version=3,
            log_size=size,
            commit_path="models/iris/versions/3",
            digest="sha256:" + "0" * 64,
            rollback_remove=(registry.layout.relative(staged),),
        ),
        durable=False,
    )
    ev.append(
        log, [ev.make_event("registered", "iris", ev.Actor.current(), ev.utc_now(), version=3)], durable=False
    )
    assert [e["version"] for e in registry.history("iris") if e["event"] == "registered"] == [1, 2]
    report = run_doctor(registry)
    assert report.consistent
    assert ("warning", "interrupted_operation") in _kinds(report)
    run_doctor(registry, repair=True)
    assert log.stat().st_size == size
    assert not registry.layout.journal("iris").exists()
    assert not staged.exists()
    assert run_doctor(registry).findings == []


def test_next_writer_recovers_a_dead_writers_journal(registry: FileRegistry, tmp_path: Path) -> None:
    log = registry.layout.events("iris")
    size = log.stat().st_size
    write_journal(
        registry.layout,
        Journal(op="promote", name="iris", version=1, log_size=size, commit_revision=999),
        durable=False,
    )
    ev.append(
        log,
        [ev.make_event("stage_changed", "iris", ev.Actor.current(), ev.utc_now(), version=1)],
        durable=False,
    )
    result = registry.register(make_model(tmp_path / "m3", seed=3), name="iris")
    assert result.version.version == 3
    assert any("rolled back an interrupted promote" in w for w in result.warnings)
    assert [e["event"] for e in registry.history("iris")][-1] == "registered"
    assert run_doctor(registry).findings == []


def test_lock_timeout_is_a_conflict(registry: FileRegistry) -> None:
    fd = lock.acquire(registry.layout.model_lock("iris"))
    try:
        impatient = FileRegistry(registry.home, lock_timeout=0.2)
        with pytest.raises(ConflictError, match="timed out after 0.2s waiting for the lock on model 'iris'"):
            impatient.promote("iris", 1, stage="Archived")
    finally:
        lock.release(fd)
    assert registry.get_version("iris", 1).stage == "Staging"
