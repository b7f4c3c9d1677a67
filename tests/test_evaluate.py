"""``harness evaluate``: tiny retraining runs, recording into final.json, resume after a kill."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from harness.run.evaluate import EvalProtocol, cutout, evaluate
from search_spaces import get_space
from search_spaces.errors import ConfigError, UserError

TINY = dict(dataset="digits", layers=3, channels=4, epochs=1, batch_size=16, subset=40, cutout=4)


class Kill(Exception):
    pass


def _run_dir(tmp_path, space: str = "s5"):
    arch = get_space(space).sample(np.random.default_rng(0))
    d = tmp_path / "search-run"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"run": {"space": space}}))
    (d / "final.json").write_text(json.dumps({"status": "finished", "arch": get_space(space).to_str(arch)}))
    return d


def test_one_epoch_from_a_run_dir_records_retrained_accuracy(tmp_path):
    d = _run_dir(tmp_path)
    final = evaluate(str(d), EvalProtocol(**TINY))
    assert final["status"] == "finished"  # the search's own keys stay
    assert 0.0 <= final["retrained_test_acc"] <= 100.0
    assert final["retrained_test_error"] == pytest.approx(100.0 - final["retrained_test_acc"])
    assert json.loads((d / "final.json").read_text()) == final
    res = json.loads((d / "retrain-seed0" / "result.json").read_text())
    assert len(res["history"]) == 1 and not (d / "retrain-seed0" / "checkpoint.pt").exists()
    # a finished evaluation is not redone; another protocol under the same seed is refused
    assert evaluate(str(d), EvalProtocol(**TINY)) == final
    with pytest.raises(UserError):
        evaluate(str(d), EvalProtocol(**{**TINY, "epochs": 2}))


def test_genotype_string_and_resume_after_a_kill(tmp_path):
    geno = get_space("s1").to_str(get_space("s1").sample(np.random.default_rng(1)))
    p = EvalProtocol(**{**TINY, "epochs": 2})

    def kill(line: str) -> None:
        if "epoch 1/" in line:
            raise Kill

    with pytest.raises(Kill):
        evaluate(geno, p, space="s1", out=tmp_path / "a", progress=kill)
    (target,) = (tmp_path / "a").iterdir()
    assert (target / "retrain-seed0" / "checkpoint.pt").is_file()
    (target / "retrain-seed0" / "run.lock").unlink(missing_ok=True)  # the killed worker's lock (same pid here)
    resumed = evaluate(geno, p, space="s1", out=tmp_path / "a")
    straight = evaluate(geno, p, space="s1", out=tmp_path / "b")
    assert resumed["retrained_test_acc"] == pytest.approx(straight["retrained_test_acc"])
    ra = json.loads((target / "retrain-seed0" / "result.json").read_text())["history"]
    (tb,) = (tmp_path / "b").iterdir()
    rb = json.loads((tb / "retrain-seed0" / "result.json").read_text())["history"]
    assert [r["train_loss"] for r in ra] == pytest.approx([r["train_loss"] for r in rb])
    assert resumed["arch"] == geno
    # a second seed of the same string adds to the folder's record (it has no search status to check)
    both = evaluate(geno, EvalProtocol(**{**TINY, "epochs": 2, "seed": 1}), space="s1", out=tmp_path / "b")
    assert set(both["retrained"]) == {"seed0", "seed1"} and "status" not in both


def test_cli_and_validation(tmp_path):
    from harness.cli import cli

    d = _run_dir(tmp_path)
    args = ["evaluate", str(d), "--dataset", "digits", "--layers", "3", "--channels", "4", "--epochs", "1",
            "--batch-size", "16", "--subset", "40", "--cutout", "4", "--no-auxiliary", "--seeds", "3", "--seeds", "4"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "seed 3: test accuracy" in res.output and "mean over 2 seed(s)" in res.output
    assert {"seed3", "seed4"} <= set(json.loads((d / "final.json").read_text())["retrained"])
    res = CliRunner().invoke(cli, [*args[:-4], "--seed", "3"])  # the old spelling still works, with a warning
    assert res.exit_code == 0 and "deprecated" in res.output
    with pytest.raises(ConfigError):
        EvalProtocol(drop_path_prob=1.0)
    with pytest.raises(UserError):
        evaluate("Genotype(normal=[], normal_concat=range(2, 6), reduce=[], reduce_concat=range(2, 6))")


def test_cutout_zeroes_one_square_per_image():
    x = torch.ones(6, 3, 8, 8)
    y = cutout(x, 4, torch.Generator().manual_seed(0))
    zeros = (y[:, 0] == 0).sum(dim=(1, 2))
    assert ((zeros > 0) & (zeros <= 16)).all()
    assert torch.equal(y[:, 0] == 0, y[:, 2] == 0)  # same square on every channel
