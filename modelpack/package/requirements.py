"""Pinned pip requirements for a packed model, read from the pickle without running it.

MLflow loads the model in a subprocess and records what got imported (seconds). The modules a
pickle needs are already named by its GLOBAL opcodes, so the safety scanner's opcode walk gives
them for free; they are mapped to installed distributions and pinned to the running versions.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path

# Imported by any model that reaches these libraries, even when the pickle names only sklearn.
_ALWAYS_WITH = {"scikit-learn": ("numpy", "scipy")}


def installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def pin(distribution: str) -> str:
    version = installed_version(distribution)
    if version is None:
        return distribution
    return f"{distribution}=={version.split('+', 1)[0]}"


def _import_path_state() -> tuple[tuple[str, int], ...]:
    """Each import path entry with its modification time: installing or removing a
    distribution adds or removes a ``*.dist-info`` entry there, which changes the time."""
    state = []
    for entry in sys.path:
        try:
            state.append((entry, Path(entry or ".").stat().st_mtime_ns))
        except OSError:
            state.append((entry, -1))
    return tuple(state)


@functools.lru_cache(maxsize=1)
def _packages_distributions(state: tuple[tuple[str, int], ...]) -> Mapping[str, list[str]]:
    # Reads every installed distribution's file list: most of what pack spends on a small
    # model. Cached while the import path and its directories stay as they are.
    return metadata.packages_distributions()


def modules_to_distributions(modules: Iterable[str]) -> set[str]:
    """Top-level module names to the installed distributions that provide them."""
    mapping = _packages_distributions(_import_path_state())
    stdlib = set(sys.stdlib_module_names) | {"__main__", "builtins"}
    out: set[str] = set()
    for module in modules:
        top = module.split(".", 1)[0]
        if not top or top in stdlib or top.startswith("_modelpack_user_"):
            continue
        for dist in mapping.get(top, []):
            out.add(_canonical(dist))
    return out


def infer_requirements(
    model_file: Path, base: Iterable[str], *, extra_modules: Iterable[str] = ()
) -> list[str]:
    """Sorted, pinned requirement lines for the model in ``model_file``.

    Args:
        model_file: the serialized model (pickle, joblib, cloudpickle or skops).
        base: distributions the flavor always needs (e.g. scikit-learn, skops).
        extra_modules: module names known to be needed beyond what the file references.

    Returns:
        Lines like ``scikit-learn==1.9.1``, one per distribution, sorted by name.
    """
    from modelpack import safety

    modules = set(safety.referenced_modules(model_file)) | set(extra_modules)
    dists = modules_to_distributions(modules) | {_canonical(b) for b in base}
    for dist, companions in _ALWAYS_WITH.items():
        if dist in dists:
            dists.update(companions)
    return sorted((pin(d) for d in dists), key=str.lower)


def _canonical(name: str) -> str:
    return name.strip().lower().replace("_", "-")
