"""The opcode walker: decodes a pickle stream's opcodes from the bytes, without running them, and
feeds them to a symbolic stack machine that judges every global the stream would import or call
against the policy (see the package docstring for the model)."""

from __future__ import annotations

import _compat_pickle
import codecs
import copyreg
import importlib.util
import io
import os
import pickletools
import struct
from typing import IO, Any, Final

from modelpack.safety.allowlist import _Policy
from modelpack.safety.verdict import (
    CODE_OBJECT,
    EXTENSION_CODE,
    MALFORMED,
    NESTED_PICKLE,
    NOT_ALLOWLISTED,
    PERSISTENT_ID,
    TRAILING_DATA,
    UNRESOLVABLE,
    _Report,
)

# Strings and bytes longer than this are skipped instead of kept: a module name is never this
# long, and large payloads are array data we do not need to look at.
_KEEP_LIMIT: Final = 1 << 20
# Pickle frames written by CPython stay near 64 KiB; a frame far larger is not from a pickler.
_FRAME_LIMIT: Final = 64 << 20
# schema.json of a .skops file is small; refuse to parse a huge one.
_SKOPS_SCHEMA_LIMIT: Final = 64 << 20
# Zip in zip in zip ...: stop somewhere.
_MAX_DEPTH: Final = 4
_CHUNK: Final = 1 << 20
_SPOOL_LIMIT: Final = 64 << 20

_WRAPPER: Final = ("joblib.numpy_pickle", "NumpyArrayWrapper")
_GETATTR: Final = ("builtins", "getattr")
_PARTIAL: Final = ("functools", "partial")
_RESTRICTED: Final = frozenset({_WRAPPER, _GETATTR, _PARTIAL})
_LENIENT_REASONS: Final = frozenset({NOT_ALLOWLISTED, CODE_OBJECT, NESTED_PICKLE})


# ---------------------------------------------------------------------------------------------
# Byte sources


class _Truncated(Exception):
    """The stream ended (or a frame ran out) in the middle of an opcode."""


class _Malformed(Exception):
    """The bytes are not a stream any unpickler would accept past this point."""


class _Raw:
    """Forward reader over a binary file object, tracking the offset; seeks when it can."""

    def __init__(self, fh: IO[bytes], *, base: int = 0, size: int | None = None, seekable: bool = False):
        self.fh = fh
        self.pos = base
        self.size = size
        self.seekable = seekable and size is not None
        self._pushback = b""

    def read(self, n: int) -> bytes:
        if n < 0:
            raise _Malformed("negative length")
        if self.size is not None and self.pos + n > self.size:
            data = self._read_up_to(self.size - self.pos)
            raise _Truncated(len(data))
        data = self._read_up_to(n)
        if len(data) < n:
            raise _Truncated(len(data))
        return data

    def read_up_to(self, n: int) -> bytes:
        """Read at most ``n`` bytes (short at EOF), as ``file.read`` does."""
        return self._read_up_to(n)

    def _read_up_to(self, n: int) -> bytes:
        out = b""
        if self._pushback:
            out, self._pushback = self._pushback[:n], self._pushback[n:]
        while len(out) < n:
            chunk = self._io(self.fh.read, min(n - len(out), _CHUNK))
            if not chunk:
                break
            out += chunk
        self.pos += len(out)
        return out

    def readline(self) -> tuple[bytes | None, int]:
        """One line including its newline: (bytes or None when longer than kept, length)."""
        parts: list[bytes] = []
        length = 0
        if self._pushback:
            nl = self._pushback.find(b"\n")
            if nl >= 0:
                line, self._pushback = self._pushback[: nl + 1], self._pushback[nl + 1 :]
                self.pos += len(line)
                return line, len(line)
            parts.append(self._pushback)
            length = len(self._pushback)
            self._pushback = b""
        while True:
            piece = self._io(self.fh.readline, _CHUNK)
            if not piece:
                self.pos += length
                raise _Truncated(length)
            length += len(piece)
            if length <= _KEEP_LIMIT:
                parts.append(piece)
            elif parts:
                parts = []
            if piece.endswith(b"\n"):
                self.pos += length
                return (b"".join(parts) if length <= _KEEP_LIMIT else None), length

    def skip(self, n: int) -> None:
        if n < 0:
            raise _Malformed("negative length")
        if self._pushback:
            take = min(n, len(self._pushback))
            self._pushback = self._pushback[take:]
            self.pos += take
            n -= take
        if n == 0:
            return
        if self.seekable:
            assert self.size is not None
            if self.pos + n > self.size:
                self.fh.seek(self.size - self.pos, os.SEEK_CUR)
                self.pos = self.size
                raise _Truncated(0)
            self.fh.seek(n, os.SEEK_CUR)
            self.pos += n
            return
        while n:
            chunk = self._io(self.fh.read, min(n, _CHUNK))
            if not chunk:
                raise _Truncated(0)
            n -= len(chunk)
            self.pos += len(chunk)

    def peek(self) -> bytes:
        if not self._pushback:
            self._pushback = self._io(self.fh.read, 1)
        return self._pushback[:1]

    @staticmethod
    def _io(method: Any, n: int) -> bytes:
        # Decompressors raise their own error types on corrupt input; to the walk they all
        # mean the loader would stop here.
        try:
            data: bytes = method(n)
        except (_Truncated, _Malformed):
            raise
        except Exception as exc:  # noqa: BLE001
            raise _Malformed(f"read failed: {exc}") from exc
        return data


