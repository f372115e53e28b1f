"""SIGKILL at every named step of register, promote and delete on a bucket registry.

The process kills itself with SIGKILL at the point (``MODELPACK_TEST_CRASH_AT``), so the verdict
does not depend on timing. After each crash: no partial version is visible (every listed version
validates whole), nothing earlier is lost or altered, and re-running the command completes it.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from modelpack.registry.faults import BUCKET_DELETE_PHASES, BUCKET_PROMOTE_PHASES, BUCKET_REGISTER_PHASES
from tests.conftest import modelpack_cmd
from tests.registry_models import make_model

CRASH_ENV = "MODELPACK_TEST_CRASH_AT"


def mp(
    *args: str, crash_at: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    full = dict(env or os.environ)
    full.pop(CRASH_ENV, None)
    if crash_at:
        full[CRASH_ENV] = crash_at
    return subprocess.run(modelpack_cmd(*args), capture_output=True, text=True, timeout=300, env=full)


def data(*args: str) -> Any:
    proc = mp(*args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["data"]


def snapshot() -> dict[int, tuple[str, str, tuple[str, ...]]]:
    """Each live version: digest, stage, aliases."""
    return {
        v["version"]: (v["digest"], v["stage"], tuple(v["aliases"]))
        for v in data("list", "churn")["versions"]
    }


def every_version_is_whole() -> None:
    for version in data("list", "churn")["versions"]:
        proc = mp("validate", f"models:/churn/{version['version']}", "--no-load")
        assert proc.returncode == 0, proc.stdout + proc.stderr


def doctor_is_clean_after_repair() -> None:
    repaired = mp("doctor", "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    checked = mp("doctor")
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.fixture
def registry(s3_home: Any, tmp_path: Path) -> Any:
    first = make_model(tmp_path / "v1", seed=1)
    assert mp("register", str(first), "--name", "churn").returncode == 0
    assert mp("promote", "churn", "1", "--stage", "Production", "--alias", "champion").returncode == 0
    return s3_home


@pytest.mark.parametrize("phase", BUCKET_REGISTER_PHASES)
def test_a_register_killed_at_any_step(registry: Any, tmp_path: Path, phase: str) -> None:
    before = snapshot()
    folder = make_model(tmp_path / "v2", seed=2, payload=b"w" * 300_000)
    killed = mp("register", str(folder), "--name", "churn", "--alias", "next", crash_at=phase)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    after = snapshot()
    assert {v: after[v] for v in before} == before  # nothing earlier lost or altered
    assert set(after) <= {1, 2}
    every_version_is_whole()
    doctor_is_clean_after_repair()
    assert {v: snapshot()[v] for v in before} == before
    # Re-running the command completes it, with the content registered once.
    again = mp("register", str(folder), "--name", "churn", "--alias", "next", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["data"]["version"] == 2
    final = snapshot()
    assert set(final) == {1, 2} and final[1] == before[1]
    registered = [e["version"] for e in data("history", "churn")["events"] if e["event"] == "registered"]
    assert registered == [1, 2]


@pytest.mark.parametrize("phase", BUCKET_PROMOTE_PHASES)
def test_a_promote_killed_at_any_step(registry: Any, tmp_path: Path, phase: str) -> None:
    assert mp("register", str(make_model(tmp_path / "v2", seed=2)), "--name", "churn").returncode == 0
    before = snapshot()
    events_before = data("history", "churn")["events"]
    killed = mp("promote", "churn", "2", "--stage", "Production", "--alias", "champion", crash_at=phase)
    assert killed.returncode == -signal.SIGKILL
    after = snapshot()
    events_after = data("history", "churn")["events"]
    assert events_after[: len(events_before)] == events_before
    committed = phase == "promote.committed"
    if committed:
        assert after[2][1:] == ("Production", ("champion",)) and after[1][1] == "Archived"
        assert len(events_after) == len(events_before) + 3
    else:
        assert after == before and events_after == events_before
    every_version_is_whole()
    doctor_is_clean_after_repair()
    assert snapshot() == after
    # The next change writes on top: the earlier revision's events are kept.
    assert mp("promote", "churn", "1", "--alias", "old").returncode == 0
    assert data("history", "churn")["events"][: len(events_after)] == events_after


@pytest.mark.parametrize("phase", BUCKET_DELETE_PHASES)
def test_a_delete_killed_at_any_step(registry: Any, tmp_path: Path, phase: str) -> None:
    assert mp("register", str(make_model(tmp_path / "v2", seed=2)), "--name", "churn").returncode == 0
    before = snapshot()
    killed = mp("delete", "churn", "2", crash_at=phase)
    assert killed.returncode == -signal.SIGKILL
    after = snapshot()
    assert after[1] == before[1]
    assert set(after) == ({1} if phase == "delete.committed" else {1, 2})
    every_version_is_whole()
    doctor_is_clean_after_repair()
    assert snapshot() == after


@pytest.mark.parametrize("phase", BUCKET_REGISTER_PHASES)
def test_a_copy_into_a_bucket_killed_at_any_step(s3_home: Any, tmp_path: Path, phase: str) -> None:
    import os

    local = {**os.environ, "MODELPACK_HOME": str(tmp_path / "local")}
    assert (
        mp("register", str(make_model(tmp_path / "v1", seed=1)), "--name", "churn", env=local).returncode == 0
    )
    source = mp("list", "churn", "--json", env=local).stdout
    killed = mp("copy", "models:/churn/1", s3_home.url, crash_at=phase, env=local)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert mp("list", "churn", "--json", env=local).stdout == source  # the source is untouched
    listed = mp("list", "churn", "--json")
    assert listed.returncode in (0, 4)  # nothing yet, or whole versions only
    if listed.returncode == 0:
        every_version_is_whole()
    again = mp("copy", "models:/churn/1", s3_home.url, "--json", env=local)
    assert again.returncode == 0, again.stderr
    assert [v["version"] for v in data("list", "churn")["versions"]] == [1]
    doctor_is_clean_after_repair()
