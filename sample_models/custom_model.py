"""A model that is not a scikit-learn estimator: packed with the generic ``modelpack`` flavor.

``modelpack pack sample_models/custom_model.py:build --sample ...`` calls ``build()``; the class
travels by value inside the cloudpickle, so the folder does not need this file to load.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class SignalQualityScore:
    """Scores a Wi-Fi reading by its signal-to-noise ratio, clipped to [0, 1]."""

    def __init__(self, floor: float = 10.0, ceiling: float = 45.0) -> None:
        self.floor = floor
        self.ceiling = ceiling

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        snr = data["signal_strength"].to_numpy(dtype=float) - data["noise"].to_numpy(dtype=float)
        return np.clip((snr - self.floor) / (self.ceiling - self.floor), 0.0, 1.0)


def build() -> SignalQualityScore:
    return SignalQualityScore()
