"""Error hierarchy and exit codes.

Every expected failure is a ``ModelpackError`` subclass carrying a slug (``code``), an exit code
and an optional hint. The CLI turns them into one stderr line (or a JSON error envelope); anything
else is a bug and exits 70.
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar


class ExitCode(IntEnum):
    """Stable process exit codes, documented in the README and ``modelpack --help``."""

    OK = 0
    ERROR = 1
    USAGE = 2
    VALIDATION_FAILED = 3
    NOT_FOUND = 4
    CONFLICT = 5
    INTERNAL = 70
    INTERRUPTED = 130
    #: stdout was closed by its reader (``... | head``): what a shell reports for a process that
    #: SIGPIPE ended (128 + 13), so ``set -o pipefail`` scripts treat modelpack like ``cat``.
    STDOUT_CLOSED = 141


class ModelpackError(Exception):
    """Base class of every error the CLI reports as one line."""

    code: ClassVar[str] = "error"
    exit_code: ClassVar[ExitCode] = ExitCode.ERROR

    def __init__(self, message: str, *, hint: str | None = None, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.path = path


class UsageError(ModelpackError):
    """Arguments that parse but make no sense together (e.g. a malformed KEY=VALUE)."""

    code = "usage"
    exit_code = ExitCode.USAGE


class InputFileError(ModelpackError):
    """A file the user gave cannot be read as what it should be."""

    code = "bad_input"


class DataFormatError(InputFileError):
    """A data file is empty, ragged, mis-encoded or of an unknown format."""

    code = "bad_data"


class MissingDependencyError(ModelpackError):
    """An optional library needed for this operation is not installed."""

    code = "missing_dependency"


class NotFoundError(ModelpackError):
    """A file, folder, model, version, stage or alias does not exist."""

    code = "not_found"
    exit_code = ExitCode.NOT_FOUND


class ConflictError(ModelpackError):
    """The operation would clobber something, or lost a race (lock timeout)."""

    code = "conflict"
    exit_code = ExitCode.CONFLICT


class InvalidModelError(ModelpackError):
    """A model or model folder is not usable (not a model, corrupt MLmodel, bad flavor)."""

    code = "invalid_model"
    exit_code = ExitCode.VALIDATION_FAILED


class ArchiveError(InvalidModelError):
    """An export archive is damaged or was changed: a member differs from what its document
    records, is missing or extra, or is not a plain file with a safe name. Nothing was imported."""

    code = "bad_archive"


class SchemaViolationError(ModelpackError):
    """Data does not satisfy a signature. Carries the individual violations."""

    code = "schema_violation"
    exit_code = ExitCode.VALIDATION_FAILED

    def __init__(
        self, message: str, *, violations: list[dict[str, object]] | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.violations = violations or []


class UnsafeModelError(ModelpackError):
    """The static safety scan found globals outside the allowlist; nothing was loaded."""

    code = "unsafe_pickle"
    exit_code = ExitCode.VALIDATION_FAILED

    def __init__(
        self, message: str, *, findings: list[dict[str, object]] | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.findings = findings or []


class IncompatibleSignatureError(ModelpackError):
    """A promotion would break the callers of the version currently in that stage."""

    code = "incompatible_signature"
    exit_code = ExitCode.VALIDATION_FAILED

    def __init__(
        self, message: str, *, changes: list[dict[str, object]] | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.changes = changes or []


class RegistryError(ModelpackError):
    """The registry is corrupt or cannot be written (disk full, permissions)."""

    code = "registry_error"