class _Source:
    """What the walker reads opcodes from.

    ``framed=False`` is the C unpickler (``pickle.load``): frames are transparent.
    ``framed=True`` is the pure-Python unpickler joblib uses: a frame is read into a buffer, so
    the file position runs ahead of the opcodes, and joblib reads array bytes from the file.
    """

    def __init__(self, raw: _Raw, *, framed: bool) -> None:
        self.raw = raw
        self.framed = framed
        self.frame: bytes | None = None
        self.fpos = 0
        self.fbase = 0

    def tell(self) -> int:
        if self.frame is not None and self.fpos < len(self.frame):
            return self.fbase + self.fpos
        return self.raw.pos

    def load_frame(self, n: int) -> None:
        if not self.framed:
            return
        if self.frame is not None and self.fpos < len(self.frame):
            raise _Malformed("new frame before the end of the current frame")
        if n > _FRAME_LIMIT:
            raise _Malformed("oversized frame")
        self.fbase = self.raw.pos
        self.frame = self.raw.read_up_to(n)
        self.fpos = 0

    def read(self, n: int) -> bytes:
        if self.frame is not None:
            data = self.frame[self.fpos : self.fpos + n]
            if not data and n != 0:
                self.frame = None
                return self.raw.read(n)
            if len(data) < n:
                raise _Malformed("pickle exhausted before end of frame")
            self.fpos += n
            return data
        return self.raw.read(n)

    def payload(self, n: int) -> bytes | None:
        """Read ``n`` bytes, or skip them and return None when they are too many to keep."""
        if n <= _KEEP_LIMIT:
            return self.read(n)
        if self.frame is not None:
            self.read(n)
            return None
        self.raw.skip(n)
        return None

    def readline(self) -> tuple[bytes | None, int]:
        if self.frame is not None:
            nl = self.frame.find(b"\n", self.fpos)
            if self.fpos >= len(self.frame):
                self.frame = None
                return self.raw.readline()
            if nl < 0:
                raise _Malformed("pickle exhausted before end of frame")
            line = self.frame[self.fpos : nl + 1]
            self.fpos = nl + 1
            return (line if len(line) <= _KEEP_LIMIT else None), len(line)
        return self.raw.readline()

    def peek(self) -> bytes:
        if self.frame is not None and self.fpos < len(self.frame):
            return self.frame[self.fpos : self.fpos + 1]
        return self.raw.peek()


# ---------------------------------------------------------------------------------------------
# Symbolic values


class _Global:
    __slots__ = ("module", "qualname")

    def __init__(self, module: str, qualname: str) -> None:
        self.module = module
        self.qualname = qualname

    @property
    def key(self) -> tuple[str, str]:
        return (self.module, self.qualname)

    @property
    def name(self) -> str:
        return f"{self.module}.{self.qualname}"


class _Obj:
    """An object the stream builds; ``cls`` is the class when it is known for sure."""

    __slots__ = ("args", "attrs", "cls", "factory", "state")

    def __init__(self, factory: _Global | None, args: object, cls: _Global | None) -> None:
        self.factory = factory
        self.args = args
        self.cls = cls
        self.state: object = None
        self.attrs: dict[str, object] = {}


class _Dict:
    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[object, object]] | None = None) -> None:
        self.pairs = pairs if pairs is not None else []

    def get(self, key: str, default: object = None) -> object:
        for k, v in reversed(self.pairs):
            if type(k) is str and k == key:
                return v
        return default

    def str_items(self) -> dict[str, object] | None:
        out: dict[str, object] = {}
        for k, v in self.pairs:
            if type(k) is not str:
                return None
            out[k] = v
        return out


class _List:
    __slots__ = ("items",)

    def __init__(self, items: list[object] | None = None) -> None:
        self.items = items if items is not None else []


class _Unknown:
    """A value the walk cannot know (persistent ids, out-of-band buffers, skipped payloads)."""

    __slots__ = ()


