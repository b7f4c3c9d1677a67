"""Damaged and hostile run files (issue 34, items 4, 5 and 8): every command that reads a run folder meets each
file kind in damaged variants and answers with exit 0 or one line and exit 2, never a traceback or a hang.

The folder is built once (a finished tiny run, its correlation, a retraining, a failure, a reproduction
record); each case copies it, damages one file and runs one command in this process (under an alarm: a hang
is one of the failures looked for).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil

import pytest
from test_hostile_inputs import hang_guard as _hang_guard

from harness.cli import main
from harness.run.config import RunConfig

RUN = RunConfig(space="s5", optimizer="darts", seed=0, epochs=2, subset=96, batch_size=32,
                channels=4)
RUN_ARGS = ["--space", "s5", "--optimizer", "darts", "--seeds", "0", "--epochs", "2",
            "--subset", "96", "--batch-size", "32", "--channels", "4", "--no-summary"]
EVAL_ARGS = ["--dataset", "digits", "--layers", "3", "--channels", "4", "--epochs", "1", "--batch-size", "16",
             "--subset", "40", "--cutout", "4", "--device", "cpu"]


def _cli(args, capsys) -> tuple[int, str]:
    """Run the CLI in-process; an escaping exception (a traceback for the user) fails the test."""
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    err = capsys.readouterr().err
    return code, err


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("pristine")
    runs = root / "runs"
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        for args in (["run", *RUN_ARGS, "--out", str(runs)],
                     ["evaluate", str(runs / RUN.run_id()), *EVAL_ARGS],
                     ["correlate", str(runs / RUN.run_id()), "--archs", "6", "--eval-examples", "32",
                      "--bn-batches", "1", "--device", "cpu", "-o", str(root / "corr")]):
            try:
                main(args)
            except SystemExit as e:
                assert not e.code, args
    failed = runs / "failed-run"
    failed.mkdir()
    shutil.copy(runs / RUN.run_id() / "config.json", failed / "config.json")
    (failed / "failed.json").write_text(json.dumps({"run_id": "failed-run", "error": "boom", "host": "h"}))
    rep = root / "rep"
    rep.mkdir()
    (rep / "reproduction.json").write_text(json.dumps({
        "recipe": "x", "title": "t", "source": "s", "scale": "full", "reduced": None,
        "table": {"header": ["method", "verdict"], "rows": [["m", "consistent"]]}, "findings": ["f"],
        "files": []}))
    (root / "corr" / "ensemble.csv").write_text("members,gain\n1,0.0\n2,0.5\n")
    return root


def _damage_json(good: object) -> dict[str, bytes | None]:
    """Damaged variants of a JSON file whose good content is ``good``; None: a FIFO."""
    out = {"empty": b"", "not-json": b"{ not json", "not-utf8": b"\xff\xfe\x00{", "list": b"[1, 2]",
           "string": b'"x"', "number": b"7", "deep": b"[" * 100000 + b"]" * 100000, "fifo": None}
    if isinstance(good, dict):
        for k, v in list(good.items())[:40]:
            for name, bad in (("list", [1]), ("str", "x")):
                if type(v) is type(bad):
                    continue
                out[f"{k}={name}"] = json.dumps({**good, k: bad}).encode()
            out[f"no-{k}"] = json.dumps({kk: vv for kk, vv in good.items() if kk != k}).encode()
    return out


def _damage_csv(good: str) -> dict[str, bytes | None]:
    lines = good.splitlines()
    header = lines[0].split(",")
    out = {"empty": b"", "header-only": (lines[0] + "\n").encode(), "garbage": b"a,b\n1\n\"\n",
           "not-utf8": b"\xff\xfe\x00x", "fifo": None, "truncated": (good[: len(good) * 2 // 3]).encode()}
    for i, col in enumerate(header[:30]):
        rows = [ln.split(",") for ln in lines[1:]]
        for r in rows:
            if i < len(r):
                r[i] = "x<y>"
        out[f"{col}=text"] = "\n".join([lines[0], *(",".join(r) for r in rows)]).encode() + b"\n"
        out[f"no-{col}"] = "\n".join(",".join(c for j, c in enumerate(ln.split(",")) if j != i)
                                     for ln in lines).encode() + b"\n"
    return out


def _commands(root):
    run_dir = root / "runs" / RUN.run_id()
    return {
        "table": ["table", str(root / "runs")],
        "report": ["report", str(root / "runs"), str(root / "corr"), str(root / "rep"), "-o", str(root / "html")],
        "rerun": ["run", *RUN_ARGS, "--out", str(root / "runs")],
        "evaluate": ["evaluate", str(run_dir), *EVAL_ARGS],
        "correlate": ["correlate", str(run_dir), "--archs", "4", "--eval-examples", "16", "--bn-batches", "1",
                      "--device", "cpu", "-o", str(root / "corr2")],
        "compare": ["compare", str(root / "runs")],
    }


# file (relative to the root) -> the commands that read it
FILES = {
    "runs/RUN/config.json": ("table", "report", "rerun", "evaluate", "correlate", "compare"),
    "runs/RUN/final.json": ("table", "report", "rerun", "evaluate", "compare"),
    "runs/RUN/retrain-seed0/result.json": ("evaluate",),
    "runs/RUN/trajectory.csv": ("table", "report", "compare"),
    "runs/failed-run/failed.json": ("report", "table"),
    "rep/reproduction.json": ("report",),
    "corr/archs.csv": ("report",),
    "corr/ensemble.csv": ("report",),
}


def _cases():
    for rel, cmds in FILES.items():
        for cmd in cmds:
            yield pytest.param(rel, cmd, id=f"{rel.split('/')[-1]}-{cmd}")


@pytest.mark.parametrize("rel,cmd", list(_cases()))
def test_damaged_file_is_one_line(pristine, tmp_path, capsys, rel, cmd):
    root = tmp_path / "w"
    shutil.copytree(pristine, root, symlinks=True)
    target = root / rel.replace("RUN", RUN.run_id())
    good_bytes = target.read_bytes()
    if target.suffix == ".json":
        variants = _damage_json(json.loads(good_bytes))
    else:
        variants = _damage_csv(good_bytes.decode())
    failures = []
    for name, content in variants.items():
        target.unlink(missing_ok=True)
        if content is None:
            os.mkfifo(target)
        else:
            target.write_bytes(content)
        try:
            with _hang_guard(30):
                code, err = _cli(_commands(root)[cmd], capsys)
        except Exception as e:  # noqa: BLE001 - the defect this test looks for
            failures.append(f"{name}: {type(e).__name__}: {str(e)[:120]}")
        else:
            lines = [ln for ln in err.strip().splitlines() if ln.startswith("error:")]
            if code not in (0, 2) or (code == 2 and len(lines) != 1):
                failures.append(f"{name}: exit {code}: {err.strip()[-200:]}")
        target.unlink()
        target.write_bytes(good_bytes)
    assert not failures, "\n".join(failures)

