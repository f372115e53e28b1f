"""The registry under real concurrency and real crashes: many ``python -m modelpack`` processes
at once, and processes killed with SIGKILL at every named step and at random moments.

After every crash a reader must see a whole registry (every listed version intact, numbers
consecutive, the history matching the versions), ``doctor`` must find no damage, and
``doctor --repair`` must leave nothing at all to report.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modelpack.registry import FileRegistry
from modelpack.registry import events as ev
from modelpack.registry.doctor import run_doctor
from modelpack.registry.faults import DELETE_PHASES, GC_PHASES, PROMOTE_PHASES, REGISTER_PHASES
from tests.conftest import modelpack_cmd
from tests.registry_models import make_model

pytestmark = pytest.mark.slow

CRASH_ENV = "MODELPACK_TEST_CRASH_AT"


def run_cli(*args: str, crash_at: str | None = None, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if crash_at:
        env[CRASH_ENV] = crash_at
    return subprocess.run(
        modelpack_cmd(*args), env=env, capture_output=True, text=True, timeout=120, **kwargs
    )


def one_line(text: str) -> str:
    """Error output with rich's line wrapping undone (it wraps at the terminal width)."""
    return " ".join(text.split())


def start_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(modelpack_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def check_reader_view(registry: FileRegistry) -> dict[str, list[int]]:
    """What any reader may rely on at any moment, crash or no crash."""
    seen: dict[str, list[int]] = {}
    for name in registry.model_names():
        state = registry.state(name)
        everything = registry.list_versions(name, include_deleted=True)
        numbers = [v.version for v in everything]
        assert numbers == list(range(1, len(numbers) + 1)), f"{name}: gap in {numbers}"
        for record in everything:
            if not record.deleted:
                report = registry.verify_version(name, record.version)
                assert report.ok, f"{name} v{record.version}: {report.describe()}"
        registered = [e["version"] for e in registry.history(name) if e["event"] == "registered"]
        assert registered == numbers, f"{name}: events {registered} vs versions {numbers}"
        for version in list(state.stages) + list(state.aliases.values()):
            assert version in numbers and version not in state.deleted
        seen[name] = [v.version for v in everything if not v.deleted]
    return seen


def check_clean_after_repair(registry: FileRegistry) -> None:
    before = run_doctor(registry)
    assert before.consistent, [f.to_dict() for f in before.errors]
    repaired = run_doctor(registry, repair=True)
    assert repaired.consistent, [f.to_dict() for f in repaired.errors]
    after = run_doctor(registry)
    assert after.findings == [], [f.to_dict() for f in after.findings]
    for name in registry.model_names():
        state = registry.state(name)
        replayed = ev.replay(registry.history(name))
        assert (replayed.stages, replayed.aliases, set(replayed.deleted)) == (
            state.stages,
            state.aliases,
            set(state.deleted),
        ), name
    check_reader_view(registry)
    assert list(registry.layout.tmp.iterdir()) == []


# ---------------------------------------------------------------------- concurrency

N_WRITERS = 20


def test_concurrent_registers_get_distinct_consecutive_versions(tmp_path: Path, _isolate: Path) -> None:
    folders = [make_model(tmp_path / f"m{i}", seed=i, payload=os.urandom(50_000)) for i in range(N_WRITERS)]
    procs = [start_cli("register", str(f), "--name", "storm", "--json") for f in folders]
    outputs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0] * N_WRITERS, [err for _, err in outputs]
    claimed = {}
    for folder, (out, _) in zip(folders, outputs, strict=True):
        data = json.loads(out)["data"]
        assert not data["already_registered"]
        claimed[data["version"]] = folder
    assert sorted(claimed) == list(range(1, N_WRITERS + 1))
    registry = FileRegistry(_isolate)
    for version, folder in claimed.items():
        record = registry.get_version("storm", version)
        assert record.source == str(folder.resolve())
        assert (record.local_path / "weights.bin").read_bytes() == (folder / "weights.bin").read_bytes()
    assert check_reader_view(registry) == {"storm": list(range(1, N_WRITERS + 1))}
    assert run_doctor(registry).findings == []


