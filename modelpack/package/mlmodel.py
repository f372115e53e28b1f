"""The ``MLmodel`` document: read and write it the way MLflow does.

MLflow writes MLmodel with ``yaml.safe_dump(default_flow_style=False)`` (keys sorted) and reads
it with PyYAML's safe loader (libyaml's ``CSafeLoader`` when PyYAML has it), so unknown keys
survive both ways. modelpack's own facts live under one top-level ``modelpack`` key (name,
description, why a serialization was chosen, the feature names the model was fitted on).

Format version: ``modelpack.format_version`` records the layout modelpack wrote. To change the
layout, bump ``FORMAT_VERSION``, keep reading every older version (add a migration in
``_migrate`` that upgrades the raw dict in memory), and never write an older version.
Folders with no such key (saved by MLflow) are read as they are.

A package may come from anyone, so the YAML is bounded before it is built: nesting deeper than
``MAX_DEPTH`` levels, an alias that refers to the node it sits in, and aliases that expand the
document past ``MAX_NODES`` values (a "billion laughs" bomb, a few hundred bytes that every
consumer would walk as billions of values) are refused. MLflow writes no aliases at all; PyYAML
writes one only for a list or mapping that appears twice, which these limits leave readable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from modelpack import contents
from modelpack._json import MAX_DEPTH
from modelpack.errors import InvalidModelError, NotFoundError

MLMODEL_FILE: Final = "MLmodel"
FORMAT_VERSION: Final = 1
PYFUNC: Final = "python_function"
MODELPACK_KEY: Final = "modelpack"
# The creation time modelpack writes: a constant, so that a pack is reproducible (a real time
# would make every re-pack new content). MLflow only displays it; the registry records when each
# version was registered, and inspect shows this value as "not recorded".
NOT_RECORDED_TIME: Final = "1970-01-01 00:00:00"
# Under MODELPACK_KEY: the column names the model was fitted on (scikit-learn's
# ``feature_names_in_``), so ``diff`` can tell which inputs it reads without unpickling it.
FITTED_FEATURE_NAMES: Final = "fitted_feature_names"
# MLflow pins nothing on this; we record the MLflow release whose format we follow.
MLFLOW_FORMAT_VERSION: Final = "3.18.0"

# The safe constructor on libyaml's parser, as MLflow reads MLmodel: it builds plain data only
# (like ``yaml.safe_load``) and parses several times faster than the pure-Python parser, which
# stays the fallback for PyYAML builds without libyaml.
SAFE_LOADER: Final[type[yaml.SafeLoader] | type[yaml.CSafeLoader]] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)
#: The most values an MLmodel may hold once its aliases are expanded (a real one holds a few
#: hundred; consumers walk every expanded value, so this bounds their work).
MAX_NODES: Final = 100_000


@dataclass
class MLmodel:
    """A parsed MLmodel file. ``raw`` is the whole mapping; accessors cover what we use."""

    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def flavors(self) -> dict[str, Any]:
        flavors = self.raw.get("flavors")
        return flavors if isinstance(flavors, dict) else {}

    @property
    def pyfunc(self) -> dict[str, Any] | None:
        conf = self.flavors.get(PYFUNC)
        return conf if isinstance(conf, dict) else None

    @property
    def signature(self) -> dict[str, Any] | None:
        sig = self.raw.get("signature")
        return sig if isinstance(sig, dict) else None

    @property
    def input_example_info(self) -> dict[str, Any] | None:
        info = self.raw.get("saved_input_example_info")
        return info if isinstance(info, dict) else None

    @property
    def modelpack_info(self) -> dict[str, Any]:
        """What modelpack recorded under its own key (empty for folders MLflow saved)."""
        info = self.raw.get(MODELPACK_KEY)
        return info if isinstance(info, dict) else {}

    @property
    def fitted_feature_names(self) -> frozenset[str] | None:
        """The input columns the model was fitted on, or None when not recorded (or malformed)."""
        names = self.modelpack_info.get(FITTED_FEATURE_NAMES)
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return None
        return frozenset(names)

    @property
    def utc_time_created(self) -> str | None:
        value = self.raw.get("utc_time_created")
        return None if value is None else str(value)

    @property
    def created_utc(self) -> str | None:
        """``utc_time_created`` as ISO-8601 UTC with a ``Z``, like every other time modelpack shows.

        MLflow writes it without a zone (``2025-01-31 12:00:00.123456``), meaning UTC; a value
        that cannot be parsed is returned as it is, and modelpack's own epoch as None.
        """
        value = self.utc_time_created
        if value is None or value == NOT_RECORDED_TIME:
            return None
        import datetime as dt

        try:
            parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return value
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.timezone.utc)
        parsed = parsed.astimezone(dt.timezone.utc)
        return parsed.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if parsed.microsecond else "%Y-%m-%dT%H:%M:%SZ")

    @property
    def python_version(self) -> str | None:
        conf = self.pyfunc or {}
        value = conf.get("python_version")
        return None if value is None else str(value)

    def to_yaml(self) -> str:
        return dump_yaml(self.raw)


def dump_yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, default_flow_style=False, sort_keys=True)


def mlmodel_path(folder: Path) -> Path:
    return folder / MLMODEL_FILE


def read_mlmodel(folder: Path) -> MLmodel:
    """Parse ``folder/MLmodel`` with a safe YAML loader (never executes anything).

    Args:
        folder: a model folder, or the path of an MLmodel file itself.

    Returns:
        The parsed document.

    Raises:
        NotFoundError: the folder does not exist (exit 4).
        InvalidModelError: the folder holds no MLmodel file (it is not a model), or the file is
            not YAML, or not a mapping with a ``flavors`` mapping (exit 3).
    """
    path = folder if folder.name == MLMODEL_FILE and folder.is_file() else mlmodel_path(folder)
    if not folder.exists():
        raise NotFoundError(f"model folder not found: {folder}", path=str(folder))
    if not path.is_file():
        # The path exists but is no model: "validation failed (not a model)", as register says.
        raise InvalidModelError(
            f"no MLmodel file in {folder}",
            hint="point at a folder written by 'modelpack pack' or MLflow's save_model",
            path=str(folder),
        )
    try:
        raw = load_yaml(contents.read_text(path.parent, MLMODEL_FILE, key="MLmodel"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InvalidModelError(
            f"MLmodel in {folder} is not valid YAML: {_one_line(exc)}", path=str(path)
        ) from exc
    except YAMLLimitError as exc:
        raise InvalidModelError(f"MLmodel in {folder} is refused: {exc}", path=str(path)) from None
    if not isinstance(raw, dict):
        raise InvalidModelError(f"MLmodel in {folder} is not a YAML mapping", path=str(path))
    if not isinstance(raw.get("flavors"), dict) or not raw["flavors"]:
        raise InvalidModelError(f"MLmodel in {folder} has no flavors", path=str(path))
    return MLmodel(raw=_migrate(raw))


class YAMLLimitError(ValueError):
    """A YAML document that is well formed but deeper or bigger than modelpack reads."""


def load_yaml(text: str) -> Any:
    """Parse one YAML document with the safe loader, within :data:`MAX_DEPTH` and :data:`MAX_NODES`.

    Raises:
        yaml.YAMLError: not YAML.
        YAMLLimitError: nested too deeply, an alias inside the node it names, or too many
            values once aliases are expanded.
    """
    check_yaml_limits(text)
    return yaml.load(text, Loader=SAFE_LOADER)


def check_yaml_limits(text: str) -> None:
    """Walk the parser's events (libyaml's, flat: nothing recurses) and bound what they build.

    Each alias counts the values of the node it repeats, so the count is that of the expanded
    document, computed without expanding anything.
    """
    from yaml import events

    anchors: dict[str, tuple[int, int]] = {}  # anchor -> (values, height) of its node
    open_nodes: list[list[Any]] = []  # [anchor, values, height] of each collection being read
    total = 0
    for event in yaml.parse(text, Loader=SAFE_LOADER):
        size = height = 0
        if isinstance(event, events.CollectionStartEvent):
            if len(open_nodes) >= MAX_DEPTH:
                raise YAMLLimitError(f"nested deeper than {MAX_DEPTH} levels")
            open_nodes.append([event.anchor, 1, 1])
            total += 1
        elif isinstance(event, events.CollectionEndEvent):
            anchor, size, height = open_nodes.pop()
            if anchor is not None:
                anchors[anchor] = (size, height)
        elif isinstance(event, events.ScalarEvent):
            size = 1
            total += 1
            if event.anchor is not None:
                anchors[event.anchor] = (1, 0)
        elif isinstance(event, events.AliasEvent):
            if any(node[0] == event.anchor for node in open_nodes):
                raise YAMLLimitError(f"alias *{event.anchor} refers to a node that contains it")
            if event.anchor not in anchors:
                continue  # an undefined alias: the composer reports it
            size, height = anchors[event.anchor]
            total += size
            if len(open_nodes) + height > MAX_DEPTH:
                raise YAMLLimitError(f"nested deeper than {MAX_DEPTH} levels once aliases are expanded")
        if total > MAX_NODES:
            raise YAMLLimitError(f"holds more than {MAX_NODES} values once its aliases are expanded")
        if open_nodes and size:  # a finished value: count it in the collection holding it
            parent = open_nodes[-1]
            parent[1] += size
            parent[2] = max(parent[2], height + 1)


def _migrate(raw: dict[str, Any]) -> dict[str, Any]:
    # Only one version exists so far; older layouts get upgraded here when there are any.
    return raw


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
