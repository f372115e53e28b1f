from __future__ import annotations

import pytest

from modelpack import render


def test_columns_align_under_a_rule(capsys: pytest.CaptureFixture[str]) -> None:
    render.columns(["name", "type"], [("sepal_length", "double"), ("x", None)])
    assert capsys.readouterr().out.splitlines() == [
        "  name          type",
        "  ------------  ------",
        "  sepal_length  double",
        "  x",
    ]


def test_columns_count_wide_characters_twice(capsys: pytest.CaptureFixture[str]) -> None:
    render.columns(["名前", "n"], [("ab", 1)])
    assert capsys.readouterr().out.splitlines() == ["  名前  n", "  ----  -", "  ab    1"]


def test_columns_take_rows_of_any_width(capsys: pytest.CaptureFixture[str]) -> None:
    # An input example may name fewer columns than its rows hold, or more.
    render.columns(["a", "b"], [(1, 2, 3), (4,)])
    assert capsys.readouterr().out.splitlines() == ["  a  b", "  -  -  -", "  1  2  3", "  4"]
    render.columns([], [("x",)])
    assert capsys.readouterr().out.splitlines() == ["", "  -", "  x"]


def test_untrusted_text_cannot_drive_the_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    render.key_values([("description", "ok\x1b[2J\nfake line\rx\x9b")], title="model")
    out = capsys.readouterr().out
    assert out == "model\n  description  ok\\x1b[2J\\nfake line\\rx\\x9b\n"
    render.columns(["col\x07"], [("a\tb",)])
    assert capsys.readouterr().out.splitlines()[2] == "  a\\tb"
