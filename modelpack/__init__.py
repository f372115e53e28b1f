"""modelpack: package trained models as MLflow model folders and keep a registry of versions.

The public API is importable from here (``modelpack.pack``, ``modelpack.load_model``,
``modelpack.Registry``, ...); each name is imported on first use, so ``import modelpack`` stays
cheap. See docs/API.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Public name -> the module that defines it; imported on first attribute access.
_LAZY: dict[str, str] = {
    "pack": "modelpack.api",
    "inspect": "modelpack.api",
    "diff": "modelpack.api",
    "validate": "modelpack.api",
    "predict": "modelpack.api",
    "trust": "modelpack.api",
    "infer_schema": "modelpack.api",
    "schema": "modelpack.schema",  # the subpackage itself, callable: modelpack.schema(frame)
    "load_model": "modelpack.model",
    "Model": "modelpack.model",
    "Registry": "modelpack.registry_api",
    "ModelVersion": "modelpack.registry_api",
    "RegisteredModel": "modelpack.registry_api",
    "Promotion": "modelpack.registry_api",
    "Deletion": "modelpack.registry_api",
    "Event": "modelpack.registry_api",
    "Schema": "modelpack.schema.signature",
    "Signature": "modelpack.schema.signature",
    "ModelpackError": "modelpack.errors",
    "UsageError": "modelpack.errors",
    "InputFileError": "modelpack.errors",
    "DataFormatError": "modelpack.errors",
    "MissingDependencyError": "modelpack.errors",
    "NotFoundError": "modelpack.errors",
    "ConflictError": "modelpack.errors",
    "InvalidModelError": "modelpack.errors",
    "ArchiveError": "modelpack.errors",
    "SchemaViolationError": "modelpack.errors",
    "UnsafeModelError": "modelpack.errors",
    "IncompatibleSignatureError": "modelpack.errors",
    "RegistryError": "modelpack.errors",
    "InvalidNameError": "modelpack.names",
    "SignatureError": "modelpack.schema.signature",
}

__all__ = [
    "__version__",
    "pack",
    "inspect",
    "diff",
    "validate",
    "predict",
    "trust",
    "infer_schema",
    "schema",
    "load_model",
    "Model",
    "Registry",
    "ModelVersion",
    "RegisteredModel",
    "Promotion",
    "Deletion",
    "Event",
    "Schema",
    "Signature",
    "ModelpackError",
    "UsageError",
    "InputFileError",
    "DataFormatError",
    "MissingDependencyError",
    "NotFoundError",
    "ConflictError",
    "InvalidModelError",
    "ArchiveError",
    "SchemaViolationError",
    "UnsafeModelError",
    "IncompatibleSignatureError",
    "RegistryError",
    "InvalidNameError",
    "SignatureError",
]

if TYPE_CHECKING:
    from modelpack import schema
    from modelpack.api import diff, infer_schema, inspect, pack, predict, trust, validate
    from modelpack.errors import (
        ArchiveError,
        ConflictError,
        DataFormatError,
        IncompatibleSignatureError,
        InputFileError,
        InvalidModelError,
        MissingDependencyError,
        ModelpackError,
        NotFoundError,
        RegistryError,
        SchemaViolationError,
        UnsafeModelError,
        UsageError,
    )
    from modelpack.model import Model, load_model
    from modelpack.names import InvalidNameError
    from modelpack.registry_api import Deletion, Event, ModelVersion, Promotion, RegisteredModel, Registry
    from modelpack.schema.signature import Schema, Signature, SignatureError


def __getattr__(name: str) -> object:
    # ``modelpack.pack(...)`` etc. without importing the API (and its dependencies) up front.
    import importlib

    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelpack' has no attribute {name!r}")
    imported = importlib.import_module(module)
    value = imported if module == f"{__name__}.{name}" else getattr(imported, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    # The public API and the module's own dunders; not the helpers this file imports.
    return sorted({*(n for n in globals() if n.startswith("__")), *__all__})
