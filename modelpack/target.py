"""TARGET arguments: a model folder on disk or a ``models:/`` registry URI."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelpack.errors import NotFoundError


@dataclass(frozen=True)
class Target:
    path: Path
    uri: str | None = None
    name: str | None = None
    version: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def registry_info(self) -> dict[str, Any] | None:
        if self.uri is None:
            return None
        return {"uri": self.uri, "name": self.name, "version": self.version, **self.extra}


def resolve_target(target: str, *, home: Path | None) -> Target:
    """A folder path as it is, or a registry URI resolved to its stored version folder.

    Raises:
        NotFoundError: the folder does not exist, or the URI names nothing in the registry.
    """
    if target.startswith("models:/"):
        raise NotFoundError(f"cannot resolve {target}: the registry is not available in this build")
    path = Path(target)
    if not path.exists():
        raise NotFoundError(f"model folder not found: {target}", path=target)
    if not path.is_dir():
        raise NotFoundError(f"{target} is a file, not a model folder", path=target)
    return Target(path=path)
