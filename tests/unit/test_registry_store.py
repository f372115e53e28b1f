from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from modelpack.errors import ConflictError, InvalidModelError, NotFoundError, RegistryError, UsageError
from modelpack.package.manifest import MANIFEST_FILE, read_manifest, verify_folder
from modelpack.package.mlmodel import read_mlmodel
from modelpack.registry import FileRegistry, InvalidNameError
from modelpack.registry.gc import collect_garbage
from tests.registry_models import make_model


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def registry(home: Path) -> FileRegistry:
    return FileRegistry(home)


def _blob_files(home: Path) -> list[Path]:
    return [p for p in (home / "blobs").rglob("*") if p.is_file()]


# ---------------------------------------------------------------------- register


def test_register_records_every_fact(registry: FileRegistry, tmp_path: Path) -> None:
    folder = make_model(tmp_path / "m", seed=1)
    result = registry.register(folder, name="iris", description="first cut", tags={"team": "ml", "run": "42"})
    v = result.version
    assert not result.already_registered
    assert result.warnings == []
    assert (v.name, v.version, v.stage, v.aliases) == ("iris", 1, "None", ())
    facts = v.to_dict()
    assert facts["source"] == str(folder.resolve())
    assert facts["digest"] == read_manifest(folder).digest  # type: ignore[union-attr]
    assert facts["size"] == sum(
        p.stat().st_size for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST_FILE
    )
    assert facts["description"] == "first cut"
    assert facts["tags"] == {"team": "ml", "run": "42"}
    assert facts["flavors"] == ["python_function"]
    assert facts["signature"] == {
        "inputs": [{"name": "x", "type": "double"}],
        "outputs": [{"type": "double"}],
    }
    assert facts["user"] and facts["host"]
    assert facts["created"].endswith("Z")
    assert facts["uri"] == "models:/iris/1"


def test_version_folder_is_a_plain_mlmodel_folder_with_the_original_layout(
    registry: FileRegistry, tmp_path: Path
) -> None:
    folder = make_model(tmp_path / "m", seed=1)
    v = registry.register(folder, name="iris").version
    stored = v.local_path
    originals = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    copies = sorted(p.relative_to(stored).as_posix() for p in stored.rglob("*") if p.is_file())
    assert copies == originals
    assert read_mlmodel(stored).pyfunc["loader_module"] == "mp_test_loader"  # type: ignore[index]
    manifest = read_manifest(stored)
    assert manifest is not None and verify_folder(stored, manifest).ok


def test_files_are_stored_once_as_read_only_hard_links(
    registry: FileRegistry, home: Path, tmp_path: Path
) -> None:
    folder = make_model(tmp_path / "m", seed=1, payload=os.urandom(200_000))
    v1 = registry.register(folder, name="a").version
    blobs_after_first = _blob_files(home)
    v2 = registry.register(folder, name="b").version  # same files, another model
    assert _blob_files(home) == blobs_after_first
    weights1 = v1.local_path / "weights.bin"
    weights2 = v2.local_path / "weights.bin"
    assert weights1.stat().st_ino == weights2.stat().st_ino
    assert weights1.stat().st_nlink == 3  # the blob and two versions
    assert stat.S_IMODE(weights1.stat().st_mode) == 0o444


def test_same_content_returns_the_existing_version(registry: FileRegistry, tmp_path: Path) -> None:
    folder = make_model(tmp_path / "m", seed=1)
    first = registry.register(folder, name="iris")
    again = registry.register(folder, name="iris")
    assert again.already_registered
    assert again.version.version == first.version.version == 1
    assert [v.version for v in registry.list_versions("iris")] == [1]
    assert [e["event"] for e in registry.history("iris")] == ["registered"]


def test_identical_copy_elsewhere_is_still_a_duplicate(registry: FileRegistry, tmp_path: Path) -> None:
    registry.register(make_model(tmp_path / "m1", seed=1), name="iris")
    again = registry.register(make_model(tmp_path / "m2", seed=1), name="iris")
    assert again.already_registered and again.version.version == 1


