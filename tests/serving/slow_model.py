"""A model whose predictions take as long as the request asks (column ``delay``, in seconds).

Imported by name when a server loads it (``--trust-pickle tests.serving.slow_model``).
"""

from __future__ import annotations

import time
from typing import Any


class SlowModel:
    def predict(self, frame: Any) -> Any:
        time.sleep(float(frame["delay"].max()))
        return (frame["delay"] * 2).to_numpy()


def make_model() -> SlowModel:
    return SlowModel()
