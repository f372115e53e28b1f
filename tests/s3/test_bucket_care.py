"""``modelpack doctor`` and ``modelpack gc`` on an ``s3://`` registry, against a real SeaweedFS.

Damage is made the way it happens: by writing, rewriting and deleting objects in the bucket with
boto3, or by killing a register at a named crash point. Every command runs as a real process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from modelpack.registry.faults import BUCKET_DOCTOR_PHASES, BUCKET_GC_PHASES
from tests.conftest import modelpack_cmd
from tests.registry_models import make_model

pytestmark = pytest.mark.s3

NAME = "iris"


class Bucket:
    """The registry's objects, read and damaged directly with boto3."""

    def __init__(self, s3_home: Any) -> None:
        self.client = s3_home.client
        rest = s3_home.url.removeprefix("s3://")
        self.bucket, _, self.prefix = rest.partition("/")

    def key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def keys(self, relative_prefix: str = "") -> list[str]:
        found = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.key(relative_prefix)}
        while True:
            page = self.client.list_objects_v2(**kwargs)
            found += [o["Key"][len(self.key("")) :] for o in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return found
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    def get(self, relative: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.bucket, Key=self.key(relative))["Body"].read())

    def get_json(self, relative: str) -> dict[str, Any]:
        return dict(json.loads(self.get(relative)))

    def put(self, relative: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.key(relative), Body=data)

    def put_json(self, relative: str, document: dict[str, Any]) -> None:
        self.put(relative, (json.dumps(document, indent=2, sort_keys=True) + "\n").encode())

    def delete(self, relative: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(relative))

    def exists(self, relative: str) -> bool:
        return relative in self.keys(relative)


def blob(sha: str) -> str:
    return f"blobs/sha256/{sha[:2]}/{sha}"


def version_file(version: int) -> str:
    return f"models/{NAME}/versions/{version:010d}.json"


MODEL_FILE = f"models/{NAME}/model.json"


@pytest.fixture
def bucket(s3_home: Any) -> Bucket:
    return Bucket(s3_home)


