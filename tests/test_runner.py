"""Runner: files, determinism, resume after an interruption, never overwriting a finished run."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from harness.run.config import RunConfig
from harness.run.runner import RunExistsError, SearchRun
from search_spaces.errors import ConfigError


def _cfg(**kw) -> RunConfig:
    base = dict(space="nb201", dataset="digits", benchmark="none", optimizer="darts", epochs=3,
                batch_size=32, subset=128, channels=4, depth=1)
    base.update(kw)
    return RunConfig(**base)


def _traj(root, cfg):
    t = pd.read_csv(root / cfg.run_id() / "trajectory.csv")
    return t.drop(columns=["wall_seconds"])


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("optimizer", ["darts", "gdas", "rsws"])
def test_same_seed_same_trajectory_and_resume(optimizer, tmp_path):
    cfg = _cfg(optimizer=optimizer, optimizer_config={"n_candidates": 4} if optimizer == "rsws" else {})
    SearchRun(cfg, tmp_path / "a").run()
    SearchRun(cfg, tmp_path / "b").run()
    pd.testing.assert_frame_equal(_traj(tmp_path / "a", cfg), _traj(tmp_path / "b", cfg))

    def crash(line: str) -> None:
        if "epoch   2/" in line:
            raise Interrupt

    with pytest.raises(Interrupt):
        SearchRun(cfg, tmp_path / "c", progress=crash).run()
    assert not (tmp_path / "c" / cfg.run_id() / "final.json").exists()
    with pytest.raises(RunExistsError, match="--resume"):
        SearchRun(cfg, tmp_path / "c").run()
    SearchRun(cfg, tmp_path / "c").run(resume=True)
    pd.testing.assert_frame_equal(_traj(tmp_path / "a", cfg), _traj(tmp_path / "c", cfg))


def test_files_and_finished_run_not_overwritten(tmp_path):
    cfg = _cfg(epochs=1)
    run = SearchRun(cfg, tmp_path)
    final = run.run()
    d = tmp_path / cfg.run_id()
    conf = json.loads((d / "config.json").read_text())
    assert conf["run"]["optimizer"] == "darts" and conf["resolved"]["optimizer"]["arch_lr"] == 3e-4
    assert set(pd.read_csv(d / "trajectory.csv").columns) >= {
        "epoch", "wall_seconds", "arch", "train_loss", "train_acc", "valid_loss", "valid_acc",
        "gt_valid_acc", "gt_test_acc", "test_regret"}
    mtime = (d / "final.json").stat().st_mtime_ns
    assert SearchRun(cfg, tmp_path).run() == final
    assert (d / "final.json").stat().st_mtime_ns == mtime


def test_different_config_in_same_dir_is_refused(tmp_path):
    cfg = _cfg(epochs=1)
    d = tmp_path / cfg.run_id()
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"run": {"optimizer": "other"}}))
    with pytest.raises(RunExistsError, match="different config"):
        SearchRun(cfg, tmp_path).run()


@pytest.mark.parametrize("bad", [dict(epochs=0), dict(batch_size=-1), dict(seed=-3), dict(channels=0),
                                 dict(precision="fp16"), dict(channels_last="yes")])
def test_invalid_config_values(bad):
    with pytest.raises(ConfigError):
        _cfg(**bad)


def test_unknown_optimizer_key_fails_before_work(tmp_path):
    with pytest.raises(ConfigError, match="unknown keys"):
        SearchRun(_cfg(optimizer_config={"arch_lrr": 1.0}), tmp_path)
    assert not any(tmp_path.iterdir())


def test_eigenvalue_tracking_column(tmp_path):
    cfg = _cfg(space="s5", epochs=2, eigen_every=2)
    SearchRun(cfg, tmp_path).run()
    t = pd.read_csv(tmp_path / cfg.run_id() / "trajectory.csv")
    assert t["dominant_eigenvalue"].isna().tolist() == [True, False]
    assert t["dominant_eigenvalue"].iloc[1] > 0


def test_channels_last_gives_the_same_trajectory(tmp_path):
    ref, cl = _cfg(epochs=2), _cfg(epochs=2, channels_last=True)
    assert ref.run_id() != cl.run_id()
    SearchRun(ref, tmp_path).run()
    SearchRun(cl, tmp_path).run()
    a, b = _traj(tmp_path, ref), _traj(tmp_path, cl)
    cols = ["train_loss", "valid_loss", "train_acc", "valid_acc"]
    # same arithmetic in another memory order: equal up to float summation order
    torch.testing.assert_close(torch.tensor(b[cols].to_numpy()), torch.tensor(a[cols].to_numpy()), atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("space", ["nb201", "s5"])  # s5: the DARTS cell's custom depthwise conv and pooling
def test_bf16_autocast_runs_and_stays_close_to_fp32(space, tmp_path):
    ref, low = _cfg(epochs=2, space=space), _cfg(epochs=2, precision="bf16", space=space)
    SearchRun(ref, tmp_path).run()
    final = SearchRun(low, tmp_path).run()
    assert final["status"] == "finished"
    a, b = _traj(tmp_path, ref), _traj(tmp_path, low)
    assert not a["train_loss"].equals(b["train_loss"])  # autocast really changed the arithmetic
    # bf16 keeps 8 mantissa bits: losses agree to a few percent after 2 short epochs
    torch.testing.assert_close(torch.tensor(b["train_loss"].to_numpy()), torch.tensor(a["train_loss"].to_numpy()),
                               rtol=0.05, atol=0.05)


def test_run_written_before_a_new_config_field_still_resumes(tmp_path):
    cfg = _cfg(epochs=2)
    SearchRun(cfg, tmp_path).run()
    p = tmp_path / cfg.run_id() / "config.json"
    doc = json.loads(p.read_text())
    del doc["run"]["precision"], doc["run"]["channels_last"]  # as written by an older version
    p.write_text(json.dumps(doc))
    assert SearchRun(cfg, tmp_path).run(resume=True)["status"] == "finished"


def test_channels_last_weights_make_channels_last_activations():
    """Why the runner converts only the supernet: convolutions propagate the weights' format."""
    from search_spaces import get_space

    space = get_space("nb201")
    net = space.build_supernet(space.default_config().with_overrides(
        channels=4, depth=1, num_classes=10, in_channels=3, input_size=8)).to(memory_format=torch.channels_last)
    seen = []
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(lambda mod, i, o: seen.append(o.is_contiguous(memory_format=torch.channels_last)))
    net(torch.randn(2, 3, 8, 8), {k: torch.softmax(v, -1) for k, v in space.zeros().items()})
    assert seen and all(seen)


