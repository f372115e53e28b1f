"""Fuzzing the trust boundary: mutated packages and data files through every reading command.

Design: a seeded mutator over valid files, not hypothesis. The inputs that matter here are
valid packages and data files with a few things wrong (a flipped byte, a renamed key, a path
pointing out of the folder, an alias bomb, a shape of 10**12 rows), and building them from the
real files ``pack`` writes reaches deep into each command; hypothesis would spend its budget
generating structure we already have, and its shrinking needs many re-runs of slow CLI cases.
Each case is ``(target, seed)``: ``random.Random("modelpack-fuzz:<target>:<seed>")`` picks the
mutation and the commands, so a case is the same bytes on every machine and run, and a failure
prints its seed, what was mutated, the folder holding the mutated files and the commands that
replay it (``MODELPACK_FUZZ_ONLY=target:seed`` regenerates just that case).

Budget: each target runs seeds 0..N-1, N being one full cycle of its mutation operations (the
first cycle also covers, in order, the specific cases that matter most: a pickle named outside
the folder, an alias bomb, ``size: Infinity``...), so the suite's cost is fixed;
``MODELPACK_FUZZ_CASES=N`` sets N for every target, to search wider.

Running: cases go through ``modelpack.cli.main`` in processes forked from a server that
imported the heavy libraries once (``tests/fuzz/runner.py``), two at a time, each step a fresh
process killed at ``MODELPACK_FUZZ_TIMEOUT`` seconds (a hang guard, not a performance check).
A sample (the first step of each target's first case, and ``predict`` on a package naming a
pickle outside its folder) also runs as ``python -m modelpack`` in a real subprocess, exactly as
a user runs it, so the fork server cannot hide a failure.

Every step must: exit with a documented code (0-5; never 70, never killed by a signal), finish
before the hang guard, print no traceback, print exactly one JSON envelope (whose ``exit_code``
is the process's) with ``--json``, never run a pickle payload (each case has its own marker file
that the payload would create), and never print a secret from a file outside the package.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ENVELOPE_KEYS, REPO_ROOT, modelpack_cmd
from tests.fuzz import mutators as mut

CASES = int(os.environ.get("MODELPACK_FUZZ_CASES", "0"))  # 0: each target's default below
STEP_TIMEOUT = float(os.environ.get("MODELPACK_FUZZ_TIMEOUT", "20"))
ONLY = os.environ.get("MODELPACK_FUZZ_ONLY", "")  # "target:seed" runs that one case
# After this many hung steps a target stops: each costs the whole timeout, and it already fails.
MAX_HANGS = 3
DOCUMENTED_EXIT_CODES = frozenset({0, 1, 2, 3, 4, 5})
SECRET = "FUZZ-SECRET-7f3a9c"  # in a JSON file next to (outside) every case's package
MANIFEST = "modelpack.manifest.json"
PACKAGE_TARGETS = ("mlmodel", "manifest", "example", "tree")
DATA_TARGETS = ("csv", "json", "jsonl", "parquet", "npy", "npz")


# ----------------------------------------------------------------------------------------------
# the valid originals


@dataclass(frozen=True)
class Base:
    root: Path
    pkg: Path  # sklearn pipeline over count/ratio/color/flag, pickle serialization
    model: Path  # its joblib file
    data: dict[str, Path]  # csv, json, jsonl, parquet for pkg; npy, npz for apkg
    apkg: Path  # a model over a float (n, 2) array (skops)
    amodel: Path


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    import joblib
    import numpy as np
    import pandas as pd

    from modelpack import api
    from tests.conftest import _fit_pipeline

    root = tmp_path_factory.mktemp("fuzz-base")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "count": rng.integers(0, 100, 20).astype("int64"),
            "ratio": rng.random(20).round(3),
            "color": rng.choice(["red", "green", "blue"], 20),
            "flag": rng.random(20) < 0.5,
        }
    )
    data = {
        "csv": root / "data.csv",
        "json": root / "data.json",
        "jsonl": root / "data.jsonl",
        "parquet": root / "data.parquet",
        "npy": root / "data.npy",
        "npz": root / "data.npz",
    }
    frame.to_csv(data["csv"], index=False)
    frame.to_json(data["json"], orient="records")
    frame.to_json(data["jsonl"], orient="records", lines=True)
    frame.to_parquet(data["parquet"], index=False)
    array = frame[["count", "ratio"]].to_numpy(dtype="float64")
    np.save(data["npy"], array)
    np.savez(data["npz"], x=array)

    from sklearn.linear_model import LogisticRegression

    model, amodel = root / "model.joblib", root / "array.joblib"
    joblib.dump(_fit_pipeline(frame), model)
    joblib.dump(LogisticRegression().fit(array, (array[:, 0] > 50).astype(int)), amodel)
    pkg, apkg = root / "pkg", root / "apkg"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MODELPACK_HOME", str(root / "home"))
        api.pack(model, sample=data["csv"], output=pkg, name="fuzz", serialization="pickle")
        api.pack(amodel, sample=data["npy"], output=apkg, name="fuzz-array")
    return Base(root, pkg, model, data, apkg, amodel)


# ----------------------------------------------------------------------------------------------
# cases


@dataclass
class Step:
    name: str
    argv: list[str]
    json: bool


@dataclass
class Case:
    target: str
    seed: int
    folder: Path
    mutations: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    keep_manifest: bool = False  # the mutation wrote the manifest itself: never reseal it

    @property
    def id(self) -> str:
        return f"{self.target}:{self.seed}"

    @property
    def marker(self) -> Path:
        return self.folder / "PAYLOAD-RAN"


def _payload_pickle(marker: Path) -> bytes:
    """A pickle that creates ``marker`` when loaded (built here; see tests/unit/safety_payloads)."""
    from tests.unit.safety_payloads import os_system

    return pickle.dumps(os_system(marker), protocol=2)


def _outside_files(case: Case) -> None:
    case.folder.mkdir(parents=True)
    (case.folder / "evil.pkl").write_bytes(_payload_pickle(case.marker))
    (case.folder / "secret.json").write_text(json.dumps({"columns": ["secret"], "data": [[SECRET]]}))


def reseal(pkg: Path) -> None:
    """Rewrite the manifest to match whatever regular files the folder now holds.

    Done without modelpack (whose behaviour is under test), and without opening anything but
    regular files, so a FIFO or device in the folder cannot hang the test itself.
    """
    import hashlib

    entries = []
    for dirpath, dirnames, filenames in os.walk(pkg):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(pkg).as_posix()
            if rel == MANIFEST or not path.is_file():
                continue
            entries.append((rel, hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_size))
    lines = "".join(f"{rel}\t{sha}\n" for rel, sha, _ in sorted(entries))
    doc = {
        "format_version": 1,
        "algorithm": "sha256",
        "digest": "sha256:" + hashlib.sha256(lines.encode("utf-8", "surrogateescape")).hexdigest(),
        "files": {rel: {"sha256": sha, "size": size} for rel, sha, size in entries},
    }
    (pkg / MANIFEST).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


# The MLmodel keys that name a file of the package, and what a hostile package puts there.
NAMED_FILE_KEYS = (
    ("flavors", "sklearn", "pickled_model"),
    ("flavors", "python_function", "model_path"),
    ("flavors", "python_function", "data"),
    ("flavors", "python_function", "code"),
    ("flavors", "python_function", "env", "conda"),
    ("flavors", "python_function", "env", "virtualenv"),
    ("flavors", "sklearn", "extra_files"),
    ("saved_input_example_info", "artifact_path"),
    ("saved_input_example_info", "serving_input_path"),
)


def _named_file_values(case: Case) -> list[str]:
    return [
        "../evil.pkl",
        f"{case.folder}/evil.pkl",
        "sub/../../evil.pkl",
        "evil-link.pkl",  # a symlink inside the folder to ../evil.pkl
        "../secret.json",
        f"{case.folder}/secret.json",
        "/dev/zero",
        "/dev/null",
        "/proc/self/environ",
        "/etc/hostname",
        "fifo",  # a FIFO inside the folder
        ".",
        "",
        "MLmodel",
        "model.pkl/",
        "no-such-file.pkl",
    ]


MLMODEL_OPS = (
    "named", "bomb", "deep", "named", "swap", "delete", "format", "named",
    "rename", "tag", "named", "bytes", "alias", "named", "add",
)  # fmt: skip
# The named-file mutations every run covers first, in this order (then random key/value pairs).
NAMED_FIRST = (
    (("flavors", "sklearn", "pickled_model"), "../evil.pkl"),
    (("saved_input_example_info", "artifact_path"), f"{mut.CASE}/secret.json"),
    (("saved_input_example_info", "artifact_path"), "/dev/zero"),
    (("flavors", "python_function", "model_path"), f"{mut.CASE}/evil.pkl"),
    (("flavors", "sklearn", "extra_files"), "/dev/zero"),
)


def _mutate_mlmodel(rng: Any, case: Case, pkg: Path) -> None:
    path = pkg / "MLmodel"
    data = path.read_bytes()
    op = mut.cycle(MLMODEL_OPS, case.seed)
    # Which occurrence of this operation the case is: 0 in the first cycle of operations.
    seen = sum(1 for s in range(case.seed) if mut.cycle(MLMODEL_OPS, s) == op)
    if op == "named":
        import yaml

        tree = yaml.safe_load(data)
        if seen < len(NAMED_FIRST):
            key, value = NAMED_FIRST[seen]
            value = value.replace(mut.CASE, str(case.folder))
        else:
            key = rng.choice(NAMED_FILE_KEYS)
            value = rng.choice(_named_file_values(case))
        if value == "evil-link.pkl":
            (pkg / value).symlink_to("../evil.pkl")
        if value == "fifo":
            os.mkfifo(pkg / "fifo")
        if key[-1] == "extra_files":
            value = [{"path": value}]
        mut.set_path(tree, key, value)
        what = f"set MLmodel {'/'.join(key)} to {value!r}"
        if key[-1] in ("pickled_model", "model_path", "data") and (
            seen < len(NAMED_FIRST) or rng.random() < 0.7
        ):
            fmt = rng.choice(["pickle", "cloudpickle"])
            tree["flavors"]["sklearn"]["serialization_format"] = fmt
            what += f" with serialization_format {fmt}"
        path.write_bytes(mut.dump_yaml(tree, None))
        case.mutations.append(what.replace(str(case.folder), mut.CASE))
        return
    if op == "format":
        import yaml

        tree = yaml.safe_load(data)
        fmt = mut.pick(rng, ["skops", "cloudpickle", "joblib", "onnx", "", None, 3], seen)
        tree["flavors"]["sklearn"]["serialization_format"] = fmt
        path.write_bytes(mut.dump_yaml(tree, None))
        case.mutations.append(f"set MLmodel flavors/sklearn/serialization_format to {fmt!r}")
        return
    new, what = mut.mutate_document(rng, data, op, yaml_doc=True)
    path.write_bytes(new)
    case.mutations.append(f"MLmodel: {what}")


MANIFEST_OPS = (
    "size",
    "digest",
    "path",
    "format",
    "delete",
    "rename",
    "swap",
    "deep",
    "nan",
    "bytes",
    "path",
    "size",
)


def _mutate_manifest(rng: Any, case: Case, pkg: Path) -> None:
    path = pkg / MANIFEST
    doc = json.loads(path.read_text())
    files = doc["files"]
    op = mut.cycle(MANIFEST_OPS, case.seed)
    seen = sum(1 for s in range(case.seed) if mut.cycle(MANIFEST_OPS, s) == op)
    name = rng.choice(sorted(files))
    raw: str | None = None
    if op == "size":
        value = mut.pick(rng, [mut.RAW, -1, 0, 2**63, 10**12, "12", 1.5, None], seen)
        if value == mut.RAW:
            raw = mut.pick(rng, ["Infinity", "-Infinity", "NaN", "1e400"], seen)
        files[name]["size"] = value
        what = f"size of {name} set to {raw or repr(value)}"
    elif op == "digest":
        other = rng.choice(sorted(files))
        value = rng.choice(
            ["", "00", "zz" * 32, files[name]["sha256"].upper(), files[other]["sha256"], None, 7]
        )
        files[name]["sha256"] = value
        what = f"sha256 of {name} set to {value!r}"
    elif op == "path":
        import hashlib

        evil = (case.folder / "evil.pkl").read_bytes()
        entry = {"sha256": hashlib.sha256(evil).hexdigest(), "size": len(evil)}
        choices = [
            "../evil.pkl",
            "/dev/zero",
            f"{case.folder}/evil.pkl",
            "",
            ".",
            "a/../MLmodel",
            "MLmodel/",
            "nope",
        ]
        new = mut.pick(rng, choices, seen)
        if seen >= 2 and rng.random() < 0.5:
            files[new] = files.pop(name)
            what = f"entry {name} renamed to {new!r}"
        else:
            files[new] = entry
            what = f"entry {new!r} added with evil.pkl's digest"
    elif op == "format":
        value = rng.choice([0, 2, 99, "1", None, 1.5, mut.RAW])
        if value == mut.RAW:
            raw = "1e400"
        doc["format_version"] = value
        what = f"format_version set to {raw or repr(value)}"
    else:
        new_bytes, what = mut.mutate_document(rng, path.read_bytes(), op, yaml_doc=False)
        path.write_bytes(new_bytes)
        case.mutations.append(f"manifest: {what}".replace(str(case.folder), mut.CASE))
        return
    path.write_bytes(mut.dump_json(doc, raw))
    case.mutations.append(f"manifest: {what}".replace(str(case.folder), mut.CASE))


def _mutate_example(rng: Any, case: Case, pkg: Path) -> None:
    name = "input_example.json" if rng.random() < 0.8 else "serving_input_example.json"
    path = pkg / name
    new, what = mut.mutate_document(
        rng, path.read_bytes(), mut.cycle(mut.JSON_OPS, case.seed), yaml_doc=False
    )
    path.write_bytes(new)
    case.mutations.append(f"{name}: {what}")


TREE_OPS = (
    "fifo",
    "device",
    "link-out",
    "loop",
    "link-secret",
    "bad-name",
    "link-dev",
    "socket",
    "fifo-new",
    "dir",
    "missing",
    "extra",
    "empty",
    "sparse",
)


def _mutate_tree(rng: Any, case: Case, pkg: Path) -> None:
    listed = sorted(p.name for p in pkg.iterdir() if p.name != MANIFEST)
    victim = pkg / rng.choice(listed)
    op = mut.cycle(TREE_OPS, case.seed)
    if op == "fifo":
        victim.unlink()
        os.mkfifo(victim)
        what = f"{victim.name} replaced by a FIFO"
    elif op == "device":
        import stat

        try:
            os.mknod(pkg / "zero", stat.S_IFCHR | 0o644, os.makedev(1, 5))
            what = "a /dev/zero device node added"
        except PermissionError:
            (pkg / "zero").symlink_to("/dev/zero")
            what = "a symlink to /dev/zero added (no permission to create a device node)"
        doc = json.loads((pkg / MANIFEST).read_text())
        doc["files"]["zero"] = {"sha256": "0" * 64, "size": 4096}
        (pkg / MANIFEST).write_text(json.dumps(doc))
        what += " and listed in the manifest"
        case.keep_manifest = True
    elif op == "fifo-new":
        os.mkfifo(pkg / "pipe")
        what = "a FIFO added"
    elif op == "loop":
        (pkg / "loop").symlink_to("loop")
        what = "a symlink loop added"
    elif op == "link-out":
        target = pkg / "model.pkl"
        target.unlink()
        target.symlink_to(case.folder / "evil.pkl" if rng.random() < 0.5 else "../evil.pkl")
        what = "model.pkl replaced by a symlink to ../evil.pkl"
    elif op == "link-secret":
        target = pkg / "input_example.json"
        target.unlink()
        target.symlink_to("../secret.json")
        what = "input_example.json replaced by a symlink to ../secret.json"
    elif op == "link-dev":
        victim.unlink()
        victim.symlink_to("/dev/zero")
        what = f"{victim.name} replaced by a symlink to /dev/zero"
    elif op == "bad-name":
        (pkg / os.fsdecode(b"\xff\xfe-name.bin")).write_bytes(b"x")
        what = "a file with a non-UTF-8 name added"
    elif op == "socket":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(pkg / "sock"))
            what = "a unix socket added"
        except OSError:
            what = "(no socket: path too long)"
        finally:
            sock.close()
    elif op == "dir":
        victim.unlink()
        victim.mkdir()
        (victim / "inner").write_text("x")
        what = f"{victim.name} replaced by a folder"
    elif op == "missing":
        victim.unlink()
        what = f"{victim.name} removed"
    elif op == "extra":
        (pkg / "sub").mkdir()
        (pkg / "sub" / "extra.txt").write_text("extra")
        what = "an extra file added"
    elif op == "empty":
        victim.write_bytes(b"")
        what = f"{victim.name} emptied"
    else:
        with (pkg / "sparse.bin").open("wb") as fh:
            fh.truncate(16 << 20)
        what = "a 16 MiB sparse file added"
    case.mutations.append(f"tree: {what}")


PACKAGE_MUTATORS: dict[str, Callable[[Any, Case, Path], None]] = {
    "mlmodel": _mutate_mlmodel,
    "manifest": _mutate_manifest,
    "example": _mutate_example,
    "tree": _mutate_tree,
}


def package_case(base: Base, target: str, seed: int, root: Path) -> Case:
    rng = mut.case_rng(target, seed)
    case = Case(target, seed, root / f"{target}-{seed}")
    _outside_files(case)
    pkg = case.folder / "pkg"
    shutil.copytree(base.pkg, pkg)
    shutil.copy(base.data["csv"], case.folder / "data.csv")
    PACKAGE_MUTATORS[target](rng, case, pkg)
    if target != "manifest" and not case.keep_manifest and rng.random() < 0.6:
        reseal(pkg)
        case.mutations.append("manifest resealed to match")

    def js() -> list[str]:
        return ["--json"] if rng.random() < 0.5 else []

    candidates = [
        ("validate-static", lambda j: ["validate", "pkg", "--no-load", *j]),
        ("validate", lambda j: ["validate", "pkg", *j]),
        ("predict", lambda j: ["predict", "pkg", "--data", "data.csv", *j]),
        ("diff", lambda j: ["diff", str(base.pkg), "pkg", *j]),
        ("register", lambda j: ["register", "pkg", "--name", "fuzz", *j]),
    ]
    chosen = rng.sample(candidates, k=3)
    steps = [("inspect", lambda j: ["inspect", "pkg", *j]), *sorted(chosen, key=candidates.index)]
    for name, build in steps:
        flag = js()
        case.steps.append(Step(name, build(flag), bool(flag)))
    if any(s.name == "register" for s in case.steps):
        # What the registry now holds is scored and inspected by its URI.
        for name, argv in (
            ("predict-uri", ["predict", "models:/fuzz/latest", "--data", "data.csv"]),
            ("validate-uri", ["validate", "models:/fuzz/latest", "--no-load"]),
        ):
            flag = js()
            case.steps.append(Step(name, argv + flag, bool(flag)))
    return case


def data_case(base: Base, target: str, seed: int, root: Path) -> Case:
    rng = mut.case_rng(target, seed)
    case = Case(target, seed, root / f"{target}-{seed}")
    _outside_files(case)
    original = base.data[target].read_bytes()
    pickled = (case.folder / "evil.pkl").read_bytes()
    if target == "csv":
        new, what = mut.mutate_csv(rng, original, mut.cycle(mut.CSV_OPS, seed))
    elif target == "json":
        if rng.random() < 0.3:  # the split and columns forms
            import pandas as pd

            frame = pd.read_json(base.data["json"], orient="records")
            orient = rng.choice(["split", "columns"])
            original = frame.to_json(orient=orient, index=orient != "split").encode()
            case.mutations.append(f"json in the {orient} form")
        new, what = mut.mutate_document(rng, original, mut.cycle(mut.JSON_OPS, seed), yaml_doc=False)
    elif target == "jsonl":
        lines = original.splitlines()
        op = mut.cycle((*mut.JSON_OPS, "whole-file"), seed)
        if op != "whole-file":
            row = rng.randrange(len(lines))
            line, sub = mut.mutate_document(rng, lines[row], op, yaml_doc=False)
            lines[row] = line.replace(b"\n", b" ")
            new, what = b"\n".join(lines) + b"\n", f"line {row + 1}: {sub}"
        else:
            new, what = mut.mutate_bytes(rng, original)
    elif target == "parquet":
        import pandas as pd

        new, what = mut.mutate_parquet(
            rng, original, pd.read_parquet(base.data["parquet"]), mut.cycle(mut.PARQUET_OPS, seed)
        )
    elif target == "npy":
        new, what = mut.mutate_npy(rng, original, pickled, mut.cycle(mut.NPY_OPS, seed))
    else:
        import numpy as np

        with np.load(base.data["npz"]) as archive:
            import io

            members = {}
            for key in archive.files:
                buffer = io.BytesIO()
                np.save(buffer, archive[key])
                members[f"{key}.npy"] = buffer.getvalue()
        new, what = mut.mutate_npz(rng, members, pickled, mut.cycle(mut.NPZ_OPS, seed))
    name = f"data.{target}"
    (case.folder / name).write_bytes(new)
    case.mutations.append(f"{name}: {what}")
    pkg, model = (base.apkg, base.amodel) if target in ("npy", "npz") else (base.pkg, base.model)

    candidates = [
        ("predict", ["predict", str(pkg), "--data", name]),
        ("validate-data", ["validate", str(pkg), "--data", name]),
        ("schema", ["schema", name]),
        ("pack", ["pack", str(model), "--sample", name, "--output", "out"]),
    ]
    chosen = rng.sample(candidates, k=2)
    for step_name, argv in sorted(chosen, key=candidates.index):
        flag = ["--json"] if rng.random() < 0.5 else []
        case.steps.append(Step(step_name, argv + flag, bool(flag)))
    return case


def default_cases(target: str) -> int:
    """One full cycle of the target's operations (two for the short JSON ones)."""
    cycles = {
        "mlmodel": len(MLMODEL_OPS),
        "manifest": len(MANIFEST_OPS),
        "example": 2 * len(mut.JSON_OPS),
        "tree": len(TREE_OPS),
        "csv": len(mut.CSV_OPS),
        "json": 2 * len(mut.JSON_OPS),
        "jsonl": 2 * (len(mut.JSON_OPS) + 1),
        "parquet": len(mut.PARQUET_OPS),
        "npy": len(mut.NPY_OPS),
        "npz": len(mut.NPZ_OPS),
    }
    return cycles[target]