def test_allow_duplicate_mints_a_new_version(registry: FileRegistry, tmp_path: Path) -> None:
    folder = make_model(tmp_path / "m", seed=1)
    registry.register(folder, name="iris")
    dup = registry.register(folder, name="iris", allow_duplicate=True)
    assert not dup.already_registered
    assert dup.version.version == 2
    assert dup.version.digest == registry.get_version("iris", 1).digest


def test_versions_are_consecutive_per_model(registry: FileRegistry, tmp_path: Path) -> None:
    for seed in range(4):
        registry.register(make_model(tmp_path / f"m{seed}", seed=seed), name="a")
    registry.register(make_model(tmp_path / "other", seed=9), name="b")
    assert [v.version for v in registry.list_versions("a")] == [1, 2, 3, 4]
    assert [v.version for v in registry.list_versions("b")] == [1]


def test_register_with_alias_and_duplicate_moves_alias(registry: FileRegistry, tmp_path: Path) -> None:
    m1 = make_model(tmp_path / "m1", seed=1)
    registry.register(m1, name="iris", alias="champion")
    registry.register(make_model(tmp_path / "m2", seed=2), name="iris", alias="champion")
    assert registry.resolve("models:/iris@champion").version == 2
    again = registry.register(m1, name="iris", alias="champion")
    assert again.already_registered and again.version.aliases == ("champion",)
    assert registry.resolve("models:/iris@champion").version == 1


def test_folder_without_manifest_registers_with_a_warning(registry: FileRegistry, tmp_path: Path) -> None:
    folder = make_model(tmp_path / "m", seed=1, manifest=False)
    result = registry.register(folder, name="iris")
    assert any("no modelpack.manifest.json" in w for w in result.warnings)
    # The stored copy gains a manifest, so later integrity checks work.
    assert (result.version.local_path / MANIFEST_FILE).is_file()
    assert registry.verify_version("iris", 1).ok


def test_tampered_file_is_refused_and_nothing_is_stored(
    registry: FileRegistry, home: Path, tmp_path: Path
) -> None:
    folder = make_model(tmp_path / "m", seed=1)
    (folder / "model.pkl").write_bytes(b"not what the manifest says")
    with pytest.raises(InvalidModelError, match=r"integrity check failed.*changed: model\.pkl"):
        registry.register(folder, name="iris")
    assert registry.model_names() == []
    assert _blob_files(home) == []  # blobs stored before the failure were taken back
    assert list((home / "tmp").iterdir()) == []


@pytest.mark.parametrize("change", ["extra", "missing"])
def test_files_not_matching_the_manifest_listing_are_refused(
    registry: FileRegistry, tmp_path: Path, change: str
) -> None:
    folder = make_model(tmp_path / "m", seed=1)
    if change == "extra":
        (folder / "sneaky.py").write_text("print('hi')")
    else:
        (folder / "conda.yaml").unlink()
    with pytest.raises(InvalidModelError, match="unexpected: sneaky.py" if change == "extra" else "missing"):
        registry.register(folder, name="iris")


def test_manifest_paths_leaving_the_folder_are_refused(registry: FileRegistry, tmp_path: Path) -> None:
    folder = make_model(tmp_path / "m", seed=1)
    raw = json.loads((folder / MANIFEST_FILE).read_text())
    raw["files"]["../outside.txt"] = {"sha256": "0" * 64, "size": 1}
    (folder / MANIFEST_FILE).write_text(json.dumps(raw))
    with pytest.raises(InvalidModelError, match="outside the folder"):
        registry.register(folder, name="iris")


