"""Malicious pickles for the safety scanner tests, each built here, byte by byte where needed.

Every payload, if it were ever loaded, creates a marker file: the tests assert that the scan
refuses it, names the offending global, and that the marker never appears. A separate test
loads each payload on purpose in a subprocess to prove it is live (the marker does appear).
"""

from __future__ import annotations

import functools
import io
import os
import pickle
import shlex
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# ---------------------------------------------------------------------------------------------
# A tiny pickle assembler


def proto(n: int) -> bytes:
    return pickle.PROTO + bytes([n])


def ustr(text: str) -> bytes:
    data = text.encode()
    if len(data) < 256:
        return pickle.SHORT_BINUNICODE + bytes([len(data)]) + data
    return pickle.BINUNICODE + struct.pack("<I", len(data)) + data


def glob0(module: str, name: str) -> bytes:
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def sglob(module: str, name: str) -> bytes:
    return ustr(module) + ustr(name) + pickle.STACK_GLOBAL


def call1(func: bytes, arg: bytes) -> bytes:
    """func(arg) where both are opcode sequences pushing one value."""
    return func + arg + pickle.TUPLE1 + pickle.REDUCE


def touch_cmd(marker: Path) -> str:
    return f"touch {shlex.quote(str(marker))}"


def py_code(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').close()"


# ---------------------------------------------------------------------------------------------
# __reduce__ payloads (pickled by the real pickler)


class Reduce:
    """An object whose unpickling calls ``func(*args)``."""

    def __init__(self, func: object, *args: object) -> None:
        self.func = func
        self.args = args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (self.func, self.args)


def os_system(marker: Path) -> Reduce:
    return Reduce(os.system, touch_cmd(marker))


# ---------------------------------------------------------------------------------------------
# Payload registry


@dataclass(frozen=True)
class Payload:
    name: str
    build: Callable[[Path, Path], Path]  # (folder, marker) -> the file to scan
    expect: tuple[str, ...]  # substrings that must appear among the findings' global names
    loader: str  # how the live-check loads it: pickle | pickle_twice | joblib | extension | none
    folder_scan: bool = False  # scan the folder rather than the file


PAYLOADS: list[Payload] = []


def payload(
    name: str, *expect: str, loader: str = "pickle", folder_scan: bool = False
) -> Callable[[Callable[[Path, Path], Path]], Callable[[Path, Path], Path]]:
    def register(fn: Callable[[Path, Path], Path]) -> Callable[[Path, Path], Path]:
        PAYLOADS.append(Payload(name, fn, expect, loader, folder_scan))
        return fn

    return register


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@payload("os.system via __reduce__", "system")
def _os_system(folder: Path, marker: Path) -> Path:
    return write(folder, "model.pkl", pickle.dumps(os_system(marker), protocol=2))


@payload("posix.system, protocol 0 GLOBAL text", "posix.system")
def _posix_system(folder: Path, marker: Path) -> Path:
    data = glob0("posix", "system") + b"(V" + touch_cmd(marker).encode() + b"\ntR."
    return write(folder, "model.pkl", data)


@payload("subprocess.Popen", "subprocess.Popen")
def _popen(folder: Path, marker: Path) -> Path:
    obj = Reduce(subprocess.Popen, ["touch", str(marker)])
    return write(folder, "model.pkl", pickle.dumps(obj, protocol=4))


@payload("subprocess.check_output", "subprocess.check_output")
def _check_output(folder: Path, marker: Path) -> Path:
    obj = Reduce(subprocess.check_output, ["touch", str(marker)])
    return write(folder, "model.pkl", pickle.dumps(obj, protocol=3))


@payload("builtins.eval", "builtins.eval")
def _eval(folder: Path, marker: Path) -> Path:
    return write(folder, "model.pkl", pickle.dumps(Reduce(eval, py_code(marker)), protocol=5))


@payload("builtins.exec", "builtins.exec")
def _exec(folder: Path, marker: Path) -> Path:
    return write(folder, "model.pkl", pickle.dumps(Reduce(exec, py_code(marker)), protocol=4))


@payload("builtins.compile then exec", "builtins.compile", "builtins.exec")
def _compile(folder: Path, marker: Path) -> Path:
    code = glob0("builtins", "compile") + ustr(py_code(marker)) + ustr("<p>") + ustr("exec")
    code += pickle.TUPLE3 + pickle.REDUCE
    data = proto(4) + call1(glob0("builtins", "exec"), code) + pickle.STOP
    return write(folder, "model.pkl", data)


@payload("builtins.__import__ and getattr", "builtins.__import__", "builtins.getattr")
def _import(folder: Path, marker: Path) -> Path:
    module = call1(glob0("builtins", "__import__"), ustr("os"))
    system = glob0("builtins", "getattr") + module + ustr("system") + pickle.TUPLE2 + pickle.REDUCE
    data = proto(2) + call1(system, ustr(touch_cmd(marker))) + pickle.STOP
    return write(folder, "model.pkl", data)


@payload("builtins.open", "builtins.open")
def _open(folder: Path, marker: Path) -> Path:
    data = proto(2) + glob0("builtins", "open") + ustr(str(marker)) + ustr("w") + pickle.TUPLE2
    data += pickle.REDUCE + pickle.STOP
    return write(folder, "model.pkl", data)


@payload("getattr chain from an allowlisted function to builtins", "copyreg._reconstructor.__builtins__")
def _getattr_chain(folder: Path, marker: Path) -> Path:
    getattr_ = glob0("builtins", "getattr")
    builtins_dict = getattr_ + glob0("copyreg", "_reconstructor") + ustr("__builtins__") + pickle.TUPLE2
    builtins_dict += pickle.REDUCE
    get = getattr_ + builtins_dict + ustr("get") + pickle.TUPLE2 + pickle.REDUCE
    exec_ = call1(get, ustr("exec"))
    data = proto(4) + call1(exec_, ustr(py_code(marker))) + pickle.STOP
    return write(folder, "model.pkl", data)


@payload("dotted STACK_GLOBAL through an allowlisted module", "copyreg._reconstructor.__builtins__")
def _dotted(folder: Path, marker: Path) -> Path:
    builtins_dict = sglob("copyreg", "_reconstructor.__builtins__")
    get = glob0("builtins", "getattr") + builtins_dict + ustr("get") + pickle.TUPLE2 + pickle.REDUCE
    exec_ = call1(get, ustr("exec"))
    data = proto(4) + call1(exec_, ustr(py_code(marker))) + pickle.STOP
    return write(folder, "model.pkl", data)


@payload("operator.attrgetter", "operator.attrgetter", "shutil.os")
def _attrgetter(folder: Path, marker: Path) -> Path:
    getter = call1(glob0("operator", "attrgetter"), ustr("system"))
    system = call1(getter, sglob("shutil", "os"))
    data = proto(4) + call1(system, ustr(touch_cmd(marker))) + pickle.STOP
    return write(folder, "model.pkl", data)


@payload("operator.methodcaller", "operator.methodcaller")
def _methodcaller(folder: Path, marker: Path) -> Path:
    caller = glob0("operator", "methodcaller") + ustr("system") + ustr(touch_cmd(marker)) + pickle.TUPLE2
    caller += pickle.REDUCE
    data = proto(4) + call1(caller, sglob("shutil", "os")) + pickle.STOP
    return write(folder, "model.pkl", data)


@payload("functools.partial", "functools.partial")
def _partial(folder: Path, marker: Path) -> Path:
    obj = Reduce(functools.partial(os.system, touch_cmd(marker)))
    return write(folder, "model.pkl", pickle.dumps(obj, protocol=4))


@payload("runpy.run_path", "runpy.run_path")
def _runpy(folder: Path, marker: Path) -> Path:
    script = folder / "helper_script.py"
    script.write_text(py_code(marker) + "\n")
    import runpy

    return write(folder, "model.pkl", pickle.dumps(Reduce(runpy.run_path, str(script)), protocol=4))


@payload("importlib.import_module", "importlib.import_module")
def _importlib(folder: Path, marker: Path) -> Path:
    module = call1(glob0("importlib", "import_module"), ustr("os"))
    system = glob0("builtins", "getattr") + module + ustr("system") + pickle.TUPLE2 + pickle.REDUCE
    data = proto(3) + call1(system, ustr(touch_cmd(marker))) + pickle.STOP
    return write(folder, "model.pkl", data)


@payload("pickle.loads of an inner pickle", "_pickle.loads", "system")
def _nested(folder: Path, marker: Path) -> Path:
    inner = pickle.dumps(os_system(marker), protocol=4)
    return write(folder, "model.pkl", pickle.dumps(Reduce(pickle.loads, inner), protocol=4))


def _object_npy(path: Path, marker: Path) -> None:
    import numpy as np

    arr = np.empty(1, dtype=object)
    arr[0] = os_system(marker)
    np.save(path, arr, allow_pickle=True)


@payload("numpy.load inside an allowlisted package", "numpy.load")
def _numpy_load(folder: Path, marker: Path) -> Path:
    side = folder / "side.npy"
    _object_npy(side, marker)
    data = proto(2) + glob0("numpy", "load") + ustr(str(side)) + pickle.NONE + pickle.NEWTRUE
    data += pickle.TUPLE3 + pickle.REDUCE + pickle.STOP
    return write(folder, "model.pkl", data)


@payload("object .npy holding a pickle", "system", loader="npy")
def _npy(folder: Path, marker: Path) -> Path:
    path = folder / "example.npy"
    _object_npy(path, marker)
    return path


@payload("pandas.read_pickle inside an allowlisted package", "pandas.read_pickle")
def _read_pickle(folder: Path, marker: Path) -> Path:
    side = write(folder, "side.bin", pickle.dumps(os_system(marker)))
    data = proto(2) + call1(glob0("pandas", "read_pickle"), ustr(str(side))) + pickle.STOP
    return write(folder, "model.pkl", data)


@payload("protocol 0 INST", "os.system")
def _inst(folder: Path, marker: Path) -> Path:
    data = b"(V" + touch_cmd(marker).encode() + b"\nios\nsystem\n."
    return write(folder, "model.pkl", data)


@payload("protocol 1 OBJ", "os.system")
def _obj(folder: Path, marker: Path) -> Path:
    data = pickle.MARK + glob0("os", "system") + ustr(touch_cmd(marker)) + pickle.OBJ + pickle.STOP
    return write(folder, "model.pkl", data)


@payload("STACK_GLOBAL with memoized strings (BINGET)", "os.system")
def _memo(folder: Path, marker: Path) -> Path:
    # Push and memoize the names early, drop them, fetch them back from the memo later.
    data = proto(4) + ustr("os") + pickle.MEMOIZE + ustr("system") + pickle.MEMOIZE
    data += pickle.POP + pickle.POP + pickle.EMPTY_DICT
    data += pickle.BINGET + b"\x00" + pickle.BINGET + b"\x01" + pickle.STACK_GLOBAL
    data += ustr(touch_cmd(marker)) + pickle.TUPLE1 + pickle.REDUCE + pickle.STOP
    return write(folder, "model.pkl", data)


@payload("STACK_GLOBAL of a computed string", "<unresolved STACK_GLOBAL>")
def _computed(folder: Path, marker: Path) -> Path:
    # builtins.str is allowlisted; str("os") is only known by running it.
    module = call1(glob0("builtins", "str"), ustr("os"))
    data = proto(4) + module + ustr("system") + pickle.STACK_GLOBAL
    data += ustr(touch_cmd(marker)) + pickle.TUPLE1 + pickle.REDUCE + pickle.STOP
    return write(folder, "model.pkl", data)


EXT_CODE = 240


@payload("EXT1 extension code", f"<extension code {EXT_CODE}>", loader="extension")
def _ext(folder: Path, marker: Path) -> Path:
    data = proto(2) + pickle.EXT1 + bytes([EXT_CODE]) + ustr(touch_cmd(marker)) + pickle.TUPLE1
    data += pickle.REDUCE + pickle.STOP
    return write(folder, "model.pkl", data)


@payload("Python 2 module name mapped by the unpickler", "subprocess.getoutput")
def _py2(folder: Path, marker: Path) -> Path:
    data = proto(2) + call1(glob0("commands", "getoutput"), ustr(touch_cmd(marker))) + pickle.STOP
    return write(folder, "model.pkl", data)


def _joblib_dump(folder: Path, marker: Path, compress: object) -> Path:
    import joblib
    import numpy as np

    obj = {
        # 0x2e is STOP: a naive walk over array bytes would stop early.
        "stops": np.full(4096, ord("."), dtype=np.uint8),
        "floats": np.linspace(0.0, 1.0, 1000),
        "names": np.array(["a", "b", None], dtype=object),
        "when": np.array(["2020-01-01"], dtype="datetime64[ns]"),
        "payload": os_system(marker),
        "after": np.arange(10),
    }
    path = folder / "model.joblib"
    joblib.dump(obj, path, compress=compress)
    return path


for _compress in (0, ("zlib", 3), ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3)):
    _label = "uncompressed" if _compress == 0 else _compress[0]  # type: ignore[index]
    payload(f"joblib.dump, {_label}, payload after arrays", "system", loader="joblib")(
        functools.partial(_joblib_dump, compress=_compress)
    )


