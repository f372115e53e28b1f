"""TARGET arguments: a model folder on disk or a ``models:/`` registry URI.

``inspect``, ``validate``, ``predict``, ``diff`` and ``register`` all resolve their TARGET here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelpack.config import Home
from modelpack.errors import InvalidModelError, NotFoundError
from modelpack.package.integrity import Recorded
from modelpack.progress import SILENT, Reporter
from modelpack.uri import is_model_uri


@dataclass(frozen=True)
class Target:
    """Where a TARGET's model files are. ``uri``/``name``/``version`` are set for registry URIs."""

    path: Path
    uri: str | None = None
    name: str | None = None
    version: int | None = None
    # What the registry recorded for the version: validate and predict check the files against it.
    recorded: Recorded | None = None
    # The version record's provenance (``modelpack.provenance.record``), for a URI.
    provenance: dict[str, Any] | None = None

    def registry_info(self) -> dict[str, Any] | None:
        if self.uri is None:
            return None
        info: dict[str, Any] = {"uri": self.uri, "name": self.name, "version": self.version}
        if self.provenance:
            info["provenance"] = self.provenance
        return info


def resolve_target(target: str, *, home: Home | None, reporter: Reporter = SILENT) -> Target:
    """Turn a command's TARGET into a folder holding the model.

    Args:
        target: a filesystem path or a model URI (``models:/NAME/VERSION|STAGE|latest``,
            ``models:/NAME@ALIAS``).
        home: the registry (a folder or ``s3://``), used only for URIs.
        reporter: progress of downloads from an ``s3://`` registry.

    Returns:
        For a path, the path unchanged. For a URI, the stored version's folder (a plain MLmodel
        folder, loadable by ``mlflow.pyfunc.load_model``) with the URI, name and version; for an
        ``s3://`` registry that folder is in the local cache, downloaded and verified first.

    Raises:
        NotFoundError: the path does not exist, or the URI names no model, version, stage or
            alias (the message lists what exists).
        InvalidModelError: the path is a file, not a folder (exit 3).
        UsageError: a malformed URI.
        RegistryError: the registry metadata is unreadable.
    """
    if is_model_uri(target):
        from modelpack.config import resolve_home
        from modelpack.registry import open_registry

        registry = open_registry(home or resolve_home(None), reporter=reporter)
        record = registry.resolve(target)
        folder = registry.checkout(record)
        manifest_sha256 = record.facts.get("manifest_sha256")
        recorded = Recorded(
            uri=record.uri,
            digest=record.digest,
            manifest_sha256=str(manifest_sha256) if manifest_sha256 else None,
        )
        return Target(
            path=folder,
            uri=target,
            name=record.name,
            version=record.version,
            recorded=recorded,
            provenance=record.provenance,
        )
    path = Path(target)
    if not path.exists():
        raise NotFoundError(f"model folder not found: {target}", path=target)
    if not path.is_dir():
        # It exists, so it was found; it is not a model (exit 3, as for a folder without MLmodel).
        raise InvalidModelError(
            f"{target} is a file, not a model folder",
            hint="give the folder that holds the MLmodel file",
            path=target,
        )
    return Target(path=path)


def pinned_uri(target: str, *, home: Home | None) -> str:
    """The version a ``models:/`` URI names now, as ``models:/NAME/VERSION`` (nothing is downloaded).

    Raises:
        NotFoundError: the URI names no model, version, stage or alias.
        UsageError: a malformed URI.
        RegistryError: the registry metadata is unreadable.
    """
    from modelpack.config import resolve_home
    from modelpack.registry import open_registry

    record = open_registry(home or resolve_home(None)).resolve(target)
    return f"models:/{record.name}/{record.version}"
