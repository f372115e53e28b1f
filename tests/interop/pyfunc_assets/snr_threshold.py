"""A custom MLflow PythonModel, saved with ``code_paths`` so the folder carries its own class.

Imported by its bare module name (this folder goes on sys.path in the test), so the pickle refers
to ``snr_threshold`` and MLflow finds it again in the saved folder's ``code/`` directory.
"""

from __future__ import annotations

import mlflow.pyfunc


class SnrThreshold(mlflow.pyfunc.PythonModel):
    """Flags readings whose signal-to-noise ratio clears a threshold: 1 good, 0 poor."""

    def __init__(self, threshold: float = 30.0) -> None:
        self.threshold = threshold

    # No type hints here: MLflow 3 derives a signature from predict's hints and warns about Any.
    def predict(self, context, model_input, params=None):
        snr = model_input["signal_strength"].astype(float) - model_input["noise"].astype(float)
        return (snr > self.threshold).astype("int64").to_numpy()
