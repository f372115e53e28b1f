"""Ctrl-C in the middle of pack leaves no half-written folder (real process, real SIGINT)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import modelpack_cmd, sigint_as_default

SLOW_MODEL = """
import os
import time
from pathlib import Path


class SlowToSave:
    def predict(self, data):
        return [0] * len(data)

    def __getstate__(self):
        Path(os.environ["SLOW_MODEL_MARKER"]).touch()
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
    marker = tmp_path / "pickling"
    proc = subprocess.Popen(
        modelpack_cmd("pack", f"{source}:make", "-s", str(sample_csv), "-o", str(out)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SLOW_MODEL_MARKER": str(marker), "PYTHONFAULTHANDLER": "1"},
        preexec_fn=sigint_as_default,
    )
    # The signal lands at a known point, however slow the machine: while the model is being
    # pickled into the staged folder (not merely once that folder appeared: the instants right
    # after it appears are covered one by one in tests/unit/test_interrupt_instants.py). The
    # deadline only stops a hang.
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "pack never started pickling"
        time.sleep(0.05)
    staged = [p.name for p in out_parent.iterdir()]
    assert len(staged) == 1 and staged[0].endswith(".partial"), staged
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
