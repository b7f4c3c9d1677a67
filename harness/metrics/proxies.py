"""Zero-cost (training-free) proxies: SNIP, GraSP, SynFlow.

Each proxy scores a freshly initialised network; higher is better. Sums run
over the weights of the convolution and linear layers (biases and BN
parameters are left out, the convention of the zero-cost proxy literature).

- SNIP (Lee et al., 2019): ``sum |theta o dL/dtheta|`` with the cross-entropy
  ``L`` of one batch.
- GraSP (Wang et al., 2020): ``sum -theta o (H g)`` with ``g = dL/dtheta`` and
  the Hessian-gradient product ``H g = d(g_stop . g)/dtheta`` (double backward).
- SynFlow (Tanaka et al., 2020), data-free: every parameter replaced by its
  absolute value, BN layers removed (as the zero-cost SynFlow does: on an
  all-ones input BN would only rescale), an all-ones input ``[1, *shape]``,
  ``R = sum(f(1))`` and ``sum theta o dR/dtheta``. The network runs in float64:
  ``R`` is a product of weights along every path and overflows float32 on
  full-size NB-201 networks.

``score_architecture`` builds the discrete network of an architecture with a
fixed seed (``space.build_network``), so a (space, arch, config, seed, batch)
tuple always gets the same score. ``proxy_search`` is the stand-alone
baseline (sample N random architectures, keep the best by proxy);
``spearman`` / ``proxy_correlation`` measure agreement with ground truth.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from search_spaces import Architecture, SearchSpace, SupernetConfig
from search_spaces.errors import ConfigError

PROXIES: tuple[str, ...] = ("snip", "grasp", "synflow")
#: Proxies that need a labelled batch (SynFlow needs only the input shape).
DATA_PROXIES: frozenset[str] = frozenset({"snip", "grasp"})

Batch = tuple[torch.Tensor, torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
_WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def scored_weights(net: nn.Module) -> list[nn.Parameter]:
    """The weights the proxies sum over: ``weight`` of every conv / linear layer, in module order."""
    return [m.weight for m in net.modules() if isinstance(m, _WEIGHTED) and m.weight.requires_grad]


def _logits(out: torch.Tensor | tuple[torch.Tensor, ...]) -> torch.Tensor:
    # DARTS evaluation networks may return (logits, aux) in training mode
    return out[0] if isinstance(out, tuple) else out


def snip(net: nn.Module, batch: Batch, loss_fn: LossFn = F.cross_entropy) -> float:
    """SNIP saliency ``sum |theta o dL/dtheta|`` of ``net`` on ``batch`` (``x [B, ...]``, ``y [B]``)."""
    params = scored_weights(net)
    net.train()
    loss = loss_fn(_logits(net(batch[0])), batch[1])
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return float(sum((p.detach() * g).abs().sum() for p, g in zip(params, grads) if g is not None))


def grasp(net: nn.Module, batch: Batch, loss_fn: LossFn = F.cross_entropy) -> float:
    """GraSP ``sum -theta o (H g)`` of ``net`` on ``batch``, ``H`` the Hessian of the loss in the weights."""
    params = scored_weights(net)
    net.train()
    loss = loss_fn(_logits(net(batch[0])), batch[1])
    grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
    used = [(p, g) for p, g in zip(params, grads) if g is not None]
    if not used:
        return 0.0
    # d/dtheta (stopgrad(g) . g(theta)) = H stopgrad(g): one Hessian-vector product
    z = sum((g.detach() * g).sum() for _, g in used)
    hg = torch.autograd.grad(z, [p for p, _ in used], allow_unused=True)
    return float(sum(-(p.detach() * h).sum() for (p, _), h in zip(used, hg) if h is not None))


def _strip_batchnorm(net: nn.Module) -> None:
    """Replace every BN layer of ``net`` by the identity, in place."""
    for name, child in list(net.named_children()):
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(net, name, nn.Identity())
        else:
            _strip_batchnorm(child)


def synflow(net: nn.Module, input_shape: Sequence[int], inplace: bool = False) -> float:
    """SynFlow ``sum theta o dR/dtheta`` on ``|theta|`` and an all-ones float64 input ``[1, *input_shape]``.

    Works on a copy, so ``net`` keeps its signs, dtype and BN layers, unless ``inplace``
    (for throw-away networks: the copy costs more than the score on small networks).
    """
    work = net if inplace else copy.deepcopy(net)
    _strip_batchnorm(work)
    work.double().eval()
    with torch.no_grad():
        for p in work.parameters():
            p.abs_()
    params = scored_weights(work)
    device = params[0].device if params else torch.device("cpu")
    ones = torch.ones((1, *input_shape), dtype=torch.float64, device=device)
    r = _logits(work(ones)).sum()
    grads = torch.autograd.grad(r, params, allow_unused=True)
    return float(sum((p.detach() * g).sum() for p, g in zip(params, grads) if g is not None))


def compute_proxy(name: str, net: nn.Module, batch: Batch | None = None, *,
                  input_shape: Sequence[int] | None = None, loss_fn: LossFn = F.cross_entropy,
                  inplace: bool = False) -> float:
    """Score ``net`` with proxy ``name`` (one of ``PROXIES``).

    Args:
        batch: Needed by SNIP and GraSP; SynFlow takes its input shape from it when ``input_shape`` is None.
        input_shape: Per-example input shape for SynFlow (e.g. ``(3, 32, 32)``).
        inplace: Let SynFlow modify ``net`` instead of a copy.
    """
    if name not in PROXIES:
        raise ConfigError(f"unknown proxy {name!r} (known: {', '.join(PROXIES)})")
    if name == "synflow":
        if input_shape is None:
            if batch is None:
                raise ConfigError("synflow needs an input shape or a batch")
            input_shape = tuple(batch[0].shape[1:])
        return synflow(net, input_shape, inplace=inplace)
    if batch is None:
        raise ConfigError(f"proxy {name!r} needs a labelled batch")
    return snip(net, batch, loss_fn) if name == "snip" else grasp(net, batch, loss_fn)


def build_seeded(space: SearchSpace, arch: Architecture, config: SupernetConfig, seed: int,
                 device: torch.device | str = "cpu") -> nn.Module:
    """``space.build_network(arch, config)`` initialised from ``seed``; the global RNG is left untouched."""
    # the CPU generator only: the network is built on the CPU, and CUDA streams stay untouched
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        net = space.build_network(arch, config)
    return net.to(device)


def score_architecture(space: SearchSpace, arch: Architecture, proxy: str, batch: Batch | None,
                       config: SupernetConfig, *, seed: int = 0, device: torch.device | str = "cpu") -> float:
    """Proxy score of the discrete network of ``arch`` (reproducible for fixed seed and batch)."""
    net = build_seeded(space, arch, config, seed, device)
    shape = (config.in_channels, config.input_size, config.input_size)
    if batch is not None:
        batch = (batch[0].to(device), batch[1].to(device))
    return compute_proxy(proxy, net, batch, input_shape=shape, inplace=True)


def score_architectures(space: SearchSpace, archs: Sequence[Architecture], proxy: str, batch: Batch | None,
                        config: SupernetConfig, *, seed: int = 0,
                        device: torch.device | str = "cpu") -> np.ndarray:
    """Scores ``[len(archs)]`` (float64); duplicates are scored once."""
    cache: dict[Architecture, float] = {}
    for a in archs:
        if a not in cache:
            cache[a] = score_architecture(space, a, proxy, batch, config, seed=seed, device=device)
    return np.array([cache[a] for a in archs], dtype=np.float64)


@dataclass(frozen=True)
class ProxySearchResult:
    """Outcome of ``proxy_search``: the pick, and every sampled architecture with its score."""

    best: Architecture
    archs: tuple[Architecture, ...]
    scores: np.ndarray


def pick_best(archs: Sequence[Architecture], scores: np.ndarray) -> Architecture:
    """Highest finite score; ties (and all-NaN) go to the earliest architecture."""
    s = np.where(np.isfinite(scores), scores, -np.inf)
    return archs[int(np.argmax(s))]


def proxy_search(space: SearchSpace, proxy: str, n: int, batch: Batch | None, config: SupernetConfig, *,
                 seed: int = 0, device: torch.device | str = "cpu") -> ProxySearchResult:
    """Baseline: ``n`` architectures drawn uniformly (numpy seed ``seed``), the best by ``proxy``."""
    if n < 1:
        raise ConfigError(f"proxy_search: n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    archs = tuple(space.sample(rng) for _ in range(n))
    scores = score_architectures(space, archs, proxy, batch, config, seed=seed, device=device)
    return ProxySearchResult(pick_best(archs, scores), archs, scores)


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman rank correlation (average ranks for ties) of two equal-length sequences."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"spearman needs two 1-D sequences of equal length >= 2, got {a.shape} and {b.shape}")
    from scipy import stats  # here: importing scipy.stats costs more than torch's registries (harness list)

    return float(stats.spearmanr(a, b).statistic)


def proxy_correlation(space: SearchSpace, archs: Sequence[Architecture], truth: Sequence[float], proxy: str,
                      batch: Batch | None, config: SupernetConfig, *, seed: int = 0,
                      device: torch.device | str = "cpu") -> tuple[float, np.ndarray]:
    """``(spearman(scores, truth), scores)`` of ``proxy`` over ``archs``."""
    scores = score_architectures(space, archs, proxy, batch, config, seed=seed, device=device)
    return spearman(scores, truth), scores
