"""Import of the published RobustDARTS search logs (real files from ../shared/data/robustdarts)."""

from __future__ import annotations

import csv
import json
import math

import pytest
from click.testing import CliRunner

from harness.run.import_robustdarts import dominant_eigenvalues, find_settings, import_robustdarts
from search_spaces import get_space
from search_spaces.errors import UserError

SETTING = "robustdarts/search_logs/s1/cifar10/0.0_0.0003-2516843"


@pytest.fixture()
def setting_dir(shared_data):
    d = shared_data / SETTING
    if not d.is_dir():
        pytest.skip(f"{d} not present")
    return d


def _rows(run_dir):
    with open(run_dir / "trajectory.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_s1_cifar10_dp0_l2_3e4_seed1(setting_dir, tmp_path):
    runs = import_robustdarts(setting_dir, tmp_path)
    assert len(runs) == 3  # seeds 1..3
    run = next(r for r in runs if "-seed1-" in r.name)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["run"]["optimizer"] == "darts-2nd" and cfg["run"]["space"] == "s1"
    assert cfg["run"]["optimizer_config"] == {"w_weight_decay": 0.0003}
    assert cfg["resolved"]["drop_path_prob"] == 0.0 and cfg["run_id"] == run.name
    rows = _rows(run)
    assert len(rows) == 50 and [int(r["epoch"]) for r in rows] == list(range(50))
    errors = json.loads((setting_dir / "errors_1.json").read_text())
    # the "acc" keys of the logs hold errors: accuracy rises as the logged value falls
    assert float(rows[0]["train_acc"]) == pytest.approx(100 - errors["train_acc"][0])
    assert float(rows[-1]["valid_acc"]) == pytest.approx(100 - errors["valid_acc"][-1])
    assert float(rows[-1]["train_acc"]) > float(rows[0]["train_acc"]) > 40
    eig = [(int(r["epoch"]), float(r["dominant_eigenvalue"])) for r in rows if r["dominant_eigenvalue"]
           and not math.isnan(float(r["dominant_eigenvalue"]))]
    assert [e for e, _ in eig] == list(range(0, 50, 2)) + [49]
    assert eig[0][1] == pytest.approx(0.18, abs=0.03)
    assert eig[-1][1] == pytest.approx(0.52, abs=0.05)
    final = json.loads((run / "final.json").read_text())
    space = get_space("s1")
    arch = space.from_str(final["arch"])
    assert space.to_str(arch) == final["arch"]
    assert space.from_str((setting_dir / "arch_1").read_text().strip()) == arch
    assert final["status"] == "finished" and final["epochs_completed"] == 50
    assert "darts_es_stop_epoch" in final
    # importing again keeps the existing runs
    mtime = (run / "final.json").stat().st_mtime_ns
    import_robustdarts(setting_dir, tmp_path)
    assert (run / "final.json").stat().st_mtime_ns == mtime


def test_dominant_eigenvalue_is_eigvalsh_max(setting_dir):
    import numpy as np

    line = (setting_dir / "derivatives_1.json").read_text().splitlines()[0]
    h = np.asarray(json.loads(line)["H"])
    assert dominant_eigenvalues(setting_dir / "derivatives_1.json")[0] == pytest.approx(
        np.linalg.eigvalsh((h + h.T) / 2)[-1])


def test_settings_are_discovered_from_the_root(shared_data):
    root = shared_data / "robustdarts" / "search_logs"
    if not root.is_dir():
        pytest.skip("no RobustDARTS logs")
    settings = find_settings(root)
    s = next(x for x in settings if x.path.name == "0.2_0.0081-2497409")
    assert (s.space, s.dataset, s.drop_path_prob, s.weight_decay) == ("s1", "cifar10", 0.2, 0.0081)


def test_cli_and_errors(setting_dir, tmp_path):
    from harness.cli import cli

    res = CliRunner().invoke(cli, ["import", "robustdarts", str(setting_dir), "-o", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert "imported 3 runs" in res.output
    with pytest.raises(UserError):
        find_settings(tmp_path / "missing")
    with pytest.raises(UserError):
        find_settings(tmp_path / "out")
