"""The model card: ``README.md`` in the model folder, Markdown with YAML front matter.

The layout is the one the Hugging Face Hub reads (and skops wrote): a ``---`` fenced YAML block
of metadata (``library_name``, ``tags``, ``pipeline_tag``, ``model-index`` for metrics...) at the
very top, then Markdown for people. ``pack`` writes the card when asked to (``--card FILE``,
``--generate-card``) and names it in MLmodel as ``modelpack.card``; a ``README.md`` that MLmodel
does not name is just a file, not a card.

* A user's card keeps its body and its front matter as written (comments included); the keys
  modelpack knows and the user did not set are added after theirs. A key the user set is never
  overwritten.
* A generated card is built from the MLmodel being written (name, description, flavor,
  signature, the ``modelpack.provenance`` metrics, params, git, CI, training data and MLflow
  run), the input example and the environment files. Nothing in it depends on the time or the
  machine, so a re-pack gives the same bytes and the same folder digest.
* The card cannot hold the folder's digest: it is one of the files the digest covers.

On ``inspect`` the card is someone else's file: it is opened through ``contents``' gate, read only
up to ``MAX_CARD_BYTES``, and its front matter is parsed with ``mlmodel.load_yaml`` (nesting and
aliases bounded). A card that is too large, not UTF-8 or has malformed front matter is a warning,
never an error; showing it safely on a terminal is the renderer's job.
"""

from __future__ import annotations

import math
import re
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from modelpack import contents
from modelpack.errors import InputFileError, NotFoundError

CARD_FILE: Final = "README.md"
#: The key under MLmodel's ``modelpack`` section that names the card file.
CARD_KEY: Final = "card"
#: The largest card read (a user's card at ``pack``, a package's card at ``inspect``).
MAX_CARD_BYTES: Final = 1 << 20
#: Body lines ``inspect`` shows by default (``inspect --card`` prints the whole card).
PREVIEW_LINES: Final = 12

_FENCE: Final = "---"
# Hugging Face's task ids for tabular models, and its library id for scikit-learn.
_PIPELINE_TAGS: Final = {"classification": "tabular-classification", "regression": "tabular-regression"}
_SKLEARN_LIBRARY: Final = "sklearn"
# C0/C1 controls and DEL: never written into a generated card (a column name or branch name may
# hold anything).
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f]")
_MARKDOWN_SPECIAL: Final = re.compile(r"([\\`*_\[\]<|])")
_LINE_START_SPECIAL: Final = re.compile(r"^([#>+-]|\d+[.)])")


class CardError(ValueError):
    """A card whose front matter is not a YAML mapping (or is deeper or bigger than allowed)."""


@dataclass(frozen=True)
class CardFacts:
    """What a generated card says and its front matter records. Every field may be unknown."""

    name: str | None = None
    description: str | None = None
    flavor: str | None = None
    estimator: str | None = None  # the model's class, "sklearn.pipeline.Pipeline"
    task: str | None = None  # "classification" or "regression" when the model says so
    serialization: str | None = None
    model_file: str | None = None
    python_version: str | None = None
    requirements: Sequence[str] = ()
    signature: Mapping[str, Any] | None = None  # MLmodel's signature section
    example_columns: Sequence[str] = ()
    example_rows: Sequence[Sequence[Any]] = ()
    provenance: Mapping[str, Any] = field(default_factory=dict)
    modelpack_version: str | None = None


@dataclass(frozen=True)
class CardView:
    """A package's card as ``inspect`` read it. ``metadata`` is None when the front matter could
    not be parsed, ``body`` is None when the card could not be read at all."""

    path: str
    metadata: dict[str, Any] | None
    body: str | None
    text: str | None = None  # the whole card, for ``inspect --card``

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "metadata": self.metadata, "body": self.body}


# -- reading ------------------------------------------------------------------------------------


