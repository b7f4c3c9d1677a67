"""Inputs that used to hang, exhaust memory or give tracebacks (issue 34, items 5, 6 and 9): each is one line
and exit status 2, within seconds, and leaves nothing behind."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import tracemalloc

import pytest

from harness.cli import main
from harness.run.sweep import MAX_PLAN_RUNS, Plan
from search_spaces.errors import ConfigError, UserError

TINY = ["--optimizer", "darts", "--seeds", "0", "--epochs", "1", "--subset", "64", "--batch-size", "16",
        "--channels", "4", "--no-summary"]


class Hang(Exception):
    pass


@contextlib.contextmanager
def hang_guard(seconds: int = 20):
    def alarm(signum, frame):  # raising abandons a blocked open() or read() (PEP 475)
        raise Hang(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def cli(args, capsys) -> tuple[int, str]:
    capsys.readouterr()
    with hang_guard():
        try:
            main(list(args))
            code = 0
        except SystemExit as e:
            code = e.code
    return code, capsys.readouterr().err


def one_line(code: int, err: str, needle: str) -> None:
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], (code, err)


@pytest.fixture
def fifo(tmp_path):
    p = tmp_path / "pipe"
    os.mkfifo(p)
    return p


def test_non_regular_files_where_files_are_read(tmp_path, fifo, capsys):
    zero = tmp_path / "zero.yaml"
    zero.symlink_to("/dev/zero")
    one_line(*cli(["sweep", str(fifo), "--dry-run", "-o", str(tmp_path / "o")], capsys), "not a regular file")
    one_line(*cli(["sweep", str(zero), "--dry-run", "-o", str(tmp_path / "o")], capsys), "not a regular file")
    one_line(*cli(["reproduce", "--list", "--published", str(fifo)], capsys), "not a regular file")
    one_line(*cli(["reproduce", "--list", "--published", str(zero)], capsys), "not a regular file")
    one_line(*cli(["--log-file", str(fifo), "list"], capsys), "not a regular file")
    assert not (tmp_path / "o").exists()


def _alias_bomb(levels: int = 9) -> str:
    lines = ["optimizers: [darts]", "_l0: &l0 [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]"]
    lines += [f"_l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_alias_bomb_and_product_bomb_plans_are_refused_in_bounded_memory(tmp_path, capsys):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(_alias_bomb())
    assert len(bomb.read_bytes()) < 1500  # 10^9 values once expanded
    keys = ["channels", "depth", "batch_size", "subset", "epochs", "select_batches", "eigen_batches"]
    product = tmp_path / "product.yaml"
    product.write_text("\n".join(["optimizers: [darts]", "seeds: &s [0,1,2,3,4,5,6,7,8,9]",
                                  *(f"{k}: *s" for k in keys)]) + "\n")
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match="expands to more than"):
            Plan.load(bomb)
        with pytest.raises(ConfigError, match=f"more than the {MAX_PLAN_RUNS:,}"):
            Plan.load(product).expand()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20, f"{peak / 2**20:.0f} MiB"
    one_line(*cli(["sweep", str(product), "--dry-run", "-o", str(tmp_path / "o")], capsys), "runs is more than")
    assert Plan.from_dict({"optimizers": ["darts"], "seeds": [0, 1]}).count() == 2


def test_deep_and_long_values_are_one_line(tmp_path, capsys):
    deep = tmp_path / "deep.yaml"
    deep.write_text("optimizers: [darts]\nx: " + "[" * 5000 + "]" * 5000 + "\n")
    one_line(*cli(["sweep", str(deep), "--dry-run", "-o", str(tmp_path / "o")], capsys), "plan")
    one_line(*cli(["run", *TINY, "--set", "x=" + "[" * 5000 + "]" * 5000, "--out", str(tmp_path / "o")], capsys),
             "nested too deeply")
    one_line(*cli(["evaluate", "|" * 100_000, "--space", "nb201", "-o", str(tmp_path / "e")], capsys),
             "characters")
    not_utf8 = tmp_path / "plan.yaml"
    not_utf8.write_bytes(b"optimizers: [\xff\xfe]\n")
    one_line(*cli(["sweep", str(not_utf8), "--dry-run", "-o", str(tmp_path / "o")], capsys), "UTF-8")
    assert not (tmp_path / "o").exists() and not (tmp_path / "e").exists()


def test_log_file_is_opened_before_any_work(tmp_path, capsys, monkeypatch):
    out = tmp_path / "runs"
    one_line(*cli(["--log-file", str(tmp_path / "no" / "such" / "dir.log"), "run", *TINY, "--out", str(out)],
                  capsys), "No such file or directory")
    assert not out.exists()  # refused before the first epoch, not after it
    # a write error later warns once and the run goes on
    from harness.commands import base

    class Full:
        def write(self, _):
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            pass

    real_open = base.open_log

    def open_then_fill(path):
        real_open(path)
        base.OUTPUT["log_handle"] = Full()

    monkeypatch.setattr(base, "open_log", open_then_fill)
    code, err = cli(["--log-file", str(tmp_path / "x.log"), "run", *TINY, "--out", str(out)], capsys)
    assert code == 0, err
    assert err.count("warning: --log-file") == 1 and "No space left on device" in err
    assert len(list(out.glob("*/final.json"))) == 1


def test_deprecated_and_new_spelling_together_are_refused(tmp_path, capsys):
    one_line(*cli(["table", str(tmp_path), "--output", "a.md", "-o", "b.md"], capsys), "give only -o/--out")
    one_line(*cli(["query", "--benchmark", "s5-digits", "--arch", "0", "--dataset", "digits", "--split", "test",
                   "--epochs", "3", "--benchmark-epochs", "4"],
                  capsys), "give only --benchmark-epochs")


def test_table_strips_terminal_escapes_and_writes_parquet_atomically(tmp_path, capsys, monkeypatch):
    from harness.run.config import RunConfig
    from harness.run.runner import SearchRun

    cfg = RunConfig(space="s5", optimizer="darts", seed=0, epochs=1, subset=64, batch_size=16, channels=4)
    SearchRun(cfg, tmp_path / "runs").run()
    c = tmp_path / "runs" / cfg.run_id() / "config.json"
    doc = json.loads(c.read_text())
    doc["run"]["optimizer"] = "darts\x1b]0;pwned\x07\x1b[2J"  # a hostile folder's name for the optimizer
    c.write_text(json.dumps(doc))
    code, err = cli(["table", str(tmp_path / "runs"), "-o", str(tmp_path / "t.md")], capsys)
    assert code == 0 and "\x1b" not in err
    printed = []
    monkeypatch.setattr("click.echo", lambda m="", **k: printed.append(str(m)))
    cli(["table", str(tmp_path / "runs")], capsys)
    monkeypatch.undo()
    assert printed and not any("\x1b" in p or "\x07" in p for p in printed)
    assert any("darts]0;pwned[2J" in p for p in printed)  # the name stays readable, its control bytes go
    pq = tmp_path / "frame.parquet"
    pq.write_bytes(b"previous")

    def broken(self, buf, **k):
        buf.write(b"PAR1 half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("pandas.DataFrame.to_parquet", broken)
    code, err = cli(["table", str(tmp_path / "runs"), "--dataframe", str(pq)], capsys)
    assert code == 2 and pq.read_bytes() == b"previous"  # never half a file
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".frame")]


def test_query_names_and_truncated_nb201_rows(shared_data, tmp_path, capsys):
    src = shared_data / "nb201" / "nb201_200epoch_test.csv"
    code, _ = cli(["query", "--benchmark", "nb201", "--benchmark-file", str(src), "--arch", "857",
                   "--dataset", "imagenet16-120", "--split", "test"], capsys)
    assert code == 0
    lines = src.read_text().splitlines()
    cut = tmp_path / "cut.csv"
    cut.write_text("\n".join([*lines[:3], ",".join(lines[3].split(",")[:3])]) + "\n")
    one_line(*cli(["query", "--benchmark", "nb201", "--benchmark-file", str(cut), "--arch", "0", "--dataset",
                   "cifar10", "--split", "test"], capsys), "row 4 is incomplete")


def test_failed_evaluate_and_reproduce_leave_no_empty_folders(tmp_path, capsys):
    out = tmp_path / "deep" / "eval"
    one_line(*cli(["evaluate", "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|skip_connect~1|"
                   "skip_connect~2|", "--space", "nb201", "--dataset", "cifar10", "--data-dir",
                   str(tmp_path / "missing"), "-o", str(out)], capsys), "")
    assert not (tmp_path / "deep").exists()
    with pytest.raises(UserError):
        from harness.recipes.catalogue import RECIPES
        from harness.recipes.recipe import Context
        from harness.recipes.reproduce import run_recipe

        run_recipe(RECIPES["balenas-table1"], Context(out=str(tmp_path / "r" / "x"), benchmark_file=str(
            tmp_path / "missing.csv")))
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("depth", [1, 2])
def test_depth_below_the_reduction_cells_is_one_line(tmp_path, capsys, depth):
    """Issue 36: --depth 1 or 2 on S1-S4 was an autograd traceback and left a run folder."""
    one_line(*cli(["run", "--space", "s1", "--benchmark", "none", "--depth", str(depth), *TINY, "--out",
                   str(tmp_path / "o")], capsys), "total number of cells")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("exc,needle", [(RecursionError, "nested too deeply"), (MemoryError, "out of memory"),
                                        (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"), "not UTF-8")])
def test_parser_failures_anywhere_are_one_line(tmp_path, capsys, monkeypatch, exc, needle):
    """Issue 34's 'How': one place turns RecursionError, MemoryError and UnicodeDecodeError into one line."""
    import harness.reporting.aggregate as agg

    def boom(*a, **k):
        raise exc

    monkeypatch.setattr(agg, "load_frame", boom)
    monkeypatch.setattr("harness.reporting.aggregate.load_frame", boom)
    one_line(*cli(["table", str(tmp_path)], capsys), needle)
