"""The export archive: one tar file (plain, or gzip) that carries a model version between
registries that cannot see each other, and the strict reader that refuses any change to it.

Members, in this order::

    modelpack-export.json     the export document
    model/<path>              every file of the MLmodel folder, its manifest included, sorted

The export document (``documents.SHAPES["export document"]``) says what the archive holds: the
version (``name``, ``version``, ``registry``, ``source`` — the exact version, qualified by its
registry — its registration's ``created``/``user``/``host``, ``origin``, ``description``,
``tags``), its content (``digest``, ``manifest_sha256``), the ``sha256`` and ``size`` of every
other member, the ``modelpack_version`` that wrote it, and ``checksum``: the sha256 of the
document's canonical JSON without that key. The document is written in exactly that canonical
form, so a changed byte anywhere in it is caught too.

Format 2 adds ``provenance``: the exported version record's provenance (``modelpack.provenance
.record``: what ``register`` was given, the MLflow run, ``registered_from``), inside the document
and so under its checksum. ``format_version`` is 2 exactly when the document has that key: a
version with no recorded provenance (and an exported folder, whose provenance is its MLmodel's)
is written as format 1, which older readers import. Format 1 archives (none carries
``provenance``) are read as before; their version gets the package's own provenance on import.

Every member is a regular file with fixed metadata (mode 0644, mtime 0, uid and gid 0, no owner
names), and gzip output has no name and mtime 0: exporting the same version twice writes the same
bytes, and the reader refuses a header that differs from that form.

Reading never calls ``extractall``: members are read one by one from the stream, each checked
(a regular file, a safe relative name under ``model/``, listed in the document, seen once, of the
recorded size) before its bytes are written, with ``O_EXCL | O_NOFOLLOW``, into a fresh folder,
hashed as they are written and compared with the document. The padding after each member and
the end of the archive must be zeros, and a gzip stream is read to its end so its CRC is checked.
Nothing is unpickled, and nothing reaches a registry until the whole archive has passed.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import secrets
import tarfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, Final

from modelpack import _json, contents
from modelpack.digest import MANIFEST_FILE
from modelpack.errors import (
    ArchiveError,
    ConflictError,
    InputFileError,
    ModelpackError,
    NotFoundError,
    UsageError,
)
from modelpack.registry import documents

#: The first member: what the archive holds.
DOCUMENT_MEMBER: Final = "modelpack-export.json"
#: Files of the MLmodel folder are stored under this folder.
MODEL_PREFIX: Final = "model/"
ARCHIVE_KIND: Final = "modelpack-export"
#: The archive format. Bump it when the layout or the document changes; ``read_archive`` must
#: keep reading every older version. 2: the document carries the version's ``provenance``.
ARCHIVE_FORMAT: Final = 2
#: The format of a document without ``provenance`` (what every modelpack since export reads).
PLAIN_FORMAT: Final = 1
MAX_DOCUMENT_BYTES: Final = 16 << 20
CHUNK: Final = 1 << 20
BLOCK: Final = tarfile.BLOCKSIZE
#: The pax records a member may carry (long or non-ASCII names, files over 8 GiB).
_PAX_KEYS: Final = frozenset({"path", "size"})
_HINT: Final = "the archive is not the one 'modelpack export' wrote; export it again from the source"


#: The largest extended header (pax records, GNU long names) read before the member it
#: describes: tarfile reads these whole into memory, so a forged size must be refused first.
MAX_HEADER_BYTES: Final = 1 << 20


class _RefusedHeader(tarfile.HeaderError):
    """A header refused before tarfile reads what it describes (raised from inside tarfile)."""


class _BoundedTarInfo(tarfile.TarInfo):
    """Refuses an extended header larger than ``MAX_HEADER_BYTES`` before tarfile reads it."""

    def _bounded(self) -> None:
        if self.size > MAX_HEADER_BYTES:
            raise _RefusedHeader(f"an extended header of {self.size} bytes")

    def _proc_pax(self, source: Any) -> Any:
        self._bounded()
        return super()._proc_pax(source)  # type: ignore[misc]

    def _proc_gnulong(self, source: Any) -> Any:
        self._bounded()
        return super()._proc_gnulong(source)  # type: ignore[misc]

    def _proc_sparse(self, source: Any) -> Any:
        # Never written by export; refused before its chain of extension blocks is read.
        raise _RefusedHeader(f"a sparse file member {contents.shown(self.name)!r}")


def canonical(document: dict[str, Any]) -> bytes:
    """The one byte form of an export document (sorted keys, two-space indent, final newline)."""
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def seal(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with its ``checksum``: the sha256 of its canonical form without that key."""
    body = {k: v for k, v in document.items() if k != "checksum"}
    return {**body, "checksum": hashlib.sha256(canonical(body)).hexdigest()}


