"""modelpack: package trained models as MLflow model folders and keep a registry of versions.

Only the version lives here; import the public API from ``modelpack.api`` so that importing
the package stays cheap.
"""

__version__ = "0.1.0"