@payload("joblib object array holding the payload", "system", loader="joblib")
def _joblib_object(folder: Path, marker: Path) -> Path:
    import joblib
    import numpy as np

    arr = np.empty(2, dtype=object)
    arr[0] = "benign"
    arr[1] = os_system(marker)
    path = folder / "model.joblib"
    joblib.dump({"x": np.ones(3), "objs": arr}, path)
    return path


def _wrapper_prefix(dtype_state_flags: int, typestr: str, shape: int, alignment: bool) -> bytes:
    """A joblib NumpyArrayWrapper for a 1-d array, ending with its BUILD."""
    data = proto(4) + glob0("joblib.numpy_pickle", "NumpyArrayWrapper") + pickle.EMPTY_TUPLE + pickle.NEWOBJ
    data += pickle.EMPTY_DICT + pickle.MARK
    data += ustr("subclass") + glob0("numpy", "ndarray")
    data += ustr("shape") + pickle.BININT + struct.pack("<i", shape) + pickle.TUPLE1
    data += ustr("order") + ustr("C")
    dtype = glob0("numpy", "dtype") + ustr(typestr) + pickle.NEWFALSE + pickle.NEWTRUE + pickle.TUPLE3
    dtype += pickle.REDUCE + pickle.MARK + pickle.BININT1 + b"\x03" + ustr("<") + pickle.NONE * 3
    dtype += (pickle.BININT + struct.pack("<i", -1)) * 2 + pickle.BININT1 + bytes([dtype_state_flags])
    dtype += pickle.TUPLE + pickle.BUILD
    data += ustr("dtype") + dtype
    data += ustr("allow_mmap") + pickle.NEWFALSE
    data += ustr("numpy_array_alignment_bytes") + (pickle.BININT1 + b"\x10" if alignment else pickle.NONE)
    data += pickle.SETITEMS + pickle.BUILD
    return data