def test_concurrent_identical_registers_mint_one_version(tmp_path: Path, _isolate: Path) -> None:
    folder = make_model(tmp_path / "m", seed=1, payload=os.urandom(100_000))
    procs = [start_cli("register", str(folder), "--name", "same", "--json") for _ in range(16)]
    results = [json.loads(p.communicate(timeout=180)[0])["data"] for p in procs]
    assert {r["version"] for r in results} == {1}
    assert sorted(r["already_registered"] for r in results) == [False] + [True] * 15
    registry = FileRegistry(_isolate)
    assert [e["event"] for e in registry.history("same")] == ["registered"]
    blobs = [p for p in (_isolate / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 7  # each distinct file stored once, however many writers raced
    assert run_doctor(registry).findings == []


def test_concurrent_duplicates_with_allow_duplicate_each_get_a_version(
    tmp_path: Path, _isolate: Path
) -> None:
    folder = make_model(tmp_path / "m", seed=1)
    procs = [
        start_cli("register", str(folder), "--name", "dup", "--allow-duplicate", "--field", "version")
        for _ in range(16)
    ]
    versions = sorted(int(p.communicate(timeout=180)[0]) for p in procs)
    assert versions == list(range(1, 17))
    registry = FileRegistry(_isolate)
    assert (
        len({p.stat().st_ino for p in (_isolate / "models" / "dup" / "versions").glob("*/model/model.pkl")})
        == 1
    )
    assert run_doctor(registry).findings == []


def test_concurrent_promotes_leave_one_version_per_stage(tmp_path: Path, _isolate: Path) -> None:
    registry = FileRegistry(_isolate)
    for i in range(1, 9):
        registry.register(make_model(tmp_path / f"m{i}", seed=i), name="race")
    rng = random.Random(5)
    jobs = []
    for i in range(20):
        # Disjoint candidates per stage: moving a Production version to Staging would rightly
        # leave Production empty, which is not the race this test is about.
        stage = ["Production", "Staging"][i % 2]
        version = str(rng.randint(1, 4) if stage == "Production" else rng.randint(5, 8))
        jobs.append(start_cli("promote", "race", version, "--stage", stage, "--alias", stage.lower()))
    assert [p.wait(timeout=180) for p in jobs] == [0] * len(jobs), [p.stderr.read() for p in jobs if p.stderr]
    for p in jobs:
        p.communicate()
    state = registry.state("race")
    holders = {
        stage: [v for v, s in state.stages.items() if s == stage] for stage in ("Production", "Staging")
    }
    assert len(holders["Production"]) == 1 and len(holders["Staging"]) == 1
    # The aliases were set in the same commits as the stages, so they agree.
    assert state.aliases == {"production": holders["Production"][0], "staging": holders["Staging"][0]}
    replayed = ev.replay(registry.history("race"))
    assert replayed.stages == state.stages and replayed.aliases == state.aliases
    assert run_doctor(registry).findings == []


def test_concurrent_mixed_writers_and_readers(tmp_path: Path, _isolate: Path) -> None:
    registry = FileRegistry(_isolate)
    registry.register(make_model(tmp_path / "seed", seed=100), name="mix")
    jobs = []
    for i in range(8):
        jobs.append(start_cli("register", str(make_model(tmp_path / f"n{i}", seed=i)), "--name", "mix"))
        jobs.append(start_cli("promote", "mix", "1", "--stage", ["Staging", "Production"][i % 2]))
        jobs.append(start_cli("list", "models:/mix/latest", "--field", "version"))
    assert all(p.wait(timeout=180) == 0 for p in jobs)
    for p in jobs:
        p.communicate()
    assert check_reader_view(registry) == {"mix": list(range(1, 10))}
    assert run_doctor(registry).findings == []


# ---------------------------------------------------------------------- crashes at named points


def _assert_killed_or_ok(proc: subprocess.CompletedProcess[str]) -> bool:
    """True when the process died by SIGKILL at the crash point; else it must have succeeded."""
    if proc.returncode == -signal.SIGKILL:
        return True
    assert proc.returncode == 0, proc.stderr
    return False


def test_sigkill_at_every_register_phase(tmp_path: Path, _isolate: Path) -> None:
    hit: set[str] = set()
    for scenario in ("new model", "next version", "with alias"):
        for phase in REGISTER_PHASES:
            home = tmp_path / f"home-{len(hit)}-{scenario[0]}-{phase}"
            registry = FileRegistry(home)
            if scenario != "new model":
                registry.register(make_model(tmp_path / f"base-{phase}", seed=1), name="m", alias="champion")
            folder = make_model(tmp_path / f"{scenario[0]}-{phase}", seed=2, payload=os.urandom(300_000))
            extra = ["--alias", "champion"] if scenario == "with alias" else []
            proc = run_cli(
                "register", str(folder), "--name", "m", "--home", str(home), *extra, crash_at=phase
            )
            if _assert_killed_or_ok(proc):
                hit.add(phase)
            seen = check_reader_view(registry)
            assert seen.get("m", []) in ([], [1], [1, 2]), seen
            check_clean_after_repair(registry)
            # The registry keeps working: re-running the same registration succeeds.
            again = run_cli("register", str(folder), "--name", "m", "--home", str(home), *extra, "--json")
            assert again.returncode == 0, again.stderr
            data = json.loads(again.stdout)["data"]
            assert data["version"] == (1 if scenario == "new model" else 2)
            if extra:
                assert registry.resolve("models:/m@champion").version == 2
            assert run_doctor(registry).findings == []
    assert hit == set(REGISTER_PHASES)


def test_sigkill_at_every_promote_and_delete_phase(tmp_path: Path) -> None:
    hit: set[str] = set()
    for phase in PROMOTE_PHASES + DELETE_PHASES:
        home = tmp_path / f"home-{phase}"
        registry = FileRegistry(home)
        for seed in (1, 2, 3):
            registry.register(make_model(tmp_path / f"{phase}-{seed}", seed=seed), name="m")
        registry.promote("m", 1, stage="Production", alias="champion")
        if phase.startswith("promote"):
            proc = run_cli(
                "promote",
                "m",
                "2",
                "--stage",
                "Production",
                "--alias",
                "champion",
                "--home",
                str(home),
                crash_at=phase,
            )
        else:
            proc = run_cli("delete", "m", "3", "--home", str(home), crash_at=phase)
        if _assert_killed_or_ok(proc):
            hit.add(phase)
        check_reader_view(registry)
        state = registry.state("m")
        production = [v for v, s in state.stages.items() if s == "Production"]
        assert production in ([1], [2])
        # Stage and alias change in one commit: never half of it.
        assert state.aliases["champion"] == production[0]
        if production == [2]:
            assert state.stages[1] == "Archived"
        check_clean_after_repair(registry)
        assert not (registry.layout.version_model("m", 3).exists() and 3 in registry.state("m").deleted)
    assert hit == set(PROMOTE_PHASES + DELETE_PHASES)


def test_sigkill_during_gc(tmp_path: Path) -> None:
    for phase in GC_PHASES:
        home = tmp_path / f"home-{phase}"
        registry = FileRegistry(home)
        for seed in (1, 2, 3):
            registry.register(make_model(tmp_path / f"{phase}-{seed}", seed=seed), name="m")
        registry.delete("m", 2)
        registry.delete("m", 3)
        proc = run_cli("gc", "--home", str(home), crash_at=phase)
        assert proc.returncode == -signal.SIGKILL
        check_reader_view(registry)
        check_clean_after_repair(registry)


# ---------------------------------------------------------------------- crashes at random points
#
# Where a process dies is chosen at random (seeded; MODELPACK_TEST_SEED replays another run)
# among the named crash points, so every verdict is exact and the same on a fast machine and a
# busy one: the process dies exactly there, and what a reader then sees follows from the point.

#: Points inside loops (once per file not yet stored). Every model in these tests has its own
#: seed, so its MLmodel, model.pkl and weights.bin are new: the N-th visit for N <= 3 happens.
LOOP_PHASES = ("register.blob_partial", "register.blob_written")
#: Points after the commit: the change is visible even though the process died.
COMMITTED = ("register.committed", "register.finishing", "promote.committed", "promote.finishing")


def _seeded_rng(default: int) -> tuple[random.Random, int]:
    seed = int(os.environ.get("MODELPACK_TEST_SEED", default))
    return random.Random(seed), seed


def _crash_point(rng: random.Random, phases: tuple[str, ...]) -> str:
    phase = rng.choice(phases)
    return f"{phase}#{rng.randint(1, 3)}" if phase in LOOP_PHASES else phase


def _live(registry: FileRegistry, name: str) -> list[int]:
    return [v.version for v in registry.list_versions(name)]


def _view(registry: FileRegistry, name: str) -> tuple[dict[int, str], dict[str, int]]:
    state = registry.state(name)
    return dict(state.stages), dict(state.aliases)


def test_random_sigkills_during_register_and_promote(tmp_path: Path, _isolate: Path) -> None:
    """Registers and promotes killed at random crash points, some left to finish, and some killed
    at a random moment instead (those may land anywhere, even before the operation starts or
    after it ends, so only their consistency is checked, never how many landed)."""
    rng, seed = _seeded_rng(1234)
    registry = FileRegistry(_isolate)
    registry.register(make_model(tmp_path / "base", seed=0, payload=os.urandom(1 << 20)), name="m")
    for i in range(40):
        live, (stages, aliases) = _live(registry, "m"), _view(registry, "m")
        mode = rng.choices(["point", "moment", "finish"], weights=[6, 2, 1])[0]
        crash_at = None
        if i % 3 == 2:
            # Every choice moves the alias or the stage, so every promote crash point is reached.
            version, stage = rng.choice(
                [
                    (v, s)
                    for v in live
                    for s in ("Production", "Staging")
                    if aliases.get("a") != v or stages.get(v) != s
                ]
            )
            crash_at = _crash_point(rng, PROMOTE_PHASES) if mode == "point" else None
            argv = ["promote", "m", str(version), "--stage", stage, "--alias", "a"]
        else:
            payload = os.urandom(rng.randint(1, 4) << 20)
            folder = make_model(tmp_path / f"r{i}", seed=i + 1, payload=payload)
            crash_at = _crash_point(rng, REGISTER_PHASES) if mode == "point" else None
            argv = ["register", str(folder), "--name", "m"]
        context = (seed, i, mode, crash_at, argv)
        env = {**os.environ, CRASH_ENV: crash_at} if crash_at else None
        proc = subprocess.Popen(
            modelpack_cmd(*argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        if mode == "moment":
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=rng.uniform(0.0, 1.5))
            proc.send_signal(signal.SIGKILL)  # no-op once it has exited
        _, stderr = proc.communicate(timeout=300)
        killed = proc.returncode == -signal.SIGKILL
        if mode == "point":
            assert killed, (context, proc.returncode, stderr)
        else:
            assert killed or proc.returncode == 0, (context, proc.returncode, stderr)

        check_reader_view(registry)
        if mode != "moment":
            done = not killed or (crash_at or "").partition("#")[0] in COMMITTED
            if argv[0] == "register":
                assert len(_live(registry, "m")) == len(live) + done, context
            elif done:
                new_stages, new_aliases = _view(registry, "m")
                assert new_aliases["a"] == version and new_stages[version] == stage, context
            else:
                assert _view(registry, "m") == (stages, aliases), context
        if i % 10 == 9:
            assert run_doctor(registry).consistent, context
    check_clean_after_repair(registry)


def test_random_sigkills_among_concurrent_writers(tmp_path: Path, _isolate: Path) -> None:
    """Six writers race; three of them, chosen at random, die at a random crash point."""
    rng, seed = _seeded_rng(99)
    registry = FileRegistry(_isolate)
    # The model exists before the race, so every writer takes the same path through the crash
    # points (creating a model's first version has no journal and skips some of them).
    registry.register(make_model(tmp_path / "first", seed=10_000), name="crowd")  # shares no file
    expected = 1
    for round_ in range(4):
        doomed = set(rng.sample(range(6), 3))
        crash_points = {i: _crash_point(rng, REGISTER_PHASES) for i in sorted(doomed)}
        procs = []
        for i in range(6):
            folder = make_model(
                tmp_path / f"c{round_}-{i}", seed=100 * round_ + i, payload=os.urandom(1 << 20)
            )
            env = {**os.environ, CRASH_ENV: crash_points[i]} if i in crash_points else None
            procs.append(
                subprocess.Popen(
                    modelpack_cmd("register", str(folder), "--name", "crowd"),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=env,
                )
            )
        for i, proc in enumerate(procs):
            _, stderr = proc.communicate(timeout=300)
            wanted = -signal.SIGKILL if i in crash_points else 0
            assert proc.returncode == wanted, (seed, round_, i, crash_points.get(i), stderr)
        expected += 6 - len(crash_points)
        expected += sum(point.partition("#")[0] in COMMITTED for point in crash_points.values())
        seen = check_reader_view(registry)
        assert len(seen["crowd"]) == expected, (seed, round_, crash_points, seen)
    check_clean_after_repair(registry)


# ---------------------------------------------------------------------- full disk and permissions


def _snapshot(home: Path) -> dict[str, bytes]:
    return {
        p.relative_to(home).as_posix(): p.read_bytes()
        for p in sorted(home.rglob("*"))
        if p.is_file() and p.parent.name != "locks"
    }


def _limit_file_size(limit: int) -> Callable[[], None]:
    def preexec() -> None:
        # Writes past the limit then fail with EFBIG, like a full disk, instead of killing us.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


def test_full_disk_while_storing_files_leaves_registry_unchanged(tmp_path: Path, _isolate: Path) -> None:
    registry = FileRegistry(_isolate)
    registry.register(make_model(tmp_path / "a", seed=1), name="m")
    before = _snapshot(_isolate)
    big = make_model(tmp_path / "big", seed=2, payload=os.urandom(2 << 20))
    proc = run_cli("register", str(big), "--name", "m", preexec_fn=_limit_file_size(1 << 20))
    assert proc.returncode == 1, proc.stderr
    assert "File too large" in one_line(proc.stderr) and "left unchanged" in one_line(proc.stderr)
    assert "Traceback" not in one_line(proc.stderr)
    assert _snapshot(_isolate) == before
    assert run_doctor(registry).findings == []


def test_full_disk_while_logging_the_commit_rolls_back(tmp_path: Path, _isolate: Path) -> None:
    registry = FileRegistry(_isolate)
    registry.register(make_model(tmp_path / "a", seed=1), name="m")
    for i in range(40):  # grow the event log past the size of every other file
        registry.promote("m", 1, stage=["Staging", "Production"][i % 2])
    log_size = registry.layout.events("m").stat().st_size
    before = _snapshot(_isolate)
    limit = log_size + 40  # the next event line cannot fit
    for args in (
        ("register", str(make_model(tmp_path / "b", seed=2)), "--name", "m"),
        ("promote", "m", "1", "--stage", "Archived"),
        ("promote", "m", "1", "--alias", "champion"),
    ):
        proc = run_cli(*args, preexec_fn=_limit_file_size(limit))
        assert proc.returncode == 1, (args, proc.stderr)
        assert "left unchanged" in one_line(proc.stderr)
        assert _snapshot(_isolate) == before, args
    assert run_doctor(registry).findings == []
    assert run_cli("register", str(tmp_path / "b"), "--name", "m", "--field", "version").stdout == "2\n"


@contextlib.contextmanager
def _deny_writes(folder: Path) -> Iterator[None]:
    """Make ``folder`` refuse new entries: chmod for normal users; root ignores modes, so use
    the immutable attribute (EPERM even for root), and skip where that is unavailable."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if (
        shutil.which("chattr") is None
        or subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode
    ):
        pytest.skip("running as root without chattr +i: cannot make a folder unwritable")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


@pytest.mark.parametrize("where", ["model folder", "blob store"])
def test_permission_error_is_clean(tmp_path: Path, _isolate: Path, where: str) -> None:
    registry = FileRegistry(_isolate)
    registry.register(make_model(tmp_path / "a", seed=1), name="m")
    before = _snapshot(_isolate)
    if where == "model folder":
        target, args = registry.layout.model("m"), ("promote", "m", "1", "--stage", "Production")
    else:
        target = registry.layout.blobs
        args = ("register", str(make_model(tmp_path / "b", seed=2, payload=b"new content")), "--name", "m")
    with _deny_writes(target):
        proc = run_cli(*args)
    assert proc.returncode == 1, proc.stderr
    assert "Permission denied" in one_line(proc.stderr) or "Operation not permitted" in one_line(
        proc.stderr
    ), proc.stderr
    assert "left unchanged" in one_line(proc.stderr) and "Traceback" not in one_line(proc.stderr)
    assert _snapshot(_isolate) == before
    assert run_doctor(registry).findings == []


def test_corrupt_metadata_in_a_subprocess(tmp_path: Path, _isolate: Path) -> None:
    registry = FileRegistry(_isolate)
    registry.register(make_model(tmp_path / "a", seed=1), name="m")
    registry.layout.version_file("m", 1).write_text("{ truncated")
    proc = run_cli("list", "m")
    assert proc.returncode == 1
    assert "version.json is corrupt" in one_line(proc.stderr) and "Traceback" not in one_line(proc.stderr)
    doctor = run_cli("doctor", "--json")
    assert doctor.returncode == 3
    assert json.loads(doctor.stdout)["data"]["findings"][0]["path"] == "models/m/versions/1/version.json"


def test_nothing_is_written_outside_home(tmp_path: Path, _isolate: Path) -> None:
    folder = make_model(tmp_path / "src", seed=1)
    for name in ("../escape", "..", "a/../../b", "/tmp/abs", "x\x01y"):
        proc = run_cli("register", str(folder), "--name", name)
        assert proc.returncode == 2, (name, proc.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


MLFLOW_PYTHON_ENV = "MODELPACK_MLFLOW_PYTHON"


@pytest.mark.interop
def test_mlflow_loads_a_stored_version_directly(tmp_path: Path, _isolate: Path) -> None:
    """The version folder behind models:/NAME@ALIAS is a plain MLmodel folder MLflow can load."""
    mlflow_python = os.environ.get(MLFLOW_PYTHON_ENV, sys.executable)
    probe = subprocess.run([mlflow_python, "-c", "import mlflow.pyfunc"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"no MLflow; set {MLFLOW_PYTHON_ENV} to a Python that has it")
    registry = FileRegistry(_isolate)
    registry.register(make_model(tmp_path / "m", seed=2), name="iris", alias="champion")
    from modelpack.target import resolve_target

    folder = resolve_target("models:/iris@champion", home=_isolate).path
    script = (
        "import sys, mlflow.pyfunc, pandas as pd\n"
        "model = mlflow.pyfunc.load_model(sys.argv[1])\n"
        "print(list(model.predict(pd.DataFrame({'x': [1.0, 2.0]}))))\n"
    )
    env = {
        **os.environ,
        "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true",
        "MLFLOW_TRACKING_URI": f"file:{tmp_path}/mlruns",
    }
    proc = subprocess.run(
        [mlflow_python, "-c", script, str(folder)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[3.0, 6.0]"
