"""Curating a registry in a real S3 store (SeaweedFS): ``set`` under many writers through two
gateways, whole-model delete (also racing registers), ``list`` filters, and ``rename`` (also
killed at each step, and racing registers on both names). Every CLI call is a real subprocess;
verdicts count outcomes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from modelpack.registry.faults import BUCKET_DELETE_MODEL_PHASES, BUCKET_RENAME_PHASES
from tests.registry_models import make_model
from tests.s3.test_bucket_registry import keys, mp, mp_json

pytestmark = pytest.mark.s3


def data(*args: str) -> Any:
    doc = mp_json(*args)
    assert doc["exit_code"] == 0, doc["errors"]
    return doc["data"]


def test_concurrent_edits_through_two_gateways_lose_nothing(s3_home: Any, tmp_path: Path) -> None:
    for i in range(2):
        data("register", str(make_model(tmp_path / f"m{i}", seed=i)), "--name", "busy")
    gateways = s3_home.server.endpoints

    def edit(i: int) -> subprocess.CompletedProcess[str]:
        env = s3_home.subprocess_env(gateways[i % 2])
        if i % 4 == 0:
            return mp("set", "busy", "--tag", f"m{i}=v{i}", env=env)
        if i % 4 == 1:
            return mp("set", "busy", "2", "--tag", f"k{i}=v{i}", env=env)
        if i % 4 == 2:
            return mp("set", "busy", "1", "--tag", f"k{i}=v{i}", "--description", f"d{i}", env=env)
        return mp("promote", "busy", "1", "--alias", f"a{i}", env=env)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(edit, range(16)))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results if r.returncode]
    model = data("list")["models"][0]
    assert model["tags"] == {f"m{i}": f"v{i}" for i in range(0, 16, 4)}
    assert data("list", "models:/busy/2")["tags"] == {f"k{i}": f"v{i}" for i in range(1, 16, 4)}
    v1 = data("list", "models:/busy/1")
    assert v1["tags"] == {f"k{i}": f"v{i}" for i in range(2, 16, 4)}
    assert v1["description"] in {f"d{i}" for i in range(2, 16, 4)}
    assert sorted(v1["aliases"]) == sorted(f"a{i}" for i in range(3, 16, 4))
    history = data("history", "busy")["events"]
    assert len([e for e in history if e["event"] == "tags_set"]) == 12
    assert len([e for e in history if e["event"] == "description_set"]) == 4
    assert len([e for e in history if e["event"] == "alias_set"]) == 4
    doctor = mp_json("doctor")
    assert doctor["exit_code"] == 0, doctor["data"]["findings"]


def test_deleting_a_model_in_a_bucket_keeps_history_and_numbers(s3_home: Any, tmp_path: Path) -> None:
    for i in range(2):
        data("register", str(make_model(tmp_path / f"m{i}", seed=i)), "--name", "churn")
    data("register", str(make_model(tmp_path / "i", seed=7)), "--name", "iris")
    data("promote", "churn", "1", "--stage", "Production")
    refused = mp("delete", "churn")
    assert refused.returncode == 5 and "in Production" in refused.stderr
    out = data("delete", "churn", "--force")
    assert out["versions"] == [1, 2] and out["stages"] == {"Production": [1]}
    assert [m["name"] for m in data("list")["models"]] == ["iris"]
    assert data("history", "churn")["events"][-1]["event"] == "model_deleted"
    assert mp("set", "churn", "--tag", "a=b").returncode == 4
    assert mp_json("doctor")["exit_code"] == 0
    gc = data("gc", "--grace", "0s")
    assert gc["removed_blobs"] > 0
    again = data("register", str(make_model(tmp_path / "m0", seed=0)), "--name", "churn")
    assert again["version"] == 3  # numbers continue: v1 never names two contents
    assert [m["name"] for m in data("list")["models"]] == ["churn", "iris"]
    doctor = mp_json("doctor")
    assert doctor["exit_code"] == 0, doctor["data"]["findings"]


def test_registers_racing_a_model_delete_are_never_lost(s3_home: Any, tmp_path: Path) -> None:
    data("register", str(make_model(tmp_path / "base", seed=100)), "--name", "race")
    folders = [make_model(tmp_path / f"m{i}", seed=i) for i in range(8)]

    def act(i: int) -> subprocess.CompletedProcess[str]:
        if i == 8:
            return mp("delete", "race", "--force", "--json")
        return mp("register", str(folders[i]), "--name", "race", "--field", "version")

    with ThreadPoolExecutor(9) as pool:
        results = list(pool.map(act, range(9)))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results if r.returncode]
    registered = sorted(int(r.stdout) for r in results[:8])
    history = data("history", "race")["events"]
    deleted = {v for e in history if e["event"] == "model_deleted" for v in e["versions"]}
    live = {v["version"] for v in data("list", "race")["versions"]}
    # Each register's version is live, or was deleted by the model delete that came after it.
    for version in registered:
        assert (version in live) != (version in deleted), (version, live, deleted)
    assert sorted(e["version"] for e in history if e["event"] == "registered") == list(range(1, 10))
    doctor = mp_json("doctor")
    assert doctor["exit_code"] == 0, doctor["data"]["findings"]


def test_list_filters_on_a_bucket(s3_home: Any, tmp_path: Path) -> None:
    for i in range(3):
        data("register", str(make_model(tmp_path / f"m{i}", seed=i)), "--name", "churn", "-t", f"n={i}")
    data("register", str(make_model(tmp_path / "i", seed=9)), "--name", "iris")
    data("promote", "churn", "2", "--stage", "Staging", "--alias", "next")
    data("set", "iris", "--description", "Fisher's flowers", "--tag", "domain=bio")
    assert [m["name"] for m in data("list", "--stage", "staging")["models"]] == ["churn"]
    assert [m["name"] for m in data("list", "--tag", "domain")["models"]] == ["iris"]
    assert [m["name"] for m in data("list", "--search", "FISHER")["models"]] == ["iris"]
    assert [v["version"] for v in data("list", "churn", "--tag", "n=1")["versions"]] == [2]
    assert [v["version"] for v in data("list", "churn", "--alias", "next", "--since", "1h")["versions"]] == [
        2
    ]


def assert_intact(uri: str) -> None:
    """Every file of ``uri`` is stored and matches its manifest and record (the test models'
    loader is a stub, so ``validate``'s load check is not the point here)."""
    proc = mp("validate", uri)
    assert re.search(r"PASS\s+integrity", proc.stdout), proc.stdout + proc.stderr


def _churn(tmp_path: Path) -> list[dict[str, Any]]:
    """churn v1 (Production, @champion, a version tag), v2, v3 deleted, the model's own tag; iris."""
    for i in range(3):
        data("register", str(make_model(tmp_path / f"m{i}", seed=i)), "--name", "churn")
    data("register", str(make_model(tmp_path / "i", seed=7)), "--name", "iris")
    data("promote", "churn", "1", "--stage", "Production", "--alias", "champion")
    data("set", "churn", "--tag", "owner=ana")
    data("set", "churn", "2", "--tag", "k=v", "--description", "second")
    data("delete", "churn", "3")
    return list(data("list", "churn")["versions"])


def _renamed_completely(before: list[dict[str, Any]], history_before: list[dict[str, Any]]) -> None:
    after = data("list", "scorer")["versions"]
    same = ("version", "digest", "stage", "aliases", "created", "tags", "description")
    assert [{k: v[k] for k in same} for v in after] == [{k: v[k] for k in same} for v in before]
    assert all(v["name"] == "scorer" for v in after)
    assert [m["name"] for m in data("list")["models"]] == ["iris", "scorer"]
    assert next(m for m in data("list")["models"] if m["name"] == "scorer")["tags"] == {"owner": "ana"}
    history = data("history", "scorer")["events"]
    assert history[: len(history_before)] == history_before
    assert [e["event"] for e in history[len(history_before) :]] == ["renamed"]
    assert history[-1]["from"] == "churn" and history[-1]["to"] == "scorer"
    assert data("history", "churn")["events"][-1]["event"] == "renamed"
    for v in after:
        assert_intact(f"models:/scorer/{v['version']}")
    assert data("list", "models:/scorer@champion")["version"] == 1
    doctor = mp_json("doctor")
    # v3 was deleted before the rename: its blobs wait for gc, nothing else is out of place.
    kinds = {f["kind"] for f in doctor["data"]["findings"]}
    assert doctor["exit_code"] == 0 and kinds <= {"orphan_blob"}, doctor["data"]["findings"]


def test_rename_in_a_bucket_moves_everything_and_leaves_a_tombstone(s3_home: Any, tmp_path: Path) -> None:
    before = _churn(tmp_path)
    history_before = data("history", "churn")["events"]
    out = data("rename", "churn", "scorer")
    assert out == {"old": "churn", "new": "scorer", "name": "scorer", "versions": [1, 2]}
    _renamed_completely(before, history_before)
    # No bytes were copied: every key under the new name is a small document.
    assert not [k for k in keys(s3_home, "models/scorer/") if "/blobs/" in k]
    # The old name refuses writes and names the new one, as on a local registry.
    refused = mp("register", str(make_model(tmp_path / "m9", seed=9)), "--name", "churn")
    assert refused.returncode == 5 and "renamed to 'scorer'" in refused.stderr
    for args in (("set", "churn", "--tag", "a=b"), ("promote", "churn", "1", "--stage", "Staging")):
        refused = mp(*args)
        assert refused.returncode == 4 and "renamed to 'scorer'" in refused.stderr, refused.stderr
    assert mp("list", "models:/churn/1").returncode == 4
    # Numbers continue under the new name; deleted v3 is never reused.
    assert data("register", str(make_model(tmp_path / "m9", seed=9)), "--name", "scorer")["version"] == 4


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (("rename", "churn", "iris"), 5, "model 'iris' exists"),
        (("rename", "churn", "churn"), 2, "the same name"),
        (("rename", "nosuch", "x"), 4, "no model named 'nosuch'"),
        (("rename", "churn", "bad/name"), 2, ""),
    ],
)
def test_rename_refusals_in_a_bucket(
    s3_home: Any, tmp_path: Path, args: tuple[str, ...], code: int, text: str
) -> None:
    data("register", str(make_model(tmp_path / "m", seed=1)), "--name", "churn")
    data("register", str(make_model(tmp_path / "i", seed=2)), "--name", "iris")
    proc = mp(*args)
    assert proc.returncode == code, proc.stderr
    assert text in " ".join(proc.stderr.split())
    assert [m["name"] for m in data("list")["models"]] == ["churn", "iris"]
    assert not keys(s3_home, "models/x/")