def split_front_matter(text: str) -> tuple[str | None, str]:
    """``(front matter YAML, body)``; the YAML is None when the card has no closed ``---`` block.

    The block must start on the first line (after an optional byte-order mark) and end at the
    next line that is ``---`` (or YAML's ``...``), as the Hub reads it.
    """
    start = 1 if text.startswith("\ufeff") else 0
    first_end = text.find("\n", start)
    if first_end < 0 or text[start:first_end].rstrip() != _FENCE:
        return None, text
    pos = first_end + 1
    while pos <= len(text):
        end = text.find("\n", pos)
        line_end = len(text) if end < 0 else end
        if text[pos:line_end].rstrip() in (_FENCE, "..."):
            return text[first_end + 1 : pos], text[line_end + 1 :] if end >= 0 else ""
        if end < 0:
            break
        pos = end + 1
    return None, text


def parse_front_matter(yaml_text: str) -> dict[str, Any]:
    """The front matter as a mapping ({} when empty).

    Raises:
        CardError: not YAML, not a mapping, or beyond the YAML limits ``load_yaml`` keeps.
    """
    from modelpack.package.mlmodel import YAMLLimitError, load_yaml

    try:
        data = load_yaml(yaml_text)
    except yaml.YAMLError as exc:
        raise CardError(f"its front matter is not valid YAML: {_clean(str(exc))}") from None
    except YAMLLimitError as exc:
        raise CardError(f"its front matter is refused: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CardError(f"its front matter is a YAML {type(data).__name__}, not a mapping")
    return data


def read_user_card(path: Path) -> str:
    """The text of the card a user hands to ``pack``, checked before anything is packed.

    Raises:
        NotFoundError: no such file.
        InputFileError: not a regular file, larger than ``MAX_CARD_BYTES``, not UTF-8, or its
            front matter is not a YAML mapping.
    """
    if not path.exists():
        raise NotFoundError(f"model card not found: {path}", path=str(path))
    if not path.is_file():
        raise InputFileError(f"model card {path} is not a regular file", path=str(path))
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_CARD_BYTES + 1)
    except OSError as exc:
        raise InputFileError(f"cannot read model card {path}: {exc.strerror}", path=str(path)) from None
    if len(data) > MAX_CARD_BYTES:
        raise InputFileError(
            f"model card {path} is larger than {MAX_CARD_BYTES >> 20} MiB",
            hint="a model card is a page of Markdown; link large documents from it",
            path=str(path),
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(f"model card {path} is not UTF-8 text: {exc.reason}", path=str(path)) from None
    front, _ = split_front_matter(text)
    if front is not None:
        try:
            parse_front_matter(front)
        except CardError as exc:
            raise InputFileError(
                f"model card {path}: {exc}",
                hint="fix the YAML between the two '---' lines at the top",
                path=str(path),
            ) from None
    return text


def read_card(folder: Path, name: Any) -> tuple[CardView | None, list[str]]:
    """The card MLmodel names (``modelpack.card``), read as untrusted input, and warnings.

    Raises:
        InvalidModelError: the name is not a regular file inside the folder (an absolute path,
            ``..``, a link out of the folder, a FIFO or device): the package is refused, as for
            every other file it names.
    """
    if not isinstance(name, str) or not name:
        return None, ["MLmodel modelpack.card is not a file name; the model card is not shown"]
    key = "MLmodel modelpack.card"
    shown = contents.shown(name)
    real = contents.locate(folder, name, key=key, missing_ok=True)
    if real is None:
        return CardView(shown, None, None), [f"the model card {shown} is missing"]
    if real.stat().st_size > MAX_CARD_BYTES:
        why = f"is larger than {MAX_CARD_BYTES >> 20} MiB; not shown"
        return CardView(shown, None, None), [f"the model card {shown} {why}"]
    try:
        text = contents.read_text(folder, name, key=key, limit=MAX_CARD_BYTES)
    except UnicodeDecodeError:
        return CardView(shown, None, None), [f"the model card {shown} is not UTF-8 text; not shown"]
    front, body = split_front_matter(text)
    if front is None:
        return CardView(shown, {}, body, text), []
    try:
        metadata = parse_front_matter(front)
    except CardError as exc:
        return CardView(shown, None, body, text), [f"the model card {shown}: {exc}"]
    return CardView(shown, _plain(metadata), body, text), []


def _plain(value: Any, depth: int = 0) -> Any:
    """YAML data as JSON data: string keys, dates as text, NaN and infinities as text."""
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def key_facts(metadata: Mapping[str, Any], *, limit: int = 16) -> list[tuple[str, str]]:
    """The front matter's top-level facts as ``(key, text)``: scalars and lists of scalars, and
    the metrics of ``model-index``; nested structures are left to ``--json``."""
    facts: list[tuple[str, str]] = []
    for key, value in metadata.items():
        if key == "model-index":
            metrics = _index_metrics(value)
            if metrics:
                facts.append(("metrics", ", ".join(metrics)))
        elif isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
            facts.append((str(key), ", ".join(str(v) for v in value)))
        elif not isinstance(value, (dict, list)) and value is not None:
            facts.append((str(key), str(value)))
        if len(facts) >= limit:
            break
    return [(k, v if len(v) <= 200 else v[:199] + "…") for k, v in facts]


def _index_metrics(index: Any) -> list[str]:
    found = []
    for model in index if isinstance(index, list) else []:
        results = model.get("results") if isinstance(model, dict) else None
        for result in results if isinstance(results, list) else []:
            metrics = result.get("metrics") if isinstance(result, dict) else None
            for metric in metrics if isinstance(metrics, list) else []:
                if isinstance(metric, dict) and "value" in metric:
                    found.append(f"{metric.get('name') or metric.get('type')}={metric['value']}")
    return found


def body_preview(body: str, lines: int = PREVIEW_LINES) -> tuple[list[str], int]:
    """The first ``lines`` lines of the body (leading blank lines skipped) and how many follow."""
    all_lines = body.lstrip("\r\n").split("\n")
    while all_lines and not all_lines[-1].strip():
        all_lines.pop()
    return [line.rstrip("\r") for line in all_lines[:lines]], max(0, len(all_lines) - lines)


# -- writing ------------------------------------------------------------------------------------


def describe_estimator(model: Any) -> tuple[str, str | None]:
    """The model's class (``module.QualName``) and its task when scikit-learn says so.

    scikit-learn is consulted only if already imported (the model is one of its estimators then).
    """
    cls = type(model)
    module = cls.__module__
    if module.startswith("sklearn."):  # its public path: sklearn.linear_model, not ._logistic
        module = ".".join(part for part in module.split(".") if not part.startswith("_"))
    estimator = f"{module}.{cls.__qualname__}"
    base = sys.modules.get("sklearn.base")
    task = None
    if base is not None and isinstance(model, base.BaseEstimator):
        try:
            with warnings.catch_warnings():  # an estimator with old-style tags may warn
                warnings.simplefilter("ignore")
                classifier, regressor = base.is_classifier(model), base.is_regressor(model)
            if classifier:
                task = "classification"
            elif regressor:
                task = "regression"
        except Exception:  # an estimator whose tags cannot be read: the task stays unknown
            task = None
    return estimator, task


def facts_for_folder(
    folder: Path, mlmodel: Mapping[str, Any], *, estimator: str | None = None, task: str | None = None
) -> CardFacts:
    """The facts of the MLmodel being written into ``folder`` (its example and requirements
    already there)."""
    from modelpack.package.environment import read_requirements
    from modelpack.package.example import preview, read_example_json
    from modelpack.package.mlmodel import MODELPACK_KEY, PYFUNC

    info = mlmodel.get(MODELPACK_KEY) or {}
    flavors = mlmodel.get("flavors") or {}
    pyfunc = flavors.get(PYFUNC) or {}
    flavor = next((name for name in flavors if name != PYFUNC), PYFUNC)
    serialization = (flavors.get(flavor) or {}).get("serialization_format")
    columns: list[str] = []
    rows: list[list[Any]] = []
    example_info = mlmodel.get("saved_input_example_info")
    if isinstance(example_info, dict):
        columns, rows = preview(read_example_json(folder, example_info), example_info, rows=3)
    provenance = info.get("provenance")
    return CardFacts(
        name=info.get("name"),
        description=info.get("description"),
        flavor=flavor,
        estimator=estimator,
        task=task,
        serialization=serialization,
        model_file=pyfunc.get("model_path"),
        python_version=pyfunc.get("python_version"),
        requirements=tuple(read_requirements(folder)),
        signature=mlmodel.get("signature"),
        example_columns=tuple(columns),
        example_rows=tuple(tuple(r) for r in rows),
        provenance=provenance if isinstance(provenance, Mapping) else {},
        modelpack_version=info.get("version"),
    )


def render_card(facts: CardFacts, *, user_card: str | None = None, generate: bool = True) -> str:
    """The card's text: front matter, then the user's body, the generated sections, or both.

    Args:
        facts: what modelpack knows about the model.
        user_card: the user's card (``read_user_card``); its body is kept as written and its
            front matter keys win over modelpack's.
        generate: add the generated sections (after the user's body when there is one).

    Raises:
        CardError: the user's front matter is not a YAML mapping.
    """
    theirs_text, body = split_front_matter(user_card) if user_card is not None else (None, "")
    theirs = parse_front_matter(theirs_text) if theirs_text is not None else {}
    front = _merge_front_matter(theirs_text, theirs, front_matter(facts))
    if user_card is not None and theirs_text is None:
        body = "\n" + body  # a blank line between the new front matter and the user's first line
    if generate:
        sections = generated_body(facts, title=user_card is None)
        body = sections if user_card is None else body.rstrip() + "\n\n" + sections
    return f"{_FENCE}\n{front}{_FENCE}\n{body}"


def front_matter(facts: CardFacts) -> dict[str, Any]:
    """The Hub's metadata keys modelpack can fill, in the order it writes them."""
    pipeline_tag = _PIPELINE_TAGS.get(facts.task or "")
    tags = ["modelpack", "mlflow"]
    if facts.flavor == "sklearn":
        tags.append("sklearn")
    if pipeline_tag:
        tags.append(pipeline_tag)
    doc: dict[str, Any] = {}
    if facts.flavor == "sklearn":
        doc["library_name"] = _SKLEARN_LIBRARY
    doc["tags"] = tags
    if pipeline_tag:
        doc["pipeline_tag"] = pipeline_tag
    if facts.model_file:
        doc["model_file"] = facts.model_file  # skops's keys: which file, in which format
    if facts.serialization:
        doc["model_format"] = "skops" if facts.serialization == "skops" else "pickle"
    metrics = _metrics(facts.provenance)
    if metrics and pipeline_tag:
        # The Hub requires a task and a dataset for every result; the training data's name is
        # the dataset modelpack knows (the metrics were recorded with it).
        data = facts.provenance.get("training_data")
        data_name = _clean(str(data.get("name"))) if isinstance(data, Mapping) and data.get("name") else ""
        doc["model-index"] = [
            {
                "name": _clean(facts.name or facts.estimator or "model"),
                "results": [
                    {
                        "task": {"type": pipeline_tag},
                        "dataset": {"name": data_name or "unspecified", "type": data_name or "unspecified"},
                        "metrics": [{"type": k, "value": v, "name": k} for k, v in metrics],
                    }
                ],
            }
        ]
    return doc


def _merge_front_matter(theirs_text: str | None, theirs: dict[str, Any], ours: dict[str, Any]) -> str:
    """Their front matter as written, with our keys they lack appended (re-written whole only if
    appending would not read back as the union, e.g. for a flow-style mapping)."""
    added = {k: v for k, v in ours.items() if k not in theirs}
    if theirs_text is None:
        return _dump(added)
    written = theirs_text if theirs_text.endswith("\n") or not theirs_text else theirs_text + "\n"
    if not added:
        return written
    combined = written + _dump(added)
    try:
        if parse_front_matter(combined) == {**theirs, **added}:
            return combined
    except CardError:
        pass
    return _dump({**theirs, **added})


def _dump(data: Mapping[str, Any]) -> str:
    if not data:
        return ""
    return yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True, default_flow_style=False)


