"""The files an MLmodel names, and the check that every one of them stays inside the package.

Which keys name files is decided here (``named_files``); whether such a name may be opened is
decided by ``modelpack.contents`` (relative, no ``..``, resolving inside the folder, a regular
file). ``validate`` reports what ``named_problems`` finds, ``register`` refuses it
(``check_named_files``), and the flavor loaders open their model file only through
``contents.open_file``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelpack import contents
from modelpack.errors import InvalidModelError

# Keys of a flavor section that name a file or folder inside the package.
FILE_KEYS = ("pickled_model", "model_path", "model_file", "data", "python_model", "code")


def named_files(raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(MLmodel key, relative path) for every file or folder MLmodel refers to."""
    out: list[tuple[str, str]] = []

    def add(where: str, value: Any) -> None:
        if isinstance(value, str) and value:
            out.append((where, value))

    flavors = raw.get("flavors")
    for flavor, conf in flavors.items() if isinstance(flavors, dict) else []:
        if not isinstance(conf, dict):
            continue
        base = f"flavors.{flavor}"
        for key in FILE_KEYS:
            add(f"{base}.{key}", conf.get(key))
        env = conf.get("env")
        if isinstance(env, dict):
            for key, value in env.items():
                add(f"{base}.env.{key}", value)
        else:
            add(f"{base}.env", env)
        extra = conf.get("extra_files")
        for i, item in enumerate(extra if isinstance(extra, list) else []):
            if isinstance(item, dict):
                add(f"{base}.extra_files[{i}].path", item.get("path"))
        artifacts = conf.get("artifacts")
        if isinstance(artifacts, dict):
            for name, item in artifacts.items():
                if isinstance(item, dict):
                    add(f"{base}.artifacts.{name}.path", item.get("path"))
    info = raw.get("saved_input_example_info")
    if isinstance(info, dict):
        add("saved_input_example_info.artifact_path", info.get("artifact_path"))
        add("saved_input_example_info.serving_input_path", info.get("serving_input_path"))
    return out


def named_problems(folder: Path, raw: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(refused, missing): ``key=path`` of every named path the gate refuses, and of those absent.

    A refused path is absolute, climbs out with ``..``, resolves outside the folder, or is a
    FIFO, device, socket or symlink loop; folders are accepted (``code`` names one).
    """
    refused: list[str] = []
    missing: list[str] = []
    for where, rel in named_files(raw):
        try:
            found = contents.locate(folder, rel, key=f"MLmodel {where}", missing_ok=True, allow_dir=True)
        except InvalidModelError:
            refused.append(f"{where}={contents.shown(rel)}")
            continue
        if found is None:
            missing.append(f"{where}={contents.shown(rel)}")
    return refused, missing


def check_named_files(folder: Path, raw: Mapping[str, Any]) -> None:
    """Refuse a package whose MLmodel names a path the gate refuses (missing files are let pass).

    Raises:
        InvalidModelError: the first such path, with its key (exit 3).
    """
    for where, rel in named_files(raw):
        contents.locate(folder, rel, key=f"MLmodel {where}", missing_ok=True, allow_dir=True)
