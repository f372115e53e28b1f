"""Is this folder exactly the package that was sealed, or that the registry recorded?

``validate`` and ``predict`` both ask here before anything is loaded. A folder with a manifest
must hold exactly the files it lists, byte for byte; a registry version must also match the
digest (and manifest bytes) its version record holds, so a stored file edited and its manifest
resealed is caught. The files are hashed once: the digest that comes back is the one the trust
lookup then uses.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelpack import contents
from modelpack.digest import MANIFEST_FILE, folder_digest, hash_files
from modelpack.errors import InvalidModelError, ModelpackError
from modelpack.package.manifest import IntegrityReport, Manifest, read_manifest, verify_folder


@dataclass(frozen=True)
class Recorded:
    """What the registry recorded for a version when it was registered."""

    uri: str
    digest: str
    manifest_sha256: str | None = None


@dataclass
class PackageIntegrity:
    """The outcome of ``verify_package``.

    Attributes:
        manifest: the folder's manifest, or None when it has none (saved by MLflow).
        report: files changed, missing, unexpected or linking outside (against the manifest).
        problems: what else failed (an unreadable manifest, a mismatch with the registry record).
        digest: the folder digest of the files as they are, when it was computed (always when
            the check passed and the folder has a manifest or a record).
    """

    manifest: Manifest | None = None
    report: IntegrityReport = field(default_factory=IntegrityReport)
    problems: list[str] = field(default_factory=list)
    digest: str | None = None

    @property
    def ok(self) -> bool:
        return self.report.ok and not self.problems

    def describe(self) -> str:
        parts = list(self.problems)
        if self.manifest is None and self.report.escaping_links:
            parts.append(f"symlinks point outside the folder: {', '.join(self.report.escaping_links)}")
        elif not self.report.ok:
            parts.append(self.report.describe())
        return "; ".join(parts) or "every file matches"

    def details(self) -> dict[str, Any]:
        out: dict[str, Any] = {"manifest": MANIFEST_FILE if self.manifest is not None else None}
        if self.manifest is not None:
            out.update(files=len(self.manifest.files), digest=self.manifest.digest)
        out.update(self.report.to_dict())
        out["ok"] = self.ok
        out["problems"] = list(self.problems)
        return out

    def error(self, target: str) -> InvalidModelError:
        return InvalidModelError(
            f"integrity check failed for {target}: {self.describe()}; nothing was loaded",
            hint="the files are not the ones that were packed or registered; "
            "restore them, or run 'modelpack validate' for the full report",
            path=target,
        )


def verify_package(folder: Path, *, recorded: Recorded | None = None) -> PackageIntegrity:
    """Check ``folder`` against its manifest and, for a registry version, against its record.

    Never raises for what it finds: a package that is not intact comes back with ``ok`` False.
    """
    result = PackageIntegrity()
    try:
        result.manifest = read_manifest(folder)
    except ModelpackError as exc:
        result.problems.append(exc.message)
        return result
    try:
        if result.manifest is None:
            if recorded is None:
                # Nothing to compare with; the caller hashes only if it needs the digest.
                result.report.escaping_links = contents.walk(folder).escaping_links
                return result
            result.problems.append(f"{MANIFEST_FILE} is missing")
            result.digest = folder_digest(hash_files(folder))
        else:
            stated = _stated_digest(folder)
            if stated != result.manifest.digest:
                result.problems.append(
                    f"{MANIFEST_FILE} states digest {str(stated)[:19]}…, but its entries make "
                    f"{result.manifest.digest[:19]}…"
                )
            result.report = verify_folder(folder, result.manifest)
            if result.report.ok and not result.problems:
                result.digest = result.manifest.digest
    except ModelpackError as exc:
        result.problems.append(exc.message)
        return result
    if recorded is not None and result.manifest is not None:
        if result.manifest.digest != recorded.digest:
            result.problems.append(
                f"the files are not the ones {recorded.uri} recorded "
                f"(digest {result.manifest.digest[:19]}…, recorded {recorded.digest[:19]}…)"
            )
        elif recorded.manifest_sha256 and _sha256(folder / MANIFEST_FILE) != recorded.manifest_sha256:
            result.problems.append(f"{MANIFEST_FILE} is not the one {recorded.uri} recorded")
    return result


def _stated_digest(folder: Path) -> object:
    """The digest the manifest states of itself (``read_manifest`` has read it already, so it parses)."""
    import json

    raw = json.loads(contents.read_text(folder, MANIFEST_FILE, key="the manifest"))
    return raw.get("digest") if isinstance(raw, dict) else None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