@payload("payload hidden in joblib array bytes, live for pickle.load", "system")
def _hidden_in_array(folder: Path, marker: Path) -> Path:
    # joblib.load reads these bytes as uint8 data; pickle.load reads them as opcodes.
    evil = call1(glob0("posix", "system"), ustr(touch_cmd(marker))) + pickle.STOP
    data = _wrapper_prefix(0, "u1", len(evil), alignment=False) + evil + pickle.STOP
    return write(folder, "model.joblib", data)


@payload("joblib dtype flags turning float data into a nested pickle", "system", loader="joblib")
def _dtype_flags(folder: Path, marker: Path) -> Path:
    # "f8" with the has-object flag set: joblib unpickles the bytes that follow.
    inner = pickle.dumps(os_system(marker), protocol=2)
    data = _wrapper_prefix(63, "f8", 1, alignment=True) + inner + pickle.STOP
    return write(folder, "model.joblib", data)


@payload("cloudpickle function defined by value", "cloudpickle")
def _cloudpickle(folder: Path, marker: Path) -> Path:
    import cloudpickle

    target = str(marker)

    def touch() -> None:
        Path(target).write_text("")

    return write(folder, "model.pkl", cloudpickle.dumps(Reduce(touch)))


@payload("zip archive holding a malicious pickle", "system", loader="none")
def _zip(folder: Path, marker: Path) -> Path:
    path = folder / "bundle.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("README.txt", "nothing to see")
        zf.writestr("inner/model.pkl", pickle.dumps(os_system(marker)))
    return path


