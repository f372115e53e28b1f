"""Reference for ``modelpack pack``: what an MLflow user writes to package the same model.

    python bench/mlflow_save.py MODEL.joblib SAMPLE.csv OUTPUT_DIR

Loads the model, reads the sample with pandas, infers the signature from the sample and the
model's predictions, and saves an MLflow model folder with a 5-row input example. Requirements
are inferred the way MLflow does by default.
"""

from __future__ import annotations

import sys

import joblib
import mlflow
import pandas as pd
from mlflow.models import infer_signature


def main(model_path: str, sample_path: str, output: str) -> None:
    model = joblib.load(model_path)
    sample = pd.read_csv(sample_path)
    signature = infer_signature(sample, model.predict(sample))
    mlflow.sklearn.save_model(model, output, signature=signature, input_example=sample.head(5))


if __name__ == "__main__":
    main(*sys.argv[1:4])
