"""Notebook displays: every result has a short one-line ``repr`` and an escaped ``_repr_html_``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modelpack
from modelpack import _html

HOSTILE = "<script>alert(1)</script>"
LIMIT = _html.REPR_LIMIT


def _short(value: object) -> str:
    text = repr(value)
    assert "\n" not in text and "\r" not in text
    assert len(text) <= LIMIT
    return text


def _escaped(page: str) -> str:
    assert "<script>" not in page and "</script>" not in page
    assert "&lt;script&gt;" in page
    return page


@pytest.fixture
def hostile(tmp_path: Path) -> tuple[Path, Path, pd.DataFrame]:
    """A package whose column name and description carry markup, and a second one with a new column."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({HOSTILE: rng.random(20), "b": rng.integers(0, 9, 20).astype("int64")})
    target = (frame["b"] > 4).astype("int64")
    a = tmp_path / "a"
    modelpack.pack(LogisticRegression().fit(frame, target), frame, a, description=HOSTILE, name="churn")
    wider = frame.assign(c=1.5)
    b = tmp_path / "b"
    modelpack.pack(LogisticRegression().fit(wider, target), wider, b, description="second")
    return a, b, frame


def test_inspect_report(hostile) -> None:
    a, _, _ = hostile
    report = modelpack.inspect(a)
    text = _short(report)
    assert text.startswith("<InspectReport ") and "sklearn" in text and "2 inputs" in text
    page = _escaped(report._repr_html_())
    for fact in ("sklearn", report.digest, "MLmodel", "model.skops", "<td>b</td>", "long", "double"):
        assert fact in page, fact
    assert f"<td>{_html.text(HOSTILE)}</td>" in page  # the column, escaped, in the signature table


def test_validation_report(hostile) -> None:
    a, _, frame = hostile
    report = modelpack.validate(a, data=frame)
    text = _short(report)
    assert text.startswith("<ValidationReport ") and ": ok (" in text
    page = _escaped(modelpack.validate(a, data=frame.assign(**{HOSTILE: "text"}))._repr_html_())
    for check in ("structure", "integrity", "safety", "load", "data", "environment"):
        assert f"<td>{check}</td>" in page
    assert "<td>failed</td>" in page  # the data check names the broken column in its reason
    assert all(_short(c).startswith("<Check ") for c in report.checks)


def test_validation_report_repr_names_the_failed_checks(hostile) -> None:
    a, _, frame = hostile
    report = modelpack.validate(a, data=frame.drop(columns=["b"]))
    assert report.status == "failed"
    assert "failed: data" in _short(report)


def test_diff_report(hostile) -> None:
    a, b, _ = hostile
    report = modelpack.diff(a, b)
    text = _short(report)
    assert text.startswith("<DiffReport ") and "breaking" in text
    page = _escaped(report._repr_html_())
    assert "<td>added</td>" in page and "<td>c</td>" in page and "breaking" in page
    assert "description" in page  # metadata change, the hostile old value escaped
    assert "identical" in _short(modelpack.diff(a, a))


def test_registry_results(hostile) -> None:
    a, b, _ = hostile
    registry = modelpack.Registry()
    v1 = registry.register(a, "churn", description=HOSTILE, tags={"note": HOSTILE})
    promotion = registry.promote("churn", v1.version, stage="Production", alias="champion")
    v1 = registry.get_version("churn", v1.version)
    assert _short(v1).startswith("<ModelVersion churn v1 (Production, @champion)")
    page = _escaped(v1._repr_html_())
    assert "Production" in page and "champion" in page and v1.digest in page
    _short(promotion)
    (model,) = registry.list_models()
    assert "Production: v1" in _short(model)
    page = model._repr_html_()
    assert "<td>Production</td><td>v1</td>" in page and "<td>@champion</td><td>v1</td>" in page
    registry.set_description("churn", HOSTILE)
    _escaped(registry.list_models()[0]._repr_html_())
    v2 = registry.register(b, "churn")
    assert _short(registry.delete("churn", v2.version)) == "<Deletion churn v2>"
    assert all(_short(e).startswith("<Event ") for e in registry.history("churn"))


def test_pack_result_and_model(hostile, tmp_path: Path) -> None:
    a, _, frame = hostile
    model = modelpack.load_model(a)
    _short(model)
    _escaped(model._repr_html_())
    _escaped(modelpack.infer_schema(frame)._repr_html_())


def test_repr_is_one_bounded_line_whatever_the_value() -> None:
    long = "x" * 1000 + "\n<b>"
    assert len(_html.one_line(long)) == LIMIT and "\n" not in _html.one_line(long)
    assert _html.one_line("a\r\nb\x00c") == "a b c"
    assert (
        _html.fields([("k", HOSTILE)]) == f"<table><tr><th>k</th><td>{_html.text(HOSTILE)}</td></tr></table>"
    )
    assert '"' not in _html.text('a"b') and _html.text(None) == "-"


def test_predict_and_trust_results(hostile, tmp_path: Path) -> None:
    a, _, frame = hostile
    big = pd.concat([frame] * 50, ignore_index=True)
    data = tmp_path / "big.csv"
    big.to_csv(data, index=False)
    result = modelpack.predict(a, data)
    text = _short(result)  # a thousand predictions, never printed by repr
    assert text.startswith("<PredictResult ") and "1000 rows" in text
    page = result._repr_html_()
    assert "first 10 of 1000 rows" in page and page.count("<tr>") < 30
    trusted = modelpack.trust(a, home=tmp_path / "home")
    assert _short(trusted).startswith("<TrustResult trusted folder sha256:")