def is_gzip_name(path: Path) -> bool:
    """``.tar.gz`` and ``.tgz`` outputs are gzip-compressed; anything else is a plain tar."""
    return path.name.endswith((".tar.gz", ".tgz", ".gz"))


@dataclass(frozen=True)
class Member:
    """One file to archive: its member name, where its bytes are (a file, or bytes in memory),
    and the sha256 and size they must have."""

    name: str
    sha256: str
    size: int
    path: Path | None = None
    data: bytes | None = None


class _HashingWriter(io.RawIOBase):
    """A write-only stream that hashes and counts what passes through to ``raw``."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.hash = hashlib.sha256()
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.raw.write(view)
        self.hash.update(view)
        self.count += len(view)
        return len(view)


class _HashingReader(io.RawIOBase):
    """A read-only stream that hashes what it reads from ``raw`` (the archive file's sha256)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.hash = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.hash.update(data)
        self.count += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _CheckedFile(io.RawIOBase):
    """A member's file as ``tarfile.addfile`` reads it: hashed on the way, so each file is read
    once and a file that is not what the manifest says is caught before the archive exists."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.hash = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.fh.read(size)
        self.hash.update(data)
        return data


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info


@dataclass(frozen=True)
class Written:
    """What ``write_archive`` wrote: the archive file's sha256 and size."""

    sha256: str
    size: int


def write_archive(
    output: Path, document: dict[str, Any], members: Iterable[Member], *, force: bool
) -> Written:
    """Write the archive to a temp file beside ``output`` and rename it into place.

    Each member file is hashed as it is written and must match its recorded sha256 and size; on
    any failure the temp file is removed, so nothing is left at ``output``.

    Raises:
        ConflictError: ``output`` exists and ``force`` is off (exit 5).
        NotFoundError: the folder of ``output`` does not exist (exit 4).
        ArchiveError: a file changed while it was exported, or is not what its manifest says.
    """
    if output.is_dir():
        raise UsageError(f"--output {output} is a folder; give the archive's file name")
    if output.exists() and not force:
        raise ConflictError(f"{output} already exists", hint="pass --force to replace it", path=str(output))
    if not output.parent.is_dir():
        raise NotFoundError(f"the folder for {output} does not exist", path=str(output.parent))
    tmp = output.with_name(f".{output.name}.{secrets.token_hex(6)}.tmp")
    try:
        with tmp.open("xb") as raw:
            sink = _HashingWriter(raw)
            gz = (
                gzip.GzipFile(filename="", mode="wb", fileobj=sink, mtime=0, compresslevel=6)
                if is_gzip_name(output)
                else None
            )
            target: Any = gz if gz is not None else sink
            with tarfile.open(fileobj=target, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                data = canonical(seal(document))
                tar.addfile(_tarinfo(DOCUMENT_MEMBER, len(data)), io.BytesIO(data))
                for member in members:
                    _add(tar, member)
            if gz is not None:
                gz.close()
            raw.flush()
            os.fsync(raw.fileno())
        if force:
            os.replace(tmp, output)
        else:
            try:
                os.link(tmp, output)  # fails rather than replaces a file that appeared meanwhile
            except FileExistsError:
                raise ConflictError(
                    f"{output} already exists", hint="pass --force to replace it", path=str(output)
                ) from None
            os.unlink(tmp)
        with contextlib.suppress(OSError):
            fd = os.open(output.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        return Written(sha256=sink.hash.hexdigest(), size=sink.count)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and not isinstance(exc, ModelpackError):
            raise _write_error(exc, output, tmp) from exc
        raise


def _write_error(exc: OSError, output: Path, tmp: Path) -> InputFileError:
    """An OS error while exporting as one line: reading a model file, or writing the archive."""
    reason = exc.strerror or type(exc).__name__
    if exc.filename is not None and str(exc.filename) not in (str(tmp), str(output)):
        return InputFileError(
            f"cannot read {exc.filename}: {reason}; nothing was exported", path=str(exc.filename)
        )
    return InputFileError(
        f"cannot write {output}: {reason}; nothing was written",
        hint="choose an --output on a writable filesystem with free space",
        path=str(output),
    )


def _add(tar: tarfile.TarFile, member: Member) -> None:
    info = _tarinfo(member.name, member.size)
    if member.data is not None:
        actual = hashlib.sha256(member.data).hexdigest()
        if actual != member.sha256 or len(member.data) != member.size:
            raise ArchiveError(f"{member.name} is not what its manifest records; nothing was exported")
        tar.addfile(info, io.BytesIO(member.data))
        return
    assert member.path is not None
    with member.path.open("rb") as fh:
        if os.fstat(fh.fileno()).st_size != member.size:
            raise ArchiveError(
                f"{member.path} is not what its manifest records (size differs); nothing was exported",
                hint="re-pack the model, or restore the files",
                path=str(member.path),
            )
        checked = _CheckedFile(fh)
        try:
            tar.addfile(info, checked)
        except OSError as exc:
            if exc.filename:
                raise
            raise ArchiveError(
                f"{member.path} changed while it was exported ({exc}); nothing was exported"
            ) from exc
        if checked.hash.hexdigest() != member.sha256:
            raise ArchiveError(
                f"{member.path} is not what its manifest records (content differs); nothing was exported",
                hint="re-pack the model, or restore the files",
                path=str(member.path),
            )


# ---------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Unpacked:
    """A verified archive: its document, the extracted MLmodel folder and the file's sha256."""

    document: dict[str, Any]
    folder: Path
    sha256: str
    size: int


def _refuse(archive: Path, why: str) -> ArchiveError:
    return ArchiveError(f"refusing {archive}: {why}; nothing was imported", hint=_HINT, path=str(archive))


def read_archive(archive: Path, work: Path, *, expect_sha256: str | None = None) -> Unpacked:
    """Verify every member of ``archive`` and extract the MLmodel folder into ``work/model``.

    Args:
        archive: the file ``write_archive`` wrote.
        work: an empty folder of the caller's (a temp folder).
        expect_sha256: the archive file's sha256 as ``export`` reported it; pins every byte.

    Raises:
        NotFoundError: no such file (exit 4).
        ArchiveError: anything differs from what the document records, the document itself was
            changed, a member is not a regular file with a safe name, is duplicated, extra or
            missing, or the archive is truncated (exit 3, naming the member).
    """
    if not archive.exists():
        raise NotFoundError(f"archive not found: {archive}", path=str(archive))
    if not archive.is_file():
        raise InputFileError(f"{archive} is not a file", path=str(archive))
    try:
        return _read(archive, work, expect_sha256)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if exc.filename is not None and Path(exc.filename) == archive:
            raise InputFileError(f"cannot read {archive}: {reason}", path=str(archive)) from exc
        raise InputFileError(
            f"cannot unpack {archive} into the temporary folder {work}: {reason}; nothing was imported",
            hint="the archive is unpacked under TMPDIR before it is registered; point TMPDIR at a "
            "filesystem with room for the model",
            path=str(archive),
        ) from exc


def _read(archive: Path, work: Path, expect_sha256: str | None) -> Unpacked:
    folder = work / "model"
    folder.mkdir()
    with archive.open("rb") as fh:
        compressed = fh.read(2) == b"\x1f\x8b"
        fh.seek(0)
        raw = _HashingReader(fh)
        stream: Any = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        try:
            document = _extract(archive, stream, folder)
            # The rest of the file: gzip's CRC and length are checked only at its end.
            while stream.read(CHUNK):
                pass
            while raw.read(CHUNK):
                pass
        except _RefusedHeader as exc:
            raise _refuse(archive, f"it holds {exc}") from None
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise _refuse(archive, f"it is truncated or damaged ({exc})") from None
    sha = raw.hash.hexdigest()
    if expect_sha256 is not None and sha != expect_sha256.lower().removeprefix("sha256:"):
        raise _refuse(archive, f"its sha256 is {sha}, not the expected {expect_sha256}")
    _check_manifest(archive, folder, document)
    return Unpacked(document=document, folder=folder, sha256=sha, size=raw.count)


def _extract(archive: Path, stream: Any, folder: Path) -> dict[str, Any]:
    with tarfile.open(fileobj=stream, mode="r|", tarinfo=_BoundedTarInfo) as tar:
        return _extract_members(archive, tar, folder)


def _extract_members(archive: Path, tar: tarfile.TarFile, folder: Path) -> dict[str, Any]:
    first = tar.next()
    if first is None or first.name != DOCUMENT_MEMBER:
        shown = "nothing" if first is None else repr(contents.shown(first.name))
        raise _refuse(archive, f"its first member is {shown}, not {DOCUMENT_MEMBER}")
    _check_header(archive, first)
    if first.size > MAX_DOCUMENT_BYTES:
        raise _refuse(archive, f"{DOCUMENT_MEMBER} is larger than {MAX_DOCUMENT_BYTES} bytes")
    reader = tar.extractfile(first)
    assert reader is not None
    data = reader.read(first.size)
    if len(data) != first.size:
        raise _refuse(archive, f"it is truncated inside {DOCUMENT_MEMBER}")
    _check_padding(archive, tar, first)
    document = _parse_document(archive, data)
    expected: dict[str, dict[str, Any]] = document["members"]
    seen: set[str] = set()
    while len(seen) < len(expected):
        member = tar.next()
        if member is None:
            break
        name = member.name
        if name in seen or name == DOCUMENT_MEMBER:
            raise _refuse(archive, f"member {contents.shown(name)!r} appears twice")
        _check_header(archive, member)
        rel = _model_path(archive, name)
        if name not in expected:
            raise _refuse(archive, f"member {contents.shown(name)!r} is not in its {DOCUMENT_MEMBER}")
        want = expected[name]
        if member.size != want["size"]:
            raise _refuse(
                archive, f"member {name} has {member.size} bytes, {DOCUMENT_MEMBER} records {want['size']}"
            )
        seen.add(name)
        _write_member(archive, tar, member, folder, rel, want["sha256"])
        _check_padding(archive, tar, member)
    missing = sorted(set(expected) - seen)
    if missing:
        raise _refuse(archive, f"member(s) missing or truncated: {', '.join(missing)}")
    _check_end(archive, tar, seen)
    return document


def _check_header(archive: Path, member: tarfile.TarInfo) -> None:
    """Only the plain files ``write_archive`` writes: no links, folders, devices or sparse files,
    and every header field as it was written."""
    name = contents.shown(member.name)
    if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE) or member.sparse is not None:
        kinds = {
            tarfile.SYMTYPE: "a symbolic link",
            tarfile.LNKTYPE: "a hard link",
            tarfile.DIRTYPE: "a folder",
            tarfile.CHRTYPE: "a character device",
            tarfile.BLKTYPE: "a block device",
            tarfile.FIFOTYPE: "a FIFO",
        }
        raise _refuse(archive, f"member {name!r} is {kinds.get(member.type, 'not a regular file')}")
    changed = [
        field
        for field, value, written in (
            ("mode", member.mode, 0o644),
            ("mtime", member.mtime, 0),
            ("uid", member.uid, 0),
            ("gid", member.gid, 0),
            ("uname", member.uname, ""),
            ("gname", member.gname, ""),
            ("linkname", member.linkname, ""),
            ("devmajor", member.devmajor, 0),
            ("devminor", member.devminor, 0),
        )
        if value != written
    ]
    changed += sorted(set(member.pax_headers) - _PAX_KEYS)
    if changed:
        raise _refuse(archive, f"member {name!r} has a changed header ({', '.join(changed)})")


def _model_path(archive: Path, name: str) -> str:
    """The path inside the MLmodel folder a member name stands for, refusing any unsafe name."""
    rel = name.removeprefix(MODEL_PREFIX)
    clean = (
        name.startswith(MODEL_PREFIX)
        and contents.is_safe_relative(rel)
        and "\\" not in rel
        and PurePosixPath(rel).as_posix() == rel
        and "." not in PurePosixPath(rel).parts
    )
    if not clean:
        raise _refuse(archive, f"member {contents.shown(name)!r} does not name a file inside {MODEL_PREFIX}")
    return rel


def _write_member(
    archive: Path, tar: tarfile.TarFile, member: tarfile.TarInfo, folder: Path, rel: str, sha: str
) -> None:
    dest = folder / rel
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except (FileExistsError, NotADirectoryError, IsADirectoryError):
        raise _refuse(archive, f"member {member.name} clashes with another member's path") from None
    reader = tar.extractfile(member)
    assert reader is not None
    digest = hashlib.sha256()
    left = member.size
    with os.fdopen(fd, "wb") as out:
        while left:
            try:
                chunk = reader.read(min(CHUNK, left))
            except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
                raise _refuse(
                    archive, f"it is truncated or damaged inside member {member.name} ({exc})"
                ) from None
            if not chunk:
                raise _refuse(archive, f"it is truncated inside member {member.name}")
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
    if digest.hexdigest() != sha:
        raise _refuse(
            archive, f"member {member.name} does not match the sha256 its {DOCUMENT_MEMBER} records"
        )


def _check_padding(archive: Path, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
    """The bytes between a member's data and the next header are zeros, as written."""
    end = member.offset_data + member.size
    if tar.fileobj.tell() != end:
        return
    pad = -member.size % BLOCK
    if pad and tar.fileobj.read(pad).strip(b"\0"):
        raise _refuse(archive, f"bytes were changed after member {member.name}")


def _check_end(archive: Path, tar: tarfile.TarFile, seen: set[str]) -> None:
    """After the last member only the end-of-archive zeros may follow."""
    block = tar.fileobj.read(BLOCK)
    if block.strip(b"\0"):
        try:
            info = tarfile.TarInfo.frombuf(block, tarfile.ENCODING, "surrogateescape")
        except tarfile.HeaderError:
            raise _refuse(
                archive, "it holds data that is not part of any member after the last member"
            ) from None
        if info.name in seen or info.name == DOCUMENT_MEMBER:
            raise _refuse(archive, f"member {contents.shown(info.name)!r} appears twice")
        raise _refuse(
            archive, f"it holds an unexpected member {contents.shown(info.name)!r} after the last member"
        )
    while chunk := tar.fileobj.read(CHUNK):
        if chunk.strip(b"\0"):
            raise _refuse(archive, "it holds data after the end of the archive")


def _parse_document(archive: Path, data: bytes) -> dict[str, Any]:
    try:
        raw = _json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _refuse(archive, f"{DOCUMENT_MEMBER} is not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise _refuse(archive, f"{DOCUMENT_MEMBER} is not a JSON object")
    version = raw.get("format_version")
    if documents.is_int(version) and version > ARCHIVE_FORMAT:
        raise ArchiveError(
            f"{archive} has export format {version}, newer than this modelpack reads ({ARCHIVE_FORMAT})",
            hint="upgrade modelpack",
            path=str(archive),
        )
    found = documents.problems("export document", raw)
    if found:
        raise _refuse(archive, f"{DOCUMENT_MEMBER} is malformed: {documents.describe(found)}")
    _check_format(archive, raw)
    if canonical(seal(raw)) != data:
        raise _refuse(archive, f"{DOCUMENT_MEMBER} was changed (its checksum does not match)")
    members = raw["members"]
    manifest_member = MODEL_PREFIX + MANIFEST_FILE
    if manifest_member not in members:
        raise _refuse(archive, f"{DOCUMENT_MEMBER} lists no {manifest_member}")
    if members[manifest_member]["sha256"] != raw["manifest_sha256"]:
        raise _refuse(archive, f"{DOCUMENT_MEMBER} records two different manifests")
    for name in members:
        if name == DOCUMENT_MEMBER:
            raise _refuse(archive, f"{DOCUMENT_MEMBER} lists itself")
        _model_path(archive, name)
    return raw


def format_for(document: dict[str, Any]) -> int:
    """The format a document is written in: 2 when it carries ``provenance``, else 1."""
    return ARCHIVE_FORMAT if "provenance" in document else PLAIN_FORMAT


def _check_format(archive: Path, document: dict[str, Any]) -> None:
    """``provenance`` is in a document exactly when its format is 2, as ``export`` writes it."""
    version = document["format_version"]
    if version >= ARCHIVE_FORMAT and "provenance" not in document:
        raise _refuse(archive, f"{DOCUMENT_MEMBER} is malformed: missing key 'provenance'")
    if version < ARCHIVE_FORMAT and "provenance" in document:
        raise _refuse(
            archive,
            f"{DOCUMENT_MEMBER} is malformed: format {version} has no key 'provenance'",
        )


def _check_manifest(archive: Path, folder: Path, document: dict[str, Any]) -> None:
    """The extracted manifest lists exactly the other members, and makes the recorded digest."""
    from modelpack.package.manifest import read_manifest

    try:
        manifest = read_manifest(folder)
    except (ModelpackError, ValueError) as exc:  # ValueError: e.g. bytes that are not UTF-8
        raise _refuse(archive, f"its {MANIFEST_FILE} is unreadable ({exc})") from None
    if manifest is None:
        raise _refuse(archive, f"it holds no {MANIFEST_FILE}")
    listed = {MODEL_PREFIX + f.path: {"sha256": f.sha256, "size": f.size} for f in manifest.files}
    members = {k: v for k, v in document["members"].items() if k != MODEL_PREFIX + MANIFEST_FILE}
    if listed != members:
        differ = sorted(set(listed) ^ set(members)) or sorted(k for k in listed if listed[k] != members[k])
        raise _refuse(
            archive, f"its {MANIFEST_FILE} and {DOCUMENT_MEMBER} disagree about {', '.join(differ)}"
        )
    if manifest.digest != document["digest"]:
        raise _refuse(
            archive,
            f"its files make digest {manifest.digest}, but {DOCUMENT_MEMBER} records {document['digest']}",
        )
