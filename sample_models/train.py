"""Train the sample models and write their sample data files into sample_models/build/.

Everything is generated (deterministic seeds), so nothing binary lives in git:
- iris/: a RandomForest classifier trained on a DataFrame with named columns; sample.csv
- wifi/: ``wifi_scoring_model``, a pipeline over mixed features (numeric signal and noise,
  categorical band and vendor strings, an integer channel, a boolean flag); samples in CSV,
  Parquet and JSON, plus a larger scoring file
- regressor/: a Ridge regressor trained on a plain numpy array; sample.npy
"""

from __future__ import annotations

import argparse
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

VENDORS = ["acme", "globex", "initech", "umbrella", "hooli"]
BANDS = ["2.4GHz", "5GHz", "6GHz"]


def train_iris(out: Path) -> None:
    iris = load_iris(as_frame=True)
    frame = iris.frame.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    features = frame.drop(columns=["target"])
    model = RandomForestClassifier(n_estimators=25, random_state=0).fit(features, frame["target"])
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out / "model.joblib")
    features.sample(30, random_state=1).to_csv(out / "sample.csv", index=False)


def wifi_frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    band = rng.choice(BANDS, size=rows)
    channel = np.where(band == "2.4GHz", rng.integers(1, 12, rows), rng.integers(36, 166, rows))
    return pd.DataFrame(
        {
            "signal_strength": rng.normal(-60, 10, rows).round(1),
            "noise": rng.normal(-92, 4, rows).round(1),
            "band": band,
            "vendor": rng.choice(VENDORS, size=rows),
            "channel": channel.astype("int64"),
            "is_roaming": rng.random(rows) < 0.2,
        }
    )


def wifi_labels(frame: pd.DataFrame) -> np.ndarray:
    snr = frame["signal_strength"] - frame["noise"]
    return ((snr > 30) & ~frame["is_roaming"]).astype(int).to_numpy()


def train_wifi(out: Path) -> None:
    train = wifi_frame(2000, seed=0)
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), ["signal_strength", "noise", "channel"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["band", "vendor"]),
            ("flag", "passthrough", ["is_roaming"]),
        ]
    )
    model = Pipeline([("features", pre), ("classifier", LogisticRegression(max_iter=500))])
    model.fit(train, wifi_labels(train))
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out / "model.joblib")
    sample = wifi_frame(200, seed=1)
    sample.to_csv(out / "sample.csv", index=False)
    sample.to_parquet(out / "sample.parquet", index=False)
    sample.to_json(out / "sample.json", orient="records")
    wifi_frame(20_000, seed=2).to_csv(out / "score.csv", index=False)


def train_regressor(out: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 4))
    y = x @ np.array([1.5, -2.0, 0.5, 3.0]) + rng.normal(scale=0.1, size=500)
    model = Ridge(alpha=1.0).fit(x, y)
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out / "model.joblib")
    np.save(out / "sample.npy", x[:50])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "build")
    args = parser.parse_args()
    train_iris(args.out / "iris")
    train_wifi(args.out / "wifi")
    train_regressor(args.out / "regressor")
    print(f"trained sample models into {args.out}")


if __name__ == "__main__":
    main()
