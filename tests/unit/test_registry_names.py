from __future__ import annotations

import pytest

from modelpack.names import (
    InvalidNameError,
    Stage,
    is_stage,
    parse_stage,
    validate_alias,
    validate_name,
    validate_tag,
)


@pytest.mark.parametrize("name", ["iris", "Iris-2", "a", "my.model_v2", "0abc", "x" * 128])
def test_good_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".",
        "..",
        "../x",
        "a/b",
        "a\\b",
        "/abs",
        ".hidden",
        "-x",
        "_x",
        "a b",
        "a\tb",
        "a\nb",
        "a\x00b",
        "a:b",
        "a@b",
        "a%2fb",
        "é",
        "x" * 129,
    ],
)
def test_bad_names(name: str) -> None:
    with pytest.raises(InvalidNameError) as info:
        validate_name(name)
    assert info.value.exit_code == 2
    assert "\n" not in info.value.message  # control characters are shown escaped


def test_alias_rules_follow_mlflow() -> None:
    assert validate_alias("champion") == "champion"
    assert validate_alias("prod-1_a") == "prod-1_a"
    for bad in ["latest", "Latest", "v1", "V10", "", "a.b", "a b", "x" * 256]:
        with pytest.raises(InvalidNameError):
            validate_alias(bad)
    assert validate_alias("v1a") == "v1a"  # only v<digits> is reserved


def test_stages_are_case_insensitive_and_canonical() -> None:
    assert parse_stage("production") is Stage.PRODUCTION
    assert parse_stage(" STAGING ") is Stage.STAGING
    assert parse_stage("none") is Stage.NONE
    assert parse_stage("Archived") is Stage.ARCHIVED
    assert is_stage("aRcHiVeD") and not is_stage("prod")
    with pytest.raises(InvalidNameError, match="must be one of None, Staging, Production, Archived"):
        parse_stage("prod")


def test_tags() -> None:
    assert validate_tag("team/owner: x", "v") == ("team/owner: x", "v")
    with pytest.raises(InvalidNameError):
        validate_tag("", "v")
    with pytest.raises(InvalidNameError):
        validate_tag("k", "x" * 100_001)