def build_cases(base: Base, targets: tuple[str, ...], root: Path) -> list[Case]:
    cases = []
    for target in targets:
        if ONLY:
            only_target, _, only_seed = ONLY.partition(":")
            if only_target != target:
                continue
            seeds: list[int] = [int(only_seed)]
        else:
            seeds = list(range(CASES or default_cases(target)))
        for seed in seeds:
            make = package_case if target in PACKAGE_TARGETS else data_case
            cases.append(make(base, target, seed, root))
    return cases


# ----------------------------------------------------------------------------------------------
# running and judging


@dataclass
class Outcome:
    case: Case
    step: Step
    index: int
    exit_code: int | None
    timed_out: bool
    signal: int | None
    marker: bool
    stdout: bytes
    stderr: bytes
    seconds: float = 0.0


def _env(case: Case) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["MODELPACK_HOME"] = str(case.folder / "home")
    return env


def _io_paths(case: Case, index: int) -> tuple[Path, Path]:
    return case.folder / f"step{index}.stdout", case.folder / f"step{index}.stderr"


class ForkServer:
    """The ``tests.fuzz.runner`` process: started once, fed batches of cases."""

    def __init__(self) -> None:
        import queue
        import threading

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fuzz.runner"],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None
        stdout = self.proc.stdout
        self.reader = threading.Thread(
            target=lambda: [self.lines.put(ln.strip()) for ln in stdout], daemon=True
        )
        self.reader.start()
        self._expect("ready", 300)

    def _expect(self, word: str, timeout: float) -> None:
        import queue

        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the fuzz runner said nothing for {timeout:g} s") from None
        assert line == word, f"the fuzz runner said {line!r} (exit {self.proc.poll()})"

    def run(self, spec: list[dict[str, Any]], work: Path, name: str, timeout: float) -> list[dict[str, Any]]:
        cases_file, results_file = work / f"{name}.cases.json", work / f"{name}.results.json"
        cases_file.write_text(json.dumps(spec))
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{cases_file} {results_file}\n")
        self.proc.stdin.flush()
        self._expect("done", timeout)
        return list(json.loads(results_file.read_text()))

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture(scope="module")
def fork_server() -> Any:
    server = ForkServer()
    yield server
    server.close()