@payload("pickle renamed to .json", "os.system", folder_scan=True)
def _renamed(folder: Path, marker: Path) -> Path:
    (folder / "MLmodel").write_text("flavors:\n  sklearn:\n    pickled_model: model.pkl\n")
    data = glob0("os", "system") + b"(V" + touch_cmd(marker).encode() + b"\ntR."
    return write(folder, "input_example.json", data)


@payload("evil pickle concatenated after a benign one", "system", loader="pickle_twice")
def _concat(folder: Path, marker: Path) -> Path:
    data = pickle.dumps({"coef": [1.0, 2.0]}) + pickle.dumps(os_system(marker))
    return write(folder, "model.pkl", data)


@payload("evil pickle followed by garbage", "system")
def _garbage(folder: Path, marker: Path) -> Path:
    return write(folder, "model.pkl", pickle.dumps(os_system(marker)) + b"\x00\xffjunk")


@payload("pickle in a nested file the MLmodel names", "system", folder_scan=True)
def _mlmodel_nested(folder: Path, marker: Path) -> Path:
    (folder / "MLmodel").write_text(
        "flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n"
        "  sklearn:\n    pickled_model: artifacts/deep/weights.bin\n    serialization_format: pickle\n"
    )
    (folder / "conda.yaml").write_text("channels:\n- conda-forge\ndependencies:\n- python=3.11\n")
    return write(folder, "artifacts/deep/weights.bin", pickle.dumps(os_system(marker)))


