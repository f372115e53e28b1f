"""The registry in a real S3 store (SeaweedFS): every command as on a local home, many writers,
stores that ignore conditional writes, damaged blobs and a damaged cache.

Every CLI call is a real subprocess; concurrency is real processes through two S3 gateways on one
filer (two machines of a team). Verdicts count outcomes, never time.
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ENVELOPE_KEYS, modelpack_cmd
from tests.registry_models import make_model


def mp(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(modelpack_cmd(*args), capture_output=True, text=True, timeout=300, env=env, cwd=cwd)


def mp_json(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = mp(*args, "--json", env=env)
    assert proc.stdout, proc.stderr
    doc = json.loads(proc.stdout)
    assert set(doc) == ENVELOPE_KEYS
    assert doc["exit_code"] == proc.returncode, proc.stderr
    return doc


def keys(s3_home: Any, prefix: str = "") -> list[str]:
    paginator = s3_home.client.get_paginator("list_objects_v2")
    found = []
    for page in paginator.paginate(Bucket=s3_home.bucket, Prefix=f"{s3_home.prefix}/{prefix}"):
        found += [item["Key"] for item in page.get("Contents", [])]
    return found


def test_every_registry_command_works_on_a_bucket(s3_home: Any, packed: Path, tmp_path: Path) -> None:
    assert mp("list").returncode == 4  # no registry yet: as locally, named
    first = mp_json("register", str(packed), "--name", "churn", "--tag", "team=growth")
    assert first["status"] == "ok" and first["data"]["version"] == 1
    again = mp_json("register", str(packed), "--name", "churn")
    assert again["data"]["already_registered"] is True and again["data"]["version"] == 1
    second = mp_json("register", str(make_model(tmp_path / "other", seed=3)), "--name", "churn")
    assert second["data"]["version"] == 2

    promoted = mp_json("promote", "churn", "1", "--stage", "Production", "--alias", "champion")
    assert promoted["data"]["stage"] == "Production" and promoted["data"]["aliases"] == ["champion"]
    mp_json("promote", "churn", "2", "--stage", "Staging")

    models = mp_json("list")["data"]
    assert [(m["name"], m["latest_version"], m["version_count"]) for m in models["models"]] == [
        ("churn", 2, 2)
    ]
    versions = mp_json("list", "churn")["data"]["versions"]
    assert [(v["version"], v["stage"]) for v in versions] == [(1, "Production"), (2, "Staging")]
    assert versions[0]["tags"] == {"team": "growth"}
    assert mp("list", "models:/churn@champion", "--field", "version").stdout.strip() == "1"
    assert mp("list", "models:/churn/Staging", "--field", "version").stdout.strip() == "2"
    assert mp("list", "models:/churn/latest", "--field", "version").stdout.strip() == "2"

    events = [e["event"] for e in mp_json("history", "churn")["data"]["events"]]
    assert events == ["registered", "registered", "stage_changed", "alias_set", "stage_changed"]

    # The models:/ targets of inspect, validate, predict and diff.
    assert mp("inspect", "models:/churn@champion").returncode == 0
    validated = mp("validate", "models:/churn/Production")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert mp("diff", "models:/churn/1", "models:/churn/2").returncode in (0, 3)

    deleted = mp("delete", "churn", "2")
    assert deleted.returncode == 0, deleted.stderr
    assert mp("list", "churn", "--field", "version").stdout.split() == ["1"]
    assert mp("list", "models:/churn/2").returncode == 4

    missing = mp("list", "nope")
    assert missing.returncode == 4 and "models: churn" in missing.stderr


def test_predict_from_the_bucket_reuses_the_cache(
    s3_home: Any, packed: Path, sample_csv: Path, tmp_path: Path
) -> None:
    mp_json("register", str(packed), "--name", "churn", "--alias", "champion")
    first = mp(
        "predict", "models:/churn@champion", "--data", str(sample_csv), "--output", str(tmp_path / "a.csv")
    )
    assert first.returncode == 0, first.stderr
    # Every blob leaves the bucket: a second predict must be served by the cache alone.
    for key in keys(s3_home, "blobs/"):
        s3_home.client.delete_object(Bucket=s3_home.bucket, Key=key)
    second = mp(
        "predict", "models:/churn@champion", "--data", str(sample_csv), "--output", str(tmp_path / "b.csv")
    )
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_a_damaged_cache_entry_is_detected_and_fetched_again(
    s3_home: Any, packed: Path, sample_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mp_json("register", str(packed), "--name", "churn")
    assert mp("validate", "models:/churn/1").returncode == 0
    cache = tmp_path / "mp-cache"
    blobs = sorted(p for p in (cache / "blobs").rglob("*") if p.is_file())
    assert blobs
    biggest = max(blobs, key=lambda p: p.stat().st_size)
    biggest.chmod(0o644)
    data = bytearray(biggest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    biggest.write_bytes(bytes(data))
    proc = mp("predict", "models:/churn/1", "--data", str(sample_csv), "--output", str(tmp_path / "out.csv"))
    assert proc.returncode == 0, proc.stderr
    import hashlib

    assert hashlib.sha256(biggest.read_bytes()).hexdigest() == biggest.name


def test_a_flipped_byte_in_a_stored_blob_fails_validation_naming_the_file(s3_home: Any, packed: Path) -> None:
    mp_json("register", str(packed), "--name", "churn")
    manifest = json.loads((packed / "modelpack.manifest.json").read_text())
    target, entry = max(manifest["files"].items(), key=lambda kv: kv[1]["size"])
    key = f"{s3_home.prefix}/blobs/sha256/{entry['sha256'][:2]}/{entry['sha256']}"
    body = bytearray(s3_home.client.get_object(Bucket=s3_home.bucket, Key=key)["Body"].read())
    body[0] ^= 0x01
    s3_home.client.put_object(Bucket=s3_home.bucket, Key=key, Body=bytes(body))
    for args in (("validate", "models:/churn/1"), ("predict", "models:/churn/1", "--data", "x.csv")):
        proc = mp(*args)
        assert proc.returncode == 3, proc.stderr
        assert target in proc.stderr and "Traceback" not in proc.stderr


def test_a_store_that_ignores_conditional_writes_is_refused(
    s3_home_ignoring_conditions: Any, packed: Path
) -> None:
    home = s3_home_ignoring_conditions
    proc = mp("register", str(packed), "--name", "churn")
    assert proc.returncode == 1, proc.stderr
    assert "ignores If-None-Match" in proc.stderr and "Traceback" not in proc.stderr
    # Nothing of a registry was written (the probe cleans its scratch key up).
    assert [k for k in keys(home) if "/.probe/" not in k] == []


def test_credentials_are_never_printed_or_stored(s3_home: Any, packed: Path) -> None:
    mp_json("register", str(packed), "--name", "churn")
    secret = s3_home.env["AWS_SECRET_ACCESS_KEY"]
    access = s3_home.env["AWS_ACCESS_KEY_ID"]
    for key in keys(s3_home):
        if "/blobs/" not in key:
            text = s3_home.client.get_object(Bucket=s3_home.bucket, Key=key)["Body"].read().decode()
            assert secret not in text and access not in text
    wrong = {**s3_home.subprocess_env(), "AWS_SECRET_ACCESS_KEY": "wrong-" + secret}
    for args in (("list",), ("list", "--json"), ("register", str(packed), "--name", "x")):
        proc = mp(*args, env=wrong)
        assert proc.returncode == 1, proc.stderr
        assert "credentials" in (proc.stderr + proc.stdout)
        assert secret not in proc.stderr + proc.stdout and "Traceback" not in proc.stderr


def test_a_missing_bucket_is_named(s3_home: Any) -> None:
    env = {**s3_home.subprocess_env(), "MODELPACK_HOME": "s3://no-such-bucket-here/reg"}
    proc = mp("list", env=env)
    assert proc.returncode == 4 and "no-such-bucket-here" in proc.stderr


def test_32_concurrent_registers_through_two_gateways_get_1_to_32(s3_home: Any, tmp_path: Path) -> None:
    gateways = s3_home.server.endpoints
    assert len(gateways) >= 2
    folders = [make_model(tmp_path / f"m{i}", seed=100 + i) for i in range(32)]

    def register(i: int) -> subprocess.CompletedProcess[str]:
        env = s3_home.subprocess_env(gateways[i % 2])
        return mp("register", str(folders[i]), "--name", "race", "--field", "version", env=env)

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(register, range(32)))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results if r.returncode]
    numbers = sorted(int(r.stdout) for r in results)
    assert numbers == list(range(1, 33))
    listed = mp_json("list", "race")["data"]["versions"]
    assert [v["version"] for v in listed] == list(range(1, 33))
    digests = {v["digest"] for v in listed}
    assert len(digests) == 32  # each process's content under its own number, none lost
    history = mp_json("history", "race")["data"]["events"]
    assert sorted(e["version"] for e in history if e["event"] == "registered") == list(range(1, 33))
    doctor = mp_json("doctor")
    assert doctor["exit_code"] == 0 and doctor["data"]["versions"] == 32, doctor["data"]["findings"]


def test_concurrent_promotions_and_alias_moves_lose_no_update(s3_home: Any, tmp_path: Path) -> None:
    for i in range(8):
        mp_json("register", str(make_model(tmp_path / f"m{i}", seed=i)), "--name", "busy")
    gateways = s3_home.server.endpoints

    def change(i: int) -> subprocess.CompletedProcess[str]:
        env = s3_home.subprocess_env(gateways[i % 2])
        version = str(i % 8 + 1)
        if i < 8:
            return mp("promote", "busy", version, "--alias", f"a{i}", env=env)
        return mp("promote", "busy", version, "--stage", "Staging", "--keep-existing", env=env)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(change, range(16)))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results if r.returncode]
    versions = {v["version"]: v for v in mp_json("list", "busy")["data"]["versions"]}
    # Every alias set by a racer is there, on its version; every racer's stage change is there.
    for i in range(8):
        assert f"a{i}" in versions[i % 8 + 1]["aliases"]
        assert versions[i % 8 + 1]["stage"] == "Staging"
    history = mp_json("history", "busy")["data"]["events"]
    assert len([e for e in history if e["event"] == "alias_set"]) == 8
    assert len([e for e in history if e["event"] == "stage_changed"]) == 8
    assert mp("doctor").returncode == 0


def test_the_python_api_works_on_a_bucket(s3_home: Any, packed: Path, mixed_frame: Any) -> None:
    import modelpack

    registry = modelpack.Registry(s3_home.url)
    version = registry.register(packed, name="churn", alias="champion")
    assert version.version == 1
    assert registry.resolve("models:/churn@champion").version == 1
    registry.promote("churn", 1, stage="Production")
    assert registry.resolve("models:/churn/Production").version == 1
    model = modelpack.load_model("models:/churn@champion", home=s3_home.url)
    local = modelpack.load_model(packed)
    assert list(model.predict(mixed_frame)) == list(local.predict(mixed_frame))


def test_large_files_travel_in_parallel_parts_both_ways(s3_home: Any, tmp_path: Path) -> None:
    import hashlib
    import os

    from modelpack.registry.objects import PART_SIZE

    payload = os.urandom(2 * PART_SIZE + 12345)  # three parts up, three ranges down
    folder = make_model(tmp_path / "big", seed=7, payload=payload)
    mp_json("register", str(folder), "--name", "big")
    sha = hashlib.sha256(payload).hexdigest()
    head = s3_home.client.head_object(
        Bucket=s3_home.bucket, Key=f"{s3_home.prefix}/blobs/sha256/{sha[:2]}/{sha}"
    )
    assert head["ContentLength"] == len(payload)
    proc = mp("validate", "models:/big/1", "--no-load")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    local = Path(mp("list", "models:/big/1", "--field", "local_path").stdout.strip())
    assert (local / "weights.bin").read_bytes() == payload


def test_a_file_changed_after_packing_stores_nothing_under_its_claimed_digest(
    s3_home: Any, tmp_path: Path
) -> None:
    import os

    from modelpack.registry.objects import PART_SIZE

    for size in (1000, PART_SIZE + 1):  # one PUT, and a multipart upload that must not complete
        folder = make_model(tmp_path / f"m{size}", seed=size, payload=os.urandom(size))
        manifest = json.loads((folder / "modelpack.manifest.json").read_text())
        claimed = manifest["files"]["weights.bin"]["sha256"]
        (folder / "weights.bin").write_bytes(os.urandom(size))  # same size, other bytes
        proc = mp("register", str(folder), "--name", "m")
        assert proc.returncode == 3 and "weights.bin" in proc.stderr, proc.stderr
        assert not [k for k in keys(s3_home, "blobs/") if k.endswith(claimed)]
        assert not keys(s3_home, "models/")
    uploads = s3_home.client.list_multipart_uploads(Bucket=s3_home.bucket).get("Uploads", [])
    assert uploads == []  # the aborted multipart upload is gone too


def test_the_compatibility_gate_works_on_a_bucket(s3_home: Any, tmp_path: Path) -> None:
    from tests.gate_models import NEW_COLUMN, OLD_COLUMNS, pack_version

    v1, _ = pack_version(tmp_path, "v1", fit_on=OLD_COLUMNS, sample_of=OLD_COLUMNS)
    everything = [*OLD_COLUMNS, NEW_COLUMN]
    v2, _ = pack_version(tmp_path, "v2", fit_on=everything, sample_of=everything)
    for folder in (v1, v2):
        mp_json("register", str(folder), "--name", "gate")
    mp_json("promote", "gate", "1", "--stage", "Production", "--alias", "champion")
    refused = mp("promote", "gate", "2", "--stage", "Production", "--require-compatible")
    assert refused.returncode == 3 and NEW_COLUMN in refused.stderr, refused.stderr
    assert mp("list", "models:/gate/Production", "--field", "version").stdout.strip() == "1"
    forced = mp_json("promote", "gate", "2", "--alias", "champion", "--require-compatible", "--force")
    assert forced["status"] == "ok"
    [event] = [e for e in mp_json("history", "gate")["data"]["events"] if e.get("forced")]
    assert event["alias"] == "champion"


def test_a_store_wanting_bare_etags_in_if_match_works_like_ceph_rgw(
    s3_home_like_rgw: Any, tmp_path: Path
) -> None:
    home = s3_home_like_rgw
    for i in range(3):
        mp_json("register", str(make_model(tmp_path / f"m{i}", seed=i)), "--name", "rgw")
    record = json.loads(
        home.client.get_object(Bucket=home.bucket, Key=f"{home.prefix}/registry.json")["Body"].read()
    )
    assert record["store"] == {"if_match": "bare"}

    def promote(i: int) -> subprocess.CompletedProcess[str]:
        return mp("promote", "rgw", str(i + 1), "--alias", f"a{i}")

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(promote, range(3)))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    aliases = {v["version"]: v["aliases"] for v in mp_json("list", "rgw")["data"]["versions"]}
    assert aliases == {1: ["a0"], 2: ["a1"], 3: ["a2"]}