def run_forked(server: ForkServer, cases: list[Case], work: Path) -> list[Outcome]:
    """Run every case through the fork server; a target stops after MAX_HANGS hung steps."""
    outcomes: list[Outcome] = []
    hangs = 0
    # Batches, so a target already failing with hangs stops early instead of hanging on.
    for start in range(0, len(cases), 8):
        if hangs >= MAX_HANGS:
            break
        batch = cases[start : start + 8]
        spec = []
        for case in batch:
            steps = []
            for i, step in enumerate(case.steps):
                out, err = _io_paths(case, i)
                steps.append(
                    {
                        "name": step.name,
                        "argv": step.argv,
                        "cwd": str(case.folder),
                        "env": _env(case),
                        "stdout": str(out),
                        "stderr": str(err),
                        "timeout": STEP_TIMEOUT,
                    }
                )
            spec.append({"id": case.id, "marker": str(case.marker), "steps": steps})
        total = sum(len(c.steps) for c in batch) * (STEP_TIMEOUT + 5) + 120
        results = server.run(spec, work, f"batch-{start}", total)
        by_id = {c.id: c for c in batch}
        for result in results:
            case = by_id[result["id"]]
            for i, res in enumerate(result["steps"]):
                out, err = _io_paths(case, i)
                outcome = Outcome(
                    case,
                    case.steps[i],
                    i,
                    res["exit_code"],
                    res["timed_out"],
                    res["signal"],
                    res["marker"],
                    out.read_bytes() if out.exists() else b"",
                    err.read_bytes() if err.exists() else b"",
                    res["seconds"],
                )
                hangs += outcome.timed_out
                outcomes.append(outcome)
    return outcomes


