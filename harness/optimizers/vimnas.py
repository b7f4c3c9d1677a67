"""VIM-NAS (Wang et al., "Learning Latent Architectural Distribution in Differentiable NAS via
Variational Information Maximization", ICCV 2021).

The architecture distribution is the output of a small CNN ``phi`` applied to a
fixed Gaussian noise map ``epsilon`` (one per weight group / cell type), so
edges are not independent: ``phi`` sees the whole ``[rows, options]`` map
through its 3x3 kernels. A sample is ``A = phi(epsilon) + xi``,
``xi ~ N(0, I)`` (paper Algorithm 1), the supernet mixes with ``softmax(A)``
per row. Per step one ``xi`` is drawn, then

1. the supernet weights ``theta`` take one SGD step on the training batch
   under ``A`` (detached), then
2. ``phi`` takes one Adam step descending the same cross-entropy under the
   same ``A``, on the validation batch at the updated ``theta``
   (``arch_data="valid"``), or on the training batch from the same forward
   pass as the weight step (``arch_data="train"``, single level).

The final architecture is the argmax of ``phi(epsilon)``.

``phi`` is ``ConvReLUBN(3 -> 14) -> ConvReLUBN(14 -> 1)``, kernel 3, padding 1,
on ``epsilon`` shaped ``[1, 3, rows, options]`` (paper). BN normalises with
the statistics of that one fixed input (no running statistics), so
``phi(epsilon)`` is the same in training and when deriving the architecture.

Ablations of the paper as options and as named optimizers: ``vim-nas-p``
(``point_estimate``: no ``xi``, ``A = phi(epsilon)``; VIM-NAS-P of Figure 9),
``vim-nas-dropout`` (``variance="learned"``: ``phi`` has a second output channel
``s`` and ``A = phi(epsilon)_mean + exp(s) o xi``, trained through the same
objective by the reparameterisation; VIM-NAS-Dropout of Figure 9, "a
reformulation of variational dropout NAS with VIM"; **a reconstruction from
that one-line description**: the paper gives no formula and no code exists),
``phi_size`` "small" / "large". The paper names these
ablations without their widths; ours are "small" = one block 3 -> 1,
"large" = five Conv-ReLU-BN blocks (VIM-NAS-L has five) 3 -> 64 -> 64 -> 64 ->
64 -> 1, widths ours. Adam on ``phi`` at lr 0.025: the paper's Figure 6 gives
DARTS "a high learning rate (0.025) and added noise" to imitate VIM-NAS (our
reading of its learning rate); betas (0.5, 0.999) and weight decay 1e-3 are
DARTS's architecture settings (ours), ``arch_data="valid"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harness.optimizers import register_optimizer
from harness.optimizers.base import Batch, OptimizerConfig, SearchOptimizer
from search_spaces import Architecture, SearchSpace
from search_spaces.errors import ConfigError

#: Hidden widths of ``phi`` per ``phi_size``.
PHI_SIZES: dict[str, tuple[int, ...]] = {"small": (), "default": (14,), "large": (64, 64, 64, 64)}


@dataclass(frozen=True)
class VimNasConfig(OptimizerConfig):
    """VIM-NAS settings.

    Attributes:
        arch_lr, arch_betas, arch_weight_decay: Adam on the parameters of ``phi``.
        noise_channels: Channels of ``epsilon`` (paper: 3).
        kernel: Kernel size of ``phi``'s convolutions (paper: 3).
        phi_size: "default" (paper), "small" or "large" (ablations).
        point_estimate: Drop ``xi`` (ablation): ``A = phi(epsilon)``.
        variance: "unit" (``xi ~ N(0, I)``, the paper) or "learned" (``exp(s) o xi`` with ``s`` a second
            output channel of ``phi``: the VIM-NAS-Dropout reconstruction).
        arch_data: "valid" (bilevel) or "train" (``phi`` from the weight step's loss).
    """

    arch_lr: float = 0.025
    arch_betas: tuple[float, float] = (0.5, 0.999)
    arch_weight_decay: float = 1e-3
    noise_channels: int = 3
    kernel: int = 3
    phi_size: str = "default"
    point_estimate: bool = False
    variance: str = "unit"
    arch_data: str = "valid"

    def __post_init__(self) -> None:
        super().__post_init__()
        name = type(self).__name__
        if self.phi_size not in PHI_SIZES:
            raise ConfigError(f"{name}.phi_size must be one of {sorted(PHI_SIZES)}, got {self.phi_size!r}")
        if self.variance not in ("unit", "learned"):
            raise ConfigError(f"{name}.variance must be 'unit' or 'learned', got {self.variance!r}")
        if self.variance == "learned" and self.point_estimate:
            raise ConfigError(f"{name}: a learned variance needs the noise (point_estimate false)")
        if self.arch_data not in ("valid", "train"):
            raise ConfigError(f"{name}.arch_data must be 'valid' or 'train', got {self.arch_data!r}")
        if self.noise_channels < 1 or self.kernel < 1 or self.kernel % 2 == 0:
            raise ConfigError(f"{name}: noise_channels must be >= 1 and kernel odd, got "
                              f"{self.noise_channels}, {self.kernel}")
        if len(self.arch_betas) != 2 or not all(0 <= b < 1 for b in self.arch_betas):
            raise ConfigError(f"{name}.arch_betas must be two values in [0, 1), got {self.arch_betas}")


class ConvReLUBN(nn.Sequential):
    """Conv (stride 1, same padding) -> ReLU -> BN from the current input's statistics.

    ``[1, c_in, rows, options] -> [1, c_out, rows, options]``.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int) -> None:
        super().__init__(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2), nn.ReLU(),
                         nn.BatchNorm2d(c_out, track_running_stats=False))


