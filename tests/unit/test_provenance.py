"""The provenance document's pieces: CI detection, the allowlist, merging, the shape doctor checks."""

from __future__ import annotations

from typing import Any

import pytest

from modelpack.provenance.ci import ALLOWLIST, allowed_environment, ci_facts
from modelpack.provenance.record import event_summary, from_mlmodel, merge, problem, short_text
from modelpack.registry import documents

GOOD: dict[str, Any] = {
    "git": {"commit": "a" * 40, "branch": "main", "dirty": False, "remote": "https://h/r.git"},
    "ci": {"system": "gitlab-ci", "run_url": "https://h/p/1", "job": "j", "run_id": "1"},
    "training_data": {"name": "t.csv", "sha256": "b" * 64, "size": 3, "format": "csv", "schema": []},
    "metrics": {"auc": 0.9, "n": 3},
    "params": {"C": "1"},
    "mlflow": {"run_id": "r"},
    "registered_from": {"git": {"commit": "c" * 40, "dirty": True}},
}


def test_only_allowlisted_variables_are_handed_down() -> None:
    env = {"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "5", "GITHUB_TOKEN": "t", "HOME": "/root"}
    assert allowed_environment(env) == {"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "5"}
    assert not any("TOKEN" in name or "SECRET" in name or "PASSWORD" in name for name in ALLOWLIST)


def test_a_marker_set_to_false_or_empty_is_no_ci() -> None:
    assert ci_facts({"CIRCLECI": "false", "GITLAB_CI": ""}) == (None, None)
    facts, branch = ci_facts({"TF_BUILD": "True", "BUILD_BUILDID": "9"})
    assert facts == {"system": "azure-pipelines", "run_url": None, "job": None, "run_id": "9"}
    assert branch is None


def test_merge_overlays_metrics_params_and_mlflow_key_by_key() -> None:
    base = {"metrics": {"auc": 0.9, "f1": 0.5}, "params": {"C": "1"}, "git": {"commit": "a" * 40}}
    over = {"metrics": {"auc": 0.95}, "git": {"commit": "b" * 40}, "registered_from": {}}
    assert merge(base, over) == {
        "metrics": {"auc": 0.95, "f1": 0.5},
        "params": {"C": "1"},
        "git": {"commit": "b" * 40},
        "registered_from": {},
    }
    assert merge(None, None) == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (GOOD, None),
        ({}, None),
        ([], "an object"),
        ({"gti": {}}, "not 'gti'"),
        ({"git": {"commit": 5}}, "commit is null or a string"),
        ({"git": {"dirty": "yes"}}, "dirty is null, true or false"),
        ({"metrics": {"auc": "high"}}, "finite numbers"),
        ({"metrics": {"auc": True}}, "finite numbers"),
        ({"params": {"C": 1}}, "strings"),
        ({"training_data": {"size": -1}}, "size is an integer >= 0"),
        ({"registered_from": {"ci": {"system": 3}}}, "registered_from"),
    ],
)
def test_the_shape_doctor_checks(value: Any, expected: str | None) -> None:
    found = problem(value)
    assert (found is None) if expected is None else (expected in str(found))


def test_the_version_record_and_event_shapes_know_provenance() -> None:
    record = {
        "format_version": 1,
        "name": "m",
        "version": 1,
        "created": "2025-01-01T00:00:00Z",
        "user": "u",
        "host": "h",
        "source": "/s",
        "digest": "sha256:" + "0" * 64,
        "size": 1,
        "file_count": 1,
        "manifest_sha256": "0" * 64,
        "provenance": GOOD,
    }
    assert documents.problems("version.json", record) == []
    bad = documents.problems("version.json", {**record, "provenance": {"metrics": {"x": "y"}}})
    assert [p.key for p in bad] == ["provenance"]
    event = {
        "id": "x",
        "event": "registered",
        "name": "m",
        "time": "2025-01-01T00:00:00Z",
        "user": "u",
        "host": "h",
        "pid": 1,
        "version": 1,
        "digest": record["digest"],
        "size": 1,
        "source": "/s",
        "provenance": event_summary(GOOD),
    }
    assert documents.problems("event", event) == []
    assert documents.problems("event", {**event, "provenance": {"metrics": {}}}) != []


def test_summaries() -> None:
    assert short_text(GOOD) == "aaaaaaaaaaaa gitlab-ci 1 mlflow run r"
    assert short_text({"git": {"commit": "a" * 40, "dirty": True}}) == "aaaaaaaaaaaa (dirty)"
    assert event_summary({"registered_from": {"ci": GOOD["ci"]}}) == {"ci": GOOD["ci"]}
    assert event_summary({"metrics": {"a": 1}}) is None


def test_from_mlmodel_reads_modelpacks_section_and_mlflows_run_id() -> None:
    assert from_mlmodel({"run_id": "r1"}) == {"mlflow": {"run_id": "r1"}}
    assert from_mlmodel({"modelpack": {"provenance": {"metrics": {"a": 1}}}}) == {"metrics": {"a": 1}}
    # Malformed provenance in a package someone handed over is ignored, not trusted.
    assert from_mlmodel({"modelpack": {"provenance": {"metrics": "lots"}}}) == {}
    assert from_mlmodel({"modelpack": {"provenance": {"registered_from": {}}}}) == {}