@pytest.fixture
def cli(s3_home: Any, tmp_path: Path):
    """Run modelpack against the bucket registry in a real process."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env = {**base, **s3_home.env, "MODELPACK_HOME": s3_home.url, "MODELPACK_CACHE": str(tmp_path / "cache")}

    def run(
        *args: str, crash_at: str | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        extra = {"MODELPACK_TEST_CRASH_AT": crash_at} if crash_at else {}
        return subprocess.run(
            modelpack_cmd(*args),
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    run.env = env  # type: ignore[attr-defined]
    return run


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def doctor(cli: Any, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli("doctor", "--json", *args)
    envelope = json.loads(result.stdout)
    assert envelope["exit_code"] == result.returncode, result.stderr
    return result.returncode, envelope["data"]


def kinds(report: dict[str, Any], *, repaired: bool | None = None) -> set[str]:
    return {f["kind"] for f in report["findings"] if repaired is None or f["repaired"] == repaired}


def assert_clean(cli: Any) -> dict[str, Any]:
    code, report = doctor(cli)
    assert code == 0, report["findings"]
    assert report["findings"] == [], report["findings"]
    return report


def manifest_of(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / "modelpack.manifest.json").read_text())["files"])


@pytest.fixture
def models(tmp_path: Path) -> list[Path]:
    """Three model folders; they share their loader and environment files."""
    return [make_model(tmp_path / f"m{i}", seed=i, payload=bytes([i + 1]) * 2000) for i in range(3)]


@pytest.fixture
def three(cli: Any, models: list[Path]) -> list[Path]:
    """iris v1..v3, v3 under the alias champion and v2 in Production."""
    ok(cli("register", str(models[0]), "--name", NAME))
    ok(cli("register", str(models[1]), "--name", NAME))
    ok(cli("register", str(models[2]), "--name", NAME, "--alias", "champion"))
    ok(cli("promote", NAME, "2", "--stage", "Production"))
    return models


# ---------------------------------------------------------------------- doctor


def test_doctor_is_clean_on_a_fresh_registry(cli: Any, three: list[Path]) -> None:
    report = assert_clean(cli)
    files = sum(len(manifest_of(m)) for m in three)
    distinct = {e["sha256"] for m in three for e in manifest_of(m).values()}
    assert report["models"] == 1
    assert report["versions"] == 3
    assert report["files_checked"] == files
    assert report["blobs_checked"] == len(distinct) + 3  # the file blobs, each once, and 3 manifests
    assert report["bytes_hashed"] >= sum(e["size"] for m in three for e in manifest_of(m).values())
    human = ok(cli("doctor"))
    assert "registry consistent: 1 model, 3 versions" in human.stdout


def test_a_flipped_byte_in_a_blob_is_an_error_naming_the_file(
    cli: Any, bucket: Bucket, three: list[Path]
) -> None:
    sha = manifest_of(three[1])["model.pkl"]["sha256"]
    data = bytearray(bucket.get(blob(sha)))
    data[len(data) // 2] ^= 0x01
    bucket.put(blob(sha), bytes(data))
    result = cli("doctor")
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"ERROR digest_mismatch: {blob(sha)}: {NAME} v2: model.pkl" in result.stdout
    assert "DAMAGED (1 error)" in result.stdout
    # Nothing can repair it: the bucket holds no other copy.
    code, report = doctor(cli, "--repair")
    assert code == 3
    assert kinds(report, repaired=False) == {"digest_mismatch"}


def test_a_deleted_blob_is_an_error_naming_the_file(cli: Any, bucket: Bucket, three: list[Path]) -> None:
    sha = manifest_of(three[0])["model.pkl"]["sha256"]
    bucket.delete(blob(sha))
    code, report = doctor(cli)
    assert code == 3
    [finding] = report["findings"]
    assert finding["kind"] == "missing_files"
    assert f"{NAME} v1: model.pkl is missing" in finding["message"]


def test_a_deleted_manifest_blob_is_an_error(cli: Any, bucket: Bucket, three: list[Path]) -> None:
    record = bucket.get_json(version_file(3))
    bucket.delete(blob(record["manifest_sha256"]))
    code, report = doctor(cli)
    assert code == 3
    assert kinds(report) == {"missing_files"}
    assert f"the manifest of {NAME} v3 is missing" in report["findings"][0]["message"]


def test_a_version_record_with_a_bad_key_is_an_error(cli: Any, bucket: Bucket, three: list[Path]) -> None:
    record = bucket.get_json(version_file(2))
    record["digestz"] = record.pop("digest")
    bucket.put_json(version_file(2), record)
    bucket.put(f"models/{NAME}/versions/notes.json", b"{}")
    code, report = doctor(cli)
    assert code == 3
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert [(f["kind"], f["path"]) for f in errors] == [("corrupt_metadata", version_file(2))]
    assert "missing key 'digest'" in errors[0]["message"]
    assert "unknown key 'digestz'" in errors[0]["message"]
    strays = [f for f in report["findings"] if f["kind"] == "unexpected_entry"]
    assert [f["path"] for f in strays] == [f"models/{NAME}/versions/notes.json"]
    # Unreadable references: no blob may be called an orphan.
    assert "orphan_blob" not in kinds(report)


def test_a_record_describing_another_version_is_an_error(cli: Any, bucket: Bucket, three: list[Path]) -> None:
    bucket.put(version_file(2), bucket.get(version_file(1)))
    code, report = doctor(cli)
    assert code == 3
    assert any(f"the record of {NAME} v2 describes {NAME} v1" in f["message"] for f in report["findings"])


def test_a_register_killed_after_its_claim_is_folded_in_by_repair(
    cli: Any, bucket: Bucket, models: list[Path]
) -> None:
    ok(cli("register", str(models[0]), "--name", NAME))
    killed = cli("register", str(models[1]), "--name", NAME, crash_at="register.claimed")
    assert killed.returncode == -9
    assert bucket.exists(version_file(2))
    code, report = doctor(cli)
    assert code == 3
    # The register died before it indexed its digest too.
    assert kinds(report) == {"event_missing", "unfolded_version", "stale_index"}
    assert bucket.get_json(MODEL_FILE)["latest"] == 1

    code, report = doctor(cli, "--repair")
    assert code == 0, report["findings"]
    assert kinds(report, repaired=True) == {"event_missing", "unfolded_version", "stale_index"}
    assert bucket.get_json(MODEL_FILE)["latest"] == 2
    assert_clean(cli)
    history = json.loads(ok(cli("history", NAME, "--json")).stdout)["data"]["events"]
    registered = [e for e in history if e["event"] == "registered"]
    assert [e["version"] for e in registered] == [1, 2]
    assert registered[1]["digest"] == bucket.get_json(version_file(2))["digest"]
    # The version is usable, and the next register takes the next number.
    assert ok(cli("list", f"models:/{NAME}/2", "--field", "version")).stdout.strip() == "2"
    assert ok(cli("register", str(models[2]), "--name", NAME, "--field", "version")).stdout.strip() == "3"
    assert_clean(cli)


def test_a_first_register_killed_before_its_commit_is_repaired(
    cli: Any, bucket: Bucket, models: list[Path]
) -> None:
    ok(cli("register", str(models[2]), "--name", "other"))  # so the registry exists
    killed = cli("register", str(models[0]), "--name", NAME, crash_at="register.claimed")
    assert killed.returncode == -9
    assert not bucket.exists(MODEL_FILE)
    code, report = doctor(cli)
    assert code == 3
    assert "corrupt_metadata" in kinds(report)
    code, report = doctor(cli, "--repair")
    assert code == 0, report["findings"]
    assert_clean(cli)
    assert ok(cli("list", NAME, "--field", "version")).stdout.split() == ["1"]


def test_a_missing_registered_event_is_written_from_the_record(
    cli: Any, bucket: Bucket, three: list[Path]
) -> None:
    batch_key = f"models/{NAME}/events/0000000001.json"
    batch = bucket.get_json(batch_key)
    assert [e["event"] for e in batch["events"]] == ["registered"]
    batch["events"] = []
    bucket.put_json(batch_key, batch)
    code, report = doctor(cli)
    assert code == 3
    [finding] = report["findings"]
    assert finding["kind"] == "event_missing"
    assert f"no 'registered' event for {NAME} v1" in finding["message"]
    code, report = doctor(cli, "--repair")
    assert code == 0
    assert_clean(cli)
    history = json.loads(ok(cli("history", NAME, "--version", "1", "--json")).stdout)["data"]["events"]
    assert [e["event"] for e in history] == ["registered"]
    record = bucket.get_json(version_file(1))
    assert {k: history[0][k] for k in ("digest", "size", "source", "user", "host", "time")} == {
        "digest": record["digest"],
        "size": record["size"],
        "source": record["source"],
        "user": record["user"],
        "host": record["host"],
        "time": record["created"],
    }


def test_unflushed_events_are_written_by_repair(cli: Any, bucket: Bucket, three: list[Path]) -> None:
    head = bucket.get_json(MODEL_FILE)
    revision = head["events"]["revision"]
    batch_key = f"models/{NAME}/events/{revision:010d}.json"
    before = bucket.get_json(batch_key)
    bucket.delete(batch_key)  # as if the writer died between its commit and copying the events out
    code, report = doctor(cli)
    assert code == 0
    assert kinds(report) == {"unflushed_events"}
    code, report = doctor(cli, "--repair")
    assert kinds(report, repaired=True) == {"unflushed_events"}
    assert bucket.get_json(batch_key) == before
    assert_clean(cli)


def test_lost_history_is_an_error_repair_cannot_fix(cli: Any, bucket: Bucket, three: list[Path]) -> None:
    bucket.delete(f"models/{NAME}/events/0000000002.json")
    code, report = doctor(cli, "--repair")
    assert code == 3
    lost = [f for f in report["findings"] if f["kind"] == "events_missing"]
    assert len(lost) == 1 and not lost[0]["repaired"]
    assert "revisions 2 of iris are lost" in lost[0]["message"]


def test_latest_behind_the_records_is_folded_in(cli: Any, bucket: Bucket, three: list[Path]) -> None:
    head = bucket.get_json(MODEL_FILE)
    head["latest"] = 1
    bucket.put_json(MODEL_FILE, head)
    code, report = doctor(cli)
    assert code == 0
    [finding] = report["findings"]
    assert finding["kind"] == "unfolded_version"
    assert "v2-3 claimed but not folded into model.json" in finding["message"]
    code, report = doctor(cli, "--repair")
    assert kinds(report, repaired=True) == {"unfolded_version"}
    after = bucket.get_json(MODEL_FILE)
    assert after["latest"] == 3
    assert after["state"]["aliases"] == {"champion": 3}
    assert after["state"]["stages"] == {"2": "Production"}
    assert_clean(cli)


def test_a_hole_in_the_version_numbers_is_an_error(cli: Any, bucket: Bucket, three: list[Path]) -> None:
    bucket.delete(version_file(2))
    code, report = doctor(cli, "--repair")
    assert code == 3
    messages = [f["message"] for f in report["findings"] if f["severity"] == "error" and not f["repaired"]]
    assert any("the records of iris v2 are missing" in m for m in messages)
    assert any("stage of missing v2" in m for m in messages) is False  # repaired: the stage went
    assert "dangling_reference" in kinds(report, repaired=True)


def test_stages_and_aliases_of_missing_versions_are_removed_with_events(
    cli: Any, bucket: Bucket, three: list[Path]
) -> None:
    head = bucket.get_json(MODEL_FILE)
    head["state"]["aliases"]["ghost"] = 9
    head["state"]["stages"]["7"] = "Staging"
    bucket.put_json(MODEL_FILE, head)
    code, report = doctor(cli)
    assert code == 3
    [finding] = report["findings"]
    assert finding["kind"] == "dangling_reference"
    assert "alias 'ghost' -> missing v9" in finding["message"]
    assert "stage of missing v7" in finding["message"]
    code, report = doctor(cli, "--repair")
    assert code == 0
    state = bucket.get_json(MODEL_FILE)["state"]
    assert state["aliases"] == {"champion": 3}
    assert state["stages"] == {"2": "Production"}
    assert_clean(cli)
    events = json.loads(ok(cli("history", NAME, "--json")).stdout)["data"]["events"]
    removals = [(e["event"], e["version"]) for e in events if "doctor --repair" in str(e.get("reason"))]
    assert sorted(removals) == [("alias_removed", 9), ("stage_changed", 7)]


def test_stale_digest_entries_are_fixed(cli: Any, bucket: Bucket, three: list[Path]) -> None:
    digest = bucket.get_json(version_file(2))["digest"].split(":")[1]
    entry_key = f"models/{NAME}/digests/{digest}.json"
    entry = bucket.get_json(entry_key)
    entry["version"] = 1  # another version's content
    bucket.put_json(entry_key, entry)
    other = "ab" * 32
    bucket.put_json(
        f"models/{NAME}/digests/{other}.json",
        {"format_version": 1, "digest": f"sha256:{other}", "version": 3},
    )
    code, report = doctor(cli)
    assert code == 0
    assert kinds(report) == {"stale_index"}
    assert "2 digest-index entries" in report["findings"][0]["message"]
    ok(cli("doctor", "--repair"))
    assert bucket.get_json(entry_key)["version"] == 2
    assert not bucket.exists(f"models/{NAME}/digests/{other}.json")
    assert_clean(cli)
    # The index works again: the same content is not minted twice.
    again = ok(cli("register", str(three[1]), "--name", NAME, "--json"))
    assert json.loads(again.stdout)["data"]["already_registered"] is True


def test_a_corrupt_model_json_is_an_error_and_repair_leaves_it(
    cli: Any, bucket: Bucket, three: list[Path]
) -> None:
    bucket.put(MODEL_FILE, b'{"format_version": 1, "state": {}, ')
    code, report = doctor(cli, "--repair")
    assert code == 3
    assert [f["path"] for f in report["findings"] if f["severity"] == "error"] == [MODEL_FILE]
    assert "not valid JSON" in report["findings"][0]["message"]


def test_doctor_on_a_missing_registry_exits_4(cli: Any) -> None:
    result = cli("doctor")
    assert result.returncode == 4
    assert "no registry at s3://" in result.stderr


# ---------------------------------------------------------------------- gc


def test_gc_frees_a_deleted_versions_blobs_after_the_grace_period(
    cli: Any, bucket: Bucket, three: list[Path]
) -> None:
    ok(cli("delete", NAME, "1"))
    first = manifest_of(three[0])
    record = bucket.get_json(version_file(1))
    others = {e["sha256"] for m in three[1:] for e in manifest_of(m).values()}
    unique = {e["sha256"] for e in first.values()} - others
    shared = {e["sha256"] for e in first.values()} & others
    assert unique and shared
    garbage = {*unique, record["manifest_sha256"]}
    blobs_before = set(bucket.keys("blobs/"))

    young = json.loads(ok(cli("gc", "--json")).stdout)["data"]  # default grace: a day
    assert young["removed_blobs"] == 0
    assert set(bucket.keys("blobs/")) == blobs_before

    dry = json.loads(ok(cli("gc", "--dry-run", "--grace", "0", "--json")).stdout)["data"]
    assert dry["dry_run"] is True
    assert dry["removed_blobs"] == len(garbage)
    assert set(bucket.keys("blobs/")) == blobs_before

    done = ok(cli("gc", "--grace", "0"))
    assert f"removed {len(garbage)} unreferenced blobs" in done.stdout
    after = set(bucket.keys("blobs/"))
    assert after == blobs_before - {blob(s) for s in garbage}
    assert {blob(s) for s in shared} <= after
    assert_clean(cli)
    # The versions left still check out and verify.
    ok(cli("inspect", f"models:/{NAME}/2"))


def test_gc_removes_probes_and_incomplete_uploads(cli: Any, bucket: Bucket, three: list[Path]) -> None:
    bucket.put(".probe/0123abcd", b"1")
    bucket.client.create_multipart_upload(Bucket=bucket.bucket, Key=bucket.key(blob("cd" * 32)))
    data = json.loads(ok(cli("gc", "--json")).stdout)["data"]
    assert data["removed_temp"] == 0
    data = json.loads(ok(cli("gc", "--grace", "0s", "--json")).stdout)["data"]
    assert data["removed_temp"] == 2
    assert bucket.keys(".probe/") == []
    uploads = bucket.client.list_multipart_uploads(Bucket=bucket.bucket, Prefix=bucket.key(""))
    assert not uploads.get("Uploads")


def test_gc_removes_nothing_when_a_manifest_is_unreadable(
    cli: Any, bucket: Bucket, three: list[Path]
) -> None:
    ok(cli("delete", NAME, "1"))
    bucket.delete(blob(bucket.get_json(version_file(2))["manifest_sha256"]))
    before = set(bucket.keys("blobs/"))
    result = cli("gc", "--grace", "0")
    assert result.returncode == 1
    assert "cannot tell which blobs iris v2 uses: the manifest of iris v2 is missing" in result.stderr
    assert "gc removed nothing" in result.stderr
    assert set(bucket.keys("blobs/")) == before


def test_gc_killed_after_a_removal_leaves_a_consistent_registry(
    cli: Any, bucket: Bucket, three: list[Path]
) -> None:
    ok(cli("delete", NAME, "1"))
    killed = cli("gc", "--grace", "0", crash_at="gc.blob_removed")
    assert killed.returncode == -9
    code, report = doctor(cli)
    assert code == 0
    assert kinds(report) == {"orphan_blob"}
    ok(cli("gc", "--grace", "0"))
    assert_clean(cli)


def test_grace_takes_units_and_is_refused_for_a_local_registry(cli: Any, tmp_path: Path) -> None:
    bad = cli("gc", "--grace", "soon")
    assert bad.returncode == 2
    assert "--grace 'soon'" in bad.stderr
    local = subprocess.run(
        modelpack_cmd("gc", "--grace", "1h", "--home", str(tmp_path / "local")),
        env=cli.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert local.returncode == 2
    assert "--grace applies to s3:// registries only" in local.stderr


def test_a_register_refreshes_an_old_blob_it_reuses(
    s3_home: Any, bucket: Bucket, models: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """So gc, which keeps only what is younger than its grace period, never takes it for garbage."""
    from modelpack.config import parse_home
    from modelpack.registry import remote

    registry = remote.S3Registry(parse_home(s3_home.url), cache=tmp_path / "cache")
    registry.register(models[0], name="first")
    shas = [
        manifest_of(models[0])["model.pkl"]["sha256"],
        bucket.get_json("models/first/versions/0000000001.json")["manifest_sha256"],
    ]

    def heads() -> list[dict[str, Any]]:
        return [bucket.client.head_object(Bucket=bucket.bucket, Key=bucket.key(blob(sha))) for sha in shas]

    before = [h["LastModified"] for h in heads()]
    time.sleep(1.5)  # LastModified has whole seconds
    registry.register(models[0], name="second")  # younger than REFRESH_AGE: reused as it is
    assert [h["LastModified"] for h in heads()] == before
    monkeypatch.setattr(remote, "REFRESH_AGE", 1.0)
    registry.register(models[0], name="third")
    after = heads()
    assert all(h["LastModified"] > b for h, b in zip(after, before, strict=True))
    assert [h["Metadata"] for h in after] == [{"sha256": sha} for sha in shas]


@pytest.mark.slow
def test_gc_beside_a_running_register_never_removes_what_it_needs(
    cli: Any, bucket: Bucket, three: list[Path], tmp_path: Path
) -> None:
    """A register uploading new content while gc runs again and again with a short grace."""
    grace = 4
    ok(cli("delete", NAME, "1"))
    time.sleep(grace + 1.5)  # v1's blobs are garbage by now
    big = make_model(tmp_path / "big", seed=7, payload=os.urandom(40 * 1024 * 1024))  # multipart
    register = subprocess.Popen(
        modelpack_cmd("register", str(big), "--name", NAME),
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    runs = 0
    removed = 0
    while register.poll() is None or runs == 0:
        data = json.loads(ok(cli("gc", "--grace", str(grace), "--json")).stdout)["data"]
        removed += data["removed_blobs"]
        runs += 1
    out, err = register.communicate(timeout=120)
    assert register.returncode == 0, out + err
    assert removed >= 1  # gc did remove v1's garbage meanwhile
    assert_clean(cli)
    ok(cli("inspect", f"models:/{NAME}/4"))


# ---------------------------------------------------------------------- killed gc and doctor


@pytest.mark.parametrize("phase", BUCKET_GC_PHASES)
def test_gc_killed_at_any_step_leaves_every_version_whole(
    cli: Any, bucket: Bucket, three: list[Path], phase: str
) -> None:
    ok(cli("delete", NAME, "1"))
    bucket.client.create_multipart_upload(Bucket=bucket.bucket, Key=bucket.key(blob("cd" * 32)))
    killed = cli("gc", "--grace", "0", crash_at=phase)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    code, report = doctor(cli)
    assert code == 0, report["findings"]
    assert kinds(report) <= {"orphan_blob"}
    ok(cli("gc", "--grace", "0"))
    assert_clean(cli)
    for version in (2, 3):
        ok(cli("validate", f"models:/{NAME}/{version}", "--no-load"))


@pytest.mark.parametrize("phase", BUCKET_DOCTOR_PHASES)
def test_doctor_repair_killed_at_its_commit_is_finished_by_the_next(
    cli: Any, bucket: Bucket, three: list[Path], phase: str
) -> None:
    head = bucket.get_json(MODEL_FILE)
    head["latest"] = 1
    head["state"]["aliases"]["ghost"] = 9
    bucket.put_json(MODEL_FILE, head)
    killed = cli("doctor", "--repair", crash_at=phase)
    assert killed.returncode == -signal.SIGKILL
    ok(cli("doctor", "--repair"))
    assert_clean(cli)
    events = json.loads(ok(cli("history", NAME, "--json")).stdout)["data"]["events"]
    assert [e["version"] for e in events if e["event"] == "alias_removed"] == [9]  # recorded once


@pytest.mark.slow
def test_doctor_beside_running_registers_finds_no_damage(
    cli: Any, models: list[Path], tmp_path: Path
) -> None:
    """Versions claimed but not yet committed by live registers are not taken for killed ones."""
    ok(cli("register", str(models[0]), "--name", NAME))
    folders = [make_model(tmp_path / f"live{i}", seed=50 + i) for i in range(6)]
    registers = [
        subprocess.Popen(
            modelpack_cmd("register", str(folder), "--name", NAME),
            env=cli.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for folder in folders
    ]
    reports = []
    while any(r.poll() is None for r in registers) or not reports:
        code, report = doctor(cli)
        reports.append(report)
        assert code == 0, report["findings"]
    for register in registers:
        out, err = register.communicate(timeout=120)
        assert register.returncode == 0, out + err
    assert_clean(cli)
