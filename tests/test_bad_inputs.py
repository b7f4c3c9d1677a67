"""Bad inputs and corrupted state, tried as an attacker would: each is one line ``error: ...``, exit 2,
no traceback, nothing left behind. Grows with every bad input found (docs/reliability.md counts them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.table import MetricKey, Table
from harness.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--epochs", "1", "--seeds", "0", "--subset", "64", "--batch-size", "16"]
TINY_RUN = [*TINY, "--optimizer", "darts"]


def fails(args: list[str], capsys, contains: str = "") -> str:
    """Run the CLI in-process; assert exit 2 and exactly one line on stderr, starting ``error:``."""
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert contains in err[0], err[0]
    return err[0]


def fails_in_subprocess(args: list[str], tmp_path: Path, timeout: float = 60, env: dict | None = None) -> str:
    p = subprocess.run([sys.executable, "-m", "harness", *args], cwd=tmp_path, capture_output=True, text=True,
                       timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    assert p.returncode == 2, p.stdout + p.stderr
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in p.stderr, p.stderr
    return err[0]


# -- --set values that pass a name check but not the field's type -------------------------------------
@pytest.mark.parametrize("setting, says", [("arch_lr=abc", "must be a number"), ("arch_lr=NaN", "finite"),
                                           ("arch_betas=[1]", "2 entries"), ("arch_lr=1e999", "finite"),
                                           ("order=1.5", "integer"), ("arch_lr=true", "number")])
def test_set_values_are_typed_and_finite(setting, says, tmp_path, capsys):
    out = tmp_path / "out"
    fails(["run", *TINY_RUN, "--set", setting, "--out", str(out)], capsys, says)
    assert not out.exists()


def test_out_below_a_file(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    fails(["run", *TINY_RUN, "--out", str(tmp_path / "afile" / "sub")], capsys, "not a directory")


def test_rejected_run_leaves_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    fails(["run", "--epochs", "1", "--seeds", "0", "--subset", "64", "--batch-size", "100000", "--out", str(out)],
          capsys, "batch size")
    assert not out.exists()
    fails(["run", *TINY, "--optimizer", "nsa", "--set", "pool=er", "--out", str(out)], capsys, "randwire")
    assert not out.exists()


# -- tabulate -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, says", [(["--limit", "abc"], "START:STOP"), (["--eval-epochs", "x"], "integers"),
                                        (["--jobs", "0"], "--jobs"), (["--lr", "nan"], "lr"),
                                        (["--lr", "1e999"], "lr"), (["--dataset", "nope"], "unknown dataset"),
                                        (["--space", "nope"], "unknown space"), (["--limit", "5:2"], "START < STOP")])
def test_tabulate_rejects_before_writing(args, says, tmp_path, capsys):
    out = tmp_path / "t"
    fails(["tabulate", "-o", str(out), *args], capsys, says)
    assert not out.exists()  # so the corrected command is not blocked by a half-written folder


# -- benchmark files and tables ----------------------------------------------------------------------
def test_fifo_and_device_files_are_refused_quickly(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
    for f in (fifo, Path("/dev/zero")):
        err = fails_in_subprocess(["query", "--benchmark", "nb201", "--benchmark-file", str(f), "--arch", arch,
                                   "--dataset", "cifar10", "--split", "test"], tmp_path, timeout=30)
        assert "not a regular file" in err


def _table(d: Path, values: np.ndarray | None = None) -> Path:
    space = "s5"
    from search_spaces import get_space

    sp = get_space(space)
    archs = [sp.to_str(a) for a in list(sp.enumerate())[:4]]
    v = np.array([[90.0], [91.0], [92.0], [93.0]]) if values is None else values
    Table(space, archs, ["0"], {MetricKey("digits", "test", "accuracy", 10): v}, {}, {}).save(d)
    return d


def _query(d: Path) -> list[str]:
    from search_spaces import get_space

    arch = get_space("s5").to_str(next(iter(get_space("s5").enumerate())))
    return ["query", "--benchmark", "table", "--benchmark-file", str(d), "--arch", arch, "--dataset", "digits",
            "--split", "test", "--benchmark-epochs", "10"]


@pytest.mark.parametrize("meta", [[], {"space": "s5"}, "not json {"])
def test_damaged_table_metadata(meta, tmp_path, capsys):
    d = _table(tmp_path / "t")
    (d / "metadata.json").write_text(meta if isinstance(meta, str) else json.dumps(meta))
    fails(_query(d), capsys, "metadata.json")


def test_table_npz_with_objects_or_wrong_shapes(tmp_path, capsys):
    import hashlib
    import io

    d = _table(tmp_path / "t")
    meta = json.loads((d / "metadata.json").read_text())
    for arrays in ({"archs": np.array([{"a": 1}], dtype=object), "seeds": np.array(["0"])},
                   {"archs": np.array(["a", "b"]), "seeds": np.array(["0"]),
                    "seed:digits/test/accuracy@10": np.zeros((3, 2))}):
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        data = buf.getvalue()
        (d / "table.npz").write_bytes(data)
        (d / "metadata.json").write_text(json.dumps({**meta, "table_sha256": hashlib.sha256(data).hexdigest()}))
        fails(_query(d), capsys, str(d))


def test_cache_pointing_at_a_file(tmp_path):
    (tmp_path / "cachefile").write_text("x")
    err = fails_in_subprocess(["query", "--benchmark", "nb201", "--benchmark-file", str(ROOT.parent / "shared/data/nb201"),
                               "--arch", "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "--dataset", "cifar10",
                               "--split", "test"], tmp_path, env={"HARNESS_CACHE": str(tmp_path / "cachefile")})
    assert "HARNESS_CACHE" in err


@pytest.mark.parametrize("bad", [150.0, np.inf, -3.0])
def test_ground_truth_out_of_range_is_refused(bad, tmp_path, capsys):
    v = np.array([[90.0], [bad], [92.0], [93.0]])
    with pytest.raises(Exception) as e:
        _table(tmp_path / "t", v)
    assert "accuracy" in str(e.value) and "range" in str(e.value)


def test_cost_metrics_have_no_optimum(tmp_path, capsys):
    from benchmarks.base import TabularBenchmark
    from search_spaces.errors import BenchmarkError

    d = tmp_path / "t"
    from search_spaces import get_space

    sp = get_space("s5")
    archs = [sp.to_str(a) for a in list(sp.enumerate())[:3]]
    Table("s5", archs, ["0"], {MetricKey("digits", "test", "params", 10): np.array([[1.0], [2.0], [3.0]])},
          {}, {}).save(d)
    b = TabularBenchmark(Table.load(d), "t")
    with pytest.raises(BenchmarkError, match="params"):
        b.optimum("digits", "test", "params", 10)
    assert b.query(archs[0], "digits", "test", "params", 10) == 1.0  # querying a cost is fine


def test_json_output_is_always_json(tmp_path, capsys):
    from harness.commands.base import json_text

    strict = {"parse_constant": lambda c: pytest.fail(f"non-JSON constant {c}")}
    assert json.loads(json_text({"a": float("nan"), "b": [float("inf"), 1.0], "c": np.float64("-inf")}), **strict) \
        == {"a": None, "b": [None, 1.0], "c": None}
    d = _table(tmp_path / "t", np.array([[np.nan], [91.0], [92.0], [93.0]]))
    fails(_query(d), capsys, "no accuracy")  # a missing value is an error, not NaN in the output
    main(["protocol", "s5", "darts"])
    json.loads(capsys.readouterr().out, **strict)


# -- corrupted run state --------------------------------------------------------------------------------
@pytest.fixture
def a_run(tmp_path):
    out = tmp_path / "runs"
    main(["run", *TINY_RUN, "--epochs", "2", "--out", str(out), "--no-summary"])
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return out, run_dir


def _unfinish(run_dir: Path) -> None:
    (run_dir / "final.json").unlink()


def test_truncated_config_json(a_run, capsys):
    out, run_dir = a_run
    text = (run_dir / "config.json").read_text()
    (run_dir / "config.json").write_text(text[: len(text) // 2])
    fails(["table", str(out)], capsys, "config.json")
    _unfinish(run_dir)
    fails(["run", *TINY_RUN, "--epochs", "2", "--out", str(out), "--resume", "--no-summary"], capsys, "config.json")


def test_checkpoint_is_a_directory_or_has_a_wrong_structure(a_run, capsys):
    from harness.run.checkpoint import save_checkpoint

    out, run_dir = a_run
    _unfinish(run_dir)
    ck = run_dir / "checkpoint.pt"  # a finished run keeps none: plant one
    ck.mkdir()
    fails(["run", *TINY_RUN, "--epochs", "2", "--out", str(out), "--resume", "--no-summary"], capsys, "checkpoint")
    ck.rmdir()
    save_checkpoint(ck, {"epoch": "three", "unexpected": [1, 2]})  # a valid checksum, a wrong structure
    fails(["run", *TINY_RUN, "--epochs", "2", "--out", str(out), "--resume", "--no-summary"], capsys, "checkpoint")


def test_resume_with_config_json_lost_rewrites_it(a_run, capsys):
    out, run_dir = a_run
    _unfinish(run_dir)
    (run_dir / "config.json").unlink()
    main(["run", *TINY_RUN, "--epochs", "2", "--out", str(out), "--resume", "--no-summary"])
    assert json.loads((run_dir / "config.json").read_text())["run_id"] == run_dir.name
    main(["table", str(out)])  # the run is visible again
    assert "darts" in capsys.readouterr().out


def test_table_says_which_runs_it_dropped(a_run, capsys):
    out, run_dir = a_run
    with pytest.raises(SystemExit) as e:
        main(["table", str(out), "--epoch", "99"])
    assert e.value.code == 2
    assert "epoch 99" in capsys.readouterr().err


# -- sweeps ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("plan, says", [
    ({"optimizers": ["darts", "nope"], "seeds": [0], "epochs": 1}, "nope"),
    ({"optimizers": ["darts"], "spaces": ["nope"], "seeds": [0], "epochs": 1}, "nope"),
    ({"optimizers": [{"name": "darts", "config": {"no_such_key": 1}}], "seeds": [0], "epochs": 1}, "no_such_key"),
    ({"optimizers": [{"name": "darts", "config": {"arch_lr": "abc"}}], "seeds": [0], "epochs": 1}, "arch_lr"),
    ({"optimizers": ["darts"], "seeds": [0], "budget": True}, "positive integer"),
])
def test_sweep_checks_the_plan_before_any_run(plan, says, tmp_path, capsys):
    import yaml

    p = tmp_path / "plan.yaml"
    p.write_text(yaml.safe_dump(plan))
    for extra in (["--dry-run"], []):
        fails(["sweep", str(p), "--out", str(tmp_path / "o"), *extra], capsys, says)
    assert not (tmp_path / "o").exists()


def test_sweep_exits_nonzero_when_a_run_failed(tmp_path, capsys):
    import yaml

    p = tmp_path / "plan.yaml"
    # cifar10 without its files fails at run time (the plan itself is valid)
    p.write_text(yaml.safe_dump({"optimizers": ["darts"], "datasets": ["digits", {"dataset": "cifar10",
                                 "benchmark": "none", "data_dir": str(tmp_path / "nodata")}],
                                 "seeds": [0], "epochs": 1, "subset": 64, "batch_size": 16}))
    with pytest.raises(SystemExit) as e:
        main(["sweep", str(p), "--out", str(tmp_path / "o")])
    assert e.value.code == 3
    captured = capsys.readouterr()
    assert "1 failed" in captured.out and "1 finished" in captured.out and "failed: " in captured.err
    main(["sweep", str(p), "--out", str(tmp_path / "o"), "--allow-failures"])  # exit 0: no SystemExit


def test_disk_full_names_the_file(tmp_path, monkeypatch):
    import errno

    from search_spaces import io as sio

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")  # as the kernel says it: no file name

    monkeypatch.setattr(sio.os, "fsync", no_space)
    with pytest.raises(OSError) as e:
        sio.atomic_write_text(tmp_path / "trajectory.csv", "x")
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(tmp_path / "trajectory.csv")
    assert list(tmp_path.iterdir()) == []  # the temp file is gone too


def test_truncated_trajectory_names_the_row(a_run, tmp_path, capsys):
    out, run_dir = a_run
    tp = run_dir / "trajectory.csv"
    lines = tp.read_text().splitlines()
    tp.write_text("\n".join([*lines, ",,"]) + "\n")  # a last row cut short
    err = fails(["table", str(out)], capsys, "trajectory.csv")  # the only run: nothing left to tabulate
    assert f"row {len(lines) + 1}" in err
    # beside a good run, the damaged one is left out with its reason and the table still prints
    main(["run", *TINY, "--optimizer", "rsws", "--epochs", "2", "--out", str(out), "--no-summary"])
    capsys.readouterr()
    main(["table", str(out)])
    res = capsys.readouterr()
    assert "rsws" in res.out and "darts" not in res.out
    assert "left out:" in res.err and f"row {len(lines) + 1}" in res.err


class _Payload:
    """Pickles as a call that creates ``marker``: what a crafted file would run on a full unpickle."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_crafted_files_in_a_shared_run_folder_run_no_code(a_run, tmp_path, capsys):
    """A run folder from someone else: supernet.pt and the retraining checkpoint, crafted with valid checksums,
    are refused by correlate, nsa and evaluate with one line and exit 2; the payload never runs."""
    from harness.run.checkpoint import save_checkpoint

    out, run_dir = a_run
    marker = tmp_path / "pwned"
    save_checkpoint(run_dir / "supernet.pt", {"format": 1, "state_dict": _Payload(marker)})
    fails(["correlate", str(run_dir), "--archs", "4", "--out", str(tmp_path / "c")], capsys, "weights-only")
    fails(["nsa", str(run_dir), "--out", str(tmp_path / "n")], capsys, "weights-only")
    work = run_dir / "retrain-seed0"
    work.mkdir()
    save_checkpoint(work / "checkpoint.pt", {"key": _Payload(marker)})
    fails(["evaluate", str(run_dir), "--dataset", "digits", "--epochs", "1", "--layers", "2", "--channels", "4",
           "--subset", "64", "--batch-size", "16"], capsys, "weights-only")
    assert not marker.exists()


