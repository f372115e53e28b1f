"""Curating a local registry after the fact: ``set``, ``delete NAME``, ``rename``, ``list``
filters and tables that fit the terminal.

Every CLI call is a real ``python -m modelpack`` process; concurrency is real processes; crashes
are SIGKILL at each named step of a rename and of a whole-model delete.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from modelpack.registry import FileRegistry
from modelpack.registry import events as ev
from modelpack.registry.doctor import run_doctor
from modelpack.registry.faults import DELETE_MODEL_PHASES, RENAME_PHASES
from modelpack.registry.filters import parse_since
from tests.conftest import ENVELOPE_KEYS, modelpack_cmd
from tests.registry_models import make_model


def mp(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **(env or {})}
    return subprocess.run(modelpack_cmd(*args), capture_output=True, text=True, timeout=120, env=full)


def mp_json(*args: str) -> dict[str, Any]:
    proc = mp(*args, "--json")
    assert proc.stdout, proc.stderr
    doc = json.loads(proc.stdout)
    assert set(doc) == ENVELOPE_KEYS
    assert doc["exit_code"] == proc.returncode, proc.stderr
    return doc


def data(*args: str) -> Any:
    doc = mp_json(*args)
    assert doc["exit_code"] == 0, doc["errors"]
    return doc["data"]


@pytest.fixture
def churn(tmp_path: Path) -> Path:
    """Model ``churn`` with v1 (Production, @champion) and v2, and model ``iris`` v1."""
    for i, name in enumerate(("churn", "churn", "iris")):
        assert mp("register", str(make_model(tmp_path / f"m{i}", seed=i)), "--name", name).returncode == 0
    assert mp("promote", "churn", "1", "--stage", "Production", "--alias", "champion").returncode == 0
    return Path(os.environ["MODELPACK_HOME"])


def events_of(name: str) -> list[dict[str, Any]]:
    return list(data("history", name)["events"])


# ---------------------------------------------------------------------- set


def test_set_edits_a_version_and_the_model_each_change_an_event(churn: Path) -> None:
    out = data("set", "churn", "2", "--description", "retrained on May", "--tag", "team=risk", "-t", "x=1")
    assert out == {
        "name": "churn",
        "version": 2,
        "description": "retrained on May",
        "tags": {"team": "risk", "x": "1"},
        "changed": True,
        "events": ["tags_set", "description_set"],
    }
    out = data("set", "churn", "2", "--remove-tag", "x", "--remove-tag", "absent")
    assert out["tags"] == {"team": "risk"} and out["events"] == ["tags_set"]
    version = data("list", "models:/churn/2")
    assert version["description"] == "retrained on May" and version["tags"] == {"team": "risk"}
    # The model itself: MLflow's update_registered_model and registered-model tags.
    out = data("set", "churn", "--description", "Churn scorer", "--tag", "owner=ana")
    assert out["version"] is None and out["tags"] == {"owner": "ana"} and out["changed"]
    model = next(m for m in data("list")["models"] if m["name"] == "churn")
    assert model["description"] == "Churn scorer" and model["tags"] == {"owner": "ana"}
    kinds = [(e["event"], e["version"]) for e in events_of("churn")][-5:]
    assert kinds == [
        ("tags_set", 2),
        ("description_set", 2),
        ("tags_set", 2),
        ("tags_set", None),
        ("description_set", None),
    ]
    # Nothing to change: a no-op, reported as such, no event.
    again = mp("set", "churn", "--description", "Churn scorer", "--tag", "owner=ana")
    assert again.returncode == 0 and "nothing changed" in again.stdout
    assert not data("set", "churn", "--tag", "owner=ana")["changed"]
    assert len(events_of("churn")) == len(kinds) + 4  # 2 registered, stage_changed, alias_set
    # An empty description clears it.
    assert data("set", "churn", "--description", "")["description"] is None
    assert run_doctor(FileRegistry(churn)).consistent


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (("set", "churn"), 2, "nothing to set"),
        (("set", "churn", "--tag", "novalue"), 2, "KEY=VALUE"),
        (("set", "churn", "--tag", "a=1", "--remove-tag", "a"), 2, "both name a"),
        (("set", "nosuch", "--tag", "a=1"), 4, "no model named 'nosuch'"),
        (("set", "churn", "9", "--tag", "a=1"), 4, "no version 9"),
        (("set", "churn", "--tag", "bad\\key=1"), 2, "invalid tag key"),
    ],
)
def test_set_errors_are_one_line_with_their_exit_code(
    churn: Path, args: tuple[str, ...], code: int, text: str
) -> None:
    proc = mp(*args)
    assert proc.returncode == code, proc.stderr
    assert text in " ".join(proc.stderr.split())
    assert proc.stderr.startswith("error:")


def test_concurrent_edits_of_one_model_lose_nothing(churn: Path) -> None:
    """16 processes edit tags of the model and of v2 at once: every tag arrives, one event each."""

    def edit(i: int) -> subprocess.CompletedProcess[str]:
        if i % 2:
            return mp("set", "churn", "--tag", f"m{i}=v{i}")
        return mp("set", "churn", "2", "--tag", f"k{i}=v{i}")

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(edit, range(16)))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results if r.returncode]
    model = next(m for m in data("list")["models"] if m["name"] == "churn")
    assert model["tags"] == {f"m{i}": f"v{i}" for i in range(1, 16, 2)}
    assert data("list", "models:/churn/2")["tags"] == {f"k{i}": f"v{i}" for i in range(0, 16, 2)}
    tag_events = [e for e in events_of("churn") if e["event"] == "tags_set"]
    assert len(tag_events) == 16
    assert run_doctor(FileRegistry(churn)).findings == []


# ---------------------------------------------------------------------- delete a whole model


def test_deleting_a_model_keeps_its_history_and_numbers(churn: Path, tmp_path: Path) -> None:
    refused = mp("delete", "churn")
    assert refused.returncode == 5 and "v1 in Production and aliases champion" in refused.stderr
    out = data("delete", "churn", "--force")
    assert out["versions"] == [1, 2] and out["removed_aliases"] == ["champion"]
    assert out["stages"] == {"Production": [1]}
    assert [m["name"] for m in data("list")["models"]] == ["iris"]
    last = events_of("churn")[-1]
    assert last["event"] == "model_deleted" and last["versions"] == [1, 2]
    assert data("list", "churn")["versions"] == []
    gone = mp("list", "models:/churn/1")
    assert gone.returncode == 4 and "deleted" in gone.stderr
    assert mp("set", "churn", "--tag", "a=b").returncode == 4
    assert mp("delete", "churn").returncode == 4
    registry = FileRegistry(churn)
    assert run_doctor(registry).consistent
    gc = data("gc")
    assert gc["removed_blobs"] > 0  # the deleted versions' files
    # Registering the name again continues the numbers: v3, never a second v1.
    again = data("register", str(make_model(tmp_path / "m0")), "--name", "churn")
    assert again["version"] == 3
    assert [m["name"] for m in data("list")["models"]] == ["churn", "iris"]
    model = next(m for m in data("list")["models"] if m["name"] == "churn")
    assert model["aliases"] == {} and model["stages"] == {} and model["version_count"] == 1
    assert run_doctor(registry).findings == []
    # The log alone rebuilds the same state (doctor --repair relies on it).
    replayed = ev.replay(registry.history("churn"))
    assert replayed.removed is None and set(replayed.deleted) == {1, 2}


def test_sigkill_at_every_step_of_a_model_delete(tmp_path: Path) -> None:
    for phase in DELETE_MODEL_PHASES:
        home = tmp_path / phase
        registry = FileRegistry(home)
        for seed in (1, 2):
            registry.register(make_model(tmp_path / f"{phase}-{seed}", seed=seed), name="m")
        proc = mp("delete", "m", "--force", "--home", str(home), env={"MODELPACK_TEST_CRASH_AT": phase})
        assert proc.returncode == -signal.SIGKILL, (phase, proc.stderr)
        repaired = run_doctor(registry, repair=True)
        assert repaired.consistent, [f.to_dict() for f in repaired.errors]
        assert run_doctor(registry).findings == []
        state = registry.state("m")
        done = state.removed is not None
        # All or nothing: deleted with both versions, or untouched.
        assert set(state.deleted) == ({1, 2} if done else set()), phase
        assert [e["event"] for e in registry.history("m")][-1] == ("model_deleted" if done else "registered")
        assert not any(registry.layout.version_model("m", v).exists() for v in state.deleted)
        assert (
            phase
            in {
                "delete_model.locked",
                "delete_model.journaled",
                "delete_model.event_written",
                "delete_model.state_tmp_written",
            }
            or done
        )


# ---------------------------------------------------------------------- rename


def test_rename_moves_everything_and_leaves_a_tombstone(churn: Path, tmp_path: Path) -> None:
    assert mp("set", "churn", "--tag", "owner=ana").returncode == 0
    before = data("list", "churn")["versions"]
    out = data("rename", "churn", "scorer")
    assert out == {"old": "churn", "new": "scorer", "name": "scorer", "versions": [1, 2]}
    after = data("list", "scorer")["versions"]
    for old, new in zip(before, after, strict=True):
        assert (new["version"], new["digest"], new["stage"], new["aliases"], new["created"]) == (
            old["version"],
            old["digest"],
            old["stage"],
            old["aliases"],
            old["created"],
        )
        assert new["name"] == "scorer" and new["uri"] == f"models:/scorer/{old['version']}"
    assert data("list", "models:/scorer@champion")["version"] == 1
    assert [m["name"] for m in data("list")["models"]] == ["iris", "scorer"]
    assert next(m for m in data("list")["models"] if m["name"] == "scorer")["tags"] == {"owner": "ana"}
    # Both histories tell of it; the new one keeps the old events.
    assert events_of("churn")[-1]["event"] == "renamed"
    history = events_of("scorer")
    assert history[0]["event"] == "registered" and history[0]["name"] == "churn"
    assert history[-1] == {**history[-1], "event": "renamed", "from": "churn", "to": "scorer"}
    # The old name refuses writes and names the new one.
    refused = mp("register", str(make_model(tmp_path / "m9", seed=9)), "--name", "churn")
    assert refused.returncode == 5 and "renamed to 'scorer'" in refused.stderr
    refused = mp("set", "churn", "--tag", "a=b")
    assert refused.returncode == 4 and "renamed to 'scorer'" in refused.stderr
    refused = mp("promote", "churn", "1", "--stage", "Staging")
    assert refused.returncode == 4 and "renamed to 'scorer'" in refused.stderr
    assert mp("list", "models:/churn/1").returncode == 4
    registry = FileRegistry(churn)
    assert run_doctor(registry).findings == []
    assert mp("predict", "models:/scorer@champion", "--help").returncode == 0
    # Files are shared: the copy added no blob, and gc after the rename removes none in use.
    assert registry.verify_version("scorer", 2).ok


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (("rename", "churn", "iris"), 5, "model 'iris' exists"),
        (("rename", "churn", "churn"), 2, "the same name"),
        (("rename", "nosuch", "x"), 4, "no model named 'nosuch'"),
        (("rename", "churn", "bad/name"), 2, ""),
    ],
)
def test_rename_refusals(churn: Path, args: tuple[str, ...], code: int, text: str) -> None:
    proc = mp(*args)
    assert proc.returncode == code, proc.stderr
    assert text in " ".join(proc.stderr.split())


def test_a_deleted_or_renamed_away_name_cannot_be_renamed_onto(churn: Path) -> None:
    assert mp("delete", "iris").returncode == 0
    proc = mp("rename", "churn", "iris")
    assert proc.returncode == 5 and "was deleted" in proc.stderr
    assert mp("rename", "churn", "scorer").returncode == 0
    assert mp("register", "models:/scorer/2", "--name", "other").returncode == 0
    proc = mp("rename", "other", "churn")
    assert proc.returncode == 5 and "renamed away" in proc.stderr


def test_sigkill_at_every_step_of_a_rename(tmp_path: Path) -> None:
    for phase in RENAME_PHASES:
        home = tmp_path / phase
        registry = FileRegistry(home)
        for seed in (1, 2):
            registry.register(make_model(tmp_path / f"{phase}-{seed}", seed=seed), name="old")
        registry.promote("old", 2, stage="Production", alias="champion")
        proc = mp("rename", "old", "new", "--home", str(home), env={"MODELPACK_TEST_CRASH_AT": phase})
        assert proc.returncode == -signal.SIGKILL, (phase, proc.stderr)
        repaired = run_doctor(registry, repair=True)
        assert repaired.consistent, [f.to_dict() for f in repaired.errors]
        assert run_doctor(registry).findings == [], phase
        assert list(registry.layout.tmp.iterdir()) == []
        names = [m.name for m in registry.list_models()]
        # Exactly one live name holds the model, whole.
        assert names in (["old"], ["new"]), (phase, names)
        live = names[0]
        assert registry.resolve(f"models:/{live}@champion").version == 2
        assert all(registry.verify_version(live, v).ok for v in (1, 2))
        if live == "new":
            assert registry.state("old").renamed_to == "new"
            assert registry.history("old")[-1]["event"] == "renamed"
        else:
            assert not registry.layout.model("new").exists()
            assert [e["event"] for e in registry.history("old")][-1] == "alias_set"
            assert mp("rename", "old", "new", "--home", str(home)).returncode == 0  # and it can be redone
        committed = {"rename.committed", "rename.finishing"}
        assert (live == "new") == (phase in committed), phase


def test_a_rename_rolled_back_is_not_mistaken_for_done_when_the_name_is_taken_meanwhile(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    registry = FileRegistry(home)
    registry.register(make_model(tmp_path / "a", seed=1), name="old")
    proc = mp(
        "rename", "old", "new", "--home", str(home), env={"MODELPACK_TEST_CRASH_AT": "rename.event_written"}
    )
    assert proc.returncode == -signal.SIGKILL
    # Someone registers "new" before anyone touches "old": the rename did not happen.
    registry.register(make_model(tmp_path / "b", seed=2), name="new")
    assert run_doctor(registry, repair=True).consistent
    assert [m.name for m in registry.list_models()] == ["new", "old"]
    assert registry.state("old").renamed_to is None
    assert registry.list_versions("new")[0].digest != registry.list_versions("old")[0].digest


# ---------------------------------------------------------------------- list filters


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    """churn v1-v3 (v1 Production @champion team=risk, v2 Staging, v3 tagged team=growth) and
    iris v1 (model tags domain=flowers), fraud v1 (description mentions churn)."""
    home = Path(os.environ["MODELPACK_HOME"])
    registry = FileRegistry(home)
    for seed in (1, 2, 3):
        registry.register(
            make_model(tmp_path / f"c{seed}", seed=seed), name="churn", description=f"churn v{seed}"
        )
    registry.register(make_model(tmp_path / "i", seed=4), name="iris")
    registry.register(make_model(tmp_path / "f", seed=5), name="fraud")
    registry.promote("churn", 1, stage="Production", alias="champion")
    registry.promote("churn", 2, stage="Staging")
    registry.set_tags("churn", 1, {"team": "risk", "tier": "1"})
    registry.set_tags("churn", 3, {"team": "growth"})
    registry.set_tags("iris", None, {"domain": "flowers"})
    registry.set_description("fraud", "Catches CHURN-like fraud")
    return home


def names(*args: str) -> list[str]:
    return [m["name"] for m in data("list", *args)["models"]]


def versions(*args: str) -> list[int]:
    return [v["version"] for v in data("list", "churn", *args)["versions"]]


def test_list_filters_models(catalog: Path) -> None:
    assert names() == ["churn", "fraud", "iris"]
    assert names("--stage", "production") == ["churn"]
    assert names("--stage", "None") == ["churn", "fraud", "iris"]  # churn v3 is in no stage
    assert names("--alias", "champion") == ["churn"]
    assert names("--tag", "domain=flowers") == ["iris"]
    assert names("--tag", "domain") == ["iris"]
    assert names("--tag", "domain=trees") == []
    assert names("--search", "churn") == ["churn", "fraud"]  # a name, and a description
    assert names("--search", "churn", "--stage", "Production") == ["churn"]
    assert names("--since", "1d") == ["churn", "fraud", "iris"]
    assert names("--since", "2999-01-01") == []
    human = mp("list", "--tag", "nothing=here")
    assert human.returncode == 0 and human.stdout == "no models match\n"


def test_list_filters_versions(catalog: Path) -> None:
    assert versions() == [1, 2, 3]
    assert versions("--stage", "Production", "--stage", "staging") == [1, 2]
    assert versions("--alias", "champion") == [1]
    assert versions("--tag", "team") == [1, 3]
    assert versions("--tag", "team=risk", "--tag", "tier=1") == [1]
    assert versions("--tag", "team=risk", "--tag", "tier=2") == []
    assert versions("--search", "V3") == [3]
    assert versions("--since", "2000-01-01T00:00:00Z", "--stage", "Staging") == [2]
    assert versions("--since", "2999-01-01") == []
    assert mp("list", "churn", "--stage", "Staging", "--field", "version").stdout == "2\n"


@pytest.mark.parametrize("since", ["yesterday", "7x", "2025-13-01"])
def test_a_bad_since_is_a_usage_error(catalog: Path, since: str) -> None:
    proc = mp("list", "--since", since)
    assert proc.returncode == 2 and "--since" in proc.stderr and proc.stderr.count("\n") <= 2


def test_parse_since_forms() -> None:
    import datetime as dt

    now = dt.datetime(2025, 1, 31, 12, 0, tzinfo=dt.timezone.utc)
    assert parse_since("7d", now) == "2025-01-24T12:00:00.000000Z"
    assert parse_since("12h", now) == "2025-01-31T00:00:00.000000Z"
    assert parse_since("2025-01-30", now) == "2025-01-30T00:00:00.000000Z"
    assert parse_since("2025-01-30T10:00+02:00", now) == "2025-01-30T08:00:00.000000Z"


def test_the_python_api_filters_edits_renames_and_deletes(catalog: Path) -> None:
    from modelpack import Registry

    reg = Registry(catalog)
    assert [m.name for m in reg.list_models(stage="Production")] == ["churn"]
    assert [m.name for m in reg.list_models(tags={"domain": None})] == ["iris"]
    assert [v.version for v in reg.list_versions("churn", tags={"team": "risk"}, since="1d")] == [1]
    result = reg.set("iris", description="Fisher's iris", tags={"k": "v"}, remove_tags=["domain"])
    assert result.changed and result.tags == {"k": "v"}
    assert not reg.set("iris", tags={"k": "v"}).changed
    assert reg.rename("iris", "flowers").versions == [1]
    assert reg.delete_model("flowers").versions == [1]
    assert [m.name for m in reg.list_models()] == ["churn", "fraud"]


# ---------------------------------------------------------------------- tables fit the terminal


def test_tables_fit_80_columns_keeping_description_and_tags(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*(["a-rather-long-folder-name"] * 6))
    folder = make_model(deep / "model", seed=1)
    assert mp("register", str(folder), "--name", "churn").returncode == 0
    assert mp("set", "churn", "1", "--description", "weekly retrain", "--tag", "team=risk").returncode == 0
    assert mp("set", "churn", "--description", "Churn scorer", "--tag", "owner=ana").returncode == 0
    # history's detail is the last column and is never cut (a terminal wraps it); the columns
    # before it leave it room, and every event's whole detail is there.
    history = mp("history", "churn", env={"COLUMNS": "80"}).stdout.splitlines()
    start = history[0].index("DETAIL")
    assert len(history[0]) <= 80 and start <= 80 - 30
    assert str(folder) in "\n".join(history) and 'description "Churn scorer"' in history[-1]
    for args in (("list",), ("list", "churn")):
        narrow = mp(*args, env={"COLUMNS": "80"}).stdout.splitlines()
        assert all(len(line) <= 80 for line in narrow), (args, narrow)
        wide = mp(*args, env={"COLUMNS": "200"}).stdout.splitlines()
        assert all(len(line) <= 200 for line in wide), (args, wide)
        if args[0] == "list":
            text = "\n".join(narrow)
            assert "weekly retrain" in text or "Churn scorer" in text
            assert "team=risk" in text or "owner=ana" in text
            assert "DESCRIPTION" in narrow[0] and "TAGS" in narrow[0]
    versions_wide = mp("list", "churn", env={"COLUMNS": "200"}).stdout
    assert str(folder)[-40:] in versions_wide  # the source's end survives, start ellipsized
    assert "\u2026" in versions_wide
    versions_narrow = mp("list", "churn", env={"COLUMNS": "80"}).stdout
    assert "weekly retrain" in versions_narrow and "team=risk" in versions_narrow
    assert "Z " in versions_narrow.splitlines()[1]  # a shortened time still says UTC
    # Piped with no COLUMNS: whole values, for grep and logs.
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    piped = subprocess.run(
        modelpack_cmd("list", "churn"), capture_output=True, text=True, env=env, timeout=60
    )
    assert str(folder) in piped.stdout
