"""Byte-stable model files: what varies between processes is replaced, what loads is unchanged."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from modelpack.package.flavors._deterministic import canonical_skops, dumps_pickle, zeroed_padding

# Builds a fitted estimator holding sets and a padded structured array, then prints the sha256 of
# each serialization. Run with two hash seeds: str hashes, ids and memory all differ.
SCRIPT = """
import hashlib, sys
import numpy as np
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from modelpack.package.flavors._deterministic import canonical_skops, dumps_pickle

x = np.arange(20.0).reshape(10, 2)
model = LogisticRegression().fit(x, [0, 1] * 5)
model.tags_ = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta"}
model.same_tags_ = model.tags_
records = np.empty(4, dtype=[("flag", "u1"), ("value", "f8")])  # 7 padding bytes after flag
records["flag"], records["value"] = 1, 2.5
model.records_ = records
for payload in (
    dumps_pickle(model, "pickle"),
    dumps_pickle(model, "cloudpickle"),
    canonical_skops(sio.dumps({"tags": model.tags_, "coef": model.coef_})),
):
    print(hashlib.sha256(payload).hexdigest())
"""


def _digests(seed: int) -> list[str]:
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300, check=True
    )
    return out.stdout.split()


def test_serializations_are_the_same_in_every_process() -> None:
    assert _digests(1) == _digests(2)


@pytest.mark.parametrize("fmt", ["pickle", "cloudpickle"])
def test_sorted_sets_and_clean_arrays_load_as_they_were(fmt: str) -> None:
    records = np.empty(3, dtype=[("flag", "u1"), ("value", "f8")])
    records["flag"], records["value"] = [1, 0, 1], [0.5, 1.5, 2.5]

    extra = {"a": 1}
    tags = {"b", "a", "c"}
    holder = pickle.loads(pickle.dumps(_Holder(tags, records, extra)))
    loaded = pickle.loads(dumps_pickle(holder, fmt))  # noqa: S301 - our own bytes
    assert loaded.tags == tags and type(loaded.tags) is set
    assert loaded.tags is loaded.same  # one set, shared, as in the original
    assert loaded.records.dtype == records.dtype
    assert loaded.records.tolist() == records.tolist()


def test_zeroed_padding_only_touches_padding() -> None:
    dtype = np.dtype([("flag", "u1"), ("value", "f8")], align=True)
    records = np.frombuffer(bytes(range(1, 17)) * 2, dtype=dtype).copy()  # padding is 2..8
    clean = zeroed_padding(records)
    assert clean is not None and clean.tolist() == records.tolist()
    assert clean.tobytes()[1:8] == bytes(7)
    assert zeroed_padding(np.arange(3)) is None  # not structured: written as it is


def test_canonical_skops_still_loads() -> None:
    import skops.io as sio

    obj = {"tags": {"b", "a"}, "array": np.arange(4.0), "blob": b"raw"}
    data = canonical_skops(sio.dumps(obj))
    loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    assert loaded["tags"] == obj["tags"] and loaded["blob"] == b"raw"
    assert loaded["array"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert canonical_skops(data) == data  # already canonical


class _Holder:
    def __init__(self, tags: set[str], records: np.ndarray, extra: dict[str, int]) -> None:
        self.tags = tags
        self.same = tags
        self.records = records
        self.extra = extra


class _Names:
    pass


@pytest.mark.parametrize("fmt", ["pickle", "cloudpickle"])
def test_which_copy_of_an_attribute_name_an_object_holds_does_not_change_the_bytes(fmt: str) -> None:
    # The same name as a separate string object (as a model unpickled earlier in the process
    # leaves in the class's shared instance keys) or as the interned one: pickle's memo tells
    # them apart unless names are interned.
    copy = "".join(["rem", "ainder"])
    assert copy is not sys.intern("remainder")
    a, b = _Names(), _Names()
    a.__dict__[copy] = "drop"
    a.names = ["remainder"]
    b.__dict__[sys.intern("remainder")] = "drop"
    b.names = ["remainder"]
    assert dumps_pickle(a, fmt) == dumps_pickle(b, fmt)
    assert pickle.loads(dumps_pickle(a, fmt)).__dict__ == a.__dict__