def run_subprocess(case: Case, index: int) -> Outcome:
    """One step as ``python -m modelpack`` in a real subprocess."""
    step = case.steps[index]
    timed_out = False
    try:
        proc = subprocess.run(
            modelpack_cmd(*step.argv),
            cwd=case.folder,
            env=_env(case),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            preexec_fn=_cap_file_size,
            timeout=STEP_TIMEOUT + 10,  # + the interpreter's start-up, which the fork server saves
            check=False,
        )
        code: int | None = proc.returncode
        out, err = proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        timed_out, code = True, None
        out, err = exc.stdout or b"", exc.stderr or b""
    killed_by = -code if code is not None and code < 0 else None
    ran = case.marker.exists()
    if ran:
        case.marker.unlink()  # so that the next step is judged on its own
    return Outcome(case, step, index, None if killed_by else code, timed_out, killed_by, ran, out, err)


def _cap_file_size() -> None:
    """Popen ``preexec_fn``: the fork server's file-size cap, for a real subprocess."""
    import resource

    from tests.fuzz.runner import FILE_SIZE_CAP

    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_CAP, FILE_SIZE_CAP))
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)


def judge(outcome: Outcome) -> str | None:
    """What is wrong with one step, or None."""
    stderr = outcome.stderr.decode("utf-8", "replace")
    stdout = outcome.stdout.decode("utf-8", "replace")
    if outcome.marker:
        return "a pickle payload ran (its marker file was written)"
    if SECRET in stdout or SECRET in stderr:
        return "printed the content of a file outside the package"
    if outcome.timed_out:
        return f"hang: killed after {STEP_TIMEOUT:g} s"
    if outcome.signal is not None:
        if outcome.signal == getattr(signal, "SIGXFSZ", None):
            return "killed for writing a file past the suite's size cap (SIGXFSZ)"
        return f"killed by signal {outcome.signal}"
    if outcome.exit_code not in DOCUMENTED_EXIT_CODES:
        return f"exit {outcome.exit_code}"
    if "Traceback (most recent call last)" in stderr:
        return "traceback on stderr"
    if outcome.step.json:
        try:
            doc = json.loads(stdout)
        except ValueError as exc:
            return f"--json stdout is not one JSON document ({exc})"
        if not isinstance(doc, dict) or set(doc) != ENVELOPE_KEYS:
            return "--json stdout is not the result envelope"
        if doc["exit_code"] != outcome.exit_code:
            return (
                f"--json envelope says exit_code {doc['exit_code']}, the process exited {outcome.exit_code}"
            )
    return None