def test_anytime_architecture_weights_are_recorded_resumed_and_plottable(tmp_path):
    """``arch_weights.json``: one entry per epoch with the optimizer's normalised weights; it survives a
    resume and ``plot_arch_weights`` draws it (VIM-NAS's anytime-weight figures)."""
    import torch

    from harness.reporting.plots import plot_arch_weights

    class Kill(Exception):
        pass

    def die(_line):
        raise Kill

    cfg = _cfg(optimizer="vim-nas", epochs=3)
    with pytest.raises(Kill):  # killed after epoch 0's checkpoint
        SearchRun(cfg, tmp_path, progress=die).run()
    SearchRun(cfg, tmp_path).run(resume=True)
    d = tmp_path / cfg.run_id()
    data = json.loads((d / "arch_weights.json").read_text())
    assert [e["epoch"] for e in data["epochs"]] == [0, 1, 2]
    w = torch.tensor(data["epochs"][-1]["weights"]["cell"])
    assert w.shape == (6, 5) and torch.allclose(w.sum(-1), torch.ones(6, dtype=w.dtype))
    assert data["groups"]["cell"][0][:2] == ["none", "skip_connect"]
    assert plot_arch_weights(d, tmp_path / "aw.png").is_file()


def test_resume_refuses_a_run_started_under_other_optimizer_values(tmp_path):
    """A run begun before a preset changed (its config.json records other resolved values) is not continued
    under the new values."""
    from harness.run.runner import RunExistsError

    class Kill(Exception):
        pass

    def die(_line):
        raise Kill

    cfg = _cfg(epochs=2)
    with pytest.raises(Kill):
        SearchRun(cfg, tmp_path, progress=die).run()
    p = tmp_path / cfg.run_id() / "config.json"
    written = json.loads(p.read_text())
    written["resolved"]["optimizer"]["w_weight_decay"] = 3e-4  # what the older preset resolved to
    p.write_text(json.dumps(written))
    with pytest.raises(RunExistsError, match="w_weight_decay"):
        SearchRun(cfg, tmp_path).run(resume=True)
    written["resolved"]["optimizer"]["w_weight_decay"] = cfg.optimizer_values()["w_weight_decay"]
    p.write_text(json.dumps(written))
    assert SearchRun(cfg, tmp_path).run(resume=True)["status"] == "finished"
