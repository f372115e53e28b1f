"""The environment files MLflow writes beside a model: conda.yaml, python_env.yaml, requirements.txt."""

from __future__ import annotations

import platform
from pathlib import Path

import yaml

CONDA_FILE = "conda.yaml"
PYTHON_ENV_FILE = "python_env.yaml"
REQUIREMENTS_FILE = "requirements.txt"


def python_version() -> str:
    return platform.python_version()


def _build_dependencies() -> list[str]:
    from modelpack.package.requirements import installed_version  # importlib.metadata: only when writing

    deps = []
    for dist in ("pip", "setuptools", "wheel"):
        version = installed_version(dist)
        deps.append(f"{dist}=={version}" if version and dist != "wheel" else dist)
    return deps


def write_environment(folder: Path, requirements: list[str]) -> None:
    """Write the three files the way MLflow does (requirements.txt has no trailing newline)."""
    py = python_version()
    (folder / REQUIREMENTS_FILE).write_text("\n".join(requirements))
    python_env = {
        "python": py,
        "build_dependencies": _build_dependencies(),
        "dependencies": [f"-r {REQUIREMENTS_FILE}"],
    }
    (folder / PYTHON_ENV_FILE).write_text(
        yaml.safe_dump(python_env, sort_keys=False, default_flow_style=False)
    )
    from modelpack.package.requirements import installed_version

    pip_version = installed_version("pip")
    conda = {
        "channels": ["conda-forge"],
        "dependencies": [
            f"python={py}",
            f"pip<={pip_version}" if pip_version else "pip",
            {"pip": requirements},
        ],
        "name": "mlflow-env",
    }
    (folder / CONDA_FILE).write_text(yaml.safe_dump(conda, sort_keys=True, default_flow_style=False))


def read_requirements(folder: Path) -> list[str]:
    """Requirement lines of a model folder (empty when it has no requirements.txt).

    Read through ``modelpack.contents``'s gate: a requirements.txt that links outside the folder,
    or is a FIFO or device, is refused (``InvalidModelError``), never read.
    """
    from modelpack import contents

    key = f"the package's {REQUIREMENTS_FILE}"
    if contents.locate(folder, REQUIREMENTS_FILE, key=key, missing_ok=True) is None:
        return []
    text = contents.read_bytes(folder, REQUIREMENTS_FILE, key=key).decode("utf-8", errors="replace")
    lines = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            lines.append(line)
    return lines


def pinned_versions(requirements: list[str]) -> dict[str, str]:
    """``name==version`` lines as a mapping (unpinned lines are left out)."""
    out = {}
    for line in requirements:
        name, sep, version = line.partition("==")
        if sep:
            out[name.split("[", 1)[0].strip().lower()] = version.split(";", 1)[0].strip()
    return out
