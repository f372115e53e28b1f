"""Provenance in a registry in a bucket: the same record, shown the same way, no secret stored.

A real pack in a real git repository, registered to a real S3 server (SeaweedFS) from a
simulated CI job, through the CLI in real processes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cli.test_provenance import CI_SYSTEMS, SECRET, clean_env, data, git, ok, pack
from tests.cli.test_provenance import repo as repo  # the fixture: a committed git repository


def _objects(s3_home: Any) -> dict[str, bytes]:
    client = s3_home.client
    found: dict[str, bytes] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=s3_home.bucket):
        for item in page.get("Contents", []):
            found[item["Key"]] = client.get_object(Bucket=s3_home.bucket, Key=item["Key"])["Body"].read()
    return found


def test_a_bucket_registry_records_and_shows_provenance(s3_home: Any, repo: Path) -> None:
    gh, _ = CI_SYSTEMS["github-actions"]
    jenkins, expected = CI_SYSTEMS["jenkins"]
    pack(repo, "out", clean_env(**gh), "--metric", "auc=0.91", "--training-data", "train.csv")
    env = {**clean_env(**jenkins), **s3_home.env}
    registered = data("register", "out", "--name", "churn", "--param", "depth=4", cwd=repo, env=env)
    ok("promote", "churn", "1", "--stage", "Production", cwd=repo, env=env)

    prov = registered["provenance"]
    assert prov["git"]["commit"] == git(repo, "rev-parse", "HEAD")
    assert prov["ci"]["system"] == "github-actions"
    assert prov["metrics"] == {"auc": 0.91} and prov["params"] == {"depth": "4"}
    assert prov["training_data"]["name"] == "train.csv"
    assert prov["registered_from"]["ci"] == {"system": "jenkins", **expected}

    assert data("inspect", "models:/churn/Production", cwd=repo, env=env)["provenance"] == prov
    assert data("list", "churn", cwd=repo, env=env)["versions"][0]["provenance"] == prov
    shown = ok("inspect", "models:/churn/Production", cwd=repo, env=env).stdout
    assert prov["git"]["commit"] in shown and "registered from ci      jenkins run 57 job churn" in shown
    listing = ok("list", "churn", cwd=repo, env=env).stdout
    assert f"{prov['git']['commit'][:12]} github-actions 9876543210" in listing
    event = data("history", "churn", cwd=repo, env=env)["events"][0]
    assert event["provenance"] == {"git": prov["git"], "ci": prov["ci"]}
    ok("doctor", cwd=repo, env=env)  # exit 0: the record's shape is one doctor knows

    stored = _objects(s3_home)
    records = [json.loads(v) for k, v in stored.items() if "/versions/" in k and k.endswith(".json")]
    assert records and records[0]["provenance"] == prov
    secrets = [SECRET, s3_home.env["AWS_SECRET_ACCESS_KEY"]]
    for key, body in stored.items():
        for secret in secrets:
            assert secret.encode() not in body, key
