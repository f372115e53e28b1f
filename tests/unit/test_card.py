"""The model card renderer and reader: front matter, generated sections, provenance, hostile text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from modelpack.errors import InputFileError, InvalidModelError, NotFoundError
from modelpack.package import card
from modelpack.package.card import CardFacts, render_card, split_front_matter

SIGNATURE = {
    "inputs": json.dumps(
        [
            {"type": "long", "name": "count", "required": True},
            {"type": "string", "name": "color", "required": True},
        ]
    ),
    "outputs": json.dumps([{"type": "long", "required": True}]),
    "params": None,
}

PROVENANCE = {
    "git": {
        "commit": "0123456789abcdef0123456789abcdef01234567",
        "branch": "feature/churn",
        "dirty": True,
        "remote": "https://example.com/team/churn.git",
    },
    "ci": {
        "system": "github-actions",
        "run_url": "https://github.com/team/churn/actions/runs/42",
        "job": "train",
        "run_id": "42",
    },
    "training_data": {
        "name": "train.csv",
        "sha256": "ab" * 32,
        "size": 12345,
        "format": "csv",
        "schema": [{"type": "long", "name": "count"}],
    },
    "metrics": {"accuracy": 0.93, "f1": 0.9},
    "params": {"C": "1.0", "max_iter": "100"},
    "mlflow": {
        "run_id": "5f1e0c",
        "experiment_id": "1",
        "experiment_name": "churn",
        "tracking_uri": "sqlite:///mlflow.db",
        "artifact_path": "model",
    },
}


def _facts(**changes) -> CardFacts:
    base = {
        "name": "churn",
        "description": "Predicts which customers leave.",
        "flavor": "sklearn",
        "estimator": "sklearn.pipeline.Pipeline",
        "task": "classification",
        "serialization": "skops",
        "model_file": "model.skops",
        "python_version": "3.11.7",
        "requirements": ("scikit-learn==1.9.1", "skops==0.16.0"),
        "signature": SIGNATURE,
        "example_columns": ("count", "color"),
        "example_rows": ((3, "red"), (7, "blue")),
        "provenance": PROVENANCE,
        "modelpack_version": "0.1.0",
    }
    base.update(changes)
    return CardFacts(**base)


def _parts(text: str) -> tuple[dict, str]:
    front, body = split_front_matter(text)
    assert front is not None, text[:200]
    return yaml.safe_load(front), body


def test_generated_card_front_matter_is_what_the_hub_reads() -> None:
    meta, _ = _parts(render_card(_facts()))
    assert meta["library_name"] == "sklearn"
    assert meta["tags"] == ["modelpack", "mlflow", "sklearn", "tabular-classification"]
    assert meta["pipeline_tag"] == "tabular-classification"
    assert meta["model_file"] == "model.skops" and meta["model_format"] == "skops"
    (entry,) = meta["model-index"]
    assert entry["name"] == "churn"
    (result,) = entry["results"]
    assert result["task"] == {"type": "tabular-classification"}
    assert result["dataset"] == {"name": "train.csv", "type": "train.csv"}
    assert result["metrics"] == [
        {"type": "accuracy", "value": 0.93, "name": "accuracy"},
        {"type": "f1", "value": 0.9, "name": "f1"},
    ]


def test_generated_card_body_has_every_section_from_provenance() -> None:
    _, body = _parts(render_card(_facts()))
    assert body.startswith("# churn\n\nPredicts which customers leave.\n")
    for heading in (
        "## Model details",
        "## Signature",
        "### Inputs",
        "### Outputs",
        "## Input example",
        "## Provenance",
        "## Metrics",
        "## Parameters",
        "## How to use",
        "## Integrity",
    ):
        assert f"\n{heading}\n" in body, heading
    assert "| `count` | `long` | yes |" in body
    assert "| Estimator | `sklearn.pipeline.Pipeline` |" in body
    assert "| Git commit | `0123456789abcdef0123456789abcdef01234567` |" in body
    assert "| Git branch | `feature/churn` |" in body
    assert "| Uncommitted changes | yes |" in body
    assert (
        "[https://github.com/team/churn/actions/runs/42](https://github.com/team/churn/actions/runs/42)"
        in body
    )
    assert "| Training data | `train.csv` (csv, 12345 bytes) |" in body
    assert f"| Training data sha256 | `{'ab' * 32}` |" in body
    assert "| MLflow run | `5f1e0c` |" in body and "| MLflow experiment | `churn` |" in body
    assert "| `accuracy` | 0.93 |" in body and "| `max\\_iter` | 100 |" not in body
    assert "| `max_iter` | 100 |" in body
    assert 'mlflow.pyfunc.load_model("path/to/this/folder")' in body
    assert 'modelpack.load_model("path/to/this/folder")' in body
    assert "sha256:" not in body  # the card cannot hold the digest of the folder it is in


def test_without_provenance_the_card_says_so_and_has_no_model_index() -> None:
    meta, body = _parts(render_card(_facts(provenance={}, description=None)))
    assert "model-index" not in meta
    assert "## Provenance\n\nNot recorded." in body
    assert "## Metrics" not in body and "## Parameters" not in body
    assert "No description was given" in body


def test_unknown_task_and_generic_flavor_claim_nothing_of_the_hub() -> None:
    meta, _ = _parts(render_card(_facts(flavor="modelpack", task=None)))
    assert "library_name" not in meta and "pipeline_tag" not in meta and "model-index" not in meta
    assert meta["tags"] == ["modelpack", "mlflow"]


def test_rendering_is_deterministic() -> None:
    assert render_card(_facts()) == render_card(_facts())


def test_user_front_matter_is_kept_as_written_and_completed() -> None:
    user = "---\n# our metadata\nlicense: mit\nlibrary_name: our-lib  # keep\ntags: [churn]\n---\n# Ours\n\nText.\n"
    text = render_card(_facts(), user_card=user, generate=False)
    assert text.startswith(
        "---\n# our metadata\nlicense: mit\nlibrary_name: our-lib  # keep\ntags: [churn]\n"
    )
    meta, body = _parts(text)
    assert meta["library_name"] == "our-lib" and meta["tags"] == ["churn"] and meta["license"] == "mit"
    assert meta["pipeline_tag"] == "tabular-classification" and "model-index" in meta
    assert body == "# Ours\n\nText.\n"


def test_flow_style_user_front_matter_is_rewritten_whole() -> None:
    user = "---\n{license: mit, tags: [a]}\n---\nBody\n"
    meta, body = _parts(render_card(_facts(), user_card=user, generate=False))
    assert meta["license"] == "mit" and meta["tags"] == ["a"] and meta["library_name"] == "sklearn"
    assert body == "Body\n"


def test_user_card_without_front_matter_gets_one_and_keeps_its_body() -> None:
    user = "# Churn\r\n\r\nWritten on Windows.\r\n"
    meta, body = _parts(render_card(_facts(), user_card=user, generate=False))
    assert meta["library_name"] == "sklearn"
    assert body == "\n" + user


def test_user_body_then_generated_sections() -> None:
    _, body = _parts(render_card(_facts(), user_card="# Ours\n\nOur words.\n", generate=True))
    assert body.startswith("\n# Ours\n\nOur words.\n\n## Model details\n")
    assert "# churn" not in body  # the user's title stands


def test_hostile_facts_cannot_break_out_of_the_markdown() -> None:
    facts = _facts(
        name="x\n---\nlicense: evil",
        description="<script>alert(1)</script>\n# not a heading\x1b[31m",
        example_columns=("a|b", "`c`"),
        example_rows=(("<img src=x onerror=alert(1)>", "\x07"),),
        provenance={
            **PROVENANCE,
            "git": {"branch": "b`|<x>\n## injected"},
            "ci": {"run_url": "javascript:alert(1)"},
        },
    )
    text = render_card(facts)
    meta, body = _parts(text)
    assert "license" not in meta
    assert "\x1b" not in text and "\x07" not in text
    outside_code = re.sub(r"`[^`\n]*`", "", body)  # a code span shows < as it is
    assert not re.search(r"(?<!\\)<", outside_code)  # every other < escaped: no HTML
    assert "\\<script>" in body and "\n\\# not a heading" in body
    assert "\n## injected" not in body
    assert "[javascript" not in body and "(javascript" not in body
    assert "| a\\|b | \\`c\\` |" in body


@pytest.mark.parametrize(
    ("text", "front", "body"),
    [
        ("---\na: 1\n---\nbody\n", "a: 1\n", "body\n"),
        ("\ufeff---\na: 1\n...\nbody", "a: 1\n", "body"),
        ("---\n---\n", "", ""),
        ("---\r\na: 1\r\n---\r\nbody\r\n", "a: 1\r\n", "body\r\n"),
        ("---\na: 1\nno end\n", None, "---\na: 1\nno end\n"),
        ("# title\n---\na: 1\n---\n", None, "# title\n---\na: 1\n---\n"),
        ("", None, ""),
    ],
)
def test_split_front_matter(text: str, front: str | None, body: str) -> None:
    assert split_front_matter(text) == (front, body)


# Ten references a level, seven levels: ten million values once expanded, from a few hundred bytes.
_ALIAS_BOMB = "l0: &l0 [x]\n" + "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 8)
)


@pytest.mark.parametrize(
    ("front", "message"),
    [
        ("a: [1\n", "not valid YAML"),
        ("- a\n- b\n", "not a mapping"),
        (_ALIAS_BOMB, "refused"),
        ("a:\n" + "".join("  " * i + "-\n" for i in range(1, 200)), "refused"),
    ],
    ids=["bad-yaml", "list", "alias-bomb", "deep"],
)
def test_bad_front_matter_is_a_card_error(front: str, message: str) -> None:
    with pytest.raises(card.CardError, match=message):
        card.parse_front_matter(front)


def test_read_user_card_refusals(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        card.read_user_card(tmp_path / "nope.md")
    with pytest.raises(InputFileError, match="not a regular file"):
        card.read_user_card(tmp_path)
    big = tmp_path / "big.md"
    big.write_bytes(b"x" * (card.MAX_CARD_BYTES + 1))
    with pytest.raises(InputFileError, match="larger than 1 MiB"):
        card.read_user_card(big)
    latin = tmp_path / "latin.md"
    latin.write_bytes(b"caf\xe9\n")
    with pytest.raises(InputFileError, match="not UTF-8"):
        card.read_user_card(latin)
    bad = tmp_path / "bad.md"
    bad.write_text("---\nlicense: [mit\n---\nbody\n")
    with pytest.raises(InputFileError, match="front matter is not valid YAML"):
        card.read_user_card(bad)


def test_read_card_from_a_package(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("---\nlicense: mit\ndate: 2024-01-02\nx: .nan\n---\n# Hi\n")
    view, warnings = card.read_card(tmp_path, "README.md")
    assert warnings == [] and view is not None
    assert view.metadata == {"license": "mit", "date": "2024-01-02", "x": "nan"}
    assert view.body == "# Hi\n"
    json.dumps(view.to_dict(), allow_nan=False)  # JSON-safe: no NaN, no dates

    (tmp_path / "README.md").write_bytes(b"\xff\xfe")
    view, warnings = card.read_card(tmp_path, "README.md")
    assert view is not None and view.body is None and "not UTF-8" in warnings[0]

    view, warnings = card.read_card(tmp_path, "GONE.md")
    assert view is not None and view.body is None and "missing" in warnings[0]

    view, warnings = card.read_card(tmp_path, 7)
    assert view is None and "not a file name" in warnings[0]

    with pytest.raises(InvalidModelError, match="inside the model folder"):
        card.read_card(tmp_path, "../README.md")


def test_key_facts_flatten_what_a_person_reads() -> None:
    meta = {
        "license": "mit",
        "tags": ["a", "b"],
        "widget": [{"structuredData": {"x": [1]}}],
        "model-index": [{"name": "m", "results": [{"metrics": [{"type": "acc", "value": 0.5}]}]}],
    }
    assert card.key_facts(meta) == [("license", "mit"), ("tags", "a, b"), ("metrics", "acc=0.5")]