def _metrics(provenance: Mapping[str, Any]) -> list[tuple[str, Any]]:
    metrics = provenance.get("metrics")
    if not isinstance(metrics, Mapping):
        return []
    out = []
    for key in sorted(metrics, key=str):
        value = metrics[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            continue
        out.append((_clean(str(key)), value))
    return out


def generated_body(facts: CardFacts, *, title: bool = True) -> str:
    """The Markdown sections of a generated card (with the title and description when ``title``)."""
    parts: list[str] = []
    if title:
        heading = facts.name or (facts.estimator.rsplit(".", 1)[-1] if facts.estimator else "Model")
        parts.append(f"# {_md(heading)}")
        parts.append(
            _md(facts.description, keep_lines=True)
            if facts.description
            else "No description was given (`modelpack pack --description TEXT` records one)."
        )
    parts.append(_details(facts))
    parts.append(_signature_section(facts.signature))
    if facts.example_columns or facts.example_rows:
        parts.append(_example_section(facts))
    parts.append(_provenance_section(facts.provenance))
    for key, heading in (("metrics", "Metrics"), ("params", "Parameters")):
        section = _mapping_section(
            facts.provenance.get(key), heading, "Metric" if key == "metrics" else "Parameter"
        )
        if section:
            parts.append(section)
    parts.append(_usage_section())
    parts.append(
        "## Integrity\n\n"
        "This card is one of the files the folder's sha256 digest covers, so it cannot state that "
        "digest. `modelpack inspect FOLDER` shows it, and `modelpack validate FOLDER` checks every "
        "file against the manifest (`modelpack.manifest.json`)."
    )
    return "\n\n".join(parts) + "\n"


def _details(facts: CardFacts) -> str:
    rows: list[tuple[str, str]] = []
    if facts.estimator:
        rows.append(("Estimator", _code(facts.estimator)))
    if facts.task:
        rows.append(("Task", _md(facts.task)))
    if facts.flavor:
        rows.append(("MLflow flavor", _code(facts.flavor)))
    if facts.model_file:
        model_file = _code(facts.model_file)
        rows.append(
            (
                "Model file",
                f"{model_file} ({_md(facts.serialization)})" if facts.serialization else model_file,
            )
        )
    if facts.python_version:
        rows.append(("Python", _md(facts.python_version)))
    if facts.requirements:
        rows.append(("Requirements", ", ".join(_code(r) for r in facts.requirements)))
    if facts.modelpack_version:
        rows.append(("Packed with", f"modelpack {_md(facts.modelpack_version)}"))
    return "## Model details\n\n" + _table(("", ""), rows)


def _signature_section(signature: Mapping[str, Any] | None) -> str:
    from modelpack.schema.signature import Signature, schema_rows

    lines = ["## Signature"]
    try:
        sig = Signature.from_mlmodel(dict(signature)) if signature else None
    except Exception:  # a signature modelpack could not parse is simply not described
        sig = None
    if sig is None:
        return "## Signature\n\nNo signature is recorded."
    for side in ("inputs", "outputs"):
        schema = getattr(sig, side)
        if schema is None:
            continue
        rows = [(_code(n), _code(t), "yes" if r else "no") for n, t, r in schema_rows(schema)]
        lines.append(f"### {side.capitalize()}\n\n" + _table(("Name", "Type", "Required"), rows))
    return "\n\n".join(lines)


def _example_section(facts: CardFacts) -> str:
    count = max([len(facts.example_columns), *(len(r) for r in facts.example_rows)])
    headers = [_md(str(c)) for c in facts.example_columns] + [""] * (count - len(facts.example_columns))
    rows = [[_md(_value(v)) for v in row] + [""] * (count - len(row)) for row in facts.example_rows]
    return "## Input example\n\nThe first rows of `input_example.json`:\n\n" + _table(
        headers or [""] * count, rows
    )


def _provenance_section(provenance: Mapping[str, Any]) -> str:
    rows: list[tuple[str, str]] = []
    git = provenance.get("git")
    if isinstance(git, Mapping):
        if git.get("commit"):
            rows.append(("Git commit", _code(str(git["commit"]))))
        if git.get("branch"):
            rows.append(("Git branch", _code(str(git["branch"]))))
        if isinstance(git.get("dirty"), bool):
            rows.append(("Uncommitted changes", "yes" if git["dirty"] else "no"))
        if git.get("remote"):
            rows.append(("Git remote", _code(str(git["remote"]))))
    ci = provenance.get("ci")
    if isinstance(ci, Mapping):
        if ci.get("system"):
            rows.append(("CI", _md(str(ci["system"]))))
        if ci.get("run_url"):
            rows.append(("CI run", _link(str(ci["run_url"]))))
        for key, label in (("job", "CI job"), ("run_id", "CI run id")):
            if ci.get(key):
                rows.append((label, _code(str(ci[key]))))
    data = provenance.get("training_data")
    if isinstance(data, Mapping):
        if data.get("name"):
            extra = [str(data[k]) for k in ("format",) if data.get(k)]
            if isinstance(data.get("size"), int):
                extra.append(f"{data['size']} bytes")
            suffix = f" ({_md(', '.join(extra))})" if extra else ""
            rows.append(("Training data", _code(str(data["name"])) + suffix))
        if data.get("sha256"):
            rows.append(("Training data sha256", _code(str(data["sha256"]))))
    run = provenance.get("mlflow")
    if isinstance(run, Mapping):
        for key, label in (
            ("run_id", "MLflow run"),
            ("experiment_name", "MLflow experiment"),
            ("experiment_id", "MLflow experiment id"),
            ("tracking_uri", "MLflow tracking URI"),
            ("artifact_path", "MLflow artifact path"),
        ):
            if run.get(key):
                rows.append((label, _code(str(run[key]))))
    if not rows:
        return "## Provenance\n\nNot recorded."
    return "## Provenance\n\n" + _table(("", ""), rows)


def _mapping_section(values: Any, heading: str, column: str) -> str | None:
    if not isinstance(values, Mapping) or not values:
        return None
    rows = [(_code(str(k)), _md(_value(values[k]))) for k in sorted(values, key=str)]
    return f"## {heading}\n\n" + _table((column, "Value"), rows)


def _usage_section() -> str:
    return (
        "## How to use\n\n"
        "With modelpack (checks the folder's integrity and scans the model file before loading it):\n\n"
        "```python\n"
        "import modelpack\n\n"
        'model = modelpack.load_model("path/to/this/folder")\n'
        "predictions = model.predict(data)\n"
        "```\n\n"
        "With MLflow:\n\n"
        "```python\n"
        "import mlflow\n\n"
        'model = mlflow.pyfunc.load_model("path/to/this/folder")\n'
        "predictions = model.predict(data)\n"
        "```\n\n"
        "From the command line: `modelpack predict path/to/this/folder --data input.csv`."
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _clean(text: str) -> str:
    """One line, no control characters."""
    return " ".join(_CONTROL.sub(" ", text).split())


def _md(text: str | None, *, keep_lines: bool = False) -> str:
    """Text as literal Markdown (no markup, no HTML), on one line unless ``keep_lines``."""
    if text is None:
        return ""
    if not keep_lines:
        return _MARKDOWN_SPECIAL.sub(r"\\\1", _clean(text))
    escaped = (_MARKDOWN_SPECIAL.sub(r"\\\1", _clean(line)) for line in text.split("\n"))
    return "\n".join(_LINE_START_SPECIAL.sub(r"\\\1", line) for line in escaped)


def _code(text: str) -> str:
    """Text as an inline code span (a backtick in it becomes a quote, a pipe is escaped for tables)."""
    return "`" + _clean(text).replace("`", "'").replace("|", "\\|") + "`"


def _link(url: str) -> str:
    clean = _clean(url)
    if re.fullmatch(r"https?://[^\s()<>\[\]|`]+", clean):
        return f"[{_md(clean)}]({clean})"
    return _code(clean)


def _value(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return "" if value is None else str(value)