def test_a_deleted_or_renamed_away_name_cannot_be_renamed_onto_in_a_bucket(
    s3_home: Any, tmp_path: Path
) -> None:
    for name in ("churn", "iris", "other"):
        data("register", str(make_model(tmp_path / name, seed=len(name))), "--name", name)
    data("delete", "iris")
    proc = mp("rename", "churn", "iris")
    assert proc.returncode == 5 and "was deleted" in proc.stderr
    assert data("rename", "churn", "scorer")["versions"] == [1]
    proc = mp("rename", "other", "churn")
    assert proc.returncode == 5 and "renamed away" in proc.stderr
    assert mp("rename", "churn", "again").returncode == 4
    assert mp_json("doctor")["exit_code"] == 0


@pytest.mark.parametrize("finish", ["rerun", "doctor"])
@pytest.mark.parametrize("phase", BUCKET_RENAME_PHASES)
def test_a_rename_killed_at_any_step(s3_home: Any, tmp_path: Path, phase: str, finish: str) -> None:
    before = _churn(tmp_path)
    history_before = data("history", "churn")["events"]
    killed = mp("rename", "churn", "scorer", env={**os.environ, "MODELPACK_TEST_CRASH_AT": phase})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    listed = [m["name"] for m in data("list")["models"]]
    if phase in {"rename.reserved", "rename.planned"}:
        assert listed == ["churn", "iris"]  # not visible: the old name is untouched
        assert data("list", "churn")["versions"] == before
        assert data("history", "churn")["events"] == history_before
    elif phase == "rename.published":
        assert listed == ["iris", "scorer"]
    else:
        assert listed == ["iris"]  # committed, not yet published: the re-run or repair finishes it
    # The new name is reserved meanwhile: a register under it is refused, naming the rename.
    if phase != "rename.published":
        refused = mp("register", str(make_model(tmp_path / "n", seed=11)), "--name", "scorer")
        assert refused.returncode == 5 and "rename" in refused.stderr, refused.stderr
    if finish == "rerun":
        done = mp("rename", "churn", "scorer")
        assert done.returncode == (4 if phase == "rename.published" else 0), done.stderr
    else:
        repaired = mp_json("doctor", "--repair")
        assert repaired["exit_code"] == 0, repaired["data"]["findings"]
    _renamed_completely(before, history_before)
    assert data("register", str(make_model(tmp_path / "m9", seed=9)), "--name", "scorer")["version"] == 4