class LatentArchitecture(nn.Module):
    """``phi`` and the fixed noise ``epsilon`` of every weight group; ``forward()`` gives the means.

    Args:
        space: Provides the groups and their ``[rows, options]`` shapes.
        hidden: Hidden widths of ``phi`` (``(14,)``: the paper's two blocks).
        noise_channels, kernel: Input channels and kernel size.
        generator: Draws ``epsilon``.
    """

    def __init__(self, space: SearchSpace, hidden: tuple[int, ...], noise_channels: int, kernel: int,
                 generator: torch.Generator, outputs: int = 1) -> None:
        super().__init__()
        # ModuleDict keys may not contain "."; index keys keep any group name legal
        self.names = [g.name for g in space.param_groups]
        widths = (noise_channels, *hidden, outputs)
        self.phi = nn.ModuleDict({
            f"g{i}": nn.Sequential(*(ConvReLUBN(a, b, kernel) for a, b in zip(widths[:-1], widths[1:])))
            for i in range(len(self.names))})
        for i, g in enumerate(space.param_groups):
            eps = torch.randn((1, noise_channels, *g.shape), generator=generator, device=generator.device)
            self.register_buffer(f"eps_g{i}", eps)

    def forward(self) -> dict[str, torch.Tensor]:
        """The means ``phi(epsilon)`` (output channel 0): ``[rows, options]`` per group."""
        return {k: v[0] for k, v in self.outputs().items()}

    def outputs(self) -> dict[str, torch.Tensor]:
        """Every output channel of ``phi(epsilon)``: ``[outputs, rows, options]`` per group."""
        return {name: self.phi[f"g{i}"](getattr(self, f"eps_g{i}"))[0] for i, name in enumerate(self.names)}


