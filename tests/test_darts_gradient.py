"""The DARTS second-order gradient equals a brute-force finite difference of the unrolled loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from harness.optimizers.parts import darts_grad


class ToySupernet(torch.nn.Module):
    """Two edges mixing three ops of a tiny MLP: enough to exercise alpha-w coupling."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.lin = torch.nn.ParameterList([torch.nn.Parameter(0.5 * torch.randn(5, 5, generator=g, dtype=torch.float64))
                                           for _ in range(3)])
        self.head = torch.nn.Parameter(0.5 * torch.randn(5, 3, generator=g, dtype=torch.float64))

    def forward(self, x, weights):
        w = weights["cell"]
        h = x
        for e in range(2):
            h = sum(w[e, k] * torch.tanh(h @ self.lin[k]) for k in range(3))
        return h @ self.head


@pytest.mark.parametrize("momentum, weight_decay, with_buffers", [
    (0.0, 0.0, False),  # the paper's w - xi grad_w L_train
    (0.9, 3e-2, True),  # the weight optimizer's step; buffers on some weights only
])
def test_second_order_matches_brute_force(momentum, weight_decay, with_buffers):
    torch.manual_seed(0)
    net = ToySupernet()
    xt, yt = torch.randn(16, 5, dtype=torch.float64), torch.randint(0, 3, (16,))
    xv, yv = torch.randn(16, 5, dtype=torch.float64), torch.randint(0, 3, (16,))
    alpha = {"cell": torch.randn(2, 3, dtype=torch.float64, requires_grad=True)}
    mix = lambda a: {k: torch.softmax(v, -1) for k, v in a.items()}  # noqa: E731
    loss_fn = darts_grad.cross_entropy_loss(net, mix)
    params = list(net.parameters())
    buffers = [torch.randn_like(p) if with_buffers and i % 2 == 0 else None for i, p in enumerate(params)]
    xi = 0.1
    _, _, g = darts_grad.second_order(loss_fn, alpha, params, (xt, yt), (xv, yv), xi=xi, momentum=momentum,
                                      weight_decay=weight_decay, momentum_buffers=buffers)

    def unrolled_val_loss(a: torch.Tensor) -> torch.Tensor:
        # L_val(w - xi * (grad_w L_train(w, a) + wd w + momentum m), a), differentiated by brute force below
        lt = F.cross_entropy(net(xt, mix({"cell": a})), yt)
        gw = torch.autograd.grad(lt, params)
        w2 = [p - xi * (d + weight_decay * p + (0.0 if m is None else momentum * m))
              for p, d, m in zip(params, gw, buffers)]
        saved = [p.detach().clone() for p in params]
        with torch.no_grad():
            for p, v in zip(params, w2):
                p.copy_(v)
        lv = F.cross_entropy(net(xv, mix({"cell": a})), yv)
        with torch.no_grad():
            for p, v in zip(params, saved):
                p.copy_(v)
        return lv.detach()

    a0 = alpha["cell"].detach()
    h = 1e-5
    brute = torch.zeros_like(a0)
    for i in range(a0.numel()):
        d = torch.zeros_like(a0).view(-1)
        d[i] = h
        d = d.view_as(a0)
        brute.view(-1)[i] = (unrolled_val_loss(a0 + d) - unrolled_val_loss(a0 - d)) / (2 * h)
    torch.testing.assert_close(g["cell"], brute, rtol=1e-4, atol=1e-7)
    # and it differs from the first-order gradient, so the test is not vacuous
    _, _, g1 = darts_grad.first_order(loss_fn, alpha, (xv, yv))
    assert (g1["cell"] - brute).abs().max() > 1e-4


def test_weights_restored_after_unrolling():
    net = ToySupernet()
    before = [p.detach().clone() for p in net.parameters()]
    alpha = {"cell": torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)}
    batch = (torch.randn(4, 5, dtype=torch.float64), torch.randint(0, 3, (4,)))
    loss_fn = darts_grad.cross_entropy_loss(net, lambda a: {k: torch.softmax(v, -1) for k, v in a.items()})
    darts_grad.second_order(loss_fn, alpha, list(net.parameters()), batch, batch, 0.05, 0.9, 3e-4,
                            [torch.ones_like(p) for p in net.parameters()])
    for a, b in zip(before, net.parameters()):
        torch.testing.assert_close(a, b.detach(), rtol=0, atol=0)


def test_reference_gradients_mode_computes_weight_gradients_and_the_same_arch_gradient():
    """``harness bench``'s eager reference: the weights' gradients are computed too; the result is unchanged."""
    net = ToySupernet()
    loss_fn = darts_grad.cross_entropy_loss(net, lambda a: {k: torch.softmax(v, -1) for k, v in a.items()})
    g = torch.Generator().manual_seed(1)
    alpha = {"cell": torch.randn(2, 3, generator=g, dtype=torch.float64, requires_grad=True)}
    batch = (torch.randn(6, 5, generator=g, dtype=torch.float64), torch.randint(0, 3, (6,), generator=g))
    computed = []
    hook = net.head.register_hook(lambda grad: computed.append(grad))
    _, _, plain = darts_grad.first_order(loss_fn, alpha, batch)
    assert computed == []  # architecture-only: no weight gradient is formed
    with darts_grad.reference_gradients(net.parameters()):
        _, _, ref = darts_grad.first_order(loss_fn, alpha, batch)
    hook.remove()
    assert len(computed) == 1
    torch.testing.assert_close(ref["cell"], plain["cell"], rtol=0, atol=0)
    _, _, after = darts_grad.first_order(loss_fn, alpha, batch)  # the mode ends with its context
    assert len(computed) == 1 and torch.equal(after["cell"], plain["cell"])
