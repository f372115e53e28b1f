"""The CLI in pipes and scripts: a closed stdout, usage errors, --traceback, --home typos, --force.

Real subprocesses: a pipe whose reader is gone, a parser error and an exit status can only be
seen from outside the process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelpack.cli import app, main
from modelpack.errors import ExitCode
from tests.conftest import ENVELOPE_KEYS, modelpack_cmd, sigint_as_default
from tests.registry_models import make_model


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(modelpack_cmd(*args), capture_output=True, text=True, timeout=300)


def run_with_closed_stdout(*args: str) -> subprocess.CompletedProcess[str]:
    """Run with stdout a pipe whose read end is closed before the process starts.

    Every write to stdout then fails with EPIPE, whatever the machine's speed: the same as
    ``modelpack ... | head -n 0``, without depending on when ``head`` exits.
    """
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            modelpack_cmd(*args), stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=300
        )
    finally:
        os.close(write_end)


@pytest.fixture
def registry_home(tmp_path: Path, _isolate: Path) -> Path:
    from modelpack.registry import FileRegistry

    registry = FileRegistry(_isolate)
    for seed in (1, 2):
        registry.register(make_model(tmp_path / f"m{seed}", seed=seed), name="iris")
    return _isolate


@pytest.fixture
def big_csv(tmp_path: Path, mixed_frame) -> Path:
    """300,000 rows: far more output than a pipe buffers, so a writer must meet the closed end."""
    import pandas as pd

    path = tmp_path / "big.csv"
    pd.concat([mixed_frame] * 15_000, ignore_index=True).to_csv(path, index=False)
    return path


# ---------------------------------------------------------------------- closed stdout


def test_predict_to_stdout_read_one_line_then_close(packed: Path, big_csv: Path, tmp_path: Path) -> None:
    with subprocess.Popen(
        modelpack_cmd("predict", str(packed), "--data", str(big_csv), "--output", "-"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline() == b"prediction\n"
        proc.stdout.close()  # like `| head -n 1`
        stderr = proc.stderr.read().decode()
        assert proc.wait(timeout=300) == ExitCode.STDOUT_CLOSED, stderr
    assert "error" not in stderr and "Exception" not in stderr and "Traceback" not in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["big.csv", "model.joblib", "packed", "sample.csv"]
    )


@pytest.mark.parametrize(
    "args",
    [
        ("inspect", "{packed}"),
        ("inspect", "{packed}", "--json"),
        ("predict", "{packed}", "--data", "{sample}"),
        ("list",),
        ("list", "iris"),
        ("list", "iris", "--field", "version"),
        ("list", "--json"),
        ("history", "iris"),
        ("history", "iris", "--json"),
        ("schema", "{sample}"),
        ("validate", "{packed}", "--no-load"),
    ],
)
def test_closed_stdout_ends_quietly_with_141(
    args: tuple[str, ...], packed: Path, sample_csv: Path, registry_home: Path
) -> None:
    argv = [a.format(packed=packed, sample=sample_csv) for a in args]
    result = run_with_closed_stdout(*argv)
    assert result.returncode == ExitCode.STDOUT_CLOSED, result.stderr
    assert result.stderr == ""


def test_predict_file_output_is_published_whole_even_if_stdout_closes(
    packed: Path, sample_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scores.csv"
    result = run_with_closed_stdout("predict", str(packed), "--data", str(sample_csv), "--output", str(out))
    assert result.returncode == ExitCode.STDOUT_CLOSED, result.stderr
    assert len(out.read_text().splitlines()) == 21  # the summary line was lost, not the file
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_an_error_with_closed_stdout_keeps_its_exit_code(tmp_path: Path) -> None:
    result = run_with_closed_stdout("inspect", str(tmp_path / "missing"), "--json")
    assert result.returncode == ExitCode.NOT_FOUND
    assert "Traceback" not in result.stderr and "Exception" not in result.stderr


# ---------------------------------------------------------------------- predict --output


def test_predict_refuses_an_existing_output_without_force(
    packed: Path, sample_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scores.csv"
    out.write_text("keep me\n")
    refused = run_cli("predict", str(packed), "--data", str(sample_csv), "--output", str(out))
    assert refused.returncode == ExitCode.CONFLICT
    assert refused.stderr.splitlines() == [
        f"error: output {out} exists",
        "hint: pass --force to replace it, or choose another --output",
    ]
    assert out.read_text() == "keep me\n"
    replaced = run_cli("predict", str(packed), "--data", str(sample_csv), "--output", str(out), "--force")
    assert replaced.returncode == 0, replaced.stderr
    assert out.read_text().startswith("prediction\n")
    doc = json.loads(run_cli("predict", str(packed), "-d", str(sample_csv), "-o", str(out), "--json").stdout)
    assert doc["exit_code"] == ExitCode.CONFLICT and doc["errors"][0]["code"] == "conflict"


def test_predict_failing_late_leaves_no_output_file(packed: Path, mixed_frame, tmp_path: Path) -> None:
    import pandas as pd

    data = pd.concat([mixed_frame] * 10, ignore_index=True).astype({"count": "object"})
    data.loc[len(data) - 1, "count"] = "many"  # the last batch breaks the signature
    bad = tmp_path / "bad.csv"
    data.to_csv(bad, index=False)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = run_cli(
        "predict", str(packed), "--data", str(bad), "--output", str(out_dir / "s.csv"), "--batch-rows", "20"
    )
    assert result.returncode == ExitCode.VALIDATION_FAILED, result.stderr
    assert list(out_dir.iterdir()) == []


SLOW_SECOND_BATCH = """
import os
import time
from pathlib import Path


