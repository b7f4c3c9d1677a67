"""The documentation's runnable examples run, and the README stays a user's page."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_extending_example_runs(tmp_path):
    (code,) = [b for b in _python_blocks(ROOT / "docs" / "extending.md") if "register_optimizer" in b]
    # a fresh process: the example registers an optimizer, which must not leak into other tests
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert [ln.split()[:2] for ln in lines] == [["darts", "finished"], ["gdas", "finished"],
                                                 ["temp-darts", "finished"]]


def test_readme_is_a_users_page():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    for link in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (ROOT / link).is_file(), link
