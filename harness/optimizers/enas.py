"""ENAS (Pham et al., ICML 2018) as AutoDL ran it on NB-201 (``exps/NAS-Bench-201-algos/ENAS.py``).

Each search step trains the shared weights on one architecture sampled from
the LSTM controller (``train_shared_cnn``). After the epoch's weight training
the controller is trained (``train_controller``, in ``on_epoch_end``) with the
supernet in eval mode, on validation batches with the training augmentation:
``controller_train_steps x controller_num_aggregate`` samples, each on its own
batch, with

- reward ``r = acc + entropy_weight * H`` (``acc`` the sample's batch accuracy
  as a fraction, ``H`` the summed entropy, differentiable as in the official
  code);
- baseline ``b = acc`` while no baseline exists yet (the first epoch), else
  ``b = b_e - (1 - baseline_decay) (b_e - r)`` from the baseline ``b_e`` the
  epoch started with; the last sample's ``b`` becomes the next epoch's ``b_e``;
- loss ``-log_prob * (r - b) / controller_num_aggregate``, gradients summed
  over ``controller_num_aggregate`` samples, norm clipped to
  ``controller_grad_clip``, one Adam step.

Selection (``get_best_arch``): ``n_candidates_epoch`` controller samples after
each epoch, ``n_candidates`` after the last, each scored on its own batch of a
fresh pass (``parts.candidates``), the first best kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from harness.optimizers import register_optimizer
from harness.optimizers.base import Batch, OptimizerConfig, SearchOptimizer
from harness.optimizers.parts.candidates import best_index
from harness.optimizers.parts.controller import Controller
from search_spaces import Architecture
from search_spaces.errors import ConfigError


@dataclass(frozen=True)
class EnasConfig(OptimizerConfig):
    controller_lr: float = 1e-3
    controller_betas: tuple[float, float] = (0.0, 0.999)
    controller_eps: float = 1e-3
    controller_hidden: int = 32
    controller_layers: int = 2
    temperature: float = 5.0
    tanh_constant: float = 2.5
    entropy_weight: float = 1e-4
    baseline_decay: float = 0.99
    controller_train_steps: int = 50
    controller_num_aggregate: int = 20
    controller_grad_clip: float = 5.0
    n_candidates: int = 100
    n_candidates_epoch: int = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("controller_train_steps", "controller_num_aggregate", "n_candidates", "n_candidates_epoch"):
            if getattr(self, name) < 1:
                raise ConfigError(f"EnasConfig.{name} must be >= 1, got {getattr(self, name)}")


def controller_loss(log_prob: torch.Tensor, entropy: torch.Tensor, acc: float, baseline: float | None,
                    entropy_weight: float, decay: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(loss, b)`` of one controller sample (see the module doc); ``baseline`` is the epoch's ``b_e``."""
    reward = acc + entropy_weight * entropy
    b = torch.as_tensor(acc, dtype=reward.dtype, device=reward.device) if baseline is None \
        else baseline - (1 - decay) * (baseline - reward)
    return -log_prob * (reward - b), b