@pytest.mark.parametrize("args", [["tabulate", "-o", "never", "--lr", "nan"], ["evaluate", "x", "--lr", "inf"],
                                  ["evaluate", "x", "--weight-decay", "-inf"],
                                  ["nsa", "--study", "--pool-sizes", "1,nan"],
                                  ["correlate", "--dropout-study", "--r-max", "0,inf"]])
def test_no_float_option_takes_nan_or_infinity(args, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fails(args, capsys, "finite")
    assert list(tmp_path.iterdir()) == []


def test_crafted_checkpoint_through_batched_resume(tmp_path, capsys):
    from harness.run.checkpoint import save_checkpoint

    out, marker = tmp_path / "runs", tmp_path / "pwned"
    args = ["run", "--optimizer", "darts", "--seeds", "0", "1", "--batch-seeds", "--epochs", "2", "--subset", "64",
            "--batch-size", "16", "--out", str(out), "--no-summary"]
    main(args)
    for d in out.iterdir():
        if d.is_dir():
            (d / "final.json").unlink()  # unfinished again, with a crafted checkpoint of a valid checksum
            save_checkpoint(d / "checkpoint.pt", {"optimizer": _Payload(marker), "epoch": 0})
    capsys.readouterr()
    fails([*args, "--resume"], capsys, "weights-only")
    assert not marker.exists()
