"""Curating a registry in a real S3 store (SeaweedFS): ``set`` under many writers through two
gateways, whole-model delete (also racing registers), ``list`` filters, and ``rename``, which a
bucket refuses for now. Every CLI call is a real subprocess; verdicts count outcomes.
"""

from __future__ import annotations

import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from modelpack.registry.faults import BUCKET_DELETE_MODEL_PHASES
from tests.registry_models import make_model
from tests.s3.test_bucket_registry import mp, mp_json

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


def test_rename_is_refused_on_a_bucket_with_a_clear_message(s3_home: Any, tmp_path: Path) -> None:
    data("register", str(make_model(tmp_path / "m", seed=1)), "--name", "churn")
    proc = mp("rename", "churn", "scorer")
    assert proc.returncode == 2
    assert "rename is not supported in an s3:// registry" in " ".join(proc.stderr.split())
    assert [m["name"] for m in data("list")["models"]] == ["churn"]


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
