"""``modelpack.Registry``: typed results with int versions, the CLI's errors, tags and descriptions."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modelpack
from modelpack import api
from modelpack.errors import ConflictError, NotFoundError, UsageError
from modelpack.names import InvalidNameError
from modelpack.registry import events as ev
from tests.conftest import modelpack_cmd


@pytest.fixture
def two_packs(tmp_path: Path) -> tuple[Path, Path, pd.DataFrame]:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"a": rng.integers(0, 100, 30).astype("int64"), "b": rng.random(30)})
    first = LogisticRegression().fit(frame, (frame["a"] > 50).astype("int64"))
    second = LogisticRegression(C=0.1).fit(frame, (frame["a"] > 40).astype("int64"))
    api.pack(first, frame, tmp_path / "v1")
    api.pack(second, frame, tmp_path / "v2")
    return tmp_path / "v1", tmp_path / "v2", frame


def test_round_trip_with_int_versions(two_packs, _isolate: Path) -> None:
    v1_folder, v2_folder, frame = two_packs
    reg = modelpack.Registry()  # MODELPACK_HOME, as the CLI
    assert reg.home == _isolate
    mv1 = reg.register(v1_folder, "churn", tags={"team": "growth"}, description="first")
    assert mv1.version == 1 and type(mv1.version) is int and not mv1.already_registered
    assert mv1.tags == {"team": "growth"} and mv1.description == "first"
    again = reg.register(v1_folder, "churn")
    assert again.version == 1 and again.already_registered

    promoted = reg.promote("churn", mv1.version, stage="Production", alias="champion")
    assert promoted.version.stage == "Production" and promoted.version.aliases == ("champion",)
    assert promoted.previous_stage == "None" and promoted.changed

    mv2 = reg.register(v2_folder, "churn")
    assert mv2.version == 2
    second = reg.promote("churn", mv2, stage="Production")  # a ModelVersion works too
    assert second.archived == [1]
    assert reg.get_version("churn", 1).stage == "Archived"
    assert reg.resolve("models:/churn@champion").version == 1
    assert reg.resolve("models:/churn/Production").version == 2
    assert [v.version for v in reg.list_versions("churn")] == [1, 2]
    (model,) = reg.list_models()
    assert model.name == "churn" and model.latest_version == 2 and model.aliases == {"champion": 1}

    events = reg.history("churn")
    assert [e.event for e in events][:2] == ["registered", "stage_changed"]
    assert all(isinstance(e.version, int) for e in events)

    loaded = reg.load_model("models:/churn@champion")
    assert loaded.version == 1
    np.testing.assert_array_equal(loaded.predict(frame), modelpack.load_model(v1_folder).predict(frame))
    assert "churn v1" in repr(reg.get_version("churn", 1))
    assert "<table>" in reg.get_version("churn", 1)._repr_html_()


def test_register_takes_what_pack_returned(tmp_path: Path, two_packs, _isolate: Path) -> None:
    _, _, frame = two_packs
    from sklearn.linear_model import LinearRegression

    result = modelpack.pack(LinearRegression().fit(frame, frame["b"]), frame, tmp_path / "lr")
    mv = modelpack.Registry(_isolate).register(result, "lr")
    assert mv.version == 1 and mv.digest == result.digest
    with pytest.raises(UsageError):
        modelpack.Registry(_isolate).register(object(), "lr")


def test_errors_are_the_documented_ones(two_packs, tmp_path: Path) -> None:
    v1_folder, _, _ = two_packs
    reg = modelpack.Registry(tmp_path / "home")
    with pytest.raises(NotFoundError):
        reg.list_models()  # no registry there yet: exit 4, as the CLI
    reg.register(v1_folder, "churn", alias="champion")
    with pytest.raises(NotFoundError) as missing:
        reg.get_version("churn", 7)
    assert missing.value.exit_code == 4
    with pytest.raises(InvalidNameError):
        reg.register(v1_folder, "bad name!")
    with pytest.raises(ConflictError):
        reg.delete("churn", 1)  # it has an alias
    gone = reg.delete("churn", 1, force=True)
    assert gone.version == 1 and gone.removed_aliases == ["champion"]
    with pytest.raises(NotFoundError):
        reg.resolve("models:/churn@champion")


def test_tags_and_descriptions_are_events_and_seen_by_the_cli(two_packs, _isolate: Path) -> None:
    v1_folder, _, _ = two_packs
    reg = modelpack.Registry()
    reg.register(v1_folder, "churn", tags={"team": "growth", "owner": "ana"})
    tagged = reg.set_tags("churn", 1, {"owner": None, "tier": "gold"})
    assert tagged.tags == {"team": "growth", "tier": "gold"}
    assert reg.set_tags("churn", 1, {"only": "this"}, replace=True).tags == {"only": "this"}
    reg.set_description("churn", "the churn model")
    reg.set_description("churn", "retrained weekly", version=1)
    assert reg.get_version("churn", 1).description == "retrained weekly"
    assert reg.list_models()[0].description == "the churn model"
    kinds = [e.event for e in reg.history("churn")]
    assert kinds.count("tags_set") == 2 and kinds.count("description_set") == 2
    # Setting what is already there records nothing.
    reg.set_tags("churn", 1, {"only": "this"})
    assert [e.event for e in reg.history("churn")].count("tags_set") == 2
    # The event log alone rebuilds them (doctor --repair after model.json is lost).
    replayed = ev.replay(
        [e.details | {"event": e.event, "version": e.version, "time": e.time} for e in reg.history("churn")]
    )
    assert replayed.tags == {1: {"only": "this"}} and replayed.description == "the churn model"
    assert replayed.descriptions == {1: "retrained weekly"}
    # The CLI reads the same state.
    proc = subprocess.run(
        modelpack_cmd("list", "churn", "--json"), capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)["data"]["versions"][0]
    assert row["tags"] == {"only": "this"} and row["description"] == "retrained weekly"
    with pytest.raises(InvalidNameError):
        reg.set_tags("churn", 1, {"bad\nkey": "x"})


def test_doctor_is_clean_after_tags_and_rebuilds_them(two_packs, _isolate: Path) -> None:
    v1_folder, _, _ = two_packs
    reg = modelpack.Registry()
    reg.register(v1_folder, "churn")
    reg.set_tags("churn", 1, {"tier": "gold"})
    proc = subprocess.run(modelpack_cmd("doctor", "--json"), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (_isolate / "models" / "churn" / "model.json").unlink()
    subprocess.run(modelpack_cmd("doctor", "--repair"), capture_output=True, text=True, check=False)
    assert modelpack.Registry().get_version("churn", 1).tags == {"tier": "gold"}


def test_a_version_that_is_not_a_number_is_a_usage_error(two_packs) -> None:
    first, _, _ = two_packs
    reg = modelpack.Registry()
    v1 = reg.register(first, "churn")
    assert reg.get_version("churn", "1").version == 1  # digits are accepted, as the CLI takes them
    assert reg.get_version("churn", v1) == reg.get_version("churn", 1)  # a ModelVersion feeds the next call
    for bad in ("latest", "Production", {"version": 1}, 1.5, True, None):
        with pytest.raises(UsageError, match="a version is a number") as info:
            reg.get_version("churn", bad)  # type: ignore[arg-type]
        assert info.value.exit_code == 2
    with pytest.raises(UsageError):
        reg.promote("churn", "v1", stage="Staging")  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        reg.delete("churn", [1])  # type: ignore[arg-type]
    assert [e.event for e in reg.history("churn", version=v1)] == ["registered"]