_UNKNOWN: Final = _Unknown()


def _is_importable_name(dotted: str) -> bool:
    return bool(dotted) and all(part.isidentifier() for part in dotted.split("."))


def _can_import(module: str, qualname: str) -> bool:
    """Whether ``import module`` could succeed here, found without importing anything.

    Only the top-level package is looked up (finding ``a.b`` would import ``a``).
    """
    if not (_is_importable_name(module) and _is_importable_name(qualname)):
        return False
    top = module.split(".")[0]
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


# ---------------------------------------------------------------------------------------------
# Opcode table

_ARG_KIND: Final[dict[int, tuple[str, str | None]]] = {
    op.code.encode("latin-1")[0]: (op.name, op.arg.name if op.arg is not None else None)
    for op in pickletools.opcodes
}
_HIGHEST_PROTOCOL: Final = 5


class _StreamEnd(Exception):
    """STOP was reached."""


class _Walker:
    """Walks one pickle stream (and any that follow it) through the symbolic stack machine."""

    def __init__(
        self,
        src: _Source,
        *,
        policy: _Policy,
        report: _Report,
        file: str,
        joblib: bool,
        strict: bool,
        depth: int,
    ) -> None:
        self.src = src
        self.policy = policy
        self.report = report
        self.file = file
        self.joblib = joblib
        self.strict = strict
        self.depth = depth
        self.stack: list[object] = []
        self.metastack: list[list[object]] = []
        self.memo: dict[int, object] = {}
        self.proto = 0
        self.restricted_seen = False
        self.wrappers_built = 0
        self.op_offset = 0
        self.importable_found = 0

    # -- bookkeeping ------------------------------------------------------------------------

    def finding(self, name: str, reason: str) -> None:
        if not self.strict and reason not in _LENIENT_REASONS:
            # A lenient walk reads bytes a loader may never reach as a pickle (array data):
            # anything odd there means pickle.load would raise, so stop instead of guessing.
            raise _Malformed(reason)
        self.report.add(self.file, name, reason, self.op_offset)

    def judge(self, module: str, qualname: str) -> _Global:
        """Record a global the loader would import and flag it unless allowed."""
        name = f"{module}.{qualname}"
        if not self.strict and not _can_import(module, qualname):
            # A lenient walk reads bytes that may not be meant as a pickle (text, array data
            # read by pickle.load instead of joblib.load): an import that cannot succeed here
            # is where the loader would raise, so the walk ends.
            raise _Malformed(f"{name} cannot be imported")
        self.importable_found += 1
        self.report.globals_seen.add(name)
        if (module, qualname) in _RESTRICTED:
            self.restricted_seen = True
        elif not self.policy.allowed(module, qualname):
            self.finding(name, self.policy.reason(module, qualname))
        return _Global(module, qualname)

    def resolve(self, module: str, name: str) -> _Global:
        # Same mapping as pickle.Unpickler.find_class with fix_imports (the default).
        if self.proto < 3:
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        return self.judge(module, name)

    # -- stack helpers ----------------------------------------------------------------------

    def pop(self) -> object:
        if not self.stack:
            raise _Malformed("stack underflow")
        return self.stack.pop()

    def top(self) -> object:
        if not self.stack:
            raise _Malformed("stack underflow")
        return self.stack[-1]

    def pop_mark(self) -> list[object]:
        if not self.metastack:
            raise _Malformed("missing MARK")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def check_restricted(self, *values: object) -> None:
        """Flag a use of getattr or the joblib wrapper class other than the permitted ones."""
        if not self.restricted_seen:
            return
        seen: set[int] = set()
        todo = list(values)
        while todo:
            value = todo.pop()
            if id(value) in seen:
                continue
            seen.add(id(value))
            if isinstance(value, _Global):
                if value.key in _RESTRICTED:
                    self.finding(f"{value.name} <indirect use>", UNRESOLVABLE)
            elif isinstance(value, tuple):
                todo.extend(value)
            elif isinstance(value, _List):
                todo.extend(value.items)
            elif isinstance(value, _Dict):
                for k, v in value.pairs:
                    todo.append(k)
                    todo.append(v)

    # -- calls ------------------------------------------------------------------------------

    def call(self, func: object, args: object) -> object:
        """REDUCE: ``func(*args)``."""
        if not isinstance(func, _Global):
            if (
                isinstance(func, _Obj)
                and func.factory is not None
                and self.policy.user_trusted(*func.factory.key)
            ):
                # The user vouched for the code that built this callable (cloudpickle's
                # function rebuilders, their own factories).
                return _Obj(None, args, None)
            if isinstance(func, _Obj) and func.cls is not None and func.cls.key == _PARTIAL:
                self.finding(f"{func.cls.name} <called while unpickling>", UNRESOLVABLE)
            if isinstance(func, (_Obj, _Unknown)):
                self.finding("<computed callable>", UNRESOLVABLE)
                self.check_restricted(args)
                return _Obj(None, args, None)
            raise _Malformed("REDUCE of a literal")
        if func.key == _GETATTR:
            return self.call_getattr(args)
        if func.key == _PARTIAL:
            return self.new_partial(func, args)
        if func.key == _WRAPPER:
            self.check_restricted(args)
            obj = _Obj(func, args, func)
            if isinstance(args, tuple):
                self.init_wrapper(obj, args)
            else:
                self.finding(f"{func.name} <unresolved arguments>", UNRESOLVABLE)
            return obj
        cls: _Global | None = None
        if func.key in {
            ("copyreg", "_reconstructor"),
            ("copyreg", "__newobj__"),
            ("copyreg", "__newobj_ex__"),
        }:
            cls = self.class_from_factory(func, args)
        else:
            self.check_restricted(args)
            cls = func
        return _Obj(func, args, cls)

    def class_from_factory(self, func: _Global, args: object) -> _Global | None:
        if not isinstance(args, tuple) or not args or not isinstance(args[0], _Global):
            self.check_restricted(args)
            return None
        cls = args[0]
        rest = args[1:]
        if cls.key == _WRAPPER:
            if func.qualname == "_reconstructor":
                base = rest[0] if rest else None
                if not (isinstance(base, _Global) and base.key == ("builtins", "object")):
                    self.finding(f"{cls.name} <built through another base>", UNRESOLVABLE)
            self.check_restricted(*rest)
            return cls
        self.check_restricted(args)
        return cls

    def call_getattr(self, args: object) -> object:
        if not (isinstance(args, tuple) and len(args) == 2 and type(args[1]) is str):
            self.finding("builtins.getattr <unresolved arguments>", UNRESOLVABLE)
            self.check_restricted(args)
            return _Obj(None, args, None)
        target, attr = args
        if not isinstance(target, _Global):
            # Attributes of built objects include bound methods that write files or run code.
            self.finding(f"builtins.getattr(<object>, {attr!r})", UNRESOLVABLE)
            return _Obj(None, args, None)
        return self.judge(target.module, f"{target.qualname}.{attr}")

    def allowed_callable(self, value: object) -> bool:
        """A global the policy allows (the allowlist or the user's trust), not a restricted one."""
        return (
            isinstance(value, _Global)
            and value.key not in _RESTRICTED
            and self.policy.allowed(value.module, value.qualname)
        )

    def new_partial(self, cls: _Global, args: object) -> object:
        """``functools.partial(G, *bound)``: only of an allowed global ``G``."""
        if not (isinstance(args, tuple) and args and self.allowed_callable(args[0])):
            # Named as such so that --trust-pickle of the wrapped global is what fixes it.
            self.finding(cls.name, NOT_ALLOWLISTED)
        self.check_restricted(args)
        return _Obj(cls, args, cls)

    def instantiate(self, cls: object, args: tuple[object, ...]) -> object:
        """INST / OBJ: ``cls(*args)``, or ``cls.__new__(cls)`` when there are no arguments."""
        if isinstance(cls, _Global) and cls.key == _WRAPPER and args:
            return self.call(cls, args)
        return self.new_object(cls, args)

    def new_object(self, cls: object, args: object) -> object:
        """NEWOBJ / NEWOBJ_EX / OBJ / INST: ``cls.__new__(cls, *args)`` (and maybe ``__init__``)."""
        if not isinstance(cls, _Global):
            if isinstance(cls, (_Obj, _Unknown)):
                self.finding("<computed class>", UNRESOLVABLE)
                self.check_restricted(args)
                return _Obj(None, args, None)
            raise _Malformed("NEWOBJ of a literal")
        if cls.key == _GETATTR:
            self.finding(f"{cls.name} <indirect use>", UNRESOLVABLE)
        if cls.key == _PARTIAL:
            return self.new_partial(cls, args)
        self.check_restricted(args)
        return _Obj(cls, args, cls)

    # -- joblib arrays ----------------------------------------------------------------------

    _WRAPPER_PARAMS: Final = (
        "subclass",
        "shape",
        "order",
        "dtype",
        "allow_mmap",
        "numpy_array_alignment_bytes",
    )

    def init_wrapper(self, obj: _Obj, args: tuple[object, ...]) -> None:
        if not 4 <= len(args) <= 6:
            raise _Malformed("NumpyArrayWrapper called with the wrong arguments")
        obj.attrs = dict(zip(self._WRAPPER_PARAMS, args, strict=False))
        obj.attrs.setdefault("allow_mmap", False)
        obj.attrs.setdefault("numpy_array_alignment_bytes", 16)

    def build(self, inst: object, state: object) -> None:
        self.check_restricted(state)
        if not isinstance(inst, _Obj):
            return
        inst.state = state
        if inst.cls is not None and inst.cls.key == _PARTIAL:
            # partial.__setstate__((func, args, kwds, dict)) replaces the wrapped callable.
            if not (isinstance(state, tuple) and len(state) == 4 and self.allowed_callable(state[0])):
                self.finding(f"{inst.cls.name} <state wraps a callable not allowed>", UNRESOLVABLE)
            return
        if inst.cls is None or inst.cls.key != _WRAPPER:
            return
        dict_state: object = state
        slot_state: object = None
        if isinstance(state, tuple) and len(state) == 2:
            dict_state, slot_state = state
        for part in (dict_state, slot_state):
            if part is None:
                continue
            items = part.str_items() if isinstance(part, _Dict) else None
            if items is None:
                self.finding(f"{inst.cls.name} <unresolved state>", UNRESOLVABLE)
                return
            if part is slot_state and ({"__class__", "__dict__"} & items.keys()):
                self.finding(f"{inst.cls.name} <class changed by state>", UNRESOLVABLE)
                return
            inst.attrs.update(items)
        if self.joblib:
            self.read_array(inst)
            # joblib swaps the wrapper for the array it read.
            self.stack[-1] = _Obj(None, None, None)

    def read_array(self, wrapper: _Obj) -> None:
        self.wrappers_built += 1
        attrs = wrapper.attrs
        shape = attrs.get("shape")
        info = _dtype_info(attrs.get("dtype"))
        if not isinstance(shape, tuple) or not all(type(d) is int and d >= 0 for d in shape) or info is None:
            self.finding("joblib.numpy_pickle.NumpyArrayWrapper <unresolved shape or dtype>", UNRESOLVABLE)
            raise _StopWalk
        itemsize, hasobject = info
        count = 1
        for d in shape:
            count *= d
        raw = self.src.raw
        if hasobject:
            inner = _Walker(
                _Source(raw, framed=True),
                policy=self.policy,
                report=self.report,
                file=self.file,
                joblib=False,
                strict=self.strict,
                depth=self.depth,
            )
            inner.run(single=True)
            return
        if count * itemsize >= 1 << 63:
            self.finding("joblib.numpy_pickle.NumpyArrayWrapper <array too large>", UNRESOLVABLE)
            raise _StopWalk
        align = attrs.get("numpy_array_alignment_bytes", None)
        if isinstance(align, (_Obj, _Unknown, _Global)):
            self.finding("joblib.numpy_pickle.NumpyArrayWrapper <unresolved alignment>", UNRESOLVABLE)
            raise _StopWalk
        if align is not None:
            padding = raw.read_up_to(1)
            if padding and padding[0]:
                raw.read_up_to(padding[0])
        raw.skip(count * itemsize)

    # -- the loop ---------------------------------------------------------------------------

    def run(self, *, single: bool = False) -> None:
        """Walk until the stream ends; findings go to the report."""
        first = True
        while True:
            if not first:
                nxt = self.src.peek()
                if not nxt:
                    return
                if nxt[0] not in _ARG_KIND:
                    if self.strict:
                        self.op_offset = self.src.tell()
                        self.finding("<bytes after STOP>", TRAILING_DATA)
                    return
                self.stack = []
                self.metastack = []
            first = False
            try:
                self.walk_one()
            except _StreamEnd:
                if single:
                    return
                continue
            except _StopWalk:
                return
            except (_Truncated, _Malformed, ValueError, UnicodeDecodeError, OverflowError, struct.error):
                if self.strict:
                    self.finding("<malformed stream>", MALFORMED)
                return
            except Exception:  # noqa: BLE001 - a stream the walk cannot follow fails closed
                if self.strict:
                    self.report.add(self.file, "<malformed stream>", MALFORMED, self.op_offset)
                return

    def walk_one(self) -> None:
        src = self.src
        while True:
            self.op_offset = src.tell()
            code = src.read(1)[0]
            entry = _ARG_KIND.get(code)
            if entry is None:
                raise _Malformed(f"invalid opcode {code:#x}")
            name, kind = entry
            arg = self.read_arg(kind) if kind is not None else None
            self.step(name, arg)

    def read_arg(self, kind: str) -> Any:
        src = self.src
        if kind == "uint1":
            return src.read(1)[0]
        if kind == "uint2":
            return int.from_bytes(src.read(2), "little")
        if kind == "int4":
            return int.from_bytes(src.read(4), "little", signed=True)
        if kind == "uint4":
            return int.from_bytes(src.read(4), "little")
        if kind == "uint8":
            return int.from_bytes(src.read(8), "little")
        if kind == "float8":
            return struct.unpack(">d", src.read(8))[0]
        if kind == "stringnl_noescape_pair":
            return (self.line_text(), self.line_text())
        if kind in {
            "stringnl",
            "stringnl_noescape",
            "decimalnl_short",
            "decimalnl_long",
            "floatnl",
            "unicodestringnl",
        }:
            line, _ = src.readline()
            return line  # None when too long to keep
        length: int
        if kind in {"string1", "bytes1", "unicodestring1"}:
            length = src.read(1)[0]
        elif kind in {"string4"}:
            length = int.from_bytes(src.read(4), "little", signed=True)
            if length < 0:
                raise _Malformed("negative length")
        elif kind in {"bytes4", "unicodestring4"}:
            length = int.from_bytes(src.read(4), "little")
        elif kind in {"bytes8", "bytearray8", "unicodestring8"}:
            length = int.from_bytes(src.read(8), "little")
        elif kind == "long1":
            return int.from_bytes(src.read(src.read(1)[0]), "little", signed=True)
        elif kind == "long4":
            n = int.from_bytes(src.read(4), "little", signed=True)
            if n < 0:
                raise _Malformed("negative length")
            data = src.payload(n)
            return int.from_bytes(data, "little", signed=True) if data is not None else _UNKNOWN
        else:
            raise _Malformed(f"unknown argument kind {kind}")
        data = src.payload(length)
        if data is None:
            return _UNKNOWN
        if kind.startswith("unicodestring"):
            return data.decode("utf-8", "surrogatepass")
        if kind.startswith("string"):
            # The unpickler decodes these with the loader's encoding (ASCII by default);
            # latin-1 decodes every byte string, so names the loader could see are judged.
            return data.decode("latin-1")
        return data

    def line_text(self) -> str:
        line, _ = self.src.readline()
        if line is None:
            raise _Malformed("name too long")
        return line[:-1].decode("utf-8")

    def step(self, op: str, arg: Any) -> None:  # noqa: C901 - one branch per opcode
        stack = self.stack
        if op in _PUSH_LITERAL:
            stack.append(_PUSH_LITERAL[op](arg))
        elif op in {"BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8"}:
            if isinstance(arg, bytes):
                self.maybe_nested(arg)
            stack.append(arg)
        elif op in _PUSH_ARG:
            stack.append(arg)
        elif op == "PROTO":
            if not 0 <= arg <= _HIGHEST_PROTOCOL:
                raise _Malformed("unsupported protocol")
            self.proto = arg
        elif op == "FRAME":
            self.src.load_frame(arg)
        elif op == "STOP":
            self.pop()
            raise _StreamEnd
        elif op == "MARK":
            self.metastack.append(stack)
            self.stack = []
        elif op == "POP":
            if stack:
                stack.pop()
            else:
                self.pop_mark()
        elif op == "POP_MARK":
            self.pop_mark()
        elif op == "DUP":
            stack.append(self.top())
        elif op == "EMPTY_TUPLE":
            stack.append(())
        elif op == "TUPLE":
            items = self.pop_mark()
            self.stack.append(tuple(items))
        elif op in {"TUPLE1", "TUPLE2", "TUPLE3"}:
            n = int(op[-1])
            if len(stack) < n:
                raise _Malformed("stack underflow")
            items = stack[-n:]
            del stack[-n:]
            stack.append(tuple(items))
        elif op == "EMPTY_LIST":
            stack.append(_List())
        elif op == "LIST":
            items = self.pop_mark()
            self.stack.append(_List(items))
        elif op == "APPEND":
            value = self.pop()
            self.add_items(self.top(), [value])
        elif op == "APPENDS":
            items = self.pop_mark()
            self.add_items(self.top(), items)
        elif op in {"EMPTY_DICT"}:
            stack.append(_Dict())
        elif op == "DICT":
            items = self.pop_mark()
            if len(items) % 2:
                raise _Malformed("odd DICT")
            self.stack.append(_Dict(list(zip(items[::2], items[1::2], strict=True))))
        elif op == "SETITEM":
            value = self.pop()
            key = self.pop()
            self.set_items(self.top(), [(key, value)])
        elif op == "SETITEMS":
            items = self.pop_mark()
            if len(items) % 2:
                raise _Malformed("odd SETITEMS")
            self.set_items(self.top(), list(zip(items[::2], items[1::2], strict=True)))
        elif op == "EMPTY_SET":
            stack.append(_List())
        elif op == "ADDITEMS":
            items = self.pop_mark()
            self.add_items(self.top(), items)
        elif op == "FROZENSET":
            items = self.pop_mark()
            self.stack.append(_List(items))
        elif op in {"GET", "BINGET", "LONG_BINGET"}:
            idx = _line_int(arg) if op == "GET" else arg
            if idx not in self.memo:
                raise _Malformed("memo miss")
            stack.append(self.memo[idx])
        elif op in {"PUT", "BINPUT", "LONG_BINPUT"}:
            idx = _line_int(arg) if op == "PUT" else arg
            if idx < 0:
                raise _Malformed("negative memo index")
            self.memo[idx] = self.top()
        elif op == "MEMOIZE":
            self.memo[len(self.memo)] = self.top()
        elif op == "GLOBAL":
            module, qualname = arg
            stack.append(self.resolve(module, qualname))
        elif op == "STACK_GLOBAL":
            qualname = self.pop()
            module = self.pop()
            if type(module) is str and type(qualname) is str:
                stack.append(self.resolve(module, qualname))
            elif isinstance(
                module, (str, bytes, int, float, bool, type(None), tuple, _List, _Dict)
            ) and isinstance(qualname, (str, bytes, int, float, bool, type(None), tuple, _List, _Dict)):
                raise _Malformed("STACK_GLOBAL of non-strings")
            else:
                self.finding("<unresolved STACK_GLOBAL>", UNRESOLVABLE)
                stack.append(_Unknown())
        elif op == "INST":
            module, qualname = arg
            cls = self.resolve(module, qualname)
            inst_args = tuple(self.pop_mark())
            self.stack.append(self.instantiate(cls, inst_args))
        elif op == "OBJ":
            items = self.pop_mark()
            if not items:
                raise _Malformed("OBJ without a class")
            self.stack.append(self.instantiate(items[0], tuple(items[1:])))
        elif op == "REDUCE":
            args = self.pop()
            func = self.pop()
            stack.append(self.call(func, args))
        elif op == "NEWOBJ":
            args = self.pop()
            cls_value = self.pop()
            stack.append(self.new_object(cls_value, args))
        elif op == "NEWOBJ_EX":
            kwargs = self.pop()
            args = self.pop()
            cls_value = self.pop()
            self.check_restricted(kwargs)
            stack.append(self.new_object(cls_value, args))
        elif op == "BUILD":
            state = self.pop()
            self.build(self.top(), state)
        elif op in {"EXT1", "EXT2", "EXT4"}:
            self.extension(arg)
        elif op in {"PERSID", "BINPERSID"}:
            if op == "BINPERSID":
                self.pop()
            self.finding("<persistent id>", PERSISTENT_ID)
            stack.append(_Unknown())
        elif op == "NEXT_BUFFER":
            # Out-of-band data: plain pickle.load refuses it; a loader that supplies buffers
            # gets bytes, never code.
            if not self.strict:
                raise _Malformed("out-of-band buffer")
            stack.append(_Unknown())
        elif op == "READONLY_BUFFER":
            self.top()
        else:  # pragma: no cover - every opcode is listed above
            raise _Malformed(f"unhandled opcode {op}")

    def extension(self, code: int) -> None:
        if code <= 0:
            raise _Malformed("bad extension code")
        # The registry of *this* process stands in for the loader's; a code missing here is
        # unresolvable, and a name found here must still be allowlisted.
        key = copyreg._inverted_registry.get(code)  # type: ignore[attr-defined]
        if key is None:
            self.finding(f"<extension code {code}>", EXTENSION_CODE)
            self.stack.append(_Unknown())
            return
        module, qualname = key
        self.report.globals_seen.add(f"{module}.{qualname}")
        if not self.policy.allowed(module, qualname) or (module, qualname) in _RESTRICTED:
            self.finding(f"{module}.{qualname}", EXTENSION_CODE)
        self.stack.append(_Global(module, qualname))

    def add_items(self, target: object, items: list[object]) -> None:
        if isinstance(target, _List):
            target.items.extend(items)
        elif isinstance(target, _Obj):
            # Calls target.append/extend/add: trusted code of an allowlisted class.
            self.check_restricted(*items)
        elif isinstance(target, _Unknown):
            self.check_restricted(*items)
        else:
            raise _Malformed("append to a non-list")

    def set_items(self, target: object, pairs: list[tuple[object, object]]) -> None:
        if isinstance(target, _Dict):
            target.pairs.extend(pairs)
        elif isinstance(target, (_Obj, _Unknown)):
            self.check_restricted(*[v for pair in pairs for v in pair])
        else:
            raise _Malformed("setitem on a non-dict")

    def maybe_nested(self, data: bytes) -> None:
        """A byte string that is itself a complete pickle naming unsafe globals is reported."""
        if len(data) < 4 or data[0] != 0x80 or not 2 <= data[1] <= _HIGHEST_PROTOCOL:
            return
        if self.depth >= _MAX_DEPTH:
            return
        inner_report = _Report(label=self.report.label)
        raw = _Raw(io.BytesIO(data), size=len(data), seekable=True)
        walker = _Walker(
            _Source(raw, framed=False),
            policy=self.policy,
            report=inner_report,
            file=self.file,
            joblib=False,
            strict=False,
            depth=self.depth + 1,
        )
        walker.run(single=True)
        for found in inner_report.findings.values():
            if found.reason in {NOT_ALLOWLISTED, CODE_OBJECT}:
                self.finding(found.global_name, NESTED_PICKLE)