class SlowSecondBatch:
    def predict(self, data):
        if int(data["a"].iloc[0]) >= 10:  # the second batch of ten rows
            Path(os.environ["SLOW_MODEL_MARKER"]).touch()
            time.sleep(600)  # until interrupted: the first batch is in the partial file
        return [0] * len(data)


def make():
    return SlowSecondBatch()
"""


def test_ctrl_c_while_predicting_leaves_no_partial_file(tmp_path: Path, _isolate: Path) -> None:
    # The signal lands at a known point, whatever the machine's speed: the model blocks on the
    # second batch, so the output file is half written under its temporary name. (Every other
    # instant, from the file's creation to its publishing, is covered one by one in
    # tests/unit/test_interrupt_instants.py.)
    source = tmp_path / "slow.py"
    source.write_text(SLOW_SECOND_BATCH)
    sample = tmp_path / "sample.csv"
    sample.write_text("a,b\n1,0.5\n2,1.5\n")
    data = tmp_path / "data.jsonl"  # JSONL batches hold exactly --batch-rows rows
    data.write_text("".join(json.dumps({"a": i, "b": i / 4}) + "\n" for i in range(30)))
    model = tmp_path / "model"
    for args in (("pack", f"{source}:make", "-s", str(sample), "-o", str(model)), ("trust", str(model))):
        done = run_cli(*args)
        assert done.returncode == 0, done.stderr
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    marker = tmp_path / "second-batch"
    with subprocess.Popen(
        modelpack_cmd(
            "predict",
            str(model),
            "--data",
            str(data),
            "--output",
            str(out_dir / "scores.csv"),
            "--batch-rows",
            "10",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SLOW_MODEL_MARKER": str(marker), "PYTHONFAULTHANDLER": "1"},
        preexec_fn=sigint_as_default,
    ) as proc:
        deadline = time.monotonic() + 300  # a hang guard, not a timing
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "predict never reached the second batch"
            time.sleep(0.05)
        partial = [p.name for p in out_dir.iterdir()]
        assert len(partial) == 1 and partial[0].endswith(".partial"), partial  # mid-write, for sure
        proc.send_signal(signal.SIGINT)
        try:
            _, stderr = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
            _, stderr = proc.communicate()
            raise AssertionError(f"predict ignored SIGINT for 300 s; its stacks:\n{stderr[-8000:]}") from None
    assert proc.returncode == ExitCode.INTERRUPTED, stderr
    assert stderr.splitlines()[-1] == "error: interrupted" and "Traceback" not in stderr
    assert list(out_dir.iterdir()) == []


# ---------------------------------------------------------------------- usage errors


def test_usage_error_is_one_error_line_with_the_suggestion() -> None:
    result = run_cli("predict", "m", "--data", "d.csv", "--ouput", "x.csv")
    assert result.returncode == ExitCode.USAGE
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith("error: No such option: --ouput") and "--output" in lines[0]
    assert lines[1] == "hint: 'python -m modelpack predict --help' shows the usage"
    assert result.stdout == ""


def test_unknown_command_and_missing_argument_are_one_line() -> None:
    typo = run_cli("lst")
    assert typo.returncode == ExitCode.USAGE
    assert typo.stderr.splitlines()[0].startswith("error: No such command 'lst'. Did you mean 'list'")
    missing = run_cli("predict")
    assert missing.returncode == ExitCode.USAGE
    assert missing.stderr.splitlines()[0].startswith("error: Missing ")
    assert len(missing.stderr.splitlines()) == 2


def test_usage_error_with_json_is_the_envelope() -> None:
    result = run_cli("list", "--json", "--bogus")
    assert result.returncode == ExitCode.USAGE
    doc = json.loads(result.stdout)
    assert set(doc) == ENVELOPE_KEYS
    assert doc["command"] == "list" and doc["status"] == "error" and doc["exit_code"] == 2
    assert doc["errors"][0]["code"] == "usage" and "--bogus" in doc["errors"][0]["message"]
    assert result.stderr == ""


# ---------------------------------------------------------------------- --traceback


def _commands() -> list[str]:
    return sorted(c.name or c.callback.__name__ for c in app.registered_commands if c.callback)


@pytest.mark.parametrize("command", _commands())
def test_traceback_is_accepted_after_every_command(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Parsing rejects an unknown option before --help runs, so exit 0 means it was accepted.
    monkeypatch.setattr(sys, "argv", ["modelpack", command, "--help", "--traceback"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 0, capsys.readouterr().err
    assert "Usage" in capsys.readouterr().out


def test_traceback_after_the_command_shows_the_trace(tmp_path: Path) -> None:
    result = run_cli("inspect", str(tmp_path / "missing"), "--traceback")
    assert result.returncode != ExitCode.USAGE
    assert "NotFoundError: model folder not found" in result.stderr
    assert "Traceback" in result.stderr


# ---------------------------------------------------------------------- --home typos


@pytest.mark.parametrize(
    "args",
    [
        ("list",),
        ("list", "iris"),
        ("list", "models:/iris/1"),
        ("history", "iris"),
        ("promote", "iris", "1", "--stage", "Production"),
        ("delete", "iris", "1"),
        ("gc",),
        ("doctor",),
        ("inspect", "models:/iris/1"),
        ("validate", "models:/iris/latest"),
        ("predict", "models:/iris/1", "--data", "x.csv"),
        ("diff", "models:/iris/1", "models:/iris/2"),
    ],
)
def test_reading_a_missing_registry_is_not_found(args: tuple[str, ...], tmp_path: Path) -> None:
    typo = tmp_path / "typo"
    result = run_cli(*args, "--home", str(typo))
    assert result.returncode == ExitCode.NOT_FOUND, result.stderr
    assert result.stderr.splitlines()[0] == f"error: no registry at {typo}: the folder does not exist"
    assert not typo.exists()
    doc = json.loads(run_cli(*args, "--home", str(typo), "--json").stdout)
    assert doc["errors"][0]["code"] == "not_found" and doc["errors"][0]["path"] == str(typo)


def test_register_still_creates_the_registry(tmp_path: Path) -> None:
    home = tmp_path / "new-home"
    result = run_cli("register", str(make_model(tmp_path / "m")), "--name", "iris", "--home", str(home))
    assert result.returncode == 0, result.stderr
    listed = run_cli("list", "--home", str(home), "--field", "name")
    assert listed.stdout == "iris\n"
