"""Things that must agree across commands: file counts, short options, choices, exit codes,
field names, plurals, times, and what the docs say exists."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from modelpack._text import plural
from modelpack.cli import app
from modelpack.names import STAGE_NAMES
from modelpack.package.manifest import MANIFEST_FILE
from modelpack.schema.writers import OUTPUT_FORMATS
from tests.registry_models import make_model

REPO = Path(__file__).resolve().parents[2]
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def data(*args: str) -> Any:
    result = invoke(*args, "--json")
    return json.loads(result.stdout)["data"]


def _click_commands() -> dict[str, Any]:
    group = typer.main.get_command(app)
    return dict(group.commands)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- file counts


def test_every_file_count_is_the_manifest_listing(
    tmp_path: Path, sk_model_file: Path, sample_csv: Path
) -> None:
    out = tmp_path / "pkg"
    packed = invoke("pack", str(sk_model_file), "--sample", str(sample_csv), "--output", str(out))
    assert packed.exit_code == 0, packed.stderr
    on_disk = [p for p in out.rglob("*") if p.is_file() and p.name != MANIFEST_FILE]
    count = len(on_disk)
    assert f", {count} files, " in packed.stdout
    assert (
        data("pack", str(sk_model_file), "-s", str(sample_csv), "-o", str(out), "--force")["files"] == count
    )
    assert len(data("inspect", str(out))["files"]) == count
    checks = {c["name"]: c for c in data("validate", str(out), "--no-load")["checks"]}
    assert checks["integrity"]["details"]["files"] == count
    assert checks["integrity"]["reason"] == f"every file matches the manifest ({count} files)"
    assert "files it names" not in checks["structure"]["reason"]  # no second, different count
    assert data("register", str(out), "--name", "pkg")["file_count"] == count


# ---------------------------------------------------------------------- short options


def test_a_short_option_means_one_long_option_everywhere() -> None:
    meanings: dict[str, set[str]] = {}
    for command in _click_commands().values():
        for param in command.params:
            longs = [o for o in param.opts if o.startswith("--")]
            for short in (o for o in param.opts if re.fullmatch(r"-[A-Za-z]", o)):
                meanings.setdefault(short, set()).update(longs)
    clashes = {short: longs for short, longs in meanings.items() if len(longs) > 1}
    assert clashes == {}
    assert meanings["-d"] == {"--data"} and meanings["-s"] == {"--sample"}


def test_dropped_short_options_are_usage_errors(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m")
    assert invoke("register", str(model), "--name", "m", "-d", "text").exit_code == 2
    invoke("register", str(model), "--name", "m")
    assert invoke("promote", "m", "1", "-s", "Production").exit_code == 2


# ---------------------------------------------------------------------- choices


@pytest.mark.parametrize(
    ("command", "param", "choices"),
    [
        ("predict", "output_format", OUTPUT_FORMATS),
        ("pack", "serialization", ("auto", "skops", "cloudpickle", "pickle")),
    ],
)
def test_choice_options_list_their_choices_in_help_and_completion(
    command: str, param: str, choices: tuple[str, ...]
) -> None:
    cmd = _click_commands()[command]
    option = next(p for p in cmd.params if p.name == param)
    assert tuple(option.type.choices) == tuple(choices)
    help_text = invoke(command, "--help").stdout
    assert "<str>" not in help_text.split(f"--{param.replace('_', '-')}")[1].split("\n")[0]
    assert f"<{'|'.join(c.lower() for c in choices)}>" in " ".join(help_text.split())
    ctx = cmd.make_context(command, [], resilient_parsing=True)
    completed = [item.value for item in option.shell_complete(ctx, choices[1][:2])]
    assert choices[1] in completed


def test_promote_stage_is_the_registrys_in_help_and_completion() -> None:
    """``--stage`` is no fixed choice (a registry declares its stages): the help says so and
    completion offers the registry's, MLflow's four by default."""
    help_text = " ".join(invoke("promote", "--help").stdout.split())
    assert "one of the registry's stages" in help_text and "'modelpack stages'" in help_text
    cmd = _click_commands()["promote"]
    option = next(p for p in cmd.params if p.name == "stage")
    ctx = cmd.make_context("promote", [], resilient_parsing=True)
    assert [item.value for item in option.shell_complete(ctx, "")] == list(STAGE_NAMES)
    assert [item.value for item in option.shell_complete(ctx, "Pr")] == ["Production"]


def test_stage_is_accepted_in_any_case(tmp_path: Path) -> None:
    invoke("register", str(make_model(tmp_path / "m")), "--name", "m")
    assert invoke("promote", "m", "1", "--stage", "pRoDuCtIoN").stdout == "m v1: None -> Production\n"


# ---------------------------------------------------------------------- not a model: 3, missing: 4


def _targets(tmp_path: Path) -> dict[str, Path]:
    empty = tmp_path / "empty"
    empty.mkdir()
    file = tmp_path / "model.pkl"
    file.write_bytes(b"not a folder")
    return {"empty": empty, "file": file, "missing": tmp_path / "missing"}


@pytest.mark.parametrize(("kind", "code"), [("empty", 3), ("file", 3), ("missing", 4)])
@pytest.mark.parametrize("command", ["inspect", "validate", "predict", "diff", "register"])
def test_not_a_model_exits_3_and_missing_exits_4_in_every_command(
    tmp_path: Path, sample_csv: Path, packed: Path, command: str, kind: str, code: int
) -> None:
    target = str(_targets(tmp_path)[kind])
    extra = {
        "inspect": [],
        "validate": [],
        "predict": ["--data", str(sample_csv)],
        "diff": [str(packed)],
        "register": ["--name", "x"],
    }[command]
    result = invoke(command, target, *extra)
    assert result.exit_code == code, result.stderr
    assert result.stderr.startswith("error:") or command == "validate"


# ---------------------------------------------------------------------- list fields, plurals, times


def test_every_models_column_works_as_field(tmp_path: Path) -> None:
    invoke("register", str(make_model(tmp_path / "a", seed=1)), "--name", "iris")
    invoke("register", str(make_model(tmp_path / "b", seed=2)), "--name", "iris")
    header = invoke("list").stdout.splitlines()[0].split()
    assert header == ["NAME", "LATEST", "VERSIONS", "STAGES", "ALIASES", "UPDATED"]
    for column in header:
        assert invoke("list", "--field", column.lower()).exit_code == 0, column
    assert invoke("list", "--field", "latest").stdout == "2\n"
    assert invoke("list", "--field", "versions").stdout == "2\n"


def test_plural() -> None:
    assert [plural(n, "model") for n in (0, 1, 2)] == ["0 models", "1 model", "2 models"]


def test_counts_of_one_are_singular(tmp_path: Path) -> None:
    invoke("register", str(make_model(tmp_path / "a")), "--name", "iris")
    doctor = invoke("doctor").stdout
    assert ": 1 model, 1 version, " in doctor and "1 models" not in doctor and "0 warnings" in doctor
    assert "1 blobs" not in invoke("gc", "--dry-run").stdout


def test_times_carry_their_zone_in_inspect_list_and_history(tmp_path: Path, packed: Path) -> None:
    # A pack records no creation time (it would make every re-pack new content); the registry does.
    assert (
        invoke("inspect", str(packed)).stdout.split("created", 1)[1].split("\n")[0].strip() == "not recorded"
    )
    assert data("inspect", str(packed))["created"] is None
    invoke("register", str(packed), "--name", "mixed")
    assert ISO_UTC.match(invoke("list", "mixed", "--field", "created").stdout.strip())
    assert ISO_UTC.match(invoke("list", "--field", "updated").stdout.strip())
    assert ISO_UTC.match(invoke("history", "mixed", "--field", "time").stdout.strip())
    row = invoke("list", "mixed").stdout.splitlines()[1]
    assert re.search(r"\d\d:\d\d:\d\d\.\d+Z ", row)


def test_inspect_reads_mlflows_zoneless_utc_time_as_utc(tmp_path: Path) -> None:
    folder = make_model(tmp_path / "m")  # utc_time_created: "2025-01-01 00:00:00.000000"
    assert data("inspect", str(folder))["created"] == "2025-01-01T00:00:00Z"


# ---------------------------------------------------------------------- registry copies


def test_copying_a_stage_uri_records_the_version_it_resolved_to(tmp_path: Path) -> None:
    invoke("register", str(make_model(tmp_path / "a", seed=1)), "--name", "churn")
    invoke("register", str(make_model(tmp_path / "b", seed=2)), "--name", "churn")
    invoke("promote", "churn", "2", "--stage", "Production")
    copied = data("register", "models:/churn/Production", "--name", "churn-copy")
    assert copied["source"] == "models:/churn/2"
    assert invoke("register", "models:/churn@nope", "--name", "x").exit_code == 4
    invoke("promote", "churn", "1", "--alias", "champion")
    assert data("register", "models:/churn@champion", "--name", "other")["source"] == "models:/churn/1"
    event = json.loads(invoke("history", "churn-copy", "--json").stdout)["data"]["events"][0]
    assert event["source"] == "models:/churn/2"


# ---------------------------------------------------------------------- docs


def test_readme_names_only_commands_that_exist() -> None:
    readme = (REPO / "README.md").read_text()
    commands = set(_click_commands())
    named = set(re.findall(r"`modelpack ([a-z]+)\b", readme)) | set(
        re.findall(r"^\s*(?:\S+=\$\()?modelpack ([a-z]+)\b", readme, re.MULTILINE)
    )
    assert named and named <= commands, named - commands
    assert "`check`" not in readme


def test_docs_cite_no_missing_format_document() -> None:
    for doc in [REPO / "README.md", *(REPO / "docs").glob("*.md")]:
        text = doc.read_text()
        for target in re.findall(r"\]\(([^)#]+\.md)", text):
            assert (doc.parent / target).exists(), (doc.name, target)
        if not (REPO / "docs" / "FORMAT.md").exists():
            assert "FORMAT.md" not in text, doc.name


def test_readme_says_how_to_install_the_command() -> None:
    readme = (REPO / "README.md").read_text()
    assert "`pip install modelpack` installs an unrelated" in " ".join(readme.split()).replace("**", "")
    assert "pip install ." in readme and "git+" in readme and ".venv/bin/modelpack" in readme
