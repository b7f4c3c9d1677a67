"""RobustDARTS' robustified DARTS variants (Zela et al., ICLR 2020, Section 5).

- ``darts-dp``: DARTS (second order by default) with drop-path on the search
  model, its probability raised linearly from 0 to ``drop_path_prob`` over the
  search (``p * e / (E - 1)``), and the inner L2 factor ``w_weight_decay``. The
  R-DARTS(DP) / R-DARTS(L2) grid points are runs of it (``rdarts.py``).
- ``darts-es``: stops when the local average of the dominant eigenvalue of the
  validation-loss Hessian grows too fast (``EarlyStopRule``) and returns the
  architecture of the epoch the rule names.
- ``darts-ada``: on the same trigger, rolls back to that epoch's state and
  multiplies the inner L2 factor by ``ada_factor`` (at most ``ada_max_l2``).

The eigenvalue is computed in ``on_epoch_end`` every ``eigen_every`` search
epochs (and at the last one) on the last ``eigen_batches`` validation batches
seen by ``step`` (``harness.metrics.curvature``, Lanczos with warm start) and returned
as the ``dominant_eigenvalue`` column.

Constants (automl/RobustDARTS ``src/search/args.py``, ``src/utils.py``
``EVLocalAvg``, ``scripts/DARTS-ADA_search.sh``): window 5 evaluations,
evaluation every 2 epochs, ratio 1.3 between the current local average and the
one 4 evaluations (8 epochs) earlier, no stop before epoch 10; ADA factor 10,
maximum L2 0.03, roll back to the stop epoch itself.

After ``darts-es`` stops, the runner's remaining epochs only measure the
frozen supernet. After an ADA roll-back the search goes on from the stop
epoch (column ``search_epoch``) to the last search epoch, as RobustDARTS's
``train_epochs(args.epochs, ..., start_epoch=start_again_epoch)`` does: the
rolled-back epochs are trained again (``extra_epochs`` lengthens the run by
them), and the learning rate follows the cosine of the search epoch over
``epochs`` (``scheduler.step(epoch)`` of a fresh ``CosineAnnealingLR`` with the
same ``T_max``), so it anneals to its minimum at the last search epoch.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from harness.metrics.curvature import CurvatureTracker, EigenConfig
from harness.optimizers import register_optimizer
from harness.optimizers.base import Batch
from harness.optimizers.darts import Darts, DartsConfig
from harness.optimizers.parts import darts_grad
from harness.optimizers.parts.arch_params import adam_state, load_adam_state
from search_spaces import Architecture
from search_spaces.errors import ConfigError


@dataclass(frozen=True)
class EarlyStopRule:
    """RobustDARTS' early-stopping rule on the dominant-eigenvalue history.

    The local average at evaluation ``j`` is the mean over the ``window``
    evaluations centred on ``j`` (cut at the first evaluation). After evaluation
    ``m`` the newest local average is the one centred at ``c = m - window // 2``;
    the search stops when ``la(c) / la(c - delta) > factor`` and the epoch of
    evaluation ``c - delta`` is at least ``start_epoch``; that epoch is returned.
    """

    window: int = 5
    delta: int = 4
    factor: float = 1.3
    start_epoch: int = 10

    def __post_init__(self) -> None:
        if self.window < 1 or self.delta < 1 or self.factor <= 1.0 or self.start_epoch < 0:
            raise ConfigError("EarlyStopRule: window, delta >= 1, factor > 1, start_epoch >= 0 required")

    def local_average(self, evs: list[float], j: int) -> float:
        h = self.window // 2
        return float(np.mean(evs[max(0, j - h): j + h + 1]))

    def check(self, epochs: list[int], evs: list[float]) -> int | None:
        """Stop epoch after the newest evaluation, or None. ``epochs[i]`` is the epoch of ``evs[i]``."""
        c = len(evs) - 1 - self.window // 2
        p = c - self.delta
        if p < 0 or epochs[p] < self.start_epoch:
            return None
        prev = self.local_average(evs, p)
        if prev <= 0:  # a ratio of non-positive curvatures says nothing about growth
            return None
        return epochs[p] if self.local_average(evs, c) / prev > self.factor else None


@dataclass(frozen=True)
class DartsDPConfig(DartsConfig):
    """DARTS (unrolled) with scheduled drop-path and optional eigenvalue tracking.

    Attributes:
        drop_path_prob: Final drop-path probability (linear from 0 over the search).
        eigen_every: Compute the dominant eigenvalue every this many search epochs (0: never).
        eigen_batches: Validation batches (the last ones seen by ``step``) defining the Hessian.
        eigen_tol, eigen_max_iter: Lanczos tolerance and maximum Hessian-vector products.
    """

    order: int = 2
    drop_path_prob: float = 0.0
    eigen_every: int = 0
    eigen_batches: int = 1
    eigen_tol: float = 1e-2
    eigen_max_iter: int = 40

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.drop_path_prob < 1.0:
            raise ConfigError(f"drop_path_prob must lie in [0, 1), got {self.drop_path_prob}")
        if self.eigen_batches < 1 or self.eigen_max_iter < 1:
            raise ConfigError("eigen_batches and eigen_max_iter must be >= 1")


@dataclass(frozen=True)
class DartsESConfig(DartsDPConfig):
    """Adds the early-stopping rule (see ``EarlyStopRule``)."""

    eigen_every: int = 2
    es_window: int = 5
    es_delta: int = 4
    es_factor: float = 1.3
    es_start_epoch: int = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.eigen_every < 1:
            raise ConfigError("early stopping needs eigen_every >= 1")
        self.rule()  # validates the rule's fields

    def rule(self) -> EarlyStopRule:
        return EarlyStopRule(self.es_window, self.es_delta, self.es_factor, self.es_start_epoch)


@dataclass(frozen=True)
class DartsADAConfig(DartsESConfig):
    """Adds the regularisation schedule: L2 times ``ada_factor`` per trigger, up to ``ada_max_l2``."""

    ada_factor: float = 10.0
    ada_max_l2: float = 0.03

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.ada_factor <= 1.0 or self.ada_max_l2 < self.w_weight_decay:
            raise ConfigError("ada_factor must be > 1 and ada_max_l2 >= w_weight_decay")


@register_optimizer("darts-dp")
class DartsDP(Darts):
    """DARTS with scheduled drop-path, a mutable inner L2 factor and eigenvalue tracking."""

    name = "darts-dp"
    config_cls = DartsDPConfig
    description = "DARTS (2nd order) with linearly scheduled drop-path; R-DARTS grid point (Zela et al. 2020)"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        c = self.config
        if c.drop_path_prob > 0 and not hasattr(self.supernet, "drop_path_prob"):
            raise ConfigError(f"space {self.space.name!r}: its supernet has no drop-path (drop_path_prob must be 0)")
        self.l2 = float(c.w_weight_decay)
        self.offset = 0  # runner epoch - search epoch (changes on an ADA roll-back)
        self.tracker = CurvatureTracker(EigenConfig(tol=c.eigen_tol, max_iter=c.eigen_max_iter,
                                                    num_batches=c.eigen_batches))
        self.kept: list[Batch] = []
        self.ev_epochs: list[int] = []
        self.evs: list[float] = []
        self.archs: dict[int, str] = {}

    @property
    def search_epoch(self) -> int:
        return self.epoch - self.offset

    @property
    def extra_epochs(self) -> int:
        """Runner epochs beyond ``epochs``: the search epochs re-trained after roll-backs."""
        return self.offset

    def on_epoch_start(self, epoch: int) -> None:
        self.epoch = epoch
        e = self.search_epoch
        self.weights.set_epoch(e, self.epochs)
        for g in self.weights.opt.param_groups:
            g["weight_decay"] = self.l2
        if hasattr(self.supernet, "drop_path_prob"):
            self.supernet.drop_path_prob = self.config.drop_path_prob * e / max(self.epochs - 1, 1)

    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        self.kept = (self.kept + [valid])[-self.config.eigen_batches:]
        c = self.config
        loss_fn = darts_grad.cross_entropy_loss(self.supernet, self.mix)
        if c.order == 1:
            loss_v, logits_v, grads = darts_grad.first_order(loss_fn, self.alpha.tensors(), valid)
        else:
            loss_v, logits_v, grads = darts_grad.second_order(
                loss_fn, self.alpha.tensors(), self.weights.params, train, valid, xi=self.weights.lr,
                momentum=c.w_momentum, weight_decay=self.l2, momentum_buffers=self.weights.momentum_buffers(),
                eps_scale=c.unrolled_eps)
        self.arch_update(grads)
        w = {k: v.detach() for k, v in self.mix(self.alpha.tensors()).items()}
        logits = self.supernet(train[0], w)
        loss = F.cross_entropy(logits, train[1])
        self.weights.step(loss)
        return {**self.metrics("train", logits, train[1], loss), **self.metrics("valid", logits_v, valid[1], loss_v)}

    def eigen_due(self, e: int) -> bool:
        k = self.config.eigen_every
        return k > 0 and (e % k == 0 or e == self.epochs - 1)

    def compute_eigenvalue(self) -> float:
        """Dominant eigenvalue on the kept validation batches (tests may replace this)."""
        return self.tracker.evaluate(self, self.kept).dominant

    def on_epoch_end(self, epoch: int) -> dict[str, float]:
        e = self.search_epoch
        self.archs[e] = self.space.to_str(self.current_architecture())
        out = {"search_epoch": float(e), "l2_factor": self.l2, "lr": float(self.weights.lr),
               "drop_path_prob": float(getattr(self.supernet, "drop_path_prob", 0.0))}
        if self.eigen_due(e) and self.kept:
            ev = self.compute_eigenvalue()
            self.ev_epochs.append(e)
            self.evs.append(ev)
            out["dominant_eigenvalue"] = ev
            out.update(self.after_eigenvalue(e))
        return out

    def after_eigenvalue(self, e: int) -> dict[str, float]:
        """Hook for ES / ADA after a new eigenvalue of search epoch ``e``; extra columns."""
        return {}

    # -- state ----------------------------------------------------------
    def _own_state(self) -> dict[str, Any]:
        return {"l2": self.l2, "offset": self.offset, "tracker": self.tracker.state_dict(),
                "kept": [(x.cpu(), y.cpu()) for x, y in self.kept], "ev_epochs": list(self.ev_epochs),
                "evs": list(self.evs), "archs": dict(self.archs)}

    def extra_state(self) -> dict[str, Any]:
        return {**super().extra_state(), "robust": self._own_state()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        super().load_extra_state(state)
        r = state["robust"]
        self.l2, self.offset = r["l2"], r["offset"]
        self.tracker.load_state_dict(r["tracker"])
        self.kept = [(x.to(self.device), y.to(self.device)) for x, y in r["kept"]]
        self.ev_epochs, self.evs, self.archs = list(r["ev_epochs"]), list(r["evs"]), dict(r["archs"])


@register_optimizer("darts-es")
class DartsES(DartsDP):
    """DARTS-ES: early stopping on the dominant eigenvalue's local average."""

    name = "darts-es"
    config_cls = DartsESConfig
    description = "DARTS-ES: stop when the Hessian's dominant eigenvalue grows too fast (Zela et al. 2020)"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.stop_epoch: int | None = None

    @property
    def stopped(self) -> bool:
        return self.stop_epoch is not None

    def after_eigenvalue(self, e: int) -> dict[str, float]:
        if self.stopped or e >= self.epochs - 1:
            return {}
        stop = self.config.rule().check(self.ev_epochs, self.evs)
        if stop is not None:
            self.stop_epoch = stop
            return {"es_stop_epoch": float(stop)}
        return {}

    def on_epoch_end(self, epoch: int) -> dict[str, float]:
        if self.stopped:
            return {"es_stop_epoch": float(self.stop_epoch)}
        return super().on_epoch_end(epoch)

    def current_architecture(self) -> Architecture:
        if self.stopped:
            return self.space.from_str(self.archs[self.stop_epoch])
        return super().current_architecture()

    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        if not self.stopped:
            return super().step(train, valid)
        # stopped: the search is over; only measure the frozen supernet so the runner's rows stay defined
        with torch.no_grad():
            w = {k: v.detach() for k, v in self.mix(self.alpha.tensors()).items()}
            lt, lv = self.supernet(train[0], w), self.supernet(valid[0], w)
            return {**self.metrics("train", lt, train[1], F.cross_entropy(lt, train[1])),
                    **self.metrics("valid", lv, valid[1], F.cross_entropy(lv, valid[1]))}

    def extra_state(self) -> dict[str, Any]:
        return {**super().extra_state(), "stop_epoch": self.stop_epoch}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        super().load_extra_state(state)
        self.stop_epoch = state["stop_epoch"]


