"""Saved input examples are read from the package, so any JSON shape must end in a clean error."""

from __future__ import annotations

import pytest

from modelpack.package.example import example_to_data, preview

MALFORMED = [
    {"columns": ["a", "b"], "data": [[1, 2], -1]},  # a row that is a number
    {"columns": 5, "data": [[1]]},  # columns that are not a list
    {"data": {"x": 1}},  # data that is a mapping
    7,
]


@pytest.mark.parametrize("raw", MALFORMED)
def test_a_malformed_dataframe_example_is_a_value_error(raw: object) -> None:
    # validate's load check and inspect report a ValueError as "the input example cannot be
    # read"; a TypeError from inside pandas was an internal error (exit 70).
    with pytest.raises(ValueError):
        example_to_data(raw, {"type": "dataframe"})


@pytest.mark.parametrize("raw", [{"data": {"x": 1}}, {"data": [[1]], "columns": 5}])
def test_a_malformed_example_preview_is_a_value_error(raw: object) -> None:
    with pytest.raises(ValueError):
        preview(raw, {"type": "dataframe"})


def test_well_formed_examples_still_read() -> None:
    frame = example_to_data({"columns": ["a"], "data": [[1], [2]]}, {"type": "dataframe"})
    assert list(frame["a"]) == [1, 2]
    assert preview({"columns": ["a"], "data": [[1], [2]]}, {}) == (["a"], [[1], [2]])
