"""``copy``, ``export`` and ``import``, run as real processes: versions move between registries
with their description, tags and provenance, and an archive with any changed byte is refused
before anything reaches the registry."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from modelpack.registry.archive import DOCUMENT_MEMBER, canonical, seal
from tests.cli.test_provenance import CI_SYSTEMS, clean_env, git
from tests.conftest import ENVELOPE_KEYS, REPO_ROOT, modelpack_cmd
from tests.fs_tree import tree
from tests.mlflow_stores import COMMIT, EXPECTED_METRICS, Run, build_file_store
from tests.registry_models import make_model


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(modelpack_cmd(*args), capture_output=True, text=True, timeout=120)


def envelope(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    doc = json.loads(proc.stdout)
    assert set(doc) == ENVELOPE_KEYS
    assert doc["exit_code"] == proc.returncode
    return doc


def versions(home: Path, name: str) -> list[dict[str, Any]]:
    proc = run("list", name, "--json", "--home", str(home))
    assert proc.returncode == 0, proc.stderr
    return list(envelope(proc)["data"]["versions"])


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A registry holding churn v1 (Production, @champion, described and tagged) and v2."""
    home = tmp_path / "src-home"
    m1 = make_model(tmp_path / "m1", seed=1, payload=b"weights" * 700)
    m2 = make_model(tmp_path / "m2", seed=2)
    h = ("--home", str(home))
    assert (
        run("register", str(m1), "--name", "churn", "--tag", "team=ml", "--description", "v1", *h).returncode
        == 0
    )
    assert run("register", str(m2), "--name", "churn", *h).returncode == 0
    assert run("promote", "churn", "1", "--stage", "Production", "--alias", "champion", *h).returncode == 0
    return home


# ---------------------------------------------------------------------- copy


