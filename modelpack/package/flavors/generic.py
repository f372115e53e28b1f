"""The generic ``modelpack`` flavor: any Python object with ``predict``.

The object is written with cloudpickle (so classes defined in a user's script travel by value)
or pickle. MLflow loads it through ``modelpack.pyfunc_loader`` when modelpack is installed.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from modelpack.errors import InvalidModelError
from modelpack.package.flavors import GENERIC, GENERIC_LOADER, SavedModel
from modelpack.package.mlmodel import PYFUNC

MODEL_FILE = "model.pkl"


def save(model: Any, folder: Path, *, serialization: str, predict_fn: str) -> SavedModel:
    import modelpack

    fmt = "pickle" if serialization == "pickle" else "cloudpickle"
    if serialization == "skops":
        raise InvalidModelError("skops serializes scikit-learn models only; this model needs cloudpickle")
    from modelpack.package.flavors._deterministic import dumps_pickle

    payload = dumps_pickle(model, fmt)
    if fmt == "cloudpickle":
        reason = (
            "cloudpickle was requested"
            if serialization == "cloudpickle"
            else "not a scikit-learn model, so skops cannot hold it; cloudpickle keeps user classes"
        )
    else:
        reason = "--serialization pickle was requested"
    (folder / MODEL_FILE).write_bytes(payload)
    return SavedModel(
        flavors={
            GENERIC: {
                "model_file": MODEL_FILE,
                "serialization_format": fmt,
                "predict_fn": predict_fn,
                "modelpack_version": modelpack.__version__,
                "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
            },
            PYFUNC: {"loader_module": GENERIC_LOADER, "predict_fn": predict_fn},
        },
        model_file=MODEL_FILE,
        serialization=fmt,
        serialization_reason=reason,
        base_requirements=("cloudpickle",) if fmt == "cloudpickle" else (),
    )


def load(folder: Path, conf: dict[str, Any]) -> Any:
    """Load a scanned generic model file, opened through the gate (``modelpack.contents``)."""
    from modelpack import contents

    file_name = str(conf.get("model_file") or MODEL_FILE)
    with contents.open_file(folder, file_name, key="MLmodel flavors.modelpack.model_file") as fh:
        if conf.get("serialization_format", "cloudpickle") == "cloudpickle":
            import cloudpickle

            return cloudpickle.load(fh)
        return pickle.load(fh)  # noqa: S301 - scanned by flavors.load_model before we get here