def test_folder_without_mlmodel_is_invalid(registry: FileRegistry, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(b"x")
    with pytest.raises(InvalidModelError, match="no MLmodel"):
        registry.register(folder, name="iris")
    with pytest.raises(NotFoundError):
        registry.register(tmp_path / "missing", name="iris")


def test_register_from_a_uri_copies_the_version(registry: FileRegistry, tmp_path: Path) -> None:
    registry.register(make_model(tmp_path / "m", seed=1), name="iris")
    copy = registry.register("models:/iris/1", name="iris-prod")
    assert copy.version.source == "models:/iris/1"
    assert copy.version.digest == registry.get_version("iris", 1).digest
    assert (copy.version.local_path / "model.pkl").stat().st_ino == (
        registry.get_version("iris", 1).local_path / "model.pkl"
    ).stat().st_ino


# ---------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "name",
    ["../x", "a/b", "/abs", "a\\b", ".", "..", ".hidden", "-dash", "a\x00b", "a\nb", "a b", "x" * 129, ""],
)
def test_traversal_and_bad_names_are_refused_before_any_write(
    registry: FileRegistry, home: Path, tmp_path: Path, name: str
) -> None:
    folder = make_model(tmp_path / "m", seed=1)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(InvalidNameError):
        registry.register(folder, name=name)
    assert not home.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("alias", ["latest", "LATEST", "v1", "V22", "a b", "a/b", "", "x" * 256])
def test_reserved_and_bad_aliases_are_refused(registry: FileRegistry, tmp_path: Path, alias: str) -> None:
    registry.register(make_model(tmp_path / "m", seed=1), name="iris")
    with pytest.raises(InvalidNameError):
        registry.promote("iris", 1, alias=alias)


def test_bad_tags_are_refused(registry: FileRegistry, tmp_path: Path) -> None:
    with pytest.raises(InvalidNameError):
        registry.register(make_model(tmp_path / "m"), name="iris", tags={"bad\nkey": "v"})


# ---------------------------------------------------------------------- promote and resolve


@pytest.fixture
def three(registry: FileRegistry, tmp_path: Path) -> FileRegistry:
    for seed in range(1, 4):
        registry.register(make_model(tmp_path / f"m{seed}", seed=seed), name="iris")
    return registry


def test_promote_archives_the_previous_holder_by_default(three: FileRegistry) -> None:
    three.promote("iris", 1, stage="production")
    result = three.promote("iris", 2, stage="PRODUCTION")
    assert result.archived == [1]
    assert result.previous_stage == "None"
    assert three.get_version("iris", 1).stage == "Archived"
    assert three.resolve("models:/iris/Production").version == 2


def test_keep_existing_keeps_both_and_the_stage_uri_takes_the_highest(three: FileRegistry) -> None:
    three.promote("iris", 1, stage="Staging")
    result = three.promote("iris", 2, stage="Staging", archive_existing=False)
    assert result.archived == []
    assert [v.stage for v in three.list_versions("iris")] == ["Staging", "Staging", "None"]
    assert three.resolve("models:/iris/staging").version == 2


def test_promote_to_archived_or_none_archives_nothing(three: FileRegistry) -> None:
    three.promote("iris", 1, stage="Production")
    assert three.promote("iris", 2, stage="Archived").archived == []
    assert three.get_version("iris", 1).stage == "Production"
    three.promote("iris", 1, stage="none")
    assert three.get_version("iris", 1).stage == "None"
    assert three.resolve("models:/iris/None").version == 3


def test_repeating_a_promotion_changes_nothing(three: FileRegistry) -> None:
    three.promote("iris", 2, stage="Production")
    events = len(three.history("iris"))
    again = three.promote("iris", 2, stage="production")
    assert not again.changed
    assert len(three.history("iris")) == events


def test_bad_stage_is_a_usage_error(three: FileRegistry) -> None:
    with pytest.raises(UsageError, match="None, Staging, Production, Archived"):
        three.promote("iris", 1, stage="prod")


