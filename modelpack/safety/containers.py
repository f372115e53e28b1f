"""Container formats: joblib compression, zip archives, ``.npy`` files and ``.skops`` zips, each
opened and sniffed by content until the pickles inside reach the opcode walker; and the public
``scan_file`` / ``scan_folder`` / ``referenced_modules``."""

from __future__ import annotations

import ast
import io
import json
import os
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Final

from modelpack.safety.allowlist import _Policy
from modelpack.safety.opcodes import (
    _CHUNK,
    _HIGHEST_PROTOCOL,
    _MAX_DEPTH,
    _PARTIAL,
    _SKOPS_SCHEMA_LIMIT,
    _SPOOL_LIMIT,
    _Raw,
    _Source,
    _StreamEnd,
    _Truncated,
    _Walker,
)
from modelpack.safety.verdict import (
    MALFORMED,
    NOT_ALLOWLISTED,
    TOO_DEEP,
    TRAILING_DATA,
    UNKNOWN_FORMAT,
    UNSUPPORTED_COMPRESSION,
    ScanResult,
    _Report,
    _result,
)

_ZIP_MAGICS: Final = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_NPY_MAGIC: Final = b"\x93NUMPY"
# numpy itself refuses headers over 10 000 bytes unless told otherwise.
_NPY_HEADER_LIMIT: Final = 1 << 20


def _compression(head: bytes) -> str | None:
    """The joblib compressor a file starts with, checked further than joblib's own prefix test."""
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh") and len(head) > 3 and head[3:4].isdigit():
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x5d\x00"):
        return "lzma"
    if head.startswith(b"\x04\x22\x4d\x18"):
        return "lz4"
    if head.startswith(b"ZF0x"):
        return "compat"
    if len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0:
        return "zlib"
    return None


class _ZlibReader(io.RawIOBase):
    """Streaming zlib/gzip decompression of one member; leftover bytes are remembered."""

    def __init__(self, fh: IO[bytes], wbits: int) -> None:
        self.fh = fh
        self.dec = zlib.decompressobj(wbits)
        self.buffer = b""
        self.trailing = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self.buffer:
            if self.dec.eof:
                if self.dec.unused_data or self.fh.read(1):
                    self.trailing = True
                return 0
            chunk = self.fh.read(_CHUNK)
            if not chunk:
                raise _Truncated(0)
            self.buffer = self.dec.decompress(chunk, _CHUNK)
            while not self.buffer and self.dec.unconsumed_tail:
                self.buffer = self.dec.decompress(self.dec.unconsumed_tail, _CHUNK)
        n = min(len(b), len(self.buffer))
        b[:n] = self.buffer[:n]
        self.buffer = self.buffer[n:]
        if not self.buffer and self.dec.unconsumed_tail:
            self.buffer = self.dec.decompress(self.dec.unconsumed_tail, _CHUNK)
        return n


def _open_decompressed(fh: IO[bytes], kind: str) -> IO[bytes]:
    if kind == "compat":
        # joblib < 0.10: "ZF", the length as hex padded to 19 characters, then zlib.
        fh.seek(21)
        return io.BufferedReader(_ZlibReader(fh, zlib.MAX_WBITS), _CHUNK)
    if kind == "zlib":
        return io.BufferedReader(_ZlibReader(fh, zlib.MAX_WBITS), _CHUNK)
    if kind == "gzip":
        return io.BufferedReader(_ZlibReader(fh, 31), _CHUNK)
    if kind == "bz2":
        import bz2

        return bz2.BZ2File(fh)
    if kind in {"xz", "lzma"}:
        import lzma

        return lzma.LZMAFile(fh)
    raise ValueError(f"unknown compression {kind}")


def _io_peek(stream: IO[bytes]) -> bytes:
    try:
        return stream.peek(2)[:2]  # type: ignore[attr-defined, no-any-return]
    except Exception:  # noqa: BLE001 - corrupt input reads as "not a pickle"
        return b""