@pytest.mark.parametrize("phase", ["rename.committed", "rename.version_copied"])
def test_gc_during_a_half_done_rename_keeps_what_moves(s3_home: Any, tmp_path: Path, phase: str) -> None:
    before = _churn(tmp_path)
    history_before = data("history", "churn")["events"]
    killed = mp("rename", "churn", "scorer", env={**os.environ, "MODELPACK_TEST_CRASH_AT": phase})
    assert killed.returncode == -signal.SIGKILL
    # Every version of churn is deleted in its tombstone, none published under scorer yet.
    data("gc", "--grace", "0s")
    assert mp("rename", "churn", "scorer").returncode == 0
    _renamed_completely(before, history_before)


def test_a_version_claimed_on_the_old_name_but_not_folded_in_moves_with_the_rename(
    s3_home: Any, tmp_path: Path
) -> None:
    data("register", str(make_model(tmp_path / "m0", seed=0)), "--name", "churn")
    killed = mp(
        "register",
        str(make_model(tmp_path / "m1", seed=1)),
        "--name",
        "churn",
        env={**os.environ, "MODELPACK_TEST_CRASH_AT": "register.claimed"},
    )
    assert killed.returncode == -signal.SIGKILL
    assert data("rename", "churn", "scorer")["versions"] == [1, 2]
    registered = [e for e in data("history", "scorer")["events"] if e["event"] == "registered"]
    assert [e["version"] for e in registered] == [1, 2]
    assert_intact("models:/scorer/2")
    doctor = mp_json("doctor")
    assert {f["kind"] for f in doctor["data"]["findings"]} <= {"stale_index"}, doctor["data"]["findings"]
    assert mp_json("doctor", "--repair")["exit_code"] == 0
    assert mp_json("doctor")["data"]["findings"] == []


