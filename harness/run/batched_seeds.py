"""Several seeds of one supernet trained in lock-step in one process (DARTS first order).

A K-seed table normally costs K separate runs. Here the K supernets' parameters
and buffers are stacked along a new leading dim (``torch.func.stack_module_state``)
and one ``torch.func.functional_call`` of a single meta-device copy of the
supernet is ``vmap``-ed over the stack, the K architecture-logit tensors and
K data batches. PyTorch's batching rules turn the K convolutions into one
grouped convolution and the K batch norms into one, so each layer is one
kernel launch for all seeds instead of K.

Each step is exactly the step of ``harness.optimizers.darts.Darts`` with
``order=1``: an Adam step on the logits from the validation batch
(``grad_alpha L_val(w, alpha)``), then an SGD step (momentum, weight decay,
grad-norm clipping) on the weights from the training batch under the updated,
detached ``softmax(alpha)``. Why it is the same computation per seed:

- Gradients: one ``autograd.grad`` of the SUM of the K per-seed losses. Seed
  k's loss depends only on slice k of every stacked tensor, so the gradient
  of the sum restricted to slice k is seed k's own gradient.
- Adam and SGD (momentum, weight decay, Nesterov) are element-wise, so the
  stock ``torch.optim`` classes on stacked tensors update every slice exactly
  as they would update that seed alone (same hyperparameters, same step count).
- Gradient clipping is not element-wise (one norm over all of a seed's
  weights): it is redone per seed, the norm reduced over every dim but the
  seed dim, with ``clip_grad_norm_``'s formula ``min(1, max / (norm + 1e-6))``.
- Buffers: the search cells' BN has no affine parameters and no running
  statistics by default, but the stem, the ResNet reduction blocks and the
  last BN of the NB-201 skeleton are affine and do track running statistics.
  They are stacked like the parameters; under ``vmap`` the in-place running
  average updates of ``F.batch_norm`` write into each seed's own slice
  (no workaround needed, as with per-seed buffers ``vmap`` has a batching rule
  for the in-place update).
- Initialisation: seed k's supernet is built after ``torch.manual_seed(k)``
  and its logits come from a generator seeded ``k + GENERATOR_OFFSET``, exactly as
  ``harness.run.runner`` and ``SearchOptimizer`` do for a separate run.

Nothing in the supernets needed a workaround: the fused mixed ops have only
shape-static control flow, and their ``w.dim()`` test sees the per-seed
``[rows, options]`` weights as unbatched, so the weights fold into BN as in a
separate run. NB-201 and S1 (DARTS cell: grouped depthwise convolutions, a
custom autograd function with a generated vmap rule) are tested. A forward
that draws random numbers (S4's ``noise``) is refused by ``vmap``.

Limitations: first order only (the unrolled second-order gradient mutates
the weights in place around three extra backward passes; not done here),
no ``active`` (sparse) path, and a parameter unused by the forward gets a
``None`` gradient and no update, as in ``WeightTrainer``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap

from harness.optimizers.base import GENERATOR_OFFSET
from harness.optimizers.darts import DartsConfig
from harness.optimizers.parts.arch_params import ArchParameters
from harness.optimizers.parts.weights import cosine_lr
from search_spaces import Architecture, SearchSpace, SupernetConfig
from search_spaces.errors import ConfigError

#: ``(x [K, B, C, H, W], y [K, B])``: one batch per seed, stacked.
StackedBatch = tuple[torch.Tensor, torch.Tensor]


@dataclass
class SeedState:
    """One seed's state after ``BatchedDarts.unstack``.

    Attributes:
        seed: The seed.
        supernet: ``state_dict``-compatible parameters and buffers (each without the seed dim).
        alpha: Architecture logits per group, ``[rows, options]``.
    """

    seed: int
    supernet: dict[str, torch.Tensor]
    alpha: dict[str, torch.Tensor]


class BatchedDarts:
    """K seeds of first-order DARTS on one supernet config, stepped together.

    Args:
        space: The search space (its supernet must run under ``vmap``; NB-201 and S1 are tested).
        supernet_config: Config of every seed's supernet.
        seeds: One seed per copy; ``K = len(seeds)``.
        darts_config: Hyperparameters (default ``DartsConfig()``, ``order`` must be 1).
        epochs, steps_per_epoch: As for ``create_optimizer`` (the cosine schedule uses ``epochs``).
        device: Where the stacked state lives.
        supernets: The seeds' already built supernets (their state is copied into the stack);
            None builds them, seed ``k``'s after ``torch.manual_seed(k)``.

    Building the supernets reseeds torch's global RNG (``torch.manual_seed(seed)`` per seed), as a run does.
    """

    def __init__(self, space: SearchSpace, supernet_config: SupernetConfig, seeds: Sequence[int],
                 darts_config: DartsConfig | None = None, *, epochs: int = 1, steps_per_epoch: int = 1,
                 device: torch.device | str = "cpu", supernets: Sequence[torch.nn.Module] | None = None) -> None:
        c = darts_config if darts_config is not None else DartsConfig()
        if c.order != 1:
            raise ConfigError(f"BatchedDarts implements first-order DARTS only, got order={c.order}")
        if not seeds:
            raise ConfigError("BatchedDarts needs at least one seed")
        self.space, self.config, self.seeds = space, c, list(seeds)
        self.epochs, self.steps_per_epoch = epochs, steps_per_epoch
        self.device = torch.device(device)
        if supernets is not None and len(supernets) != len(self.seeds):
            raise ConfigError(f"{len(supernets)} supernets for {len(self.seeds)} seeds")
        nets, alphas = list(supernets or []), []
        for s in self.seeds:
            if supernets is None:
                torch.manual_seed(s)
                nets.append(space.build_supernet(supernet_config).to(self.device))
            gen = torch.Generator(device=self.device).manual_seed(s + GENERATOR_OFFSET)
            alphas.append(ArchParameters(space, c.init_std, gen, self.device).tensors())
        self.params, self.buffers = stack_module_state(nets)
        # WeightTrainer's rule: SGD updates the parameters that require grad
        self.trainable = [p for p in self.params.values() if p.requires_grad]
        self.alpha = {k: torch.stack([a[k].detach() for a in alphas]).requires_grad_(True) for k in alphas[0]}
        # a parameter-free skeleton: functional_call supplies every tensor
        self._base = copy.deepcopy(nets[0]).to("meta")
        self._state_keys = list(nets[0].state_dict().keys())
        self.adam = torch.optim.Adam(list(self.alpha.values()), lr=c.arch_lr, betas=tuple(c.arch_betas),
                                     weight_decay=c.arch_weight_decay)
        self.sgd = torch.optim.SGD(self.trainable, lr=c.w_lr, momentum=c.w_momentum,
                                   weight_decay=c.w_weight_decay, nesterov=c.w_nesterov)
        self.epoch = 0
        self.steps = 0  # weight steps taken (``WeightTrainer.steps``)
        self._loss = vmap(self._seed_loss)

    @property
    def k(self) -> int:
        return len(self.seeds)

    def _seed_loss(self, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], x: torch.Tensor,
                   y: torch.Tensor, weights: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """One seed (under vmap): ``x [B, C, H, W]``, ``y [B]``, weights ``[rows, options]`` -> (loss, logits ``[B, n]``)."""
        logits = functional_call(self._base, (params, buffers), (x, weights))
        return F.cross_entropy(logits, y), logits

    def on_epoch_start(self, epoch: int) -> None:
        """Cosine learning rate of ``epoch``, as ``WeightTrainer.set_epoch``."""
        self.epoch = epoch
        lr = cosine_lr(self.config, epoch, self.epochs)
        for g in self.sgd.param_groups:
            g["lr"] = lr

    def mix(self, alpha: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Mixing weights ``softmax`` over options, ``[K, rows, options]`` per group."""
        return {k: torch.softmax(v, dim=-1) for k, v in alpha.items()}

    def step(self, train: StackedBatch, valid: StackedBatch) -> dict[str, torch.Tensor]:
        """One DARTS step for every seed; batch ``k`` goes to seed ``k``.

        Args:
            train, valid: ``(x [K, B, C, H, W], y [K, B])``.

        Returns:
            Per-seed ``[K]`` tensors ``{train,valid}_{loss,correct,count}`` (loss summed over the batch),
            as ``SearchOptimizer.metrics`` (no host sync).
        """
        for x, _ in (train, valid):
            if x.shape[0] != self.k:
                raise ValueError(f"expected {self.k} stacked batches, got leading dim {x.shape[0]}")
        if getattr(self.config, "step_order", "arch-first") == "weights-first":  # AutoDL DARTS-V1
            loss_t, logits_t = self._weight_step(train)
            loss_v, logits_v = self._arch_step(valid)
        else:
            loss_v, logits_v = self._arch_step(valid)
            loss_t, logits_t = self._weight_step(train)
        self.steps += 1
        return {**_metrics("train", logits_t, train[1], loss_t), **_metrics("valid", logits_v, valid[1], loss_v)}

    def _arch_step(self, valid: StackedBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Adam step of every seed's logits from its validation batch; ``(losses [K], logits)``."""
        alpha = list(self.alpha.values())
        loss_v, logits_v = self._loss(self.params, self.buffers, valid[0], valid[1], self.mix(self.alpha))
        grads = torch.autograd.grad(loss_v.sum(), alpha)
        self.adam.zero_grad(set_to_none=True)
        for a, g in zip(alpha, grads):
            a.grad = g.detach()
        self.adam.step()
        return loss_v, logits_v

    def _weight_step(self, train: StackedBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """SGD step of every seed's weights from its training batch; ``(losses [K], logits)``."""
        w = {k: v.detach() for k, v in self.mix(self.alpha).items()}
        loss_t, logits_t = self._loss(self.params, self.buffers, train[0], train[1], w)
        params = self.trainable
        wgrads = torch.autograd.grad(loss_t.sum(), params, allow_unused=True)
        self.sgd.zero_grad(set_to_none=True)
        for p, g in zip(params, wgrads):
            p.grad = g
        if self.config.grad_clip > 0:
            self._clip([p.grad for p in params if p.grad is not None], self.config.grad_clip)
        self.sgd.step()
        return loss_t, logits_t

    def _clip(self, grads: list[torch.Tensor], max_norm: float) -> None:
        """Per-seed ``clip_grad_norm_``: each ``[K, ...]`` gradient scaled by its seed's factor ``[K]``."""
        if not grads:
            return
        norms = torch.stack([torch.linalg.vector_norm(g.reshape(self.k, -1), dim=1) for g in grads], dim=1)
        total = torch.linalg.vector_norm(norms, dim=1)  # [K]
        coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
        for g in grads:
            g.mul_(coef.view(-1, *([1] * (g.dim() - 1))))

    def alphas(self) -> dict[str, torch.Tensor]:
        """Detached logits, ``[K, rows, options]`` per group."""
        return {k: v.detach() for k, v in self.alpha.items()}

    def current_architectures(self) -> list[Architecture]:
        """Each seed's argmax architecture (``Darts.current_architecture``)."""
        probs = {k: v.detach() for k, v in self.mix(self.alpha).items()}
        return [self.space.discretize({g: p[i] for g, p in probs.items()}) for i in range(self.k)]

    def load_from(self, opts: Sequence[Any]) -> None:
        """Take seed ``i``'s whole state from ``opts[i]``, a ``Darts`` optimizer of that seed.

        Supernet parameters and buffers, logits, Adam and SGD-momentum state and the step
        counter: a batch can start from separate runs' checkpoints (the ones ``write_to`` wrote).
        """
        self._check_opts(opts)
        with torch.no_grad():
            for i, opt in enumerate(opts):
                sd = opt.supernet.state_dict()
                for n, t in {**self.params, **self.buffers}.items():
                    t[i].copy_(sd[n])
                for k, a in self.alpha.items():
                    a[i].copy_(opt.alpha.tensors()[k])
        for k, a in self.alpha.items():
            states = [o.adam.state.get(o.alpha.tensors()[k], {}) for o in opts]
            if states[0]:
                self.adam.state[a] = {n: (v.clone() if n == "step" else torch.stack([st[n] for st in states]))
                                      for n, v in states[0].items()}
        bufs = [o.weights.momentum_buffers() for o in opts]
        for j, p in enumerate(self.trainable):
            if bufs[0][j] is not None:
                self.sgd.state[p] = {"momentum_buffer": torch.stack([b[j] for b in bufs])}
        self.steps = opts[0].weights.steps

    def write_to(self, opts: Sequence[Any]) -> None:
        """Inverse of ``load_from``: seed ``i``'s state into ``opts[i]`` (then its ``state_dict`` is a
        standard DARTS checkpoint and its ``select`` / curvature see the batched search's state)."""
        self._check_opts(opts)
        for st, opt in zip(self.unstack(), opts):
            opt.supernet.load_state_dict(st.supernet)
            with torch.no_grad():
                for k, a in opt.alpha.tensors().items():
                    a.copy_(st.alpha[k])
        for k, a in self.alpha.items():
            state = self.adam.state.get(a, {})
            for i, o in enumerate(opts):
                if state:
                    o.adam.state[o.alpha.tensors()[k]] = {n: (v.clone() if n == "step" else v[i].clone())
                                                         for n, v in state.items()}
        for j, p in enumerate(self.trainable):
            buf = self.sgd.state.get(p, {}).get("momentum_buffer")
            for i, o in enumerate(opts):
                if buf is not None:
                    o.weights.opt.state[o.weights.params[j]] = {"momentum_buffer": buf[i].clone()}
        for o in opts:
            o.weights.steps = self.steps

    def _check_opts(self, opts: Sequence[Any]) -> None:
        if len(opts) != self.k:
            raise ValueError(f"expected {self.k} optimizers (one per seed), got {len(opts)}")
        for o in opts:
            if len(o.weights.params) != len(self.trainable):
                raise ValueError("optimizer's supernet does not match the batched supernet")

    def unstack(self) -> list[SeedState]:
        """Per-seed supernet ``state_dict`` (loadable into a fresh supernet) and logits, detached copies."""
        flat = {**self.params, **self.buffers}
        return [SeedState(seed=s,
                          supernet={n: flat[n][i].detach().clone() for n in self._state_keys},
                          alpha={g: a[i].detach().clone() for g, a in self.alpha.items()})
                for i, s in enumerate(self.seeds)]


def _metrics(prefix: str, logits: torch.Tensor, y: torch.Tensor, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-seed loss sum / correct / count: ``logits [K, B, n]``, ``y [K, B]``, ``loss [K]`` -> ``[K]`` each."""
    n = torch.full((y.shape[0],), float(y.shape[1]), device=y.device)
    return {f"{prefix}_loss": loss.detach() * n, f"{prefix}_correct": (logits.argmax(-1) == y).sum(-1).float(),
            f"{prefix}_count": n}