def test_aliases_set_move_and_remove(three: FileRegistry) -> None:
    three.promote("iris", 1, alias="champion")
    moved = three.promote("iris", 3, alias="champion")
    assert moved.alias_moved_from == 1
    assert three.resolve("models:/iris@champion").version == 3
    with pytest.raises(ConflictError, match="points at v3"):
        three.promote("iris", 1, remove_alias="champion")
    three.promote("iris", 3, remove_alias="champion")
    with pytest.raises(NotFoundError, match="no alias 'champion'; aliases: none"):
        three.resolve("models:/iris@champion")


def test_promote_refuses_a_corrupted_version(three: FileRegistry) -> None:
    target = three.get_version("iris", 2).local_path / "model.pkl"
    target.chmod(0o644)
    target.write_bytes(b"corrupted")
    with pytest.raises(InvalidModelError, match=r"v2 failed its integrity check: changed: model\.pkl"):
        three.promote("iris", 2, stage="Production")
    assert three.get_version("iris", 2).stage == "None"


def test_unknown_things_name_what_exists(three: FileRegistry) -> None:
    three.promote("iris", 2, stage="Production")
    three.promote("iris", 2, alias="champion")
    cases = {
        "models:/nope/1": "no model named 'nope'; models: iris",
        "models:/iris/9": "no version 9; versions: 1-3",
        "models:/iris/Staging": "stages in use: None (v1, 3), Production (v2)",
        "models:/iris/prod": "stages are None, Staging, Production, Archived",
        "models:/iris@best": "aliases: champion (v2)",
    }
    for uri, message in cases.items():
        with pytest.raises(NotFoundError) as info:
            three.resolve(uri)
        assert message in info.value.message, uri


def test_latest_is_the_highest_live_version(three: FileRegistry) -> None:
    assert three.resolve("models:/iris/latest").version == 3
    three.delete("iris", 3)
    assert three.resolve("models:/iris/latest").version == 2


# ---------------------------------------------------------------------- delete, history, list


def test_delete_never_reuses_numbers_and_drops_aliases(three: FileRegistry, tmp_path: Path) -> None:
    three.promote("iris", 3, alias="candidate")
    with pytest.raises(ConflictError, match="aliases candidate"):
        three.delete("iris", 3)
    result = three.delete("iris", 3, force=True)
    assert result.removed_aliases == ["candidate"]
    assert not three.get_version("iris", 2).deleted
    with pytest.raises(NotFoundError, match="it was deleted"):
        three.get_version("iris", 3)
    assert not (three.layout.version_model("iris", 3)).exists()
    new = three.register(make_model(tmp_path / "m4", seed=4), name="iris")
    assert new.version.version == 4
    assert [v.version for v in three.list_versions("iris")] == [1, 2, 4]
    assert [v.version for v in three.list_versions("iris", include_deleted=True)] == [1, 2, 3, 4]
    assert three.state("iris").aliases == {}


def test_delete_refuses_production_without_force(three: FileRegistry) -> None:
    three.promote("iris", 1, stage="Production")
    with pytest.raises(ConflictError, match="Production"):
        three.delete("iris", 1)
    three.delete("iris", 1, force=True)
    with pytest.raises(NotFoundError):
        three.resolve("models:/iris/Production")


def test_reregistering_deleted_content_mints_a_new_version(registry: FileRegistry, tmp_path: Path) -> None:
    folder = make_model(tmp_path / "m", seed=1)
    registry.register(folder, name="iris")
    registry.delete("iris", 1)
    again = registry.register(folder, name="iris")
    assert not again.already_registered and again.version.version == 2


def test_history_records_everything_in_order(three: FileRegistry) -> None:
    three.promote("iris", 1, stage="Production")
    three.promote("iris", 2, stage="Production", alias="champion")
    three.delete("iris", 3)
    kinds = [(e["event"], e["version"]) for e in three.history("iris")]
    assert kinds == [
        ("registered", 1),
        ("registered", 2),
        ("registered", 3),
        ("stage_changed", 1),
        ("stage_changed", 2),
        ("stage_changed", 1),
        ("alias_set", 2),
        ("deleted", 3),
    ]
    assert all(e["user"] and e["host"] and e["time"].endswith("Z") for e in three.history("iris"))
    assert [e["event"] for e in three.history("iris", version=1)] == [
        "registered",
        "stage_changed",
        "stage_changed",
    ]


