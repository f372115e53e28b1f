"""Every registry document is checked against its shape (``modelpack.registry.documents``).

``doctor`` reports a malformed record as an error (a renamed key is one missing and one
unknown key) and ``--repair`` rebuilds what it safely can (model.json from the event log,
version.json from the log and the manifest) and says what it cannot (the event log is history;
an unknown key in an immutable version.json). Readers refuse a malformed record with one line
(exit 1) instead of silently reading half of it or crashing. All through the real CLI.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from modelpack.registry import FileRegistry
from tests.conftest import modelpack_cmd
from tests.fs_tree import tree
from tests.registry_models import make_model

MODEL_KEYS = (
    "format_version",
    "name",
    "created",
    "updated",
    "revision",
    "description",
    "stages",
    "aliases",
    "deleted",
)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(modelpack_cmd(*args), capture_output=True, text=True, timeout=120)


def doctor(*extra: str) -> dict[str, Any]:
    proc = cli("doctor", "--json", *extra)
    assert "Traceback" not in proc.stderr, proc.stderr
    document = json.loads(proc.stdout)
    assert document["exit_code"] == proc.returncode
    return document


def findings(document: dict[str, Any]) -> list[dict[str, Any]]:
    return document["data"]["findings"] if document["data"] else []


def errors(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in findings(document) if f["severity"] == "error" and not f["repaired"]]


def one_clean_line(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert lines and lines[0].startswith("error: "), proc.stderr
    assert all(line.startswith("hint: ") for line in lines[1:]), proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


@pytest.fixture
def registry(_isolate: Path, tmp_path: Path) -> FileRegistry:
    """``m`` v1 (Production, alias champ) and v2 (Staging)."""
    registry = FileRegistry(_isolate)
    registry.register(make_model(tmp_path / "a", seed=1), name="m", alias="champ")
    registry.promote("m", 1, stage="Production")
    registry.register(make_model(tmp_path / "b", seed=2), name="m")
    registry.promote("m", 2, stage="Staging")
    assert doctor()["exit_code"] == 0
    return registry


def edit_json(path: Path, change: Any) -> None:
    path.chmod(0o644)
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document, indent=2))


def rename(key: str) -> Any:
    def change(document: dict[str, Any]) -> None:
        document[key + "_renamed"] = document.pop(key)

    return change


def edit_events(path: Path, line: int, change: Any) -> None:
    events = [json.loads(text) for text in path.read_text().splitlines()]
    change(events[line - 1])
    path.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in events))


# ---------------------------------------------------------------------- model.json


@pytest.mark.parametrize("key", MODEL_KEYS)
def test_a_renamed_model_json_key_is_an_error_that_repair_rebuilds(registry: FileRegistry, key: str) -> None:
    path = registry.layout.model_file("m")
    edit_json(path, rename(key))
    before = tree(registry.home)
    report = doctor()
    assert report["exit_code"] == 3
    [error] = errors(report)
    assert error["path"] == "models/m/model.json" and error["kind"] == "corrupt_metadata"
    assert f"missing key {key!r}" in error["message"] and f"unknown key '{key}_renamed'" in error["message"]
    assert "--repair rebuilds it from the event log" in error["message"]
    assert tree(registry.home) == before  # doctor without --repair changes nothing
    repaired = doctor("--repair")
    assert repaired["exit_code"] == 0, errors(repaired)
    assert doctor()["exit_code"] == 0
    listed = json.loads(cli("list", "m", "--json").stdout)["data"]["versions"]
    assert [(v["version"], v["stage"], v["aliases"]) for v in listed] == [
        (1, "Production", ["champ"]),
        (2, "Staging", []),
    ]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("stages", {"1": "Prod"}),
        ("aliases", {"champ": "1"}),
        ("revision", -1),
        ("deleted", ["2"]),
        ("updated", 5),
    ],
)
def test_a_malformed_model_json_is_refused_by_readers(registry: FileRegistry, key: str, value: Any) -> None:
    path = registry.layout.model_file("m")
    edit_json(path, lambda d: d.__setitem__(key, value))
    before = tree(registry.home)
    for args in (("list", "m"), ("list",), ("history", "m"), ("inspect", "models:/m/champ")):
        line = one_clean_line(cli(*args), "model.json is corrupt", repr(key))
        assert "modelpack doctor" not in line  # the hint says it, on its own line
    assert tree(registry.home) == before
    assert doctor()["exit_code"] == 3


def test_renamed_stages_are_not_silently_lost(registry: FileRegistry) -> None:
    """Before: a reader took a missing ``stages`` as "no stages" and Production resolved to nothing."""
    edit_json(registry.layout.model_file("m"), rename("stages"))
    one_clean_line(cli("list", "m", "--field", "stage"), "model.json is corrupt", "missing key 'stages'")
    one_clean_line(cli("inspect", "models:/m/Production"), "missing key 'stages'")


# ---------------------------------------------------------------------- events


@pytest.mark.parametrize(
    ("line", "change", "expected"),
    [
        (1, lambda e: e.pop("version"), "line 1: missing key 'version'"),
        (1, lambda e: e.__setitem__("version", "1"), "line 1: 'version' must be an integer >= 1"),
        (1, lambda e: e.__setitem__("version", []), "line 1: 'version' must be an integer >= 1"),
        (2, lambda e: e.__setitem__("alias", "no such/alias"), "line 2: 'alias' must be an alias"),
        (3, lambda e: e.__setitem__("to", "Live"), "line 3: 'to' must be a stage"),
        (3, lambda e: e.__setitem__("colour", "red"), "line 3: unknown key 'colour'"),
        (4, lambda e: e.__setitem__("name", "other"), "line 4: 'name' must be 'm'"),
        (4, lambda e: e.__setitem__("event", "teleported"), "line 4: 'event' must be one of registered"),
    ],
    ids=[
        "no-version",
        "string-version",
        "list-version",
        "bad-alias",
        "bad-stage",
        "unknown-key",
        "other-model",
        "unknown-type",
    ],
)
def test_a_malformed_event_is_an_error_repair_does_not_touch(
    registry: FileRegistry, line: int, change: Any, expected: str
) -> None:
    edit_events(registry.layout.events("m"), line, change)
    before = tree(registry.home)
    for extra in ((), ("--repair",)):
        report = doctor(*extra)
        assert report["exit_code"] == 3
        malformed = [f for f in errors(report) if f["kind"] == "malformed_event"]
        assert len(malformed) == 1, findings(report)
        assert malformed[0]["path"] == "models/m/events.jsonl"
        assert expected in malformed[0]["message"]
        assert "--repair leaves the event log alone" in malformed[0]["message"]
        assert tree(registry.home) == before


def test_model_json_is_not_rebuilt_from_a_damaged_event_log(registry: FileRegistry) -> None:
    edit_events(registry.layout.events("m"), 3, lambda e: e.pop("to"))
    registry.layout.model_file("m").unlink()
    before = tree(registry.home)
    report = doctor("--repair")
    assert report["exit_code"] == 3
    missing = [f for f in errors(report) if f["path"] == "models/m/model.json"]
    assert missing and "cannot rebuild it while the event log is damaged" in missing[0]["message"]
    assert tree(registry.home) == before


# ---------------------------------------------------------------------- version.json


def test_a_renamed_version_json_key_is_refused_then_rebuilt_keeping_what_it_can(
    registry: FileRegistry,
) -> None:
    path = registry.layout.version_file("m", 1)
    flavors = json.loads(path.read_text())["flavors"]
    edit_json(path, rename("digest"))
    one_clean_line(cli("list", "m"), "version.json is corrupt", "missing key 'digest'")
    report = doctor()
    assert report["exit_code"] == 3
    [error] = errors(report)
    assert error["path"] == "models/m/versions/1/version.json"
    assert "dropping unknown 'digest_renamed'" in error["message"]
    assert doctor("--repair")["exit_code"] == 0
    assert doctor()["exit_code"] == 0
    rebuilt = json.loads(path.read_text())
    assert rebuilt["rebuilt"] is True and rebuilt["flavors"] == flavors and "digest_renamed" not in rebuilt
    assert cli("list", "m").returncode == 0


def test_an_unknown_version_json_key_is_an_error_repair_leaves(registry: FileRegistry) -> None:
    edit_json(registry.layout.version_file("m", 2), rename("tags"))
    before = tree(registry.home)
    for extra in ((), ("--repair",)):
        report = doctor(*extra)
        assert report["exit_code"] == 3
        [error] = errors(report)
        assert "unknown key 'tags_renamed'" in error["message"] and "by hand" in error["message"]
        assert tree(registry.home) == before
    assert cli("list", "m").returncode == 0  # still readable: nothing a reader needs is missing


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("size", "big"),
        ("created", None),
        ("flavors", "python_function"),
        ("manifest_sha256", "x"),
        ("version", True),
    ],
)
def test_a_malformed_version_json_is_refused_by_readers(registry: FileRegistry, key: str, value: Any) -> None:
    edit_json(registry.layout.version_file("m", 1), lambda d: d.__setitem__(key, value))
    for args in (("list", "m"), ("inspect", "models:/m/1")):
        one_clean_line(cli(*args), "version.json is corrupt", repr(key))
    assert doctor()["exit_code"] == 3


# ---------------------------------------------------------------------- journal, index, registry.json


def test_a_journal_with_a_malformed_state_never_becomes_model_json(registry: FileRegistry) -> None:
    """A journal carries the next model.json; a writer that finishes it would install it."""
    state = registry.state("m").changed(updated="2030-01-01T00:00:00Z").to_json()
    state["stages"] = ["Production"]
    journal = {
        "format_version": 1,
        "op": "promote",
        "name": "m",
        "version": 1,
        "log_size": registry.layout.events("m").stat().st_size,
        "commit_path": None,
        "commit_revision": 0,  # already "committed": a writer would finish it
        "state": state,
        "digest": None,
        "rollback_remove": [],
        "forward_remove": [],
        "pid": 1,
    }
    registry.layout.journal("m").write_text(json.dumps(journal))
    before = tree(registry.home)
    one_clean_line(cli("promote", "m", "2", "--alias", "next"), "journal.json is corrupt", "'state.stages'")
    assert tree(registry.home) == before
    report = doctor()
    assert any(f["path"] == "models/m/journal.json" for f in errors(report))


def test_a_malformed_digest_entry_is_stale_and_rebuilt(registry: FileRegistry) -> None:
    digest = registry.get_version("m", 1).digest
    entry = registry.layout.digest_entry("m", digest)
    edit_json(entry, lambda d: d.__setitem__("version", "1"))
    report = doctor()
    assert report["exit_code"] == 0
    assert [f["kind"] for f in findings(report)] == ["stale_index"]
    assert doctor("--repair")["exit_code"] == 0
    assert json.loads(entry.read_text())["version"] == 1
    assert findings(doctor()) == []


@pytest.mark.parametrize(
    "change",
    [rename("kind"), lambda d: d.__setitem__("kind", "something-else")],
    ids=["renamed", "wrong-kind"],
)
def test_a_malformed_registry_json_is_reported(registry: FileRegistry, change: Any) -> None:
    edit_json(registry.layout.registry_file, change)
    before = tree(registry.home)
    one_clean_line(cli("list"), "registry.json is corrupt", "'kind'")
    report = doctor()
    assert report["exit_code"] == 3
    assert any(f["path"] == "registry.json" for f in errors(report))
    assert tree(registry.home) == before


def test_a_rebuilt_version_json_keeps_a_well_formed_provenance(
    registry: FileRegistry, tmp_path: Path
) -> None:
    provenance = {"metrics": {"auc": 0.9}, "registered_from": {"git": {"commit": "a" * 40, "dirty": False}}}
    registry.register(make_model(tmp_path / "prov", seed=9), name="p", provenance=provenance)
    path = registry.layout.version_file("p", 1)
    assert json.loads(path.read_text())["provenance"] == provenance
    edit_json(path, rename("size"))
    assert doctor("--repair")["exit_code"] == 0
    rebuilt = json.loads(path.read_text())
    assert rebuilt["rebuilt"] is True and rebuilt["provenance"] == provenance


def test_a_malformed_provenance_is_refused_by_readers_and_reported(
    registry: FileRegistry, tmp_path: Path
) -> None:
    registry.register(make_model(tmp_path / "prov", seed=9), name="p", provenance={"metrics": {"auc": 0.9}})
    path = registry.layout.version_file("p", 1)
    edit_json(path, lambda doc: doc["provenance"]["metrics"].update(auc="high"))
    one_clean_line(cli("list", "p"), "version.json is corrupt", "'provenance' must be")
    [error] = errors(doctor())
    assert error["path"] == "models/p/versions/1/version.json" and "provenance" in error["message"]