class _StopWalk(Exception):
    """Stop walking this stream: its remaining bytes can no longer be told apart from data."""


def _line_int(line: bytes | None) -> int:
    if line is None:
        raise _Malformed("memo index too long")
    return int(line[:-1])


def _text_int(line: bytes | None) -> object:
    if line is None:
        return _UNKNOWN
    if line == b"00\n":
        return False
    if line == b"01\n":
        return True
    return int(line, 0)


def _text_long(line: bytes | None) -> object:
    if line is None:
        return _UNKNOWN
    value = line[:-1]
    if value.endswith(b"L"):
        value = value[:-1]
    return int(value, 0)


def _text_float(line: bytes | None) -> object:
    return _UNKNOWN if line is None else float(line[:-1])


def _text_string(line: bytes | None) -> object:
    if line is None:
        return _UNKNOWN
    data = line[:-1]
    if len(data) >= 2 and data[0] == data[-1] and data[:1] in (b'"', b"'"):
        return codecs.escape_decode(data[1:-1])[0].decode("latin-1")
    raise _Malformed("unquoted STRING")


def _text_unicode(line: bytes | None) -> object:
    return _UNKNOWN if line is None else str(line[:-1], "raw-unicode-escape")


_PUSH_ARG: Final = frozenset(
    {
        "BINUNICODE",
        "SHORT_BINUNICODE",
        "BINUNICODE8",
        "BINSTRING",
        "SHORT_BINSTRING",
        "BININT",
        "BININT1",
        "BININT2",
        "LONG1",
        "LONG4",
        "BINFLOAT",
    }
)
_PUSH_LITERAL: Final = {
    "NONE": lambda _arg: None,
    "NEWTRUE": lambda _arg: True,
    "NEWFALSE": lambda _arg: False,
    "INT": _text_int,
    "LONG": _text_long,
    "FLOAT": _text_float,
    "STRING": _text_string,
    "UNICODE": _text_unicode,
}