def _first_error_line(outcome: Outcome) -> str:
    stderr = outcome.stderr.decode("utf-8", "replace")
    line = ""
    if outcome.step.json:
        try:
            errors = json.loads(outcome.stdout).get("errors") or []
            line = str(errors[0].get("message", "")) if errors else ""
        except (ValueError, AttributeError, IndexError):
            line = ""
    if not line:
        lines = [ln for ln in stderr.splitlines() if ln.strip()]
        tb = [ln for ln in lines if re.match(r"^\w+(\.\w+)*(Error|Exception|Interrupt)\b", ln)]
        picked = [ln for ln in lines if ln.startswith(("error:", "internal error:"))]
        line = (picked or tb or lines or [""])[-1 if tb and not picked else 0]
    line = line.replace(str(outcome.case.folder), mut.CASE)
    return line[:200]


def replay_text(outcome: Outcome) -> str:
    case = outcome.case
    before = [" ".join(s.argv) for s in case.steps[: outcome.index]]
    lines = [
        f"case {case.id} step {outcome.index} ({outcome.step.name}); mutations: {'; '.join(case.mutations)}",
        f"  files: {case.folder} (the mutated files; stdout/stderr in step{outcome.index}.*)",
        f"  replay: cd {case.folder} && MODELPACK_HOME=$PWD/home python -m modelpack {' '.join(outcome.step.argv)}",
    ]
    if before:
        lines.append(f"    (after the case's earlier steps: {' ; '.join(before)})")
    if outcome.timed_out and outcome.index + 1 < len(case.steps):
        lines.append("    (the case's later steps were not run after this hang)")
    if case.target in (*PACKAGE_TARGETS, *DATA_TARGETS):
        lines.append(
            f"  regenerate: MODELPACK_FUZZ_ONLY={case.id} python -m pytest tests/fuzz/test_fuzz.py -k {case.target}"
        )
    else:
        lines.append("  regenerate: python -m pytest tests/fuzz/test_fuzz.py -k pickle_outside")
    return "\n".join(lines)