def _decompressed_head(fh: IO[bytes], kind: str) -> bytes | None:
    """First bytes after decompression, or None when the data does not decompress at all.

    joblib picks a decompressor by the first byte or two alone; a text file that happens to
    start with ``x^`` is not zlib, and neither joblib nor pickle can run anything from it
    through a decompressor that fails on the first block.
    """
    try:
        fh.seek(0)
        stream = _open_decompressed(fh, kind)
        head = stream.read(2)
    except Exception:  # noqa: BLE001 - any decompression error
        return None
    finally:
        fh.seek(0)
    return head if head else None


def _descr_has_object(descr: object) -> bool:
    """Whether an ``.npy`` header's ``descr`` holds Python objects (then the data is a pickle)."""
    if isinstance(descr, str):
        return descr.lstrip("<>|=").startswith("O")
    if isinstance(descr, list):
        return any(isinstance(f, tuple) and len(f) >= 2 and _descr_has_object(f[1]) for f in descr)
    if isinstance(descr, tuple) and descr:
        return _descr_has_object(descr[0])
    return True  # anything unexpected: assume the worst


class _Scanner:
    """Scans one top-level file (and whatever it contains) into a ``_Report``."""

    def __init__(self, policy: _Policy) -> None:
        self.policy = policy

    # A "handle" here is a seekable binary file positioned at 0.

    def scan_handle(
        self, fh: IO[bytes], size: int, label: str, report: _Report, depth: int, explicit: bool
    ) -> None:
        head = fh.read(32)
        fh.seek(0)
        if head.startswith(_ZIP_MAGICS):
            self.scan_zip(fh, label, report, depth)
            return
        kind = _compression(head)
        if kind in {"lz4"}:
            # Reading lz4 needs a third-party module; what cannot be read cannot be vetted.
            report.formats.add("joblib")
            report.add(label, f"<{kind} compressed stream>", UNSUPPORTED_COMPRESSION, 0)
            return
        if kind is not None and _decompressed_head(fh, kind) is not None:
            self.scan_compressed(fh, size, kind, label, report, depth, explicit)
            return
        fh.seek(0)
        if head.startswith(_NPY_MAGIC):
            self.scan_npy(fh, size, label, report, depth, explicit)
            return
        if len(head) >= 2 and head[0] == 0x80 and head[1] <= _HIGHEST_PROTOCOL:
            self.scan_pickle(fh, size, label, report, depth)
            return
        # Protocol 0 and 1 pickles have no header and may be plain text: probe without
        # judging, then scan for real only if the bytes would import something.
        if self.looks_like_pickle(fh, size):
            fh.seek(0)
            self.scan_pickle(fh, size, label, report, depth)
            return
        if explicit:
            report.formats.add("unknown")
            report.add(label, "<file>", UNKNOWN_FORMAT, None)

    def looks_like_pickle(self, fh: IO[bytes], size: int) -> bool:
        probe = _Report(label="")
        walker = _Walker(
            _Source(_Raw(fh, size=size, seekable=True), framed=False),
            policy=self.policy,
            report=probe,
            file="",
            joblib=False,
            strict=False,
            depth=0,
        )
        reached_stop = False
        try:
            walker.walk_one()
        except _StreamEnd:
            reached_stop = True
        except Exception:  # noqa: BLE001 - any failure means a loader stops here too
            reached_stop = False
        return reached_stop or walker.importable_found > 0

    def scan_pickle(self, fh: IO[bytes], size: int, label: str, report: _Report, depth: int) -> None:
        """An uncompressed stream: as joblib.load reads it, and as pickle.load reads it."""
        fh.seek(0)
        walker = self.walk(
            _Raw(fh, size=size, seekable=True), label, report, joblib=True, strict=True, depth=depth
        )
        fmt = "joblib" if walker.wrappers_built else "pickle"
        if walker.wrappers_built:
            # pickle.load would not skip the array bytes: walk them as opcodes too.
            fh.seek(0)
            self.walk(
                _Raw(fh, size=size, seekable=True), label, report, joblib=False, strict=False, depth=depth
            )
        report.formats.add(fmt)

    def walk(
        self,
        raw: _Raw,
        label: str,
        report: _Report,
        *,
        joblib: bool,
        strict: bool,
        depth: int,
        single: bool = False,
    ) -> _Walker:
        walker = _Walker(
            _Source(raw, framed=joblib),
            policy=self.policy,
            report=report,
            file=label,
            joblib=joblib,
            strict=strict,
            depth=depth,
        )
        walker.run(single=single)
        return walker

    def scan_compressed(
        self, fh: IO[bytes], size: int, kind: str, label: str, report: _Report, depth: int, explicit: bool
    ) -> None:
        """A joblib compressed file: walk the decompressed stream as joblib.load reads it."""
        fh.seek(0)
        stream = _open_decompressed(fh, kind)
        head = _io_peek(stream)
        if not (len(head) == 2 and head[0] == 0x80 and head[1] <= _HIGHEST_PROTOCOL):
            # Compressed, but no binary pickle inside: plain data, or a protocol 0 pickle.
            # Spool it and judge it like any other file.
            if depth >= _MAX_DEPTH:
                report.add(label, "<compressed stream>", TOO_DEEP, 0)
                return
            inner_report = _Report(label=label)
            try:
                with _spooled(stream) as (inner, inner_size):
                    self.scan_handle(inner, inner_size, label, inner_report, depth + 1, explicit=False)
            except Exception:  # noqa: BLE001 - corrupt data: the loader fails the same way
                inner_report.add(label, "<compressed stream>", MALFORMED, None)
            report.globals_seen |= inner_report.globals_seen
            report.findings.update(inner_report.findings)
            if inner_report.formats or inner_report.findings:
                report.formats.add("joblib")
            elif explicit:
                report.formats.add("unknown")
                report.add(label, "<file>", UNKNOWN_FORMAT, None)
            return
        report.formats.add("joblib")
        raw = _Raw(stream, seekable=False)
        self.walk(raw, label, report, joblib=True, strict=True, depth=depth)
        reader = getattr(stream, "raw", None)
        if isinstance(reader, _ZlibReader) and reader.trailing:
            report.add(label, "<bytes after the compressed stream>", TRAILING_DATA, None)
        # pickle.load on the raw file sees the compressed bytes as opcodes; walk them as well.
        fh.seek(0)
        self.walk(_Raw(fh, size=size, seekable=True), label, report, joblib=False, strict=False, depth=depth)

    def scan_npy(
        self, fh: IO[bytes], size: int, label: str, report: _Report, depth: int, explicit: bool
    ) -> None:
        """``.npy``: numeric data is inert; an object array is a pickle after the header."""
        head = fh.read(10)
        major = head[6] if len(head) > 6 else 0
        if major == 1:
            hlen = int.from_bytes(head[8:10], "little")
            start = 10
        else:
            more = fh.read(2)
            hlen = int.from_bytes(head[8:10] + more, "little")
            start = 12
        if hlen > _NPY_HEADER_LIMIT:
            report.formats.add("unknown")
            report.add(label, "<npy header>", MALFORMED, 0)
            return
        header_bytes = fh.read(hlen)
        try:
            header = ast.literal_eval(header_bytes.decode("latin-1" if major < 3 else "utf-8"))
            descr = header["descr"]
        except (ValueError, SyntaxError, KeyError, TypeError, MemoryError, RecursionError):
            if explicit:
                report.formats.add("unknown")
                report.add(label, "<npy header>", UNKNOWN_FORMAT, 0)
            return
        if not _descr_has_object(descr):
            if explicit:
                report.formats.add("unknown")
                report.add(label, "<numeric npy data>", UNKNOWN_FORMAT, None)
            return
        fh.seek(start + hlen)
        raw = _Raw(fh, base=start + hlen, size=size, seekable=True)
        fh.seek(start + hlen)
        self.walk(raw, label, report, joblib=False, strict=True, depth=depth, single=True)
        report.formats.add("pickle")

    def scan_zip(self, fh: IO[bytes], label: str, report: _Report, depth: int) -> None:
        try:
            zf = zipfile.ZipFile(fh)
        except Exception:  # noqa: BLE001 - zipfile raises many types on corrupt archives
            report.formats.add("unknown")
            report.add(label, "<zip archive>", MALFORMED, None)
            return
        with zf:
            names = zf.namelist()
            is_skops = "schema.json" in names
            report.formats.add("skops" if is_skops else "zip")
            if is_skops:
                self.scan_skops(zf, label, report)
            if depth >= _MAX_DEPTH:
                report.add(label, "<zip archive>", TOO_DEEP, None)
                return
            for info in zf.infolist():
                if info.is_dir():
                    continue
                if is_skops and info.filename == "schema.json":
                    continue
                member_label = f"{label}!{info.filename}"
                try:
                    with zf.open(info) as member, _spooled(member) as (inner, inner_size):
                        member_report = _Report(label=member_label)
                        self.scan_handle(
                            inner, inner_size, member_label, member_report, depth + 1, explicit=False
                        )
                except Exception:  # noqa: BLE001 - corrupt, encrypted or unsupported member
                    report.add(member_label, "<zip member>", MALFORMED, None)
                    continue
                report.globals_seen |= member_report.globals_seen
                for key, value in member_report.findings.items():
                    report.findings.setdefault(key, value)

    def scan_skops(self, zf: zipfile.ZipFile, label: str, report: _Report) -> None:
        """Judge every type ``schema.json`` names; the schema is parsed, nothing imported."""
        try:
            info = zf.getinfo("schema.json")
            if info.file_size > _SKOPS_SCHEMA_LIMIT:
                raise ValueError("schema.json too large")
            schema = json.loads(zf.read(info))
        except (ValueError, KeyError, OSError, zipfile.BadZipFile, RecursionError):
            report.add(f"{label}!schema.json", "<schema.json>", MALFORMED, None)
            return
        allow = self.policy.allow
        for node in _json_dicts(schema):
            module = node.get("__module__")
            cls = node.get("__class__")
            loader = node.get("__loader__")
            if loader is not None and (type(loader) is not str or loader not in allow.skops_loaders):
                report.add(f"{label}!schema.json", f"<skops loader {loader!r}>", UNKNOWN_FORMAT, None)
            if type(module) is not str or type(cls) is not str:
                continue
            names = [f"{module}.{cls}"]
            if loader == "PartialNode" and (module, cls) == _PARTIAL:
                # skops rebuilds partial(func, *args, **kwds); func is a node of its own,
                # judged below like every other, so the partial itself adds nothing.
                content = node.get("content")
                func_node = content.get("func") if isinstance(content, dict) else None
                if isinstance(func_node, dict) and type(func_node.get("__module__")) is str:
                    report.globals_seen.add(names.pop())
            elif loader == "MethodNode":
                content = node.get("content")
                func = content.get("func") if isinstance(content, dict) else None
                names.append(f"{module}.{cls}.{func}")
            for name in names:
                report.globals_seen.add(name)
                if name in allow.skops_trusted or self.policy.allowed_name(name):
                    continue
                report.add(f"{label}!schema.json", name, NOT_ALLOWLISTED, None)


