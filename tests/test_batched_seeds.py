"""K seeds trained batched (``harness.run.batched_seeds``) equal K separate ``darts`` runs."""

from __future__ import annotations

import copy

import pytest
import torch

from harness.optimizers import create_optimizer, make_config
from harness.run.batched_seeds import BatchedDarts
from search_spaces import get_space
from search_spaces.errors import ConfigError

SEEDS = [0, 1, 5]
STEPS, EPOCHS, STEPS_PER_EPOCH = 3, 4, 2
TOL = dict(atol=1e-5, rtol=1e-4)


def _setup(name: str = "nb201"):
    """NB-201 (fused mixed op) or S1 (DARTS cell: depthwise convs, factorized reduce) at a tiny size."""
    space = get_space(name)
    cfg = space.default_config().with_overrides(channels=4, depth=1 if name == "nb201" else 3, num_classes=10,
                                                in_channels=3, input_size=8)
    return space, cfg


def _batches(k: int, n: int) -> list[tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]]:
    """``n`` (train, valid) pairs, each ``(x [k, 8, 3, 8, 8], y [k, 8])``: a different batch per seed."""
    g = torch.Generator().manual_seed(123)
    mk = lambda: (torch.randn(k, 8, 3, 8, 8, generator=g), torch.randint(0, 10, (k, 8), generator=g))  # noqa: E731
    return [(mk(), mk()) for _ in range(n)]


@pytest.fixture(scope="module", params=[("nb201", "arch-first"), ("nb201", "weights-first"), ("s1", "arch-first")])
def trained(request):
    """Batched and separate runs, 3 steps crossing an epoch boundary (so the lr schedule is exercised);
    both step orders (DARTS's architecture first, AutoDL DARTS-V1's weights first)."""
    name, order = request.param
    space, cfg = _setup(name)
    # weights first: the NB-201 preset of darts (AutoDL DARTS-V1 order, Nesterov, weight decay 5e-4)
    over = {"step_order": order} if order == "arch-first" else \
        {"step_order": order, "w_nesterov": True, "w_weight_decay": 5e-4}
    data = _batches(len(SEEDS), STEPS)
    batched = BatchedDarts(space, cfg, SEEDS, make_config("darts", over), epochs=EPOCHS,
                           steps_per_epoch=STEPS_PER_EPOCH)
    separate = []
    for s in SEEDS:
        torch.manual_seed(s)
        net = space.build_supernet(cfg)
        separate.append(create_optimizer("darts", space, net, over, epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH,
                                         seed=s))
    init = (batched.unstack(), [({k: v.clone() for k, v in o.supernet.state_dict().items()},
                                 {k: v.detach().clone() for k, v in o.alpha.tensors().items()}) for o in separate])
    b_metrics, s_metrics = [], []
    for i, (train, valid) in enumerate(data):
        if i % STEPS_PER_EPOCH == 0:
            batched.on_epoch_start(i // STEPS_PER_EPOCH)
            for o in separate:
                o.on_epoch_start(i // STEPS_PER_EPOCH)
        b_metrics.append(batched.step(train, valid))
        s_metrics.append([o.step((train[0][k], train[1][k]), (valid[0][k], valid[1][k]))
                          for k, o in enumerate(separate)])
    return batched, separate, init, b_metrics, s_metrics


def test_initialisation_matches_separate_runs(trained):
    b_init, s_init = trained[2]
    for b, (sd, alpha) in zip(b_init, s_init):
        assert b.supernet.keys() == sd.keys()
        for k in sd:
            torch.testing.assert_close(b.supernet[k], sd[k], atol=0, rtol=0)
        for g in alpha:
            torch.testing.assert_close(b.alpha[g], alpha[g], atol=0, rtol=0)
    # the seeds really differ (otherwise the equality below would prove little)
    group = next(iter(b_init[0].alpha))
    assert not torch.equal(b_init[0].alpha[group], b_init[1].alpha[group])


def test_three_steps_equal_separate_runs(trained):
    batched, separate, _, _, _ = trained
    for st, opt in zip(batched.unstack(), separate):
        for g, a in opt.alpha.tensors().items():
            torch.testing.assert_close(st.alpha[g], a.detach(), **TOL)
        sd = opt.supernet.state_dict()
        assert st.supernet.keys() == sd.keys()
        for k, v in sd.items():
            torch.testing.assert_close(st.supernet[k], v, **TOL, msg=lambda m, k=k: f"{k}: {m}")
    assert [str(a) for a in batched.current_architectures()] == [str(o.current_architecture()) for o in separate]


def test_metrics_are_per_seed(trained):
    _, _, _, b_metrics, s_metrics = trained
    for bm, sm in zip(b_metrics, s_metrics):
        for key, v in bm.items():
            assert v.shape == (len(SEEDS),)
            torch.testing.assert_close(v, torch.stack([m[key] for m in sm]), **TOL)


def test_state_loads_into_a_supernet(trained):
    net = copy.deepcopy(trained[1][1].supernet)  # a supernet of the same config
    net.load_state_dict(trained[0].unstack()[1].supernet)  # strict: same keys and shapes


def test_rejects_second_order_and_wrong_stack():
    space, cfg = _setup()
    with pytest.raises(ConfigError):
        BatchedDarts(space, cfg, [0], make_config("darts-2nd"))
    b = BatchedDarts(space, cfg, [0, 1])
    train, valid = _batches(3, 1)[0]
    with pytest.raises(ValueError, match="expected 2"):
        b.step(train, valid)
