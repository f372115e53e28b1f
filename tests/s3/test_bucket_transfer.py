"""``copy``, ``export`` and ``import`` between a local registry and a bucket (a real SeaweedFS),
every call a real subprocess: local -> S3 -> local keeps the content, description, tags, origin
and the version record's provenance, and records each hop's exact version."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.cli.test_transfer import built as built  # the fixture: versions with provenance
from tests.conftest import ENVELOPE_KEYS, modelpack_cmd
from tests.registry_models import make_model


def mp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(modelpack_cmd(*args), capture_output=True, text=True, timeout=300)


def mp_json(*args: str) -> dict[str, Any]:
    proc = mp(*args, "--json")
    assert proc.stdout, proc.stderr
    doc = json.loads(proc.stdout)
    assert set(doc) == ENVELOPE_KEYS
    assert doc["exit_code"] == proc.returncode, proc.stderr
    return doc


def bucket_keys(s3_home: Any) -> list[str]:
    paginator = s3_home.client.get_paginator("list_objects_v2")
    found = []
    for page in paginator.paginate(Bucket=s3_home.bucket, Prefix=f"{s3_home.prefix}/"):
        found += [item["Key"] for item in page.get("Contents", [])]
    return sorted(found)


def _local_registry(tmp_path: Path) -> Path:
    home = tmp_path / "local"
    folder = make_model(tmp_path / "m1", seed=1, payload=b"w" * 20_000)
    h = ("--home", str(home))
    assert (
        mp(
            "register", str(folder), "--name", "churn", "--tag", "team=ml", "--description", "d", *h
        ).returncode
        == 0
    )
    assert mp("promote", "churn", "1", "--stage", "Production", "--alias", "champion", *h).returncode == 0
    return home


def test_copy_local_to_bucket_and_back(s3_home: Any, tmp_path: Path) -> None:
    local = _local_registry(tmp_path)
    url = s3_home.url
    up = mp_json("copy", "models:/churn@champion", url, "--home", str(local))
    assert up["status"] == "ok", up
    first_hop = f"{local.absolute()}#models:/churn/1"
    assert up["data"]["source"] == first_hop and up["data"]["home"] == url
    (in_bucket,) = mp_json("list", "churn", "--home", url)["data"]["versions"]
    (original,) = mp_json("list", "churn", "--home", str(local))["data"]["versions"]
    assert in_bucket["digest"] == original["digest"]
    assert in_bucket["manifest_sha256"] == original["manifest_sha256"]
    assert in_bucket["tags"] == {"team": "ml"} and in_bucket["description"] == "d"
    assert in_bucket["origin"]["uri"] == first_hop and in_bucket["origin"]["created"] == original["created"]

    again = mp_json("copy", "models:/churn/Production", url, "--home", str(local))
    assert again["data"]["already_registered"] is True and again["data"]["version"] == 1

    back = tmp_path / "back"
    down = mp_json("copy", "models:/churn/1", str(back), "--home", url, "--name", "churn-back")
    assert down["status"] == "ok", down
    (returned,) = mp_json("list", "churn-back", "--home", str(back))["data"]["versions"]
    assert returned["source"] == f"{url}#models:/churn/1"
    assert returned["origin"]["uri"] == first_hop  # the first registration, through every hop
    assert returned["digest"] == original["digest"]
    assert returned["tags"] == {"team": "ml"} and returned["description"] == "d"
    assert mp("doctor", "--home", str(back)).returncode == 0
    assert mp("validate", "models:/churn-back/1", "--home", str(back), "--no-load").returncode == 0


def test_export_from_a_bucket_import_into_a_bucket(s3_home: Any, tmp_path: Path) -> None:
    local = _local_registry(tmp_path)
    url = s3_home.url
    assert mp("copy", "models:/churn/1", url, "--home", str(local)).returncode == 0
    archive = tmp_path / "churn.tar.gz"
    exported = mp_json("export", "models:/churn/1", "--output", str(archive), "--home", url)
    assert exported["status"] == "ok", exported
    assert exported["data"]["source"] == f"{url}#models:/churn/1"
    other = tmp_path / "other"
    imported = mp_json("import", str(archive), "--home", str(other), "--sha256", exported["data"]["sha256"])
    assert imported["data"]["source"] == f"{url}#models:/churn/1"
    assert imported["data"]["origin"]["uri"] == f"{local.absolute()}#models:/churn/1"

    # A local export into the bucket, under another name; a tampered copy changes nothing there.
    local_archive = tmp_path / "local.tar"
    assert (
        mp("export", "models:/churn/1", "--output", str(local_archive), "--home", str(local)).returncode == 0
    )
    raw = local_archive.read_bytes()
    at = raw.index(b"w" * 1000) + 10
    bad = tmp_path / "bad.tar"
    bad.write_bytes(raw[:at] + b"x" + raw[at + 1 :])
    before = bucket_keys(s3_home)
    refused = mp("import", str(bad), "--home", url, "--name", "incoming")
    assert refused.returncode == 3 and "model/weights.bin" in refused.stderr
    assert bucket_keys(s3_home) == before
    into_bucket = mp_json("import", str(local_archive), "--home", url, "--name", "incoming")
    assert into_bucket["status"] == "ok", into_bucket
    assert into_bucket["data"]["source"] == f"{local.absolute()}#models:/churn/1"
    assert into_bucket["data"]["home"] == url


def test_provenance_survives_every_hop_through_a_bucket(s3_home: Any, built: Any, tmp_path: Path) -> None:
    """churn (registered with --metric, --param, --training-data) and wifi (from runs:/), both
    with registered_from: copy local -> bucket -> local, export from the bucket and import
    locally, export locally and import into the bucket; the provenance is the source's at each."""
    from modelpack import Registry

    local, _ = built
    url = s3_home.url
    for name in ("churn", "wifi"):
        (original,) = mp_json("list", name, "--home", str(local))["data"]["versions"]
        prov = original["provenance"]
        assert {"metrics", "registered_from"} <= set(prov)
        up = mp_json("copy", f"models:/{name}/1", url, "--home", str(local))
        assert up["status"] == "ok", up
        assert up["data"]["provenance"] == prov
        assert Registry(url).get_version(name, 1).provenance == prov  # the bucket's record
        back = tmp_path / f"back-{name}"
        down = mp_json("copy", f"models:/{name}/1", str(back), "--home", url)
        assert down["status"] == "ok", down
        (returned,) = mp_json("list", name, "--home", str(back))["data"]["versions"]
        assert returned["provenance"] == prov

        archive, again = tmp_path / f"{name}.tar.gz", tmp_path / f"{name}-again.tar.gz"
        exported = mp_json("export", f"models:/{name}/1", "--output", str(archive), "--home", url)
        assert exported["status"] == "ok", exported
        assert mp("export", f"models:/{name}/1", "--output", str(again), "--home", url).returncode == 0
        assert again.read_bytes() == archive.read_bytes()
        other = tmp_path / f"other-{name}"
        sha = exported["data"]["sha256"]
        imported = mp_json("import", str(archive), "--home", str(other), "--sha256", sha)
        assert imported["status"] == "ok", imported
        (landed,) = mp_json("list", name, "--home", str(other))["data"]["versions"]
        assert landed["provenance"] == prov

        local_archive = tmp_path / f"{name}-local.tar"
        assert (
            mp("export", f"models:/{name}/1", "--output", str(local_archive), "--home", str(local)).returncode
            == 0
        )
        into_bucket = mp_json("import", str(local_archive), "--home", url, "--name", f"{name}-imported")
        assert into_bucket["status"] == "ok", into_bucket
        assert Registry(url).get_version(f"{name}-imported", 1).provenance == prov

    # A changed byte in the provenance (a metric, still well-formed) changes nothing in the bucket.
    raw = (tmp_path / "churn-local.tar").read_bytes()
    at = raw.index(b'"auc": 0.91') + len('"auc": 0.9')
    bad = tmp_path / "bad.tar"
    bad.write_bytes(raw[:at] + b"9" + raw[at + 1 :])
    before = bucket_keys(s3_home)
    refused = mp("import", str(bad), "--home", url, "--name", "incoming")
    assert refused.returncode == 3, refused.stderr
    assert "modelpack-export.json was changed" in " ".join(refused.stderr.split())
    assert bucket_keys(s3_home) == before