def report(outcomes: list[Outcome], label: str) -> None:
    """Fail with every distinct failure (command, verdict, first error line) and how to replay it."""
    failures: dict[tuple[str, str, str], list[Outcome]] = {}
    for outcome in outcomes:
        verdict = judge(outcome)
        if verdict is None:
            continue
        key = (outcome.step.name, verdict, re.sub(r"\d{3,}", "N", _first_error_line(outcome)))
        failures.setdefault(key, []).append(outcome)
    log = os.environ.get("MODELPACK_FUZZ_LOG")
    if log:
        with Path(log).open("a") as fh:
            for (name, verdict, line), items in failures.items():
                fh.write(
                    json.dumps(
                        {
                            "test": label,
                            "command": name,
                            "verdict": verdict,
                            "error": line,
                            "count": len(items),
                            "cases": sorted({o.case.id for o in items}),
                            "replay": replay_text(items[0]),
                        }
                    )
                    + "\n"
                )
    if not failures:
        return
    steps = sum(len(v) for v in failures.values())
    lines = [f"{label}: {steps} of {len(outcomes)} steps failed; {len(failures)} distinct failures:"]
    for n, ((name, verdict, line), items) in enumerate(sorted(failures.items()), 1):
        cases = sorted({o.case.id for o in items})
        shown = ", ".join(cases[:6]) + (", ..." if len(cases) > 6 else "")
        lines.append(f"[{n}] {name}: {verdict}: {line!r} ({len(items)} steps; cases {shown})")
        lines.append(replay_text(items[0]))
    pytest.fail("\n".join(lines), pytrace=False)


