"""MLflow's entry point for folders with the generic ``modelpack`` flavor.

``mlflow.pyfunc.load_model(folder)`` imports the module the MLmodel names as ``loader_module``
(``modelpack.pyfunc_loader``, which re-exports ``_load_pyfunc`` from here) and calls it. As
with every MLflow loader, loading executes the pickle:
MLflow users opt into that by calling ``load_model``. ``modelpack predict`` and ``validate`` do
not come through here; they scan the pickles first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelpack.package.mlmodel import read_mlmodel


class _PyfuncModel:
    """The object MLflow's PyFuncModel wraps: ``predict(data, params=None)``."""

    def __init__(self, model: Any, predict_fn: str) -> None:
        self._model = model
        self._predict_fn = predict_fn

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return getattr(self._model, self._predict_fn)(data)


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> _PyfuncModel:
    from modelpack.package.flavors import GENERIC, generic

    root = Path(path)
    if root.is_file():  # MLflow passes the ``data`` path when one is set
        root = root.parent
    conf = read_mlmodel(root).flavors.get(GENERIC) or {}
    model = generic.load(root, conf)
    return _PyfuncModel(model, str(conf.get("predict_fn") or "predict"))
