"""Every registered optimizer on every registered space: 2 epochs of a tiny supernet."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from harness.optimizers import create_optimizer, list_optimizers, supernet_overrides
from harness.optimizers.parts.samplers import gumbel_softmax_hard, linear_tau
from harness.run.config import RunConfig
from harness.run.runner import SearchRun
from search_spaces import SupernetConfig, get_space, list_spaces

TINY = {"nb201": dict(channels=4, depth=1)}
TINY_DEFAULT = dict(channels=4, depth=3)


def _small(optimizer: str, n: int) -> dict:
    """Overrides that keep a test run small: few candidates, a short ENAS controller epoch, PC-DARTS K = 2,
    few BaLeNAS-TF draws."""
    if optimizer == "enas":
        return {"n_candidates": n, "n_candidates_epoch": n, "controller_train_steps": 2,
                "controller_num_aggregate": 2}
    if optimizer in ("rsws", "setn", "oneshot", "nsa"):
        return {"n_candidates": n}
    if optimizer == "pc-darts":
        return {"partial_channels": 2, "warmup_epochs": 1}
    if optimizer == "balenas-tf":  # the paper's 100 proxy-scored draws per selection: 2 minutes on randwire
        return {"tf_samples": n}
    return {}


def _tiny(space: str) -> dict:
    return TINY.get(space, TINY_DEFAULT if not space.startswith("nb1shot1") else dict(channels=4, depth=1))


@pytest.mark.parametrize("optimizer", list_optimizers())
def test_optimizer_on_real_cifar(optimizer, cifar10_dir, tmp_path):
    cfg = RunConfig(space="nb201", dataset="cifar10", data_dir=str(cifar10_dir), benchmark="none",
                    optimizer=optimizer, epochs=2, batch_size=32, subset=160, channels=4, depth=1,
                    select_batch_size=32, optimizer_config=_small(optimizer, 5))
    final = SearchRun(cfg, tmp_path).run()
    assert final["status"] == "finished" and final["epochs_completed"] == 2
    traj = pd.read_csv(tmp_path / cfg.run_id() / "trajectory.csv")
    assert list(traj["epoch"]) == [0, 1]
    space = get_space("nb201")
    for s in traj["arch"]:
        space.from_str(s)
    # ENAS's weight steps see no validation batch (its controller trains after the epoch)
    cols = ["train_loss", "train_acc"] + ([] if optimizer == "enas" else ["valid_loss", "valid_acc"])
    assert np.isfinite(traj[cols].to_numpy()).all()


@pytest.mark.parametrize("space_name", list_spaces())
@pytest.mark.parametrize("optimizer", list_optimizers())
def test_every_optimizer_on_every_space(space_name, optimizer):
    space = get_space(space_name)
    over = _small(optimizer, 3)
    cfg = space.default_config().with_overrides(num_classes=3, in_channels=1, input_size=8, **_tiny(space_name),
                                                **supernet_overrides(optimizer, over))
    torch.manual_seed(0)
    net = space.build_supernet(cfg)
    opt = create_optimizer(optimizer, space, net, over, epochs=2, steps_per_epoch=2, seed=0)
    g = torch.Generator().manual_seed(0)
    batch = lambda: (torch.randn(8, 1, 8, 8, generator=g), torch.randint(0, 3, (8,), generator=g))  # noqa: E731
    for epoch in range(2):
        opt.on_epoch_start(epoch)
        for _ in range(2):
            out = opt.step(batch(), batch())
            assert all(torch.isfinite(v).all() for v in out.values())
        opt.on_epoch_end(epoch)
        arch = opt.select([batch()])
        space.check(arch)
        space.to_str(arch)
    for a in opt.sample(3, np.random.default_rng(0)):
        space.check(a)


def test_gdas_samples_are_one_hot_with_softmax_gradient():
    logits = torch.randn(6, 5, requires_grad=True)
    w, idx = gumbel_softmax_hard(logits, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(w.detach(), torch.nn.functional.one_hot(idx, 5).float())
    (w * torch.arange(5.0)).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_gdas_tau_schedule_is_linear_from_10_to_0_1():
    taus = [linear_tau(e, 50, 10.0, 0.1) for e in range(50)]
    assert taus[0] == 10.0 and math.isclose(taus[-1], 0.1)
    steps = np.diff(taus)
    np.testing.assert_allclose(steps, steps[0])
    assert math.isclose(steps[0], -9.9 / 49)


def test_step_returns_device_tensors_only():
    space = get_space("nb201")
    net = space.build_supernet(SupernetConfig(channels=4, depth=1, in_channels=1, input_size=8, num_classes=3))
    opt = create_optimizer("darts", space, net, epochs=1, steps_per_epoch=1, seed=0)
    opt.on_epoch_start(0)
    b = (torch.randn(4, 1, 8, 8), torch.randint(0, 3, (4,)))
    out = opt.step(b, b)
    assert all(isinstance(v, torch.Tensor) and v.dim() == 0 for v in out.values())


@pytest.mark.parametrize("optimizer", list_optimizers())
def test_state_round_trips_through_the_weights_only_checkpoint_loader(optimizer, tmp_path):
    """Every optimizer's state, after a step, an epoch end and a selection, is made of what
    ``torch.load(weights_only=True)`` accepts, and loads back into a fresh optimizer."""
    from harness.optimizers.parts.candidates import SelectionBatches
    from harness.run.checkpoint import load_checkpoint, save_checkpoint

    space = get_space("nb201")
    over = _small(optimizer, 2)
    cfg = space.default_config().with_overrides(num_classes=3, in_channels=1, input_size=8, channels=4, depth=1,
                                                **supernet_overrides(optimizer, over))

    def make():
        torch.manual_seed(0)
        return create_optimizer(optimizer, space, space.build_supernet(cfg), over, epochs=2, steps_per_epoch=1,
                                seed=0)

    opt = make()
    g = torch.Generator().manual_seed(0)
    batch = lambda: (torch.randn(8, 1, 8, 8, generator=g), torch.randint(0, 3, (8,), generator=g))  # noqa: E731
    opt.on_epoch_start(0)
    opt.step(batch(), batch())
    opt.on_epoch_end(0)
    opt.select(SelectionBatches([batch()]))
    save_checkpoint(tmp_path / "c.pt", {"optimizer": opt.state_dict()})
    fresh = make()
    fresh.load_state_dict(load_checkpoint(tmp_path / "c.pt")["optimizer"])
    assert fresh.current_architecture() == opt.current_architecture()


def test_gdas_sample_of_only_none_ops_steps_with_zero_gradient():
    # S5 under the embedded preset runs only the sampled op: an all-`none` sample leaves alpha out of
    # the graph; officially the ops still run (x * 0), so the gradient is zero and Adam steps on
    space = get_space("s5")
    torch.manual_seed(0)
    net = space.build_supernet(SupernetConfig(channels=4, depth=3, num_classes=3, in_channels=1, input_size=8))
    opt = create_optimizer("gdas", space, net, {"unselected_terms": False}, epochs=1, steps_per_epoch=1, seed=0)
    with torch.no_grad():
        opt.alpha.tensors()["cell"].copy_(torch.tensor([[50.0, -50.0, -50.0]] * 4))  # `none` always
    opt.on_epoch_start(0)
    batch = (torch.randn(4, 1, 8, 8), torch.randint(0, 3, (4,)))
    out = opt.step(batch, batch)
    assert torch.isfinite(out["train_loss"])
