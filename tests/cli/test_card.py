"""Model cards end to end, in real processes: ``pack --card/--generate-card`` and ``inspect``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from modelpack.package.card import MAX_CARD_BYTES, split_front_matter
from modelpack.package.manifest import read_manifest, verify_folder, write_manifest
from tests.conftest import modelpack_cmd

USER_CARD = """---
# Written by the team; modelpack must keep this comment.
license: apache-2.0
tags:
- churn
- internal
---
# Churn model

Predicts which customers cancel next month. Owner: the retention team.
"""


def _run(*args: str, seed: int = 0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    return subprocess.run(
        modelpack_cmd(*args), env=env, capture_output=True, text=True, timeout=600, check=False
    )


def _pack(model: Path, sample: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    result = _run("pack", str(model), "--sample", str(sample), "--output", str(out), *extra)
    assert result.returncode == 0, result.stderr
    return result


def _card(folder: Path) -> tuple[dict, str, str]:
    text = (folder / "README.md").read_text(encoding="utf-8")
    front, body = split_front_matter(text)
    assert front is not None
    return yaml.safe_load(front), body, text


def _mlmodel(folder: Path) -> dict:
    return yaml.safe_load((folder / "MLmodel").read_text())


def _assert_sealed(folder: Path) -> None:
    manifest = read_manifest(folder)
    assert manifest is not None and "README.md" in {f.path for f in manifest.files}
    assert verify_folder(folder, manifest).ok


@pytest.fixture
def user_card(tmp_path: Path) -> Path:
    path = tmp_path / "card.md"
    path.write_text(USER_CARD, encoding="utf-8")
    return path


def test_generated_card(tmp_path: Path, sk_model_file: Path, sample_csv: Path) -> None:
    out = tmp_path / "out"
    result = _pack(
        sk_model_file,
        sample_csv,
        out,
        "--generate-card",
        "--name",
        "churn",
        "--description",
        "Predicts churn.",
    )
    assert "model card: README.md" in result.stdout
    assert _mlmodel(out)["modelpack"]["card"] == "README.md"
    _assert_sealed(out)
    meta, body, _ = _card(out)
    assert meta["library_name"] == "sklearn"
    assert meta["pipeline_tag"] == "tabular-classification"
    assert meta["tags"] == ["modelpack", "mlflow", "sklearn", "tabular-classification"]
    assert meta["model_file"] == "model.skops" and meta["model_format"] == "skops"
    assert body.startswith("# churn\n\nPredicts churn.\n\n## Model details\n")
    assert "| Estimator | `sklearn.pipeline.Pipeline` |" in body
    for column, kind in (("count", "long"), ("ratio", "double"), ("color", "string"), ("flag", "boolean")):
        assert f"| `{column}` | `{kind}` | yes |" in body
    assert "## Input example" in body and "## How to use" in body
    assert "## Provenance" in body
    digest = json.loads(_run("inspect", str(out), "--json").stdout)["data"]["digest"]
    assert digest[len("sha256:") :] not in body


def test_user_card_with_front_matter_is_kept_and_completed(
    tmp_path: Path, sk_model_file: Path, sample_csv: Path, user_card: Path
) -> None:
    out = tmp_path / "out"
    _pack(sk_model_file, sample_csv, out, "--card", str(user_card), "--json")
    meta, body, text = _card(out)
    assert text.startswith(USER_CARD.split("---\n# Churn")[0])  # their front matter, comment included
    assert meta["license"] == "apache-2.0" and meta["tags"] == ["churn", "internal"]  # theirs wins
    assert meta["library_name"] == "sklearn" and meta["pipeline_tag"] == "tabular-classification"
    assert body == USER_CARD.split("---\n", 2)[2]  # their body, byte for byte
    assert "## Model details" not in body  # nothing generated unless asked
    _assert_sealed(out)


def test_user_card_without_front_matter_gets_one(
    tmp_path: Path, sk_model_file: Path, sample_csv: Path
) -> None:
    plain = tmp_path / "plain.md"
    plain.write_text("# Plain card\n\nNo metadata here.\n")
    out = tmp_path / "out"
    _pack(sk_model_file, sample_csv, out, "--card", str(plain))
    meta, body, _ = _card(out)
    assert meta["library_name"] == "sklearn"
    assert body == "\n# Plain card\n\nNo metadata here.\n"


def test_user_card_and_generated_sections(
    tmp_path: Path, sk_model_file: Path, sample_csv: Path, user_card: Path
) -> None:
    out = tmp_path / "out"
    _pack(sk_model_file, sample_csv, out, "--card", str(user_card), "--generate-card")
    _, body, _ = _card(out)
    assert body.startswith("# Churn model\n\nPredicts which customers cancel next month.")
    assert "\n## Model details\n" in body and "\n## Signature\n" in body


def test_no_card_unless_asked(packed: Path) -> None:
    assert not (packed / "README.md").exists()
    assert "card" not in _mlmodel(packed)["modelpack"]
    result = _run("inspect", str(packed), "--json")
    assert json.loads(result.stdout)["data"]["card"] is None
    assert "model card" not in _run("inspect", str(packed)).stdout


def test_card_is_reproducible(tmp_path: Path, sk_model_file: Path, sample_csv: Path, user_card: Path) -> None:
    digests = []
    for i, seed in enumerate((1, 2)):
        out = tmp_path / f"out{i}"
        result = _run(
            "pack", str(sk_model_file), "-s", str(sample_csv), "-o", str(out), "--card", str(user_card),
            "--generate-card", "--json", seed=seed,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        digests.append(json.loads(result.stdout)["data"]["digest"])
    assert digests[0] == digests[1]
    assert (tmp_path / "out0" / "README.md").read_bytes() == (tmp_path / "out1" / "README.md").read_bytes()


@pytest.mark.parametrize(
    ("content", "exit_code", "message"),
    [
        (None, 4, "model card not found"),
        (b"---\nlicense: [mit\n---\nbody\n", 1, "front matter is not valid YAML"),
        (b"---\n- a list\n---\nbody\n", 1, "not a mapping"),
        (b"caf\xe9\n", 1, "not UTF-8"),
        (b"x" * (MAX_CARD_BYTES + 1), 1, "larger than 1 MiB"),
    ],
    ids=["missing", "bad-yaml", "not-mapping", "not-utf8", "huge"],
)
def test_bad_user_card_is_one_error_line_and_writes_nothing(
    tmp_path: Path, sk_model_file: Path, sample_csv: Path, content: bytes | None, exit_code: int, message: str
) -> None:
    path = tmp_path / "card.md"
    if content is not None:
        path.write_bytes(content)
    out = tmp_path / "out"
    result = _run("pack", str(sk_model_file), "-s", str(sample_csv), "-o", str(out), "--card", str(path))
    assert result.returncode == exit_code, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
    assert not out.exists()


# -- inspect -------------------------------------------------------------------------------------


@pytest.fixture
def carded(tmp_path: Path, sk_model_file: Path, sample_csv: Path, user_card: Path) -> Path:
    out = tmp_path / "carded"
    _pack(sk_model_file, sample_csv, out, "--card", str(user_card), "--generate-card")
    return out


def test_inspect_shows_the_card(carded: Path) -> None:
    result = _run("inspect", str(carded))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    section = out[out.index("model card (README.md)") : out.index("\nfiles\n")]
    assert "license       apache-2.0" in section
    assert "tags          churn, internal" in section
    assert "library_name  sklearn" in section
    assert "    # Churn model" in section
    assert "more lines: 'modelpack inspect --card' prints the whole card" in section


def test_inspect_card_prints_the_whole_card(carded: Path) -> None:
    result = _run("inspect", str(carded), "--card")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (carded / "README.md").read_text()


def test_inspect_json_card(carded: Path) -> None:
    result = _run("inspect", str(carded), "--json")
    card = json.loads(result.stdout)["data"]["card"]
    meta, body, _ = _card(carded)
    assert card == {"path": "README.md", "metadata": meta, "body": body}


def test_readme_not_named_in_mlmodel_is_not_a_card(packed: Path, tmp_path: Path) -> None:
    folder = tmp_path / "with-readme"
    shutil.copytree(packed, folder)
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# not a card\n")
    write_manifest(folder)
    assert json.loads(_run("inspect", str(folder), "--json").stdout)["data"]["card"] is None
    result = _run("inspect", str(folder), "--card")
    assert result.returncode == 4
    assert "names no model card" in result.stderr and "Traceback" not in result.stderr


def _with_card(packed: Path, dest: Path, content: bytes, name: object = "README.md") -> Path:
    """A copy of ``packed`` whose MLmodel names ``name`` as its card, holding ``content``, resealed."""
    shutil.copytree(packed, dest)
    doc = _mlmodel(dest)
    doc["modelpack"]["card"] = name
    (dest / "MLmodel").write_text(yaml.safe_dump(doc))
    (dest / "README.md").write_bytes(content)
    write_manifest(dest)
    return dest


HOSTILE = (
    '---\nlicense: "mit\\e[2J"\n\x1b]0;pwned\x07title: x\n---\n'
    "# Card\x1b[31m red\n\u202eevil\u202c\nline\rover\n"
).encode()


# Ten references a level, seven levels: ten million values once expanded, from a few hundred bytes.
ALIAS_BOMB = (
    "l0: &l0 [x]\n" + "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 8))
).encode()


@pytest.mark.parametrize(
    ("content", "warning"),
    [
        (HOSTILE, "front matter is not valid YAML"),
        (b"---\nlicense: [mit\n---\n# body\n", "front matter is not valid YAML"),
        (b"---\n" + ALIAS_BOMB + b"---\nbody\n", "refused"),
        (b"\xff\xfe not utf-8", "not UTF-8"),
        (b"# big\n" + b"x" * MAX_CARD_BYTES, "larger than 1 MiB"),
    ],
    ids=["controls", "bad-yaml", "aliases", "not-utf8", "huge"],
)
def test_hostile_card_is_shown_safely_never_a_traceback(
    packed: Path, tmp_path: Path, content: bytes, warning: str | None
) -> None:
    folder = _with_card(packed, tmp_path / "hostile", content)
    for args in ((), ("--json",), ("--card",)):
        result = _run("inspect", str(folder), *args)
        assert result.returncode in (0, 4), result.stderr
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
        assert "\x1b" not in result.stdout and "\x07" not in result.stdout and "\u202e" not in result.stdout
        assert "\r" not in result.stdout
        if args == ("--json",):
            data = json.loads(result.stdout)
            assert any(warning in w for w in data["warnings"]), data["warnings"]
            assert data["data"]["card"]["path"] == "README.md"
        else:  # the summary warns; --card, which has nothing to print, says why in its error
            assert result.returncode == (4 if args and _unreadable(content) else 0)
            assert warning in result.stderr


def _unreadable(content: bytes) -> bool:
    return content.startswith(b"\xff") or len(content) > MAX_CARD_BYTES


def test_hostile_control_characters_are_escaped(packed: Path, tmp_path: Path) -> None:
    folder = _with_card(packed, tmp_path / "controls", HOSTILE)
    result = _run("inspect", str(folder), "--card")
    assert result.returncode == 0, result.stderr
    assert "\\x1b[31m red" in result.stdout and "\\u202eevil" in result.stdout
    assert "line\\rover" in result.stdout


def test_card_name_outside_the_folder_is_refused(packed: Path, tmp_path: Path) -> None:
    folder = _with_card(packed, tmp_path / "escape", b"# x\n", name="../../etc/passwd")
    result = _run("inspect", str(folder))
    assert result.returncode == 3
    assert "modelpack.card" in result.stderr and "Traceback" not in result.stderr


def test_card_name_not_a_string_is_a_warning(packed: Path, tmp_path: Path) -> None:
    folder = _with_card(packed, tmp_path / "odd", b"# x\n", name=["README.md"])
    result = _run("inspect", str(folder), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["data"]["card"] is None
    assert any("not a file name" in w for w in data["warnings"])


def test_inspect_a_registered_version_shows_its_card(carded: Path) -> None:
    result = _run("register", str(carded), "--name", "churn")
    assert result.returncode == 0, result.stderr
    shown = _run("inspect", "models:/churn/1", "--card")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == (carded / "README.md").read_text()
    data = json.loads(_run("inspect", "models:/churn/1", "--json").stdout)["data"]
    assert data["card"]["metadata"]["license"] == "apache-2.0"


def test_api_pack_with_card(tmp_path: Path, sk_model_file: Path, sample_csv: Path, user_card: Path) -> None:
    from modelpack import api

    result = api.pack(
        sk_model_file, sample=sample_csv, output=tmp_path / "api", card=user_card, generate_card=True
    )
    assert result.card == "README.md" and result.to_dict()["card"] == "README.md"
    report = api.inspect(tmp_path / "api")
    assert report.card is not None and report.card.metadata is not None
    assert report.card.metadata["license"] == "apache-2.0"
    assert report.to_dict()["card"]["body"].startswith("# Churn model")