@register_optimizer("darts-ada")
class DartsADA(DartsDP):
    """DARTS-ADA: on the early-stop trigger, roll back and strengthen the inner L2 regularisation."""

    name = "darts-ada"
    config_cls = DartsADAConfig
    description = "DARTS-ADA: roll back and raise L2 when the dominant eigenvalue grows (Zela et al. 2020)"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        #: search epoch -> state at its end (only evaluation epochs can be roll-back targets)
        self.snapshots: dict[int, dict[str, Any]] = {}
        self.rollbacks: list[dict[str, float]] = []
        self.first_stop_arch: str | None = None  # what DARTS-ES would have returned

    def _snapshot(self) -> dict[str, Any]:
        return _to_cpu({"supernet": self.supernet.state_dict(), "weights": self.weights.state_dict(),
                        "arch": adam_state(self.alpha, self.adam), "ev_epochs": self.ev_epochs,
                        "evs": self.evs, "archs": self.archs})

    def restore(self, e: int) -> None:
        """Load the snapshot taken at the end of search epoch ``e`` (weights, momentum, logits, Adam, history)."""
        s = self.snapshots[e]
        self.supernet.load_state_dict(s["supernet"])
        self.weights.load_state_dict(copy.deepcopy(s["weights"]))
        load_adam_state(self.alpha, self.adam, copy.deepcopy(s["arch"]))
        self.ev_epochs, self.evs = list(s["ev_epochs"]), list(s["evs"])
        self.archs = dict(s["archs"])
        self.snapshots = {k: v for k, v in self.snapshots.items() if k <= e}

    @property
    def final_iteration(self) -> bool:
        # the reference compares log(max)/log(wd) with 1 rounded to one decimal; a relative check is equivalent here
        return self.l2 >= self.config.ada_max_l2 * (1 - 1e-9)

    def after_eigenvalue(self, e: int) -> dict[str, float]:
        self.snapshots[e] = self._snapshot()
        if e >= self.epochs - 1 or self.final_iteration:
            return {}
        stop = self.config.rule().check(self.ev_epochs, self.evs)
        if stop is None:
            return {}
        if self.first_stop_arch is None:
            self.first_stop_arch = self.archs[stop]
        old = self.l2
        self.restore(stop)
        self.l2 = min(old * self.config.ada_factor, self.config.ada_max_l2)
        self.offset = self.epoch - stop  # the next runner epoch continues with search epoch stop + 1
        self.rollbacks.append({"at_search_epoch": float(e), "to_search_epoch": float(stop), "l2": self.l2})
        return {"ada_rollback_to": float(stop), "ada_new_l2": self.l2}

    def on_epoch_end(self, epoch: int) -> dict[str, float]:
        out = super().on_epoch_end(epoch)
        out["ada_rollbacks"] = float(len(self.rollbacks))
        return out

    def extra_state(self) -> dict[str, Any]:
        return {**super().extra_state(), "snapshots": self.snapshots, "rollbacks": list(self.rollbacks),
                "first_stop_arch": self.first_stop_arch}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        super().load_extra_state(state)
        self.snapshots, self.rollbacks = dict(state["snapshots"]), list(state["rollbacks"])
        self.first_stop_arch = state["first_stop_arch"]


def _to_cpu(obj: Any) -> Any:
    """Deep copy with every tensor detached, cloned and moved to the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return copy.deepcopy(obj)
