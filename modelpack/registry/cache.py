"""The local, content-addressed cache of files read from an ``s3://`` registry (``MODELPACK_CACHE``).

::

    <cache>/blobs/sha256/<ab>/<hex>                  one file per content, read-only, verified
    <cache>/versions/<home id>/<name>/<N>-<digest>/  a version's MLmodel folder: hard links to blobs
    <cache>/tmp/                                     downloads in flight (same filesystem)

A blob is downloaded into ``tmp``, hashed, and published with ``link(2)`` only if its sha256 is
the one its name says, so a cached blob is always right when it is published. Every checkout
hashes the blobs it uses again before handing the folder out: a byte flipped in the cache (a
bad disk, an editor, another tool) is detected, the blob is dropped and fetched again. A blob
that arrives from the store with other bytes than its name says is refused (exit 3), naming
the file: the registry's copy is damaged, and ``doctor`` says more.

Several processes may check out the same version at once: every publication is a link or a
rename of a complete file, so they never see each other's half-written files.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

from modelpack._fs import sha256_file
from modelpack.contents import MAX_DOCUMENT_BYTES
from modelpack.digest import MANIFEST_FILE
from modelpack.errors import InvalidModelError, RegistryError
from modelpack.package.manifest import Manifest, parse_manifest
from modelpack.progress import SILENT, Reporter

#: Fetches the blob ``sha256`` of ``size`` bytes into a new file at the given path.
Fetch = Callable[[str, int, Path, Callable[[int], None]], None]

_READ_ONLY = 0o444


def safe_relative(path: str) -> bool:
    """A manifest entry that stays inside its folder: relative, no ``..``, no empty part."""
    pure = PurePosixPath(path)
    return (
        bool(path)
        and not pure.is_absolute()
        and "\\" not in path
        and all(part not in {"", ".", ".."} for part in path.split("/"))
    )


class ContentCache:
    def __init__(self, root: Path, *, reporter: Reporter = SILENT) -> None:
        self.root = root
        self._reporter = reporter
        self._progress_lock = threading.Lock()

    def blob(self, sha256: str) -> Path:
        return self.root / "blobs" / "sha256" / sha256[:2] / sha256

    def version_dir(self, home_id: str, name: str, version: int, digest: str) -> Path:
        return self.root / "versions" / home_id / name / f"{version}-{digest.split(':')[-1][:16]}"

    # ------------------------------------------------------------------ blobs

    def _fresh(self, sha256: str) -> bool:
        """The cached blob exists and still hashes to its name; a damaged one is dropped."""
        path = self.blob(sha256)
        try:
            if sha256_file(path) == sha256:
                return True
        except FileNotFoundError:
            return False
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return False

    def ensure(self, wanted: dict[str, tuple[int, str]], fetch: Fetch) -> None:
        """Make every blob in ``wanted`` (sha256 -> (size, file name for messages)) present and verified.

        Missing or damaged blobs are fetched in parallel.

        Raises:
            InvalidModelError: a fetched blob does not hash to its name (exit 3).
            RegistryError: the cache cannot be written (disk full, permissions).
        """
        missing = {sha: info for sha, info in wanted.items() if not self._fresh(sha)}
        if not missing:
            return
        total = sum(size for size, _ in missing.values())
        done = 0

        def progress(n: int) -> None:
            nonlocal done
            with self._progress_lock:
                done += n
                self._reporter.advance("downloading model files", done, total)

        try:
            tmp = self.root / "tmp"
            tmp.mkdir(parents=True, exist_ok=True)
            with ThreadPoolExecutor(8) as pool:
                futures = [
                    pool.submit(self._fetch_one, sha, size, name, fetch, progress)
                    for sha, (size, name) in sorted(missing.items())
                ]
                for future in futures:
                    future.result()
        except OSError as exc:
            raise RegistryError(f"cannot write the cache at {self.root}: {exc.strerror or exc}") from exc

    def _fetch_one(
        self, sha256: str, size: int, name: str, fetch: Fetch, progress: Callable[[int], None]
    ) -> None:
        temp = self.root / "tmp" / f"{sha256[:16]}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            fetch(sha256, size, temp, progress)
            actual = sha256_file(temp)
            if actual != sha256:
                raise InvalidModelError(
                    f"{name}: the registry's stored copy is damaged (its sha256 is {actual[:12]}..., "
                    f"the manifest says {sha256[:12]}...)",
                    hint="run 'modelpack doctor' on the registry; the version cannot be used as it is",
                    path=name,
                )
            temp.chmod(_READ_ONLY)
            final = self.blob(sha256)
            final.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                os.link(temp, final)  # another process may have published it first: same bytes
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()

    # ------------------------------------------------------------------ version folders

    def manifest(self, sha256: str, where: str) -> Manifest:
        """The manifest blob ``sha256`` (already ensured), parsed and its paths checked."""
        blob = self.blob(sha256)
        if blob.stat().st_size > MAX_DOCUMENT_BYTES:
            raise InvalidModelError(
                f"{where} is larger than a manifest can be", hint="run 'modelpack doctor'"
            )
        manifest = parse_manifest(blob.read_bytes(), where)
        for entry in manifest.files:
            if not safe_relative(entry.path) or entry.path == MANIFEST_FILE:
                raise InvalidModelError(
                    f"{where} names the file {entry.path!r}, which leaves the model folder",
                    hint="the registry holds a hostile or damaged manifest; run 'modelpack doctor'",
                )
        return manifest

    def assemble(self, folder: Path, manifest: Manifest, manifest_sha256: str) -> Path:
        """Make ``folder`` the version's MLmodel folder: each file a hard link to its blob.

        An existing folder is checked file by file and repaired; a new one is built beside it
        and renamed into place, so readers never see a half-built folder.
        """
        wanted = {entry.path: entry.sha256 for entry in manifest.files}
        wanted[MANIFEST_FILE] = manifest_sha256
        try:
            if folder.is_dir():
                if _listing(folder) == set(wanted):
                    for rel, sha in wanted.items():
                        self.link(self.blob(sha), folder / rel)
                    return folder
                # Something added or removed a file: set the whole folder aside and rebuild it.
                _discard(folder)
            folder.parent.mkdir(parents=True, exist_ok=True)
            staging = folder.parent / f".{folder.name}-{os.getpid()}-{secrets.token_hex(4)}"
            staging.mkdir()
            try:
                for rel, sha in wanted.items():
                    self.link(self.blob(sha), staging / rel)
                try:
                    os.rename(staging, folder)
                except OSError:
                    if not folder.is_dir():  # not another process's finished copy
                        raise
            finally:
                if staging.exists():
                    import shutil

                    shutil.rmtree(staging, ignore_errors=True)
        except OSError as exc:
            raise RegistryError(f"cannot write the cache at {self.root}: {exc.strerror or exc}") from exc
        return folder

    @staticmethod
    def link(blob: Path, dest: Path) -> None:
        """Make ``dest`` the blob's file: a hard link, or a copy where links cannot be made."""
        with contextlib.suppress(FileNotFoundError):
            if dest.samefile(blob):
                return
        dest.parent.mkdir(parents=True, exist_ok=True)
        temp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}")
        try:
            os.link(blob, temp)
        except OSError:
            # A cache spanning filesystems, or a link limit: copy instead.
            import shutil

            shutil.copyfile(blob, temp)
        os.replace(temp, dest)


def _listing(folder: Path) -> set[str]:
    """Every file under ``folder`` as a relative POSIX path (what a checkout must hold, no more)."""
    found: set[str] = set()
    for dirpath, _dirs, files in os.walk(folder):
        base = Path(dirpath).relative_to(folder)
        found.update((base / f).as_posix() for f in files)
    return found


def _discard(folder: Path) -> None:
    """Move a folder out of the way atomically, then delete it (readers never see it half gone)."""
    import shutil

    aside = folder.parent / f".{folder.name}-discard-{secrets.token_hex(4)}"
    with contextlib.suppress(FileNotFoundError):
        os.rename(folder, aside)
    shutil.rmtree(aside, ignore_errors=True)


def home_id(endpoint: str, bucket: str, prefix: str) -> str:
    """A short, stable id of one registry (endpoint, bucket and prefix) for cache folder names."""
    return hashlib.sha256(f"{endpoint}\n{bucket}\n{prefix}".encode()).hexdigest()[:16]