def test_copy_records_the_exact_version_and_provenance(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "dest"
    proc = run("copy", "models:/churn@champion", str(dest), "--home", str(source), "--json")
    doc = envelope(proc)
    assert proc.returncode == 0 and doc["command"] == "copy" and doc["status"] == "ok"
    data = doc["data"]
    exact = f"{source.absolute()}#models:/churn/1"
    assert data["source"] == exact  # the version, never the alias it was named by
    assert data["home"] == str(dest.absolute())
    assert data["already_registered"] is False and data["version"] == 1
    (listed,) = versions(dest, "churn")
    (original,) = [v for v in versions(source, "churn") if v["version"] == 1]
    assert listed["digest"] == original["digest"]
    assert listed["description"] == "v1" and listed["tags"] == {"team": "ml"}
    assert listed["source"] == exact
    assert listed["origin"] == {
        "uri": exact,
        "created": original["created"],
        "user": original["user"],
        "host": original["host"],
        "source": original["source"],
    }
    # stages and aliases are the destination's own business
    assert listed["stage"] == "None" and listed["aliases"] == []
    monkeypatch.setenv("COLUMNS", "1000")  # whole paths: a narrower table shortens them
    human = run("list", "churn", "--home", str(dest))
    header, row = human.stdout.splitlines()
    assert header.split()[-2:] == ["SOURCE", "ORIGIN"]
    assert f"{exact}  {exact} ({original['user']}@{original['host']}, {original['created']})" in row
    assert "ORIGIN" not in run("list", "churn", "--home", str(source)).stdout
    assert run("doctor", "--home", str(dest)).returncode == 0


def test_copy_is_idempotent_and_takes_name_and_alias(source: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    first = run("copy", "models:/churn/Production", str(dest), "--home", str(source), "--name", "prod")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"copied {source.absolute()}#models:/churn/1 to prod v1 in ")
    again = run(
        "copy", "models:/churn/1", str(dest), "--home", str(source), "--name", "prod", "--alias", "live"
    )
    assert again.returncode == 0
    assert "already holds this content" in again.stdout and "alias live -> prod v1" in again.stdout
    (only,) = versions(dest, "prod")
    assert only["aliases"] == ["live"]
    field = run(
        "copy", "models:/churn/2", str(dest), "--home", str(source), "--name", "prod", "--field", "version"
    )
    assert field.stdout == "2\n"


def test_copy_of_a_copy_keeps_the_first_origin(source: Path, tmp_path: Path) -> None:
    middle, last = tmp_path / "middle", tmp_path / "last"
    assert run("copy", "models:/churn/1", str(middle), "--home", str(source)).returncode == 0
    assert run("copy", "models:/churn/1", str(last), "--home", str(middle)).returncode == 0
    (copied,) = versions(last, "churn")
    assert copied["source"] == f"{middle.absolute()}#models:/churn/1"
    assert copied["origin"]["uri"] == f"{source.absolute()}#models:/churn/1"


def test_copy_carries_changed_tags_and_description(source: Path, tmp_path: Path) -> None:
    from modelpack.registry import FileRegistry

    registry = FileRegistry(source)
    registry.set_tags("churn", 1, {"team": None, "owner": "ana"})
    registry.set_description("churn", "now", version=1)
    dest = tmp_path / "dest"
    assert run("copy", "models:/churn/1", str(dest), "--home", str(source)).returncode == 0
    (copied,) = versions(dest, "churn")
    assert copied["tags"] == {"owner": "ana"} and copied["description"] == "now"


def test_copy_refuses_bad_arguments_and_missing_versions(source: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    h = ("--home", str(source))
    assert run("copy", "models:/churn/1", *h).returncode == 2  # no DEST_HOME
    assert run("copy", "churn", str(dest), *h).returncode == 2  # not a models:/ URI
    assert run("copy", "models:/churn/1", "gs://bucket/x", *h).returncode == 2
    assert run("copy", "models:/churn/1", str(dest), "--name", "../x", *h).returncode == 2
    assert run("copy", "models:/churn/1", str(dest), "--alias", "v3", *h).returncode == 2
    missing = run("copy", "models:/churn/9", str(dest), *h, "--json")
    assert missing.returncode == 4
    assert envelope(missing)["errors"][0]["code"] == "not_found"
    assert run("copy", "models:/churn/1", str(dest), "--home", str(tmp_path / "none")).returncode == 4
    assert not dest.exists()


def test_copy_refuses_a_damaged_stored_version(source: Path, tmp_path: Path) -> None:
    stored = source / "models" / "churn" / "versions" / "1" / "model" / "weights.bin"
    stored.chmod(0o644)
    stored.write_bytes(b"tampered")
    dest = tmp_path / "dest"
    proc = run("copy", "models:/churn/1", str(dest), "--home", str(source))
    assert proc.returncode == 3
    assert "weights.bin" in proc.stderr
    assert not (dest / "models" / "churn").exists()


# ---------------------------------------------------------------------- export / import


def test_export_import_round_trip(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "churn.tar"
    exported = run("export", "models:/churn@champion", "--output", str(out), "--home", str(source), "--json")
    data = envelope(exported)["data"]
    assert exported.returncode == 0
    assert data["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert data["name"] == "churn" and data["version"] == 1 and data["compressed"] is False
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert (
        names[0] == DOCUMENT_MEMBER and "model/MLmodel" in names and "model/modelpack.manifest.json" in names
    )
    dest = tmp_path / "air-gapped"
    imported = run("import", str(out), "--home", str(dest), "--sha256", data["sha256"], "--json")
    doc = envelope(imported)
    assert imported.returncode == 0 and doc["command"] == "import"
    assert doc["data"]["archive_sha256"] == data["sha256"]
    (copied,) = versions(dest, "churn")
    (original,) = [v for v in versions(source, "churn") if v["version"] == 1]
    assert copied["digest"] == original["digest"] == data["digest"]
    assert copied["manifest_sha256"] == original["manifest_sha256"]
    assert copied["description"] == "v1" and copied["tags"] == {"team": "ml"}
    assert copied["source"] == f"{source.absolute()}#models:/churn/1"
    assert copied["origin"]["uri"] == copied["source"] and copied["origin"]["created"] == original["created"]
    again = run("import", str(out), "--home", str(dest))
    assert again.returncode == 0 and "already holds this content" in again.stdout
    renamed = run(
        "import", str(out), "--home", str(dest), "--name", "other", "--alias", "prod", "--field", "aliases"
    )
    assert renamed.stdout == "prod\n"
    assert run("doctor", "--home", str(dest)).returncode == 0


def test_export_is_deterministic_and_gzip_works(source: Path, tmp_path: Path) -> None:
    h = ("--home", str(source))
    a, b, z = tmp_path / "a.tar", tmp_path / "b.tar", tmp_path / "c.tar.gz"
    for out in (a, b, z):
        assert run("export", "models:/churn/1", "--output", str(out), *h).returncode == 0
    assert a.read_bytes() == b.read_bytes()
    assert gzip.decompress(z.read_bytes()) == a.read_bytes()
    dest = tmp_path / "dest"
    assert run("import", str(z), "--home", str(dest)).returncode == 0
    assert versions(dest, "churn")[0]["digest"] == versions(source, "churn")[0]["digest"]


def test_export_of_a_folder_needs_a_name_on_import(tmp_path: Path) -> None:
    folder = make_model(tmp_path / "plain", seed=5)
    out = tmp_path / "plain.tgz"
    proc = run("export", str(folder), "--output", str(out), "--field", "source")
    assert proc.returncode == 0 and proc.stdout == f"{folder.resolve()}\n"
    dest = tmp_path / "dest"
    assert run("import", str(out), "--home", str(dest)).returncode == 2
    assert run("import", str(out), "--home", str(dest), "--name", "plain").returncode == 0
    (v,) = versions(dest, "plain")
    assert v["source"] == str(folder.resolve()) and "origin" not in v


def test_export_refuses_clobbering_and_missing_things(source: Path, tmp_path: Path) -> None:
    h = ("--home", str(source))
    out = tmp_path / "e.tar"
    out.write_text("keep me")
    clash = run("export", "models:/churn/1", "--output", str(out), *h, "--json")
    assert clash.returncode == 5 and envelope(clash)["errors"][0]["code"] == "conflict"
    assert out.read_text() == "keep me"
    assert run("export", "models:/churn/1", "--output", str(out), "--force", *h).returncode == 0
    assert run("export", "models:/churn/7", "--output", str(tmp_path / "x.tar"), *h).returncode == 4
    assert run("export", str(tmp_path / "nowhere"), "--output", str(tmp_path / "x.tar")).returncode == 4
    assert run("export", "models:/churn/1", "--output", str(tmp_path / "no" / "x.tar"), *h).returncode == 4
    assert run("export", "models:/churn/1", *h).returncode == 2  # no --output
    assert run("export", "models:/churn/1", "--output", str(tmp_path), *h).returncode == 2
    assert run("import", str(tmp_path / "missing.tar"), *h).returncode == 4
    assert run("import", str(out), "--sha256", "abc", "--home", str(tmp_path / "d")).returncode == 2
    assert run("import", str(out), "--alias", "latest", "--home", str(tmp_path / "d")).returncode == 2
    assert not (tmp_path / "x.tar").exists() and not (tmp_path / "d").exists()


def test_a_failed_export_leaves_nothing(tmp_path: Path) -> None:
    folder = make_model(tmp_path / "plain", seed=6, payload=b"z" * 5000)
    (folder / "weights.bin").write_bytes(b"y" * 5000)  # same size, other content than the manifest says
    out = tmp_path / "out" / "plain.tar"
    out.parent.mkdir()
    proc = run("export", str(folder), "--output", str(out))
    assert proc.returncode == 3 and "weights.bin" in proc.stderr
    assert list(out.parent.iterdir()) == []


# ---------------------------------------------------------------------- tampering


def _members(archive: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(archive) as tar:
        out = []
        for info in tar.getmembers():
            fh = tar.extractfile(info)
            out.append((info, fh.read() if fh else b""))
        return out


def _info(name: str, size: int = 0, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime, info.type = size, 0o644, 0, kind
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _write(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def _reseal(members: list[tuple[tarfile.TarInfo, bytes]], edit) -> list[tuple[tarfile.TarInfo, bytes]]:
    """The members with a consistently edited, resealed document (what a careful forger writes)."""
    (info, data), rest = members[0], members[1:]
    doc = json.loads(data)
    edit(doc)
    new = canonical(seal(doc))
    return [(_info(info.name, len(new)), new), *rest]


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


@pytest.fixture
def exported(source: Path, tmp_path: Path) -> Path:
    out = tmp_path / "good.tar"
    assert run("export", "models:/churn/1", "--output", str(out), "--home", str(source)).returncode == 0
    return out


def _tampered(kind: str, good: Path, tmp: Path) -> tuple[Path, str]:
    """A changed copy of ``good`` and a word the refusal must name."""
    raw = good.read_bytes()
    members = _members(good)
    weights = next(i for i, (m, _) in enumerate(members) if m.name == "model/weights.bin")
    out = tmp / f"{kind}.tar"
    if kind == "changed_byte":
        at = raw.index(b"weights" * 10) + 3
        out.write_bytes(_flip(raw, at))
        return out, "model/weights.bin"
    if kind == "changed_document":
        at = raw.index(b'"description": "v1"') + len('"description": "')
        out.write_bytes(raw[:at] + b"X" + raw[at + 1 :])
        return out, DOCUMENT_MEMBER
    if kind == "changed_header":
        info, data = members[weights]
        info.mtime = 12345
        return _write(out, members), "model/weights.bin"
    if kind == "changed_padding":
        info, data = members[weights]
        end = raw.index(b"weights" * 700) + len(data)
        assert len(data) % 512 and raw[end] == 0
        out.write_bytes(raw[:end] + b"!" + raw[end + 1 :])
        return out, "model/weights.bin"
    if kind == "extra_member":
        members.insert(2, (_info("model/extra.txt", 2), b"hi"))
        return _write(out, members), "model/extra.txt"
    if kind == "extra_member_at_end":
        members.append((_info("model/zzz.txt", 2), b"hi"))
        return _write(out, members), "model/zzz.txt"
    if kind == "missing_member":
        del members[weights]
        return _write(out, members), "model/weights.bin"
    if kind == "duplicate_member":
        members.insert(weights, members[weights])
        return _write(out, members), "model/weights.bin"
    if kind == "duplicate_at_end":
        members.append(members[weights])
        return _write(out, members), "model/weights.bin"
    if kind == "truncated":
        out.write_bytes(raw[: raw.index(b"weights" * 700) + 1000])
        return out, "truncated or damaged inside member model/weights.bin"
    if kind == "trailing_data":
        out.write_bytes(raw + b"\0" * 512 + b"junk")
        return out, "after the end"
    if kind == "resealed_document":
        # Both the file and the document changed consistently: the manifest still tells.
        info, data = members[weights]
        forged = b"W" + data[1:]
        members[weights] = (info, forged)

        def edit(doc: dict[str, Any]) -> None:
            doc["members"]["model/weights.bin"]["sha256"] = hashlib.sha256(forged).hexdigest()

        return _write(out, _reseal(members, edit)), "model/weights.bin"
    if kind == "resealed_bad_manifest":
        at = next(i for i, (m, _) in enumerate(members) if m.name == "model/modelpack.manifest.json")
        junk = b"\xff\xfe not a manifest"
        members[at] = (_info("model/modelpack.manifest.json", len(junk)), junk)

        def edit_manifest(doc: dict[str, Any]) -> None:
            sha = hashlib.sha256(junk).hexdigest()
            doc["members"]["model/modelpack.manifest.json"] = {"sha256": sha, "size": len(junk)}
            doc["manifest_sha256"] = sha

        return _write(out, _reseal(members, edit_manifest)), "modelpack.manifest.json"
    if kind == "huge_extended_header":
        # A pax header claiming 4 GiB: refused before tarfile would read it into memory.
        members.insert(2, (_info("model/" + "ü" * 10, 1), b"x"))
        plain = _write(tmp / "plain.tar", members).read_bytes()
        at = plain.index(b"././@PaxHeader")
        header = bytearray(plain[at : at + 512])
        assert header[156:157] == b"x"
        header[124:136] = b"%011o\0" % (4 << 30)
        header[148:156] = b" " * 8
        header[148:156] = b"%06o\0 " % sum(header)
        out.write_bytes(plain[:at] + bytes(header) + plain[at + 512 :])
        return out, "extended header of 4294967296 bytes"
    traversal = {
        "dotdot": "model/../../evil.txt",
        "outside_model": "../evil.txt",
        "absolute": "/tmp/evil.txt",
        "dot_segment": "model/./MLmodel",
    }
    if kind in traversal:
        name = traversal[kind]
        members.insert(2, (_info(name, 4), b"evil"))
        return _write(out, members), name
    links = {
        "symlink": tarfile.SYMTYPE,
        "hardlink": tarfile.LNKTYPE,
        "device": tarfile.CHRTYPE,
        "fifo": tarfile.FIFOTYPE,
        "folder": tarfile.DIRTYPE,
        "sparse": tarfile.GNUTYPE_SPARSE,
    }
    info = _info("model/special", 0, links[kind])
    if kind in ("symlink", "hardlink"):
        info.linkname = "/etc/passwd"
    members.insert(2, (info, b""))
    return _write(out, members), "model/special"


TAMPERING = [
    "changed_byte",
    "changed_document",
    "changed_header",
    "changed_padding",
    "extra_member",
    "extra_member_at_end",
    "missing_member",
    "duplicate_member",
    "duplicate_at_end",
    "truncated",
    "trailing_data",
    "resealed_document",
    "resealed_bad_manifest",
    "huge_extended_header",
    "dotdot",
    "outside_model",
    "absolute",
    "dot_segment",
    "symlink",
    "hardlink",
    "device",
    "fifo",
    "folder",
    "sparse",
]


@pytest.mark.parametrize("kind", TAMPERING)
def test_import_refuses_any_tampering_and_changes_nothing(
    kind: str, exported: Path, source: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    assert run("copy", "models:/churn/2", str(dest), "--home", str(source)).returncode == 0
    before = tree(dest)
    archive, named = _tampered(kind, exported, tmp_path)
    proc = run("import", str(archive), "--home", str(dest), "--name", "incoming")
    assert proc.returncode == 3, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    assert named in proc.stderr, proc.stderr
    assert "nothing was imported" in " ".join(proc.stderr.split())
    assert tree(dest) == before
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()
    doc = envelope(run("import", str(archive), "--home", str(dest), "--json"))
    assert doc["errors"][0]["code"] == "bad_archive" and doc["exit_code"] == 3


def test_import_refuses_a_changed_gzip_archive(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.tar.gz"
    assert run("export", "models:/churn/1", "--output", str(out), "--home", str(source)).returncode == 0
    raw = out.read_bytes()
    dest = tmp_path / "dest"
    for at in (len(raw) // 2, len(raw) - 6):  # the deflate data, and the CRC/length trailer
        bad = tmp_path / f"bad{at}.tar.gz"
        bad.write_bytes(_flip(raw, at))
        proc = run("import", str(bad), "--home", str(dest))
        assert proc.returncode == 3, proc.stderr
    assert not dest.exists()


def test_import_refuses_a_file_other_than_the_one_exported(exported: Path, tmp_path: Path) -> None:
    other = "0" * 64
    proc = run("import", str(exported), "--sha256", other, "--home", str(tmp_path / "dest"))
    assert proc.returncode == 3 and other in proc.stderr
    assert not (tmp_path / "dest").exists()


# VmHWM is this process's own peak (ru_maxrss would include the forking parent's).
PEAK_RSS = """
import sys
sys.argv = ["modelpack", *sys.argv[1:]]
from modelpack.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
print(hwm.split()[1], file=sys.stderr)
sys.exit(code)
"""


def test_large_files_stream_through_export_and_import(tmp_path: Path) -> None:
    """A 96 MiB file goes out and back in without ever being held in memory."""
    import sys

    size = 96 << 20
    folder = make_model(tmp_path / "big", seed=9)
    with (folder / "weights.bin").open("wb") as fh:
        block = hashlib.sha256(b"seed").digest() * (1 << 15)  # 1 MiB, not all zeros
        for _ in range(size // len(block)):
            fh.write(block)
    from modelpack.package.manifest import write_manifest

    write_manifest(folder)
    home, out, dest = tmp_path / "home", tmp_path / "big.tar", tmp_path / "dest"
    assert run("register", str(folder), "--name", "big", "--home", str(home)).returncode == 0
    peaks = []
    for args in (
        ("export", "models:/big/1", "--output", str(out), "--home", str(home)),
        ("import", str(out), "--home", str(dest)),
    ):
        proc = subprocess.run(
            [sys.executable, "-c", PEAK_RSS, *args], capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, proc.stderr
        peaks.append(int(proc.stderr.split()[-1]) * 1024)
    assert out.stat().st_size > size
    assert max(peaks) < 64 << 20, peaks  # well below the file's size
    assert versions(dest, "big")[0]["size"] > size


def test_a_bad_field_is_refused_before_anything_moves(source: Path, tmp_path: Path) -> None:
    dest, out = tmp_path / "dest", tmp_path / "x.tar"
    h = ("--home", str(source))
    bad = run("copy", "models:/churn/1", str(dest), "--field", "nope", *h)
    assert bad.returncode == 2 and "fields:" in bad.stderr
    assert run("export", "models:/churn/1", "--output", str(out), "--field", "nope", *h).returncode == 2
    assert run("copy", "models:/churn/1", str(dest), "--field", "version", "--json", *h).returncode == 2
    assert not dest.exists() and not out.exists()
    assert run("export", "models:/churn/1", "--output", str(out), *h).returncode == 0
    assert run("import", str(out), "--home", str(dest), "--field", "nope").returncode == 2
    assert not dest.exists()
    shown = run("import", str(out), "--home", str(dest), "--field", "manifest_sha256")
    assert shown.returncode == 0 and len(shown.stdout.strip()) == 64


# ---------------------------------------------------------------------- provenance

RUN = "e" * 32
FORMAT_1 = REPO_ROOT / "tests" / "assets" / "export_format_1.tar"
FORMAT_1_SHA256 = "4452c21abfee1fead54896f4c8be089ae8720b7dbe994e89316ef203859733a5"


def run_in(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(modelpack_cmd(*args), cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def document(archive: Path) -> dict[str, Any]:
    with tarfile.open(archive) as tar:
        fh = tar.extractfile(DOCUMENT_MEMBER)
        assert fh is not None
        return dict(json.loads(fh.read()))


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, str]:
    """A registry holding churn v1 (registered with --metric, --param and --training-data) and
    wifi v1 (registered from runs:/ of a local MLflow store), both registered in a git
    repository under GitHub Actions; returns the registry and the repository's commit."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "train.csv").write_text("x,y\n1.5,0\n2.5,1\n3.5,0\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "training data")
    store = build_file_store(tmp_path / "mlruns", [Run(RUN)])
    model = make_model(tmp_path / "m1", seed=1, payload=b"weights" * 100)
    home = tmp_path / "src-home"
    env = clean_env(**CI_SYSTEMS["github-actions"][0])
    for args in (
        (
            "register", str(model), "--name", "churn", "--metric", "auc=0.91", "--param", "depth=3",
            "--training-data", "train.csv", "--description", "v1",
        ),
        (
            "register", f"runs:/{RUN}/model", "--name", "wifi", "--tracking-uri", store.as_uri(),
            "--metric", "latency_ms=12.5",
        ),
    ):  # fmt: skip
        done = run_in(repo, env, *args, "--home", str(home))
        assert done.returncode == 0, done.stderr
    return home, git(repo, "rev-parse", "HEAD")


def test_export_import_and_copy_keep_the_recorded_provenance(built: tuple[Path, str], tmp_path: Path) -> None:
    home, commit = built
    (churn,) = versions(home, "churn")
    (wifi,) = versions(home, "wifi")
    # What register recorded: what it was given, the run, and where it ran.
    prov = churn["provenance"]
    assert prov["metrics"] == {"auc": 0.91} and prov["params"] == {"depth": "3"}
    assert prov["training_data"]["name"] == "train.csv" and prov["training_data"]["size"] == 22
    assert prov["registered_from"]["git"]["commit"] == commit
    assert prov["registered_from"]["ci"]["system"] == "github-actions"
    run_prov = wifi["provenance"]
    assert run_prov["mlflow"]["run_id"] == RUN and run_prov["git"]["commit"] == COMMIT
    assert run_prov["metrics"] == {**EXPECTED_METRICS, "latency_ms": 12.5}
    assert run_prov["registered_from"]["git"]["commit"] == commit

    # Imported and copied elsewhere, by someone else, in another CI: the record is the source's.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = clean_env(**CI_SYSTEMS["gitlab-ci"][0])
    h = ("--home", str(home))
    for original in (churn, wifi):
        name = original["name"]
        out, again = tmp_path / f"{name}.tar", tmp_path / f"{name}-again.tar"
        exported = run_in(elsewhere, env, "export", f"models:/{name}/1", "--output", str(out), *h, "--json")
        assert exported.returncode == 0, exported.stderr
        sha = envelope(exported)["data"]["sha256"]
        doc = document(out)
        assert doc["format_version"] == 2 and doc["provenance"] == original["provenance"]
        assert (
            run_in(elsewhere, env, "export", f"models:/{name}/1", "--output", str(again), *h).returncode == 0
        )
        assert again.read_bytes() == out.read_bytes()  # the same version, the same bytes

        dest = tmp_path / f"imported-{name}"
        imported = run_in(elsewhere, env, "import", str(out), "--home", str(dest), "--sha256", sha, "--json")
        assert imported.returncode == 0, imported.stderr
        assert envelope(imported)["data"]["provenance"] == original["provenance"]
        (moved,) = versions(dest, name)
        assert moved["provenance"] == original["provenance"]
        assert moved["digest"] == original["digest"] and moved["description"] == original["description"]
        # history's registered event carries the commit it was built by, as for a registration
        here, there = (
            envelope(run("history", name, "--home", str(at), "--json"))["data"]["events"][0]
            for at in (dest, home)
        )
        assert here["provenance"] == there["provenance"]
        assert run("doctor", "--home", str(dest)).returncode == 0

        copied_home = tmp_path / f"copied-{name}"
        copied = run_in(elsewhere, env, "copy", f"models:/{name}/1", str(copied_home), "--home", str(home))
        assert copied.returncode == 0, copied.stderr
        assert versions(copied_home, name)[0]["provenance"] == original["provenance"]
        # an archive of the import, or of the copy, carries the same provenance on
        hop = tmp_path / f"{name}-hop.tar"
        assert run("export", f"models:/{name}/1", "--output", str(hop), "--home", str(dest)).returncode == 0
        assert document(hop)["provenance"] == original["provenance"]


def test_a_version_without_provenance_exports_as_format_1(tmp_path: Path) -> None:
    home = tmp_path / "home"
    plain = tmp_path / "plain"
    plain.mkdir()
    model = make_model(tmp_path / "m", seed=4)
    env = clean_env()
    assert run_in(plain, env, "register", str(model), "--name", "bare", "--home", str(home)).returncode == 0
    assert "provenance" not in versions(home, "bare")[0]
    out = tmp_path / "bare.tar"
    assert (
        run_in(plain, env, "export", "models:/bare/1", "--output", str(out), "--home", str(home)).returncode
        == 0
    )
    doc = document(out)
    assert doc["format_version"] == 1 and "provenance" not in doc  # what older modelpacks import
    assert run("import", str(out), "--home", str(tmp_path / "dest")).returncode == 0
    assert "provenance" not in versions(tmp_path / "dest", "bare")[0]


def test_an_archive_exported_before_provenance_still_imports(tmp_path: Path) -> None:
    """``tests/assets/export_format_1.tar`` was exported by the modelpack before archives carried
    provenance, of a version registered with --metric auc=0.91 --param depth=3: the archive has
    no provenance, so the imported version records its package's own (none)."""
    doc = document(FORMAT_1)
    assert doc["format_version"] == 1 and "provenance" not in doc
    dest = tmp_path / "dest"
    proc = run("import", str(FORMAT_1), "--home", str(dest), "--sha256", FORMAT_1_SHA256, "--json")
    assert proc.returncode == 0, proc.stderr
    (v,) = versions(dest, "churn")
    assert v["digest"] == doc["digest"] and v["manifest_sha256"] == doc["manifest_sha256"]
    assert v["description"] == "churn model" and v["tags"] == {"team": "ml"}
    assert v["source"] == doc["source"] and v["origin"] == doc["origin"]
    assert "provenance" not in v
    assert run("doctor", "--home", str(dest)).returncode == 0


def _provenance_tampering(good: Path, tmp: Path, kind: str) -> tuple[Path, str]:
    """A copy of ``good`` (churn v1, format 2) with its provenance changed, and what the refusal
    must say."""
    raw = good.read_bytes()
    members = _members(good)
    out = tmp / f"{kind}.tar"
    if kind == "changed_byte":
        at = raw.index(b'"auc": 0.91') + len('"auc": 0.9')
        out.write_bytes(raw[:at] + b"9" + raw[at + 1 :])  # auc 0.99: still well-formed
        return out, "was changed (its checksum does not match)"

    def edit(doc: dict[str, Any]) -> None:
        if kind == "removed":
            del doc["provenance"]
        elif kind == "removed_as_format_1":
            del doc["provenance"]
            doc["format_version"] = 1
        elif kind == "added_to_format_1":
            doc["format_version"] = 1
        elif kind == "malformed_metric":
            doc["provenance"]["metrics"]["auc"] = "high"
        elif kind == "unknown_section":
            doc["provenance"]["backdoor"] = {"x": "y"}
        elif kind == "registered_from_elsewhere":
            doc["provenance"]["registered_from"]["git"]["commit"] = "f" * 40

    expected = {
        "removed": "missing key 'provenance'",
        "removed_as_format_1": "its sha256 is",
        "added_to_format_1": "format 1 has no key 'provenance'",
        "malformed_metric": "'provenance' must be",
        "unknown_section": "'provenance' must be",
        "registered_from_elsewhere": "its sha256 is",
    }
    return _write(out, _reseal(members, edit)), expected[kind]


@pytest.mark.parametrize(
    "kind",
    [
        "changed_byte",
        "removed",
        "removed_as_format_1",
        "added_to_format_1",
        "malformed_metric",
        "unknown_section",
        "registered_from_elsewhere",
    ],
)
def test_import_refuses_a_changed_provenance(kind: str, built: tuple[Path, str], tmp_path: Path) -> None:
    home, _ = built
    good = tmp_path / "good.tar"
    exported = run("export", "models:/churn/1", "--output", str(good), "--home", str(home), "--json")
    sha = envelope(exported)["data"]["sha256"]
    dest = tmp_path / "dest"
    assert run("copy", "models:/wifi/1", str(dest), "--home", str(home)).returncode == 0
    before = tree(dest)
    archive, said = _provenance_tampering(good, tmp_path, kind)
    # A resealed document with a well-formed provenance is what only --sha256 tells apart.
    proc = run("import", str(archive), "--home", str(dest), "--sha256", sha)
    assert proc.returncode == 3, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    message = " ".join(proc.stderr.split())
    assert said in message and "nothing was imported" in message, message
    if "sha256" not in said:
        assert DOCUMENT_MEMBER in message
    assert tree(dest) == before
    doc = envelope(run("import", str(archive), "--home", str(dest), "--json", "--sha256", sha))
    assert doc["errors"][0]["code"] == "bad_archive" and doc["exit_code"] == 3


def test_an_imported_provenance_is_shown_with_its_controls_escaped(
    built: tuple[Path, str], tmp_path: Path
) -> None:
    """Without --sha256 a resealed document imports (it is well-formed): what it says is then
    shown escaped, never written raw to the terminal."""
    home, _ = built
    good = tmp_path / "good.tar"
    assert run("export", "models:/churn/1", "--output", str(good), "--home", str(home)).returncode == 0

    def edit(doc: dict[str, Any]) -> None:
        doc["description"] = "v1\x1b[31m"
        doc["provenance"]["params"]["depth"] = "3\x1b[2J"
        doc["provenance"]["training_data"]["name"] = "train.csv\x1b]0;owned\x07"

    forged = _write(tmp_path / "forged.tar", _reseal(_members(good), edit))
    dest = tmp_path / "dest"
    assert run("import", str(forged), "--home", str(dest)).returncode == 0
    shown = run("list", "models:/churn/1", "--home", str(dest))
    assert shown.returncode == 0, shown.stderr
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout
    assert "3\\x1b[2J" in shown.stdout and "train.csv\\x1b]0;owned\\x07" in shown.stdout
    assert "v1\\x1b[31m" in shown.stdout
