"""The README's "From Python" example and every example in docs/API.md run, so they cannot rot.

Each document's fenced ``python`` blocks run in order in one namespace (a notebook), in an empty
folder, with MODELPACK_HOME pointing at an empty registry.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(text: str) -> list[str]:
    return [m.group(1) for m in FENCE.finditer(text)]


def _run(blocks: list[str], where: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> dict[str, object]:
    monkeypatch.chdir(where)
    monkeypatch.setenv("MODELPACK_HOME", str(where / "registry"))
    namespace: dict[str, object] = {"__name__": "__main__"}
    for number, block in enumerate(blocks, start=1):
        code = compile(block, f"{name} block {number}", "exec")
        exec(code, namespace)
    return namespace


def test_readme_from_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## From Python")
    end = readme.index("\n## ", start + 1)
    blocks = python_blocks(readme[start:end])
    assert blocks, "the README's From Python section has no python example"
    namespace = _run(blocks, tmp_path, monkeypatch, "README.md")
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "[1 0]"
    assert namespace["champion"].version == 1  # type: ignore[attr-defined]


def test_api_md_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    blocks = python_blocks((REPO_ROOT / "docs" / "API.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 10
    _run(blocks, tmp_path, monkeypatch, "docs/API.md")
    out = capsys.readouterr().out
    assert "Schema([tenure: long, spend: double])" in out
    assert "2 violations" in out


def test_api_md_names_every_public_name() -> None:
    """Every public name ``dir(modelpack)`` lists is documented in backquotes, and dir lists only those."""
    import modelpack

    public = [n for n in dir(modelpack) if not n.startswith("_")]
    assert sorted(public) == sorted(n for n in modelpack.__all__ if n != "__version__")
    text = (REPO_ROOT / "docs" / "API.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`(?:modelpack\.)?([A-Za-z_]\w*)", text))
    missing = [n for n in public if n not in documented]
    assert missing == []
    for name in public:
        assert getattr(modelpack, name) is not None


def test_public_names_resolve_in_a_fresh_interpreter() -> None:
    """``modelpack.schema(frame)`` works as the first call (not only after another import loaded it)."""
    import subprocess
    import sys

    code = (
        "import modelpack, pandas as pd\n"
        "print(modelpack.schema(pd.DataFrame({'a': [1]})))\n"
        "import modelpack as m\n"
        "print(all(getattr(m, n) is not None for n in m.__all__))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["Schema([a:", "long])", "True"]