@register_optimizer("vim-nas")
class VimNas(SearchOptimizer):
    """VIM-NAS: a CNN on fixed noise produces the architecture distribution ``N(phi(eps), I)``."""

    name = "vim-nas"
    config_cls = VimNasConfig
    description = "VIM-NAS: latent architecture distribution from a CNN on noise (Wang et al. 2021)"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        c = self.config
        # phi's init draws from the global RNG: seed it from our generator, restore the global state after
        init_seed = int(torch.randint(0, 2**62, (1,), generator=self.generator, device=self.generator.device))
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(init_seed)
            latent = LatentArchitecture(self.space, PHI_SIZES[c.phi_size], c.noise_channels, c.kernel,
                                        self.generator, outputs=2 if c.variance == "learned" else 1)
        self.latent = latent.to(self.device)
        self.adam = torch.optim.Adam(self.latent.parameters(), lr=c.arch_lr, betas=tuple(c.arch_betas),
                                     weight_decay=c.arch_weight_decay)

    # -- distribution -----------------------------------------------------
    def mix(self, a: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Mixing weights ``softmax(A)`` per row."""
        return {k: torch.softmax(v, dim=-1) for k, v in a.items()}

    def draw_noise(self) -> dict[str, torch.Tensor]:
        """``xi ~ N(0, I)`` per group from the generator (zeros for the point-estimate ablation)."""
        shapes = {g.name: g.shape for g in self.space.param_groups}
        if self.config.point_estimate:
            return {k: torch.zeros(s, device=self.device) for k, s in shapes.items()}
        return {k: torch.randn(s, generator=self.generator, device=self.device) for k, s in shapes.items()}

    def sample_weights(self, xi: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``A = phi(epsilon) + xi`` (unit variance) or ``phi_mean + exp(phi_s) o xi`` (learned), differentiable
        in ``phi``, ``[rows, options]`` per group."""
        if self.config.variance == "learned":
            return {k: o[0] + torch.exp(o[1]) * xi[k] for k, o in self.latent.outputs().items()}
        return {k: m + xi[k] for k, m in self.latent().items()}

    def sigma(self) -> dict[str, torch.Tensor]:
        """The standard deviation of ``A`` per entry (ones for the paper's unit variance)."""
        with torch.no_grad():
            if self.config.variance == "learned":
                return {k: torch.exp(o[1]) for k, o in self.latent.outputs().items()}
            return {k: torch.ones_like(m) for k, m in self.latent().items()}

    # -- protocol ---------------------------------------------------------
    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        xi = self.draw_noise()
        a = self.sample_weights(xi)
        phi_params = list(self.latent.parameters())
        if self.config.arch_data == "train":
            # single level: one loss, its gradient taken in theta and in phi, theta updated first
            logits = self.supernet(train[0], self.mix(a))
            loss = F.cross_entropy(logits, train[1])
            grads = torch.autograd.grad(loss, self.weights.params + phi_params, allow_unused=True)
            self.weights.apply_grads(grads[: len(self.weights.params)])
            self._phi_update(grads[len(self.weights.params):])
            with torch.no_grad():
                logits_v = self.supernet(valid[0], self.mix(self.sample_weights(xi)))
                loss_v = F.cross_entropy(logits_v, valid[1])
        else:
            logits = self.supernet(train[0], {k: v.detach() for k, v in self.mix(a).items()})
            loss = F.cross_entropy(logits, train[1])
            self.weights.step(loss)
            logits_v = self.supernet(valid[0], self.mix(self.sample_weights(xi)))
            loss_v = F.cross_entropy(logits_v, valid[1])
            self._phi_update(torch.autograd.grad(loss_v, phi_params, allow_unused=True))
        return {**self.metrics("train", logits, train[1], loss.detach()),
                **self.metrics("valid", logits_v, valid[1], loss_v.detach())}

    def _phi_update(self, grads) -> None:
        self.adam.zero_grad(set_to_none=True)
        for p, g in zip(self.latent.parameters(), grads):
            p.grad = None if g is None else g.detach()
        self.adam.step()

    def arch_weights(self) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return self.mix(self.latent())

    def arch_parameters(self) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return self.latent()

    def current_architecture(self) -> Architecture:
        return self.space.discretize(self.arch_weights())

    def sample(self, n: int, rng: np.random.Generator) -> list[Architecture]:
        """``discretize(softmax(phi(eps) + xi))``, ``xi ~ N(0, I)`` from ``rng``; categorical
        draws from ``softmax(phi(eps))`` for the point estimate, which has no noise of its own."""
        mean = {k: v.detach().cpu().double() for k, v in self.arch_parameters().items()}
        out = []
        for _ in range(n):
            if self.config.point_estimate:
                w = {}
                for k, m in mean.items():
                    p = torch.softmax(m, -1).numpy()
                    idx = [rng.choice(p.shape[1], p=row / row.sum()) for row in p]
                    w[k] = F.one_hot(torch.tensor(idx), p.shape[1]).double()
            else:
                sig = {k: v.detach().cpu().double() for k, v in self.sigma().items()}
                w = self.mix({k: m + sig[k] * torch.from_numpy(rng.standard_normal(tuple(m.shape)))
                              for k, m in mean.items()})
            out.append(self.space.discretize(w))
        return out

    def extra_state(self) -> dict[str, Any]:
        return {"latent": self.latent.state_dict(), "adam": self.adam.state_dict()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.latent.load_state_dict(state["latent"])
        self.adam.load_state_dict(state["adam"])


@dataclass(frozen=True)
class VimNasPConfig(VimNasConfig):
    point_estimate: bool = True


@dataclass(frozen=True)
class VimNasDropoutConfig(VimNasConfig):
    variance: str = "learned"


@register_optimizer("vim-nas-p")
class VimNasP(VimNas):
    """VIM-NAS-P (Figure 9's ablation): a point estimate, ``A = phi(epsilon)``."""

    name = "vim-nas-p"
    config_cls = VimNasPConfig
    description = "VIM-NAS-P: point estimate of the architecture network (Wang et al. 2021, ablation)"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        if not self.config.point_estimate:
            raise ConfigError("vim-nas-p is the point estimate: point_estimate must stay true")


@register_optimizer("vim-nas-dropout")
class VimNasDropout(VimNas):
    """VIM-NAS-Dropout (Figure 9's ablation, reconstructed): a learned variance, ``A = mu + exp(s) o xi``."""

    name = "vim-nas-dropout"
    config_cls = VimNasDropoutConfig
    description = "VIM-NAS-Dropout: learned variance (reconstruction of Wang et al. 2021's ablation)"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        if self.config.variance != "learned":
            raise ConfigError("vim-nas-dropout learns its variance: variance must stay 'learned'")