def test_list_models_summarises(three: FileRegistry, tmp_path: Path) -> None:
    three.register(make_model(tmp_path / "x", seed=7), name="alpha")
    three.promote("iris", 2, stage="Production", alias="champion")
    summaries = {s.name: s for s in three.list_models()}
    assert list(summaries) == ["alpha", "iris"]
    iris = summaries["iris"]
    assert (iris.latest_version, iris.version_count) == (3, 3)
    assert iris.stages == {"Production": [2]}
    assert iris.aliases == {"champion": 2}


def test_missing_registry_reads_are_not_found_without_creating_anything(home: Path) -> None:
    registry = FileRegistry(home)
    for read in (
        registry.list_models,
        lambda: registry.list_versions("iris"),
        lambda: registry.resolve("models:/iris/1"),
        lambda: registry.history("iris"),
        lambda: collect_garbage(registry),
    ):
        with pytest.raises(NotFoundError, match=f"no registry at {home}"):
            read()
    assert not home.exists()
    home.mkdir()  # an existing folder that is not a registry says so
    with pytest.raises(NotFoundError, match="holds no registry"):
        registry.list_models()


def test_registry_without_models_reads_as_empty(home: Path, tmp_path: Path) -> None:
    registry = FileRegistry(home)
    registry.register(make_model(tmp_path / "m"), name="iris")
    registry.delete("iris", 1)
    assert [m.version_count for m in registry.list_models()] == [0]
    with pytest.raises(NotFoundError, match="no model named 'wine'"):
        registry.list_versions("wine")


# ---------------------------------------------------------------------- corruption, gc


def test_corrupt_model_json_is_a_clear_error_naming_the_file(three: FileRegistry) -> None:
    path = three.layout.model_file("iris")
    path.write_text("{ not json")
    with pytest.raises(RegistryError) as info:
        three.list_versions("iris")
    assert str(path) in info.value.message
    assert "corrupt" in info.value.message
    assert "doctor" in (info.value.hint or "")


def test_corrupt_version_json_is_a_clear_error(three: FileRegistry) -> None:
    path = three.layout.version_file("iris", 2)
    path.write_text('{"format_version": 1}')
    with pytest.raises(RegistryError, match="version.json is corrupt: missing"):
        three.list_versions("iris")


def test_newer_format_is_refused(three: FileRegistry) -> None:
    path = three.layout.model_file("iris")
    raw = json.loads(path.read_text())
    raw["format_version"] = 99
    path.write_text(json.dumps(raw))
    with pytest.raises(RegistryError, match="newer than this modelpack reads"):
        three.state("iris")


def test_gc_removes_only_unreferenced_blobs(three: FileRegistry, home: Path) -> None:
    assert collect_garbage(three).removed_blobs == 0
    before = len(_blob_files(home))

    def shas(version: int) -> set[str]:
        manifest = read_manifest(three.get_version("iris", version).local_path)
        assert manifest is not None
        return {f.sha256 for f in manifest.files}

    only_in_v3 = shas(3) - shas(1) - shas(2)
    assert only_in_v3  # MLmodel and model.pkl differ between seeds
    three.delete("iris", 3)
    dry = collect_garbage(three, dry_run=True)
    assert dry.removed_blobs == len(only_in_v3)
    assert len(_blob_files(home)) == before
    done = collect_garbage(three)
    assert done.removed_blobs == len(only_in_v3) and done.freed_bytes > 0
    assert {p.name for p in _blob_files(home)} == shas(1) | shas(2)
    for version in (1, 2):
        assert three.verify_version("iris", version).ok
