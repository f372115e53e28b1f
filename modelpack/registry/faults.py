"""Named crash points, a test-only hook for proving crash safety.

The registry calls ``faults.point("phase")`` at every step where a crash would leave a different
state on disk. Normally ``crash_at`` is None and a point costs one comparison. The crash tests set
it (the CLI reads ``MODELPACK_TEST_CRASH_AT``) so that the process kills itself with SIGKILL at
exactly that point, which no exception handler, ``finally`` block or atexit hook can intercept:
the same as a power cut or ``kill -9`` for everything on disk that was not fsynced away.

``crash_at`` is ``PHASE`` (crash the first time the point is reached) or ``PHASE#N`` (the N-th
time, for points inside loops such as copying the N-th file).
"""

from __future__ import annotations

import os
import signal
from typing import Final

#: Every crash point, in the order an operation passes them.
REGISTER_PHASES: Final = (
    "register.start",
    "register.blob_partial",
    "register.blob_written",
    "register.staged",
    "register.locked",
    "register.journaled",
    "register.event_written",
    "register.committed",
    "register.finishing",
)
PROMOTE_PHASES: Final = (
    "promote.verified",
    "promote.locked",
    "promote.journaled",
    "promote.event_written",
    "promote.state_tmp_written",
    "promote.committed",
    "promote.finishing",
)
DELETE_PHASES: Final = (
    "delete.locked",
    "delete.journaled",
    "delete.event_written",
    "delete.state_tmp_written",
    "delete.committed",
    "delete.finishing",
)
#: Deleting a whole model (``delete NAME``) and renaming one, on a local registry.
DELETE_MODEL_PHASES: Final = (
    "delete_model.locked",
    "delete_model.journaled",
    "delete_model.event_written",
    "delete_model.state_tmp_written",
    "delete_model.committed",
    "delete_model.finishing",
)
RENAME_PHASES: Final = (
    "rename.staged",
    "rename.journaled",
    "rename.event_written",
    "rename.committed",
    "rename.finishing",
)
GC_PHASES: Final = ("gc.locked", "gc.blob_removed")
#: The points of a registry in a bucket (``registry.remote``): no locks or journal, so fewer.
BUCKET_REGISTER_PHASES: Final = (
    "register.start",
    "register.blob_written",
    "register.staged",
    "register.claimed",
    "register.planned",
    "register.committed",
)
BUCKET_PROMOTE_PHASES: Final = ("promote.verified", "promote.planned", "promote.committed")
BUCKET_DELETE_PHASES: Final = ("delete.locked", "delete.planned", "delete.committed")
BUCKET_DELETE_MODEL_PHASES: Final = ("delete_model.locked", "delete_model.planned", "delete_model.committed")
#: ``gc`` on a bucket: candidates listed, references collected, each removal; and the
#: compare-and-swap of each ``doctor --repair`` of a model's state.
BUCKET_GC_PHASES: Final = ("gc.listed", "gc.referenced", "gc.blob_removed", "gc.upload_aborted")
BUCKET_DOCTOR_PHASES: Final = ("doctor.planned", "doctor.committed")
#: ``rename OLD NEW`` in a bucket: NEW reserved, OLD's tombstone about to be / swapped in, NEW's
#: records, event batches and digest index copied (after the first of each), NEW published.
BUCKET_RENAME_PHASES: Final = (
    "rename.reserved",
    "rename.planned",
    "rename.committed",
    "rename.version_copied",
    "rename.events_copied",
    "rename.indexed",
    "rename.published",
)
ALL_PHASES: Final = tuple(
    dict.fromkeys(
        REGISTER_PHASES
        + PROMOTE_PHASES
        + DELETE_PHASES
        + DELETE_MODEL_PHASES
        + RENAME_PHASES
        + GC_PHASES
        + BUCKET_REGISTER_PHASES
        + BUCKET_PROMOTE_PHASES
        + BUCKET_DELETE_PHASES
        + BUCKET_DELETE_MODEL_PHASES
        + BUCKET_GC_PHASES
        + BUCKET_DOCTOR_PHASES
        + BUCKET_RENAME_PHASES
    )
)


class Faults:
    """Crash-point switch. ``Faults(None)`` (the default) never does anything."""

    def __init__(self, crash_at: str | None = None) -> None:
        self._phase: str | None = None
        self._nth = 1
        self._seen = 0
        if crash_at:
            phase, _, nth = crash_at.partition("#")
            self._phase = phase
            self._nth = int(nth) if nth.isdigit() and int(nth) > 0 else 1

    def point(self, phase: str) -> None:
        """Kill this process with SIGKILL if ``phase`` is the armed crash point."""
        if phase != self._phase:
            return
        self._seen += 1
        if self._seen == self._nth:
            os.kill(os.getpid(), signal.SIGKILL)


NO_FAULTS: Final = Faults(None)
