"""Every registered space's supernet: the fused mixed ops equal the per-op loop (``set_fused(False)``).

Values, gradients with respect to the mixing weights and every parameter, and
the BN running statistics, in float64, for shared and per-example weights and
for the BN settings the optimizers use (batch statistics without affine
parameters, the search default) and the others a user may set.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from search_spaces import get_space, list_spaces

BN_SETTINGS = [(False, False), (True, False), (True, True)]  # (track_running_stats, affine)


def _net(name: str, track: bool, affine: bool):
    space = get_space(name)
    cfg = space.default_config().with_overrides(
        channels=4, depth=1 if name.startswith("nb") else 3, input_size=16, in_channels=3, num_classes=10,
        track_running_stats=track, affine=affine)
    torch.manual_seed(0)
    return space, space.build_supernet(cfg).double()


def _weights(space, batch: int | None, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    lead = () if batch is None else (batch,)
    return {k: torch.softmax(torch.randn(*lead, *v.shape, generator=g, dtype=torch.float64), -1).requires_grad_()
            for k, v in space.zeros().items()}


def _run(net, x, w, fused: bool):
    net.set_fused(fused)
    torch.manual_seed(1)  # S4's noise op: both paths must draw the same numbers
    y = net(x, w)
    params = [p for p in net.parameters()]
    grads = torch.autograd.grad(y.square().sum(), [*w.values(), *params], allow_unused=True)
    grads = [torch.zeros_like(t) if g is None else g for g, t in zip(grads, [*w.values(), *params])]
    return y, grads, [b.clone() for b in net.buffers()]


#: Spaces whose supernet has a fused path besides the per-op loop (randwire has one path only).
FUSED_SPACES = [n for n in list_spaces() if hasattr(_net(n, False, False)[1], "set_fused")]


@pytest.mark.parametrize("track,affine", BN_SETTINGS)
@pytest.mark.parametrize("name", FUSED_SPACES)
def test_fused_equals_loop(name, track, affine):
    space, net = _net(name, track, affine)
    x = torch.randn(4, 3, 16, 16, dtype=torch.float64)
    for per_example in (False, True):
        w = _weights(space, 4 if per_example else None, seed=2)
        state = {k: v.clone() for k, v in net.state_dict().items()}
        fused = _run(net, x, w, True)
        net.load_state_dict(state)
        loop = _run(net, x, w, False)
        torch.testing.assert_close(fused[0], loop[0], rtol=1e-9, atol=1e-10)
        for a, b in zip(fused[1], loop[1]):
            torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-10)
        for a, b in zip(fused[2], loop[2]):  # running statistics move alike
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", FUSED_SPACES)
def test_fused_equals_loop_in_eval_mode(name):
    space, net = _net(name, True, False)
    x = torch.randn(4, 3, 16, 16, dtype=torch.float64)
    net.train()
    with torch.no_grad():
        net(x, _weights(space, None, seed=3))  # move running statistics off their init
    net.eval()
    w = _weights(space, None, seed=4)
    outs = []
    for fused in (True, False):
        net.set_fused(fused)
        torch.manual_seed(1)
        outs.append(net(x, w))
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name", [n for n in list_spaces() if getattr(_net(n, False, False)[1], "supports_active", False)])
def test_fused_active_path_equals_loop(name):
    space, net = _net(name, False, False)
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    rng = np.random.default_rng(0)
    for _ in range(3):
        arch = space.sample(rng)
        w = {k: v.double() for k, v in space.one_hot(arch).items()}
        active = space.active_indices(arch)
        outs = []
        for fused in (True, False):
            net.set_fused(fused)
            torch.manual_seed(1)
            outs.append(net(x, w, active=active))
        torch.testing.assert_close(outs[0], outs[1], rtol=1e-9, atol=1e-10)