@payload("joblib frame trick: opcodes after the array BUILD inside the same frame", "system", loader="joblib")
def _frame_trick(folder: Path, marker: Path) -> Path:
    # joblib's pure-Python unpickler reads array bytes from the file, past the current frame,
    # while it keeps executing the opcodes still buffered in that frame.
    prefix = _wrapper_prefix(0, "u1", 4, alignment=False)[2:]  # drop PROTO, re-add below
    evil = call1(glob0("posix", "system"), ustr(touch_cmd(marker))) + pickle.POP
    framed = prefix + pickle.POP + evil + pickle.NONE + pickle.STOP
    data = proto(4) + pickle.FRAME + struct.pack("<Q", len(framed)) + framed + b"DATA"
    return write(folder, "model.joblib", data)


def skops_evil(folder: Path, marker: Path) -> Path:
    """A .skops file whose schema names builtins.eval as a function (never loadable by skops)."""
    import json

    schema = {
        "__class__": "dict",
        "__module__": "builtins",
        "__loader__": "DictNode",
        "content": {"f": {"__class__": "eval", "__module__": "builtins", "__loader__": "FunctionNode"}},
        "key_types": {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode", "content": []},
        "protocol": 2,
        "_skops_version": "0.10",
    }
    path = folder / "model.skops"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("schema.json", json.dumps(schema))
    return path


PAYLOADS.append(Payload("skops schema naming builtins.eval", skops_evil, ("builtins.eval",), "none"))


def load_in_subprocess(path: Path, loader: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Load a payload the way a victim would (used only to prove the payload is live)."""
    scripts = {
        "pickle": "import pickle,sys; pickle.load(open(sys.argv[1],'rb'))",
        "pickle_twice": "import pickle,sys\nf=open(sys.argv[1],'rb')\npickle.load(f)\npickle.load(f)",
        "joblib": "import joblib,sys; joblib.load(sys.argv[1])",
        "npy": "import numpy,sys; numpy.load(sys.argv[1], allow_pickle=True)",
        "extension": (
            f"import copyreg,pickle,sys; copyreg.add_extension('posix','system',{EXT_CODE}); "
            "pickle.load(open(sys.argv[1],'rb'))"
        ),
    }
    return subprocess.run(
        [sys.executable, "-c", scripts[loader], str(path)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def pickled_bytes(obj: object, protocol: int) -> bytes:
    buf = io.BytesIO()
    pickle.dump(obj, buf, protocol=protocol)
    return buf.getvalue()
