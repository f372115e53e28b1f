from __future__ import annotations

from pathlib import Path

import pytest

from modelpack.errors import InvalidModelError, NotFoundError, UsageError
from modelpack.registry import FileRegistry
from modelpack.target import Target, resolve_target
from modelpack.uri import ModelUri, is_model_uri, parse_model_uri
from tests.registry_models import make_model


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("models:/iris/3", ModelUri("iris", version=3)),
        ("models:/iris/Production", ModelUri("iris", stage="Production")),
        ("models:/iris/staging", ModelUri("iris", stage="staging")),
        ("models:/iris/latest", ModelUri("iris", latest=True)),
        ("models:/iris/LATEST", ModelUri("iris", latest=True)),
        ("models:/iris@champion", ModelUri("iris", alias="champion")),
        ("models:/my.model-2_x@prod-1", ModelUri("my.model-2_x", alias="prod-1")),
    ],
)
def test_parse_every_form(text: str, expected: ModelUri) -> None:
    parsed = parse_model_uri(text)
    assert parsed == expected
    assert is_model_uri(text)


def test_kind_and_str_round_trip() -> None:
    for text, kind in [
        ("models:/a/1", "version"),
        ("models:/a/Staging", "stage"),
        ("models:/a/latest", "latest"),
        ("models:/a@x", "alias"),
    ]:
        parsed = parse_model_uri(text)
        assert parsed.kind == kind
        assert str(parsed) == text


@pytest.mark.parametrize(
    "text",
    [
        "models:/iris",  # an MLflow logged-model id, not "latest"
        "models:/iris/1/sub/path",
        "models:/",
        "models://iris/1",
        "models:/iris/",
        "models:/@alias",
        "models:/iris@",
        "models:/a/b@c",
        "models:/iris/0",
        "model:/iris/1",
    ],
)
def test_malformed_uris_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_model_uri(text)


@pytest.mark.parametrize(
    "text", ["models:/../x/1", "models:/a%2Fb/1", "models:/.hidden/1", "models:/a@latest"]
)
def test_names_and_aliases_in_uris_follow_the_registry_rules(text: str) -> None:
    with pytest.raises(UsageError):
        parse_model_uri(text)


def test_is_model_uri_is_only_the_scheme() -> None:
    assert not is_model_uri("./models/iris")
    assert not is_model_uri("/abs/models:/x")
    assert is_model_uri("models:/x/1")


def test_resolve_target_plain_folder_unchanged(tmp_path: Path) -> None:
    folder = make_model(tmp_path / "m")
    resolved = resolve_target(str(folder), home=tmp_path / "home")
    assert resolved == Target(path=folder)
    assert not (tmp_path / "home").exists()  # a path never touches the registry


def test_resolve_target_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="not found"):
        resolve_target(str(tmp_path / "nope"), home=tmp_path / "home")


def test_resolve_target_uri_gives_the_version_folder(tmp_path: Path) -> None:
    home = tmp_path / "home"
    registry = FileRegistry(home)
    registry.register(make_model(tmp_path / "a", seed=1), name="iris")
    registry.register(make_model(tmp_path / "b", seed=2), name="iris", alias="champion")
    resolved = resolve_target("models:/iris@champion", home=home)
    assert resolved.name == "iris"
    assert resolved.version == 2
    assert resolved.uri == "models:/iris@champion"
    assert (resolved.path / "MLmodel").is_file()
    assert resolved.path == home.absolute() / "models" / "iris" / "versions" / "2" / "model"
    assert resolve_target("models:/iris/1", home=home).version == 1
    assert resolve_target("models:/iris/latest", home=home).version == 2


def test_resolve_target_uri_without_a_registry_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no registry at .*home: the folder does not exist"):
        resolve_target("models:/iris/1", home=tmp_path / "home")


def test_resolve_target_file_is_not_a_model(tmp_path: Path) -> None:
    file = tmp_path / "model.pkl"
    file.write_bytes(b"x")
    with pytest.raises(InvalidModelError, match="is a file, not a model folder"):
        resolve_target(str(file), home=None)