def _json_dicts(doc: object) -> Iterator[dict[str, Any]]:
    todo = [doc]
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            yield item
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)


class _spooled:  # noqa: N801 - used like a function in a with statement
    """Copy a stream into a seekable temporary file (in memory while small)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.tmp: IO[bytes] | None = None

    def __enter__(self) -> tuple[IO[bytes], int]:
        # Not tempfile.SpooledTemporaryFile: before Python 3.11 it has no seekable(), which
        # zipfile needs to open a zip inside a zip (a skops file holding a sparse matrix).
        self.tmp = io.BytesIO()
        size = 0
        while chunk := self.stream.read(_CHUNK):
            if size + len(chunk) > _SPOOL_LIMIT and isinstance(self.tmp, io.BytesIO):
                spill = tempfile.TemporaryFile()  # noqa: SIM115 - closed in __exit__
                spill.write(self.tmp.getbuffer())
                self.tmp = spill
            self.tmp.write(chunk)
            size += len(chunk)
        self.tmp.seek(0)
        return self.tmp, size

    def __exit__(self, *exc: object) -> None:
        if self.tmp is not None:
            self.tmp.close()


# ---------------------------------------------------------------------------------------------
# Public API


def _label(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            pass
    return path.name


def _scan(path: Path, label: str, policy: _Policy, *, explicit: bool) -> ScanResult:
    report = _Report(label=label)
    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        _Scanner(policy).scan_handle(fh, size, label, report, 0, explicit)
    return _result(report)


def scan_file(path: Path, *, trusted: Iterable[str] = (), root: Path | None = None) -> ScanResult:
    """Statically scan one file (pickle, joblib, cloudpickle, skops or zip) without loading it.

    Args:
        path: the file to scan.
        trusted: extra trust for this run: exact ``module.qualname`` / ``module:qualname``
            names, or module prefixes (``mypkg`` trusts ``mypkg.*`` top-level names).
        root: folder the reported path is made relative to; the file name when omitted.

    Returns:
        The ``ScanResult``; ``ok`` is False when any finding was recorded. A file that is not
        any of the supported formats gets an ``unknown_format`` finding.

    Raises:
        OSError: the file cannot be read.
    """
    return _scan(path, _label(path, root), _Policy(trusted), explicit=True)


def _iter_files(folder: Path) -> list[Path]:
    # The package's content as every command sees it: regular files only, links kept inside.
    from modelpack.contents import walk

    return [path for _rel, path in walk(folder).files]


def scan_folder(folder: Path, *, trusted: Iterable[str] = ()) -> list[ScanResult]:
    """Scan every file in ``folder`` that is a pickle, joblib, skops or zip file by content.

    File names are ignored (a pickle named ``input_example.json`` is still found); files that
    cannot make an unpickler import anything (JSON, YAML, CSV, text, numeric ``.npy``) are
    skipped.

    Args:
        folder: the model folder.
        trusted: as for ``scan_file``.

    Returns:
        One ``ScanResult`` per scanned file, in path order, paths relative to ``folder``.

    Raises:
        OSError: a file cannot be read.
        InvalidModelError: the folder holds a FIFO, device, socket, symlink loop or a name that
            is not UTF-8 (``modelpack.contents.walk``); symlinks leaving the folder are not read.
    """
    policy = _Policy(trusted)
    results: list[ScanResult] = []
    for path in _iter_files(folder):
        result = _scan(path, _label(path, folder), policy, explicit=False)
        if result.format != "unknown" or result.findings:
            results.append(result)
    return results


def referenced_modules(path: Path) -> set[str]:
    """Top-level module names of every global a pickle/joblib/cloudpickle/skops file names.

    Used to infer requirements without unpickling. Standard-library modules (``builtins``,
    ``copyreg``, ``_codecs``...) are included; the caller filters them. Never raises on odd
    files: whatever could be read is returned.
    """
    try:
        result = _scan(path, path.name, _Policy(()), explicit=False)
    except Exception:  # noqa: BLE001 - documented never to raise on odd files
        return set()
    return {name.split(".")[0] for name in result.globals_seen if name and not name.startswith("<")}
