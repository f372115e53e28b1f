"""modelpack: package trained models as MLflow model folders and keep a registry of versions.

Only the version lives here; import the public API from ``modelpack.api`` so that importing
the package stays cheap.
"""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # ``modelpack.pack(...)`` etc. without importing the API (and its dependencies) up front.
    if name in {"pack", "inspect"}:
        from modelpack import api

        return getattr(api, name)
    raise AttributeError(f"module 'modelpack' has no attribute {name!r}")