# numpy dtype type strings as numpy pickles them ("f8", "U40", "V12", "O8", "M8").
_FIXED_SIZES: Final = {
    "b": {1},
    "i": {1, 2, 4, 8},
    "u": {1, 2, 4, 8},
    "f": {2, 4, 8, 16},
    "c": {8, 16, 32},
    "O": {8},
    "M": {8},
    "m": {8},
}
_NPY_ITEM_HASOBJECT: Final = 0x01


def _dtype_info(value: object) -> tuple[int, bool] | None:
    """(itemsize, hasobject) of a numpy dtype the stream built, or None if not certain.

    Mirrors numpy: fixed-size kinds take their size from the type string, flexible kinds
    (U, S, V) from the state's ``elsize``, and ``hasobject`` comes from the state's flags.
    """
    if not isinstance(value, _Obj) or value.cls is None or value.cls.key != ("numpy", "dtype"):
        return None
    args = value.args
    if not isinstance(args, tuple) or not args or type(args[0]) is not str:
        return None
    typestr = args[0]
    kind, digits = typestr[:1], typestr[1:]
    if not digits.isdigit() or not digits.isascii():
        return None
    size = int(digits)
    state = value.state
    flags: int | None = None
    elsize = -1
    if state is not None:
        if not isinstance(state, tuple) or len(state) not in (8, 9) or state[0] not in (3, 4):
            return None
        elsize, flags = state[5], state[7]
        if type(elsize) is not int or type(flags) is not int or not -128 <= flags <= 255:
            return None
        if flags < 0:
            flags += 128
    if kind in _FIXED_SIZES:
        if size not in _FIXED_SIZES[kind]:
            return None
        itemsize = size
    elif kind in {"U", "S", "V"}:
        itemsize = elsize if state is not None else size
        if itemsize <= 0 or (kind == "U" and itemsize % 4):
            return None
    else:
        return None
    hasobject = bool(flags & _NPY_ITEM_HASOBJECT) if flags is not None else kind == "O"
    return itemsize, hasobject
