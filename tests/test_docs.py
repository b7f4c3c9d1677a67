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


def test_every_relative_link_in_the_docs_resolves():
    """Issue 36: a broken link in docs/protocols.md went unnoticed (README's links were the only ones checked)."""
    broken = []
    for md in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for link in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", md.read_text()):
            if not link.startswith(("http://", "https://", "mailto:")) and not (md.parent / link).exists():
                broken.append(f"{md.relative_to(ROOT)}: {link}")
    assert not broken, broken


def test_usage_plan_example_is_a_valid_plan_of_the_stated_size():
    import yaml

    from harness.run.sweep import Plan

    text = (ROOT / "docs" / "usage.md").read_text()
    (block,) = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    plan = Plan.from_dict(yaml.safe_load(block))
    n = int(re.search(r"= (\d+) runs", text).group(1))
    assert plan.count() == len(plan.expand()) == n
