"""The verdict of a scan: findings with their stable reason slugs, the per-file result, and the
advice that names the remedy (``--trust-pickle`` or ``modelpack trust``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

# Reasons (stable slugs, part of the JSON output).
NOT_ALLOWLISTED: Final = "not_allowlisted"
UNRESOLVABLE: Final = "unresolvable"
CODE_OBJECT: Final = "code_object"
NESTED_PICKLE: Final = "nested_pickle"
EXTENSION_CODE: Final = "extension_code"
PERSISTENT_ID: Final = "persistent_id"
MALFORMED: Final = "malformed"
TRAILING_DATA: Final = "trailing_data"
UNKNOWN_FORMAT: Final = "unknown_format"
UNSUPPORTED_COMPRESSION: Final = "unsupported_compression"
TOO_DEEP: Final = "nested_too_deep"


@dataclass(frozen=True)
class Finding:
    """One reason a file failed the scan.

    Attributes:
        file: POSIX path relative to the scanned folder (or the file name); members of an
            archive are written ``archive.zip!member``.
        global_name: ``module.qualname`` of the offending global, or a description in angle
            brackets such as ``<unresolved STACK_GLOBAL>``.
        reason: slug: ``not_allowlisted``, ``unresolvable``, ``code_object``,
            ``nested_pickle``, ``extension_code``, ``persistent_id``, ``malformed``,
            ``trailing_data``, ``unknown_format``, ``unsupported_compression``,
            ``nested_too_deep``.
        offset: byte offset of the opcode in the (decompressed) stream, when known.
    """

    file: str
    global_name: str
    reason: str
    offset: int | None = None

    def describe(self) -> str:
        """One human line, e.g. ``model.pkl: os.system is not on the allowlist (offset 12)``."""
        where = f" (offset {self.offset})" if self.offset is not None else ""
        text = _REASON_TEXT.get(self.reason, self.reason)
        return f"{self.file}: {self.global_name} {text}{where}"

    def to_dict(self) -> dict[str, object]:
        """Plain dict for the JSON envelope."""
        return {
            "file": self.file,
            "global_name": self.global_name,
            "reason": self.reason,
            "offset": self.offset,
        }


_REASON_TEXT: Final = {
    NOT_ALLOWLISTED: "is not on the allowlist",
    UNRESOLVABLE: "cannot be resolved without running the pickle",
    CODE_OBJECT: "builds code objects or functions by value",
    NESTED_PICKLE: "is named by a pickle embedded in a byte string",
    EXTENSION_CODE: "is an extension code not resolvable to an allowlisted name",
    PERSISTENT_ID: "is a persistent id the loader would resolve",
    MALFORMED: "stream is malformed where a loader could still run part of it",
    TRAILING_DATA: "follows the end of the pickle",
    UNKNOWN_FORMAT: "is not a pickle, joblib, skops or zip file",
    UNSUPPORTED_COMPRESSION: "uses a compression the scanner cannot read",
    TOO_DEEP: "is nested too deeply to scan",
}


@dataclass(frozen=True)
class ScanResult:
    """Outcome of scanning one file (an archive's members are folded into its result).

    Attributes:
        file: POSIX path relative to the scanned folder, or the file name.
        format: ``pickle``, ``joblib``, ``cloudpickle``, ``skops``, ``zip`` or ``unknown``.
        globals_seen: every global (``module.qualname``) the file would import, sorted, unique;
            for skops, every type its schema names.
        findings: the reasons it fails; empty when nothing outside the allowlist was found.
    """

    file: str
    format: str
    globals_seen: tuple[str, ...]
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        """True when no finding was recorded (which is not a proof of safety)."""
        return not self.findings

    def to_dict(self) -> dict[str, object]:
        """Plain dict for the JSON envelope."""
        return {
            "file": self.file,
            "format": self.format,
            "ok": self.ok,
            "globals_seen": list(self.globals_seen),
            "findings": [f.to_dict() for f in self.findings],
        }


def is_code_executing_format(fmt: str) -> bool:
    """Whether loading a file of this scan format can run code from the file.

    skops builds only types it trusts, so it is the one format that cannot; anything else
    (including ``unknown``) is assumed to be able to.
    """
    return fmt != "skops"


# What each finding is, for a refusal that --trust-pickle cannot lift.
_UNNAMEABLE: Final = {
    CODE_OBJECT: "code carried by value",
    UNRESOLVABLE: "names computed while loading",
    NESTED_PICKLE: "a pickle inside a byte string",
    EXTENSION_CODE: "extension codes",
    PERSISTENT_ID: "persistent ids",
    MALFORMED: "a malformed stream",
    TRAILING_DATA: "data after the pickle",
    UNKNOWN_FORMAT: "a format the scanner cannot read",
    UNSUPPORTED_COMPRESSION: "a compression the scanner cannot read",
    TOO_DEEP: "nesting too deep to scan",
}


def trust_advice(findings: Iterable[Finding], target: str, *, noun: str = "package") -> str:
    """How a user who vouches for ``target`` gets it loaded, naming only what actually works.

    ``--trust-pickle`` widens the allowlist by name, so it lifts a refusal only when every
    finding is a plain global outside the allowlist: by-value code (cloudpickle's class and
    function rebuilders, whose results are then called), names computed while loading, nested
    pickles and unreadable streams are nothing it can match. ``modelpack trust TARGET`` vouches
    for the exact bytes, so it always works.

    Args:
        findings: what the scan refused (objects with ``global_name`` and ``reason``).
        target: the file, folder or URI as the user can pass it to ``modelpack trust``.
        noun: ``file`` or ``package``, for the sentence.
    """
    found = list(findings)
    trust_cmd = f"'modelpack trust {target}'"
    names = list(dict.fromkeys(str(f.global_name) for f in found))
    kinds = sorted(
        {
            _UNNAMEABLE.get(str(f.reason), str(f.reason))
            if str(f.reason) != NOT_ALLOWLISTED
            else "names it cannot resolve"
            for f in found
            if str(f.reason) != NOT_ALLOWLISTED or not _plain_name(str(f.global_name))
        }
    )
    if kinds or not found:
        what = " and ".join([", ".join(kinds[:-1]), kinds[-1]] if len(kinds) > 1 else kinds) or "it"
        return (
            f"no --trust-pickle can cover {what}; "
            f"if you built this {noun}, run {trust_cmd} to vouch for its exact bytes"
        )
    if len(names) <= 3:
        flags = " ".join(f"--trust-pickle {n}" for n in names)
    else:
        flags = f"--trust-pickle for each name refused (e.g. --trust-pickle {names[0]})"
    return f"if you trust this {noun}, pass {flags}, or run {trust_cmd} to vouch for its exact bytes"


def _plain_name(name: str) -> bool:
    return not name.startswith("<") and " " not in name


@dataclass
class _Report:
    """What one file's walks found, merged across walks and members."""

    label: str
    globals_seen: set[str] = field(default_factory=set)
    findings: dict[tuple[str, str, str], Finding] = field(default_factory=dict)
    formats: set[str] = field(default_factory=set)

    def add(self, file: str, name: str, reason: str, offset: int | None) -> None:
        key = (file, name, reason)
        if key not in self.findings:
            self.findings[key] = Finding(file=file, global_name=name, reason=reason, offset=offset)


def _result(report: _Report) -> ScanResult:
    fmts = report.formats
    if any(name.split(".")[0] == "cloudpickle" for name in report.globals_seen) and fmts & {
        "pickle",
        "joblib",
    }:
        fmt = "cloudpickle"
    else:
        fmt = next((f for f in ("skops", "zip", "joblib", "pickle") if f in fmts), "unknown")
    findings = sorted(
        report.findings.values(), key=lambda f: (f.file, f.offset or 0, f.global_name, f.reason)
    )
    return ScanResult(
        file=report.label,
        format=fmt,
        globals_seen=tuple(sorted(report.globals_seen)),
        findings=tuple(findings),
    )
