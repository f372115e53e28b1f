"""`modelpack schema FILE`: table, --json envelope, options and error exits."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelpack.cli import app
from modelpack.schema.signature import Schema
from tests.conftest import modelpack_cmd

runner = CliRunner()


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "sample.csv"
    path.write_text(
        "age,city,when\n30,Paris,2024-01-01T10:00:00\n,Oslo,2024-01-02T11:00:00\n41,,2024-01-03T12:00:00\n"
    )
    return path


def test_table_output(sample: Path):
    result = runner.invoke(app, ["schema", str(sample)], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "sample.csv (csv, 3 rows read)"
    assert lines[1].split() == ["name", "┃", "type", "┃", "required"]
    body = [line.replace("│", " ").split() for line in lines[3:]]
    assert body == [["age", "double", "no"], ["city", "string", "no"], ["when", "string", "yes"]]
    assert result.stderr == ""


def test_json_envelope_holds_the_mlflow_list(sample: Path, tmp_path: Path):
    result = runner.invoke(app, ["schema", str(sample), "--json"], catch_exceptions=False)
    assert result.exit_code == 0
    envelope = json.loads(result.stdout)
    assert envelope["command"] == "schema" and envelope["status"] == "ok" and envelope["errors"] == []
    assert envelope["data"] == [
        {"type": "double", "name": "age", "required": False},
        {"type": "string", "name": "city", "required": False},
        {"type": "string", "name": "when", "required": True},
    ]
    # The data is a schema file as --input-schema reads it.
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps(envelope["data"]))
    assert Schema.from_json(schema_file.read_text()).input_names() == ["age", "city", "when"]


def test_sample_rows_and_format(sample: Path, tmp_path: Path):
    result = runner.invoke(app, ["schema", str(sample), "--json", "--sample-rows", "1"])
    assert json.loads(result.stdout)["data"][0] == {"type": "long", "name": "age", "required": True}
    odd = tmp_path / "data.txt"
    odd.write_text("a\tb\n1\tx\n")
    result = runner.invoke(app, ["schema", str(odd), "--format", "tsv", "--json"])
    assert result.exit_code == 0
    assert [c["name"] for c in json.loads(result.stdout)["data"]] == ["a", "b"]


def test_warnings_go_to_stderr_and_envelope(tmp_path: Path):
    path = tmp_path / "gaps.csv"
    path.write_text("a,b\n1,\n2,\n")
    result = runner.invoke(app, ["schema", str(path)])
    assert result.exit_code == 0
    assert "warning: column 'b' has no values; typed as double" in result.stderr
    result = runner.invoke(app, ["schema", str(path), "--json"])
    assert json.loads(result.stdout)["warnings"] == ["column 'b' has no values; typed as double"]


def test_tensor_files_show_shape(tmp_path: Path):
    import numpy as np

    np.save(tmp_path / "x.npy", np.zeros((4, 3), dtype="float32"))
    result = runner.invoke(app, ["schema", str(tmp_path / "x.npy")])
    assert result.exit_code == 0
    assert "tensor float32 [-1, 3]" in result.stdout


@pytest.mark.parametrize(
    ("name", "content", "code", "message"),
    [
        ("missing.csv", None, 4, "does not exist"),
        ("empty.csv", "", 1, "empty.csv is empty"),
        ("ragged.csv", "a,b\n1,2\n3\n", 1, "ragged.csv: row 1 (line 3) has 1 fields, expected 2"),
        (
            "data.xyz",
            "x",
            1,
            "data.xyz: unknown format '.xyz' (use --format csv|tsv|parquet|json|jsonl|npy|npz)",
        ),
        ("mixed.json", '[{"a": 1}, {"a": "x"}]', 1, "column 'a' mixes value types"),
    ],
)
def test_errors_are_one_line_with_exit_codes(tmp_path: Path, name, content, code, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    result = runner.invoke(app, ["schema", str(path)])
    assert result.exit_code == code
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.stderr
    as_json = runner.invoke(app, ["schema", str(path), "--json"])
    assert as_json.exit_code == code
    envelope = json.loads(as_json.stdout)
    assert envelope["status"] == "error" and envelope["exit_code"] == code
    assert message in envelope["errors"][0]["message"]


def test_bad_sample_rows_is_a_usage_error(sample: Path):
    result = runner.invoke(app, ["schema", str(sample), "--sample-rows", "0"])
    assert result.exit_code == 2


def test_real_subprocess(sample: Path):
    proc = subprocess.run(
        modelpack_cmd("schema", str(sample), "--json"), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["data"][2]["type"] == "string"