def test_registers_racing_a_rename_through_two_gateways_are_never_lost(s3_home: Any, tmp_path: Path) -> None:
    data("register", str(make_model(tmp_path / "base", seed=100)), "--name", "race")
    folders = [make_model(tmp_path / f"m{i}", seed=i) for i in range(10)]
    gateways = s3_home.server.endpoints

    def act(i: int) -> subprocess.CompletedProcess[str]:
        env = s3_home.subprocess_env(gateways[i % 2])
        if i == 10:
            return mp("rename", "race", "renamed", "--json", env=env)
        time.sleep(0.1 * (i % 5))  # spread the registers around the rename's steps
        # Eight registers on the old name, two on the new one.
        name = "race" if i < 8 else "renamed"
        return mp("register", str(folders[i]), "--name", name, "--json", env=env)

    with ThreadPoolExecutor(11) as pool:
        results = list(pool.map(act, range(11)))
    rename = results[10]
    digests = {}
    for i, proc in enumerate(results[:10]):
        if proc.returncode == 0:
            out = json.loads(proc.stdout)["data"]
            digests[i] = out["digest"]
            continue
        # A register that lost is refused loudly, naming the rename.
        assert proc.returncode == 5, proc.stdout + proc.stderr
        assert "rename" in proc.stdout, proc.stdout
    if rename.returncode != 0:
        # A register on the new name won before the rename reserved it: nothing moved.
        assert rename.returncode == 5 and "exists" in rename.stdout, rename.stdout
        assert all(results[i].returncode == 0 for i in range(8))
        return
    live = {v["digest"]: v["version"] for v in data("list", "renamed")["versions"]}
    for i, digest in digests.items():
        # Every register that succeeded is findable under the new name, whichever name it used.
        assert digest in live, (i, results[i].stdout, live)
    for proc in results[:8]:
        moved = re.search(r"is renamed v(\d+)", " ".join(proc.stdout.split()))
        if moved:  # claimed on the old name, folded in by the rename: it moved
            assert data("list", f"models:/renamed/{moved.group(1)}")["digest"] in live
    for version in live.values():
        assert_intact(f"models:/renamed/{version}")
    registered = [e for e in data("history", "renamed")["events"] if e["event"] == "registered"]
    assert sorted(e["version"] for e in registered) == sorted({e["version"] for e in registered})
    doctor = mp_json("doctor")
    errors = [f for f in doctor["data"]["findings"] if f["severity"] == "error"]
    assert not errors, errors
    # A register on the new name whose claim the rename replaced may have indexed its digest
    # (stale_index, repaired); a failed register's blobs wait for gc; its claim under the old
    # name is reported.
    assert mp_json("doctor", "--repair")["exit_code"] == 0
    doctor = mp_json("doctor")
    assert {f["kind"] for f in doctor["data"]["findings"]} <= {"orphan_claim", "orphan_blob"}
    print(
        "outcomes:",
        [p.returncode for p in results],
        "registered:",
        len(digests),
        "live:",
        sorted(live.values()),
    )


@pytest.mark.parametrize("phase", BUCKET_DELETE_MODEL_PHASES)
def test_a_model_delete_killed_at_any_step(s3_home: Any, tmp_path: Path, phase: str) -> None:
    for i in range(2):
        data("register", str(make_model(tmp_path / f"m{i}", seed=i)), "--name", "churn")
    data("promote", "churn", "1", "--stage", "Production", "--alias", "champion")
    events_before = data("history", "churn")["events"]
    killed = mp("delete", "churn", "--force", env={**os.environ, "MODELPACK_TEST_CRASH_AT": phase})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    committed = phase == "delete_model.committed"
    listed = [m["name"] for m in data("list")["models"]]
    assert listed == ([] if committed else ["churn"])
    events_after = data("history", "churn")["events"]
    assert events_after[: len(events_before)] == events_before
    assert len(events_after) == len(events_before) + (1 if committed else 0)
    repaired = mp("doctor", "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert mp("doctor").returncode == 0
    # Finishing the job works either way; the numbers continue afterwards.
    if not committed:
        assert data("delete", "churn", "--force")["versions"] == [1, 2]
    assert data("register", str(make_model(tmp_path / "m9", seed=9)), "--name", "churn")["version"] == 3