# ----------------------------------------------------------------------------------------------
# the tests


@pytest.mark.parametrize("target", PACKAGE_TARGETS)
def test_fuzz_package(target: str, base: Base, fork_server: ForkServer, tmp_path: Path) -> None:
    """inspect, validate (static and full), predict, diff, register and the registered URI, on
    a package whose MLmodel, manifest, examples or file tree was mutated."""
    cases = build_cases(base, (target,), tmp_path)
    if not cases:
        pytest.skip(f"MODELPACK_FUZZ_ONLY={ONLY} names another target")
    outcomes = run_forked(fork_server, cases, tmp_path)
    report(outcomes, f"fuzz {target}")
    if len(outcomes) != sum(len(c.steps) for c in cases):
        pytest.fail(f"fuzz {target}: not every step ran", pytrace=False)


@pytest.mark.parametrize("target", DATA_TARGETS)
def test_fuzz_data(target: str, base: Base, fork_server: ForkServer, tmp_path: Path) -> None:
    """predict --data, validate --data, schema and pack --sample on a mutated data file."""
    cases = build_cases(base, (target,), tmp_path)
    if not cases:
        pytest.skip(f"MODELPACK_FUZZ_ONLY={ONLY} names another target")
    outcomes = run_forked(fork_server, cases, tmp_path)
    report(outcomes, f"fuzz {target}")
    if len(outcomes) != sum(len(c.steps) for c in cases):
        pytest.fail(f"fuzz {target}: not every step ran", pytrace=False)


def test_fuzz_sample_as_subprocesses(base: Base, tmp_path: Path) -> None:
    """The first step of every target's first case, and a package naming a pickle outside its
    folder, as ``python -m modelpack`` really runs: the fork server must not hide anything."""
    if ONLY:
        pytest.skip("MODELPACK_FUZZ_ONLY runs one case")
    outcomes = []
    for target in (*PACKAGE_TARGETS, *DATA_TARGETS):
        make = package_case if target in PACKAGE_TARGETS else data_case
        outcomes.append(run_subprocess(make(base, target, 0, tmp_path), 0))
    edit, resealed = PICKLE_CASES["relative-pickled-model-resealed"]
    case = _pickle_case(base, tmp_path, "pickle", edit, resealed)
    predict = next(i for i, s in enumerate(case.steps) if s.name == "predict")
    outcomes.append(run_subprocess(case, predict))
    report(outcomes, "fuzz sample (subprocesses)")