@register_optimizer("enas")
class Enas(SearchOptimizer):
    name = "enas"
    config_cls = EnasConfig
    description = "ENAS, LSTM controller trained by REINFORCE after each epoch (Pham et al. 2018)"
    uses_step_valid = False  # train_shared_cnn reads the training split only

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        c = self.config
        gen = torch.Generator().manual_seed(self.seed + 7)  # the controller's init, apart from torch's global RNG
        self.controller = Controller(self.space, c.controller_hidden, c.controller_layers, c.temperature,
                                     c.tanh_constant, generator=gen).to(self.device)
        self.c_opt = torch.optim.Adam(self.controller.parameters(), lr=c.controller_lr,
                                      betas=tuple(c.controller_betas), eps=c.controller_eps)
        self.baseline: float | None = None
        self.picked: Architecture | None = None
        self._last_valid: Batch | None = None

    def _arch(self, choices: dict[str, list[int]]) -> tuple[dict[str, torch.Tensor], dict[str, list[int]]]:
        w = {g.name: F.one_hot(torch.tensor(choices[g.name], device=self.device), g.shape[1]).to(self.dtype)
             for g in self.space.param_groups}
        return w, choices

    def step(self, train: Batch, valid: Batch | None = None) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            choices, _, _ = self.controller.sample(self.generator)
        w, act = self._arch(choices)
        logits = self.forward(train[0], w, act)
        loss = F.cross_entropy(logits, train[1])
        self.weights.step(loss)
        if valid is not None:
            self._last_valid = valid
        return self.metrics("train", logits, train[1], loss)

    def _controller_batch(self) -> Batch:
        if self.valid_stream is not None:
            return self.valid_stream.next()
        if self._last_valid is None:
            raise ConfigError("ENAS trains its controller on validation batches: none seen yet")
        return self._last_valid  # used outside the runner: the epoch's last validation batch

    def on_epoch_end(self, epoch: int) -> dict[str, float]:
        """``train_controller``: returns the epoch's mean reward, accuracy and the carried baseline."""
        c = self.config
        was = self.supernet.training
        self.supernet.eval()
        self.controller.train()
        self.c_opt.zero_grad(set_to_none=True)
        b_epoch, b, rewards, accs = self.baseline, None, [], []
        for k in range(c.controller_train_steps * c.controller_num_aggregate):
            x, y = self._controller_batch()
            choices, log_prob, entropy = self.controller.sample(self.generator)
            w, act = self._arch(choices)
            with torch.no_grad():
                acc = float((self.forward(x, w, act).argmax(-1) == y).sum()) / int(y.shape[0])
            loss, b = controller_loss(log_prob, entropy, acc, b_epoch, c.entropy_weight, c.baseline_decay)
            (loss / c.controller_num_aggregate).backward()
            rewards.append(acc + c.entropy_weight * float(entropy.detach()))
            accs.append(acc)
            if (k + 1) % c.controller_num_aggregate == 0:
                torch.nn.utils.clip_grad_norm_(self.controller.parameters(), c.controller_grad_clip)
                self.c_opt.step()
                self.c_opt.zero_grad(set_to_none=True)
        self.baseline = float(b.detach()) if torch.is_tensor(b) else float(b)
        self.supernet.train(was)
        return {"controller_reward": float(np.mean(rewards)), "controller_acc": 100 * float(np.mean(accs)),
                "baseline": self.baseline}

    def _sample_archs(self, n: int) -> list[Architecture]:
        out = []
        with torch.no_grad():
            for _ in range(n):
                w, _ = self._arch(self.controller.sample(self.generator)[0])
                out.append(self.space.discretize({k: v.cpu() for k, v in w.items()}))
        return out

    def select(self, eval_batches: list[Batch]) -> Architecture:
        last = self.epoch >= self.epochs - 1
        cands = self._sample_archs(self.config.n_candidates if last else self.config.n_candidates_epoch)
        self.picked = cands[best_index(self.score_architectures(cands, eval_batches, per_candidate=True))]
        return self.picked

    def current_architecture(self) -> Architecture:
        return self.picked if self.picked is not None else self._sample_archs(1)[0]

    def sample(self, n: int, rng: np.random.Generator) -> list[Architecture]:
        return self._sample_archs(n)

    def extra_state(self) -> dict[str, Any]:
        return {"controller": self.controller.state_dict(), "c_opt": self.c_opt.state_dict(),
                "baseline": self.baseline, "picked": None if self.picked is None else list(self.picked.choices)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.controller.load_state_dict(state["controller"])
        self.c_opt.load_state_dict(state["c_opt"])
        self.baseline = state["baseline"]
        self.picked = None if state["picked"] is None else Architecture(self.space.name, tuple(state["picked"]))
