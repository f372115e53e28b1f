"""Ctrl-C in the middle of pack leaves no half-written folder (real process, real SIGINT)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import modelpack_cmd, sigint_as_default

SLOW_MODEL = """
import time


class SlowToSave:
    def predict(self, data):
        return [0] * len(data)

    def __getstate__(self):
        time.sleep(600)  # until interrupted: pickling happens inside the staged folder
        return {}


def make():
    return SlowToSave()
"""


def test_sigint_during_pack_cleans_up(tmp_path: Path, sample_csv: Path) -> None:
    source = tmp_path / "slow.py"
    source.write_text(SLOW_MODEL)
    out_parent = tmp_path / "out"
    out_parent.mkdir()
    out = out_parent / "model"
    proc = subprocess.Popen(
        modelpack_cmd("pack", f"{source}:make", "-s", str(sample_csv), "-o", str(out)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},
        preexec_fn=sigint_as_default,
    )
    # Wait for the staged folder, however slow the machine; the deadline only stops a hang.
    deadline = time.monotonic() + 300
    while not any(out_parent.iterdir()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "pack never started writing"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    try:
        _, stderr = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        # A hang guard, not a timing: say where the process is stuck (faulthandler dumps every
        # thread's stack on SIGABRT), so a hang is a finding rather than a bare timeout.
        proc.send_signal(signal.SIGABRT)
        _, stderr = proc.communicate()
        raise AssertionError(f"pack ignored SIGINT for 300 s; its stacks:\n{stderr[-8000:]}") from None
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert list(out_parent.iterdir()) == []