def _pickle_case(
    base: Base, root: Path, label: str, edit: Callable[[Case, Path], str], resealed: bool
) -> Case:
    import yaml

    case = Case(f"pickle-{label}", 0, root / label)
    _outside_files(case)
    pkg = case.folder / "pkg"
    shutil.copytree(base.pkg, pkg)
    shutil.copy(base.data["csv"], case.folder / "data.csv")
    tree = yaml.safe_load((pkg / "MLmodel").read_text())
    tree["flavors"]["sklearn"]["serialization_format"] = "pickle"
    (pkg / "MLmodel").write_text(yaml.safe_dump(tree))
    case.mutations.append(edit(case, pkg))
    if resealed:
        reseal(pkg)
        case.mutations.append("manifest resealed to match")
    case.steps = [
        Step("inspect", ["inspect", "pkg", "--json"], True),
        Step("validate-static", ["validate", "pkg", "--no-load"], False),
        Step("validate", ["validate", "pkg", "--json"], True),
        Step("predict", ["predict", "pkg", "--data", "data.csv"], False),
        Step("diff", ["diff", str(base.pkg), "pkg"], False),
        Step("register", ["register", "pkg", "--name", "rce"], False),
        Step("predict-uri", ["predict", "models:/rce/latest", "--data", "data.csv", "--json"], True),
        Step("validate-uri", ["validate", "models:/rce/latest"], False),
    ]
    return case


def _named(key: str, value: str) -> Callable[[Case, Path], str]:
    def edit(case: Case, pkg: Path) -> str:
        import yaml

        tree = yaml.safe_load((pkg / "MLmodel").read_text())
        section, name = key.split(".")
        tree["flavors"][section][name] = value.replace(mut.CASE, str(case.folder))
        (pkg / "MLmodel").write_text(yaml.safe_dump(tree))
        return f"MLmodel flavors.{key}: {value}"

    return edit


def _link_model(case: Case, pkg: Path) -> str:
    (pkg / "model.pkl").unlink()
    (pkg / "model.pkl").symlink_to("../evil.pkl")
    return "model.pkl is a symlink to ../evil.pkl"


PICKLE_CASES: dict[str, tuple[Callable[[Case, Path], str], bool]] = {
    "relative-pickled-model": (_named("sklearn.pickled_model", "../evil.pkl"), False),
    "relative-pickled-model-resealed": (_named("sklearn.pickled_model", "../evil.pkl"), True),
    "absolute-pickled-model-resealed": (_named("sklearn.pickled_model", f"{mut.CASE}/evil.pkl"), True),
    "absolute-model-path-resealed": (_named("python_function.model_path", f"{mut.CASE}/evil.pkl"), True),
    "symlinked-model-resealed": (_link_model, True),
}


def test_fuzz_pickle_outside_the_package_never_runs(
    base: Base, fork_server: ForkServer, tmp_path: Path
) -> None:
    """A package whose MLmodel names a pickle outside its folder (by a relative or absolute path,
    or through a symlink), with and without a resealed manifest: no command may load it, the
    registry must not accept it, and nothing registered from it may run it."""
    if ONLY:
        pytest.skip("MODELPACK_FUZZ_ONLY runs one case")
    cases = [_pickle_case(base, tmp_path, label, *PICKLE_CASES[label]) for label in sorted(PICKLE_CASES)]
    outcomes = run_forked(fork_server, cases, tmp_path)
    assert len(outcomes) == sum(len(c.steps) for c in cases)
    report(outcomes, "pickle outside the package")


def test_fuzz_judge_catches_each_kind_of_failure(tmp_path: Path) -> None:
    """The verdicts the suite relies on: each kind of broken step is reported, a clean one is not."""
    case = Case("judge", 0, tmp_path)
    envelope = {"modelpack_result_version": "1", "command": "inspect", "status": "error", "exit_code": 3}
    envelope |= {"data": None, "errors": [{"code": "invalid_model", "message": "no"}], "warnings": []}
    good = json.dumps(envelope).encode()

    def outcome(code: int | None = 3, *, json_flag: bool = True, stdout: bytes = good, **kw: Any) -> Outcome:
        step = Step("inspect", ["inspect", "pkg"], json_flag)
        fields: dict[str, Any] = {"timed_out": False, "signal": None, "marker": False, "stderr": b""} | kw
        return Outcome(case, step, 0, code, stdout=stdout, **fields)

    assert judge(outcome()) is None
    assert judge(outcome(0, json_flag=False, stdout=b"anything")) is None
    assert judge(outcome(70)) == "exit 70"
    assert judge(outcome(1, stderr=b"Traceback (most recent call last):\n")) == "traceback on stderr"
    assert judge(outcome(None, timed_out=True)).startswith("hang")
    assert judge(outcome(None, signal=9)) == "killed by signal 9"
    assert judge(outcome(marker=True)) == "a pickle payload ran (its marker file was written)"
    assert judge(outcome(stdout=good + b"\n" + good)).startswith("--json stdout is not one JSON document")
    assert judge(outcome(stdout=b"[]")) == "--json stdout is not the result envelope"
    assert "exit_code 3" in str(judge(outcome(4)))
    assert judge(outcome(0, stdout=SECRET.encode(), json_flag=False)) == (
        "printed the content of a file outside the package"
    )
