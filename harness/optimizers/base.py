"""The search-optimizer interface every algorithm implements.

An optimizer owns the supernet's weight trainer and its own architecture
state. The runner calls ``on_epoch_start``, then ``step`` once per
(train batch, valid batch) pair, then ``on_epoch_end``; ``select`` returns the
architecture the optimizer currently picks. Scalars returned by ``step`` are
0-d device tensors, so a step never synchronises with the host.
"""

from __future__ import annotations

import math
import types
import typing
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from harness.optimizers.parts.weights import WeightTrainer
from search_spaces import Architecture, SearchSpace
from search_spaces.errors import ConfigError

#: Offset of an optimizer's private torch generator seed from the run seed.
GENERATOR_OFFSET = 7919

Batch = tuple[torch.Tensor, torch.Tensor]


def check_value(name: str, hint: Any, value: Any, infinite_ok: bool = False) -> Any:
    """``value`` converted to the field type ``hint`` (a list becomes a tuple), or ``ConfigError``.

    Numbers must be finite (+-inf where the config lists the field in ``INFINITE_OK``); a bool is not a number; an int is a float; ``X | None`` accepts None;
    ``tuple[T, ...]`` any length, ``tuple[T, U]`` exactly two.
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in (a for a in args if a is not type(None)):
            try:
                return check_value(name, a, value, infinite_ok)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{name} must not be None")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(check_value(f"{name}[{i}]", args[0], v) for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{name} must have {len(args)} entries, got {len(value)}: {list(value)!r}")
        return tuple(check_value(f"{name}[{i}]", a, v) for i, (a, v) in enumerate(zip(args, value)))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
        return value
    if hint in (int, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (hint is float or isinstance(value, int))
        if not ok:
            raise ConfigError(f"{name} must be {'an integer' if hint is int else 'a number'}, got {value!r}")
        if math.isnan(value) or (math.isinf(value) and not infinite_ok):
            raise ConfigError(f"{name} must be finite, got {value!r}")
        return float(value) if hint is float else value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be a string, got {value!r}")
        return value
    return value


@dataclass(frozen=True)
class OptimizerConfig:
    """Supernet-weight training shared by all optimizers (NB-201 search protocol).

    Attributes:
        w_lr: Initial SGD learning rate, annealed by cosine to ``w_lr_min``.
        w_momentum: SGD momentum.
        w_weight_decay: L2 factor of the weights.
        w_nesterov: Nesterov momentum.
        grad_clip: Max gradient norm of the weights (<= 0 disables).
        w_lr_period: Cosine period ``T_max`` in epochs (0: the search's epochs). AutoDL's ENAS
            config sets 10, so its rate swings between ``w_lr`` and ``w_lr_min`` every 10 epochs.

    Each preset (``harness protocol``) states the source of every value; these
    defaults are DARTS's ``cnn/train_search.py``.
    """

    w_lr: float = 0.025
    w_lr_min: float = 0.001
    w_momentum: float = 0.9
    w_weight_decay: float = 3e-4
    w_nesterov: bool = False
    grad_clip: float = 5.0
    w_lr_period: int = 0

    #: Fields where an infinite value has a meaning (e.g. BaLeNAS's N = inf: no posterior noise).
    INFINITE_OK: ClassVar[frozenset[str]] = frozenset()

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0 and f.name != "grad_clip":
                raise ConfigError(f"{type(self).__name__}.{f.name} must be >= 0, got {v}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> OptimizerConfig:
        """Build from a (JSON) dict, rejecting unknown keys."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"{cls.__name__}: unknown keys {unknown} (known: {sorted(known)})")
        hints = typing.get_type_hints(cls)
        return cls(**{k: check_value(f"{cls.__name__}.{k}", hints[k], v, k in cls.INFINITE_OK)
                      for k, v in values.items()})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SearchOptimizer(ABC):
    """Base class: owns the supernet weight trainer and RNGs.

    Args:
        space: The search space.
        supernet: Its supernet (on ``device``).
        config: The optimizer's config dataclass.
        epochs: Total search epochs (schedules depend on it).
        steps_per_epoch: Steps per epoch.
        seed: Seeds this optimizer's private generators.
    """

    name: ClassVar[str]
    config_cls: ClassVar[type[OptimizerConfig]] = OptimizerConfig
    #: Whether the supernet's valid metrics come from ``step`` (else the runner
    #: may score the current pick separately).
    description: ClassVar[str] = ""

    def __init__(self, space: SearchSpace, supernet: nn.Module, config: OptimizerConfig, *,
                 epochs: int, steps_per_epoch: int, seed: int) -> None:
        self.space, self.supernet, self.config = space, supernet, config
        self.epochs, self.steps_per_epoch, self.seed = epochs, steps_per_epoch, seed
        self.device = next(supernet.parameters()).device
        #: Floating dtype of the supernet's parameters (one-hot weights are made in it).
        self.dtype = next(supernet.parameters()).dtype
        self.epoch = 0
        self.weights = WeightTrainer(supernet, config, total_steps=epochs * steps_per_epoch)
        self.generator = torch.Generator(device=self.device).manual_seed(seed + GENERATOR_OFFSET)
        self.rng = np.random.default_rng(seed + 104729)
        #: The run's search-valid stream (``harness.data.BatchStream``), for optimizers that draw
        #: validation batches outside ``step`` (ENAS's controller); set by the runner.
        self.valid_stream: Any = None

    #: Whether ``step`` uses its validation batch (ENAS's weight steps do not: the runner draws none).
    uses_step_valid: bool = True
    #: Runner epochs beyond the configured ones this optimizer asks for (DARTS-ADA's re-trained epochs).
    extra_epochs: int = 0

    @classmethod
    def data_overrides(cls, values: dict[str, Any], search_valid_size: int) -> dict[str, Any]:
        """Config values that follow from the data (e.g. BaLeNAS's N); the runner applies them."""
        return {}

    @property
    def search_epoch(self) -> int:
        """The search epoch the current runner epoch trains (differs after a DARTS-ADA roll-back)."""
        return self.epoch

    # -- protocol -------------------------------------------------------
    @abstractmethod
    def step(self, train: Batch, valid: Batch) -> dict[str, torch.Tensor]:
        """One search step; returns 0-d tensors (``train_loss``, ``train_correct``, ...)."""

    def on_epoch_start(self, epoch: int) -> None:
        """Called before the first step of ``epoch`` (0-based); sets the weights' learning rate for it.

        The base class advances the schedule itself, so a subclass that forgets to cannot silently
        train at the initial rate (a subclass with its own schedule sets it after calling this).
        """
        self.epoch = epoch
        self.weights.set_epoch(epoch, self.epochs)

    def on_epoch_end(self, epoch: int) -> dict[str, float]:
        """Called after the last step of ``epoch``; returns extra trajectory columns."""
        return {}

    @abstractmethod
    def current_architecture(self) -> Architecture:
        """The architecture the optimizer's state currently encodes (argmax rule)."""

    def select(self, eval_batches: list[Batch]) -> Architecture:
        """The architecture to report now; default ``current_architecture()``.

        Optimizers that pick by supernet accuracy (RS-ws, SETN, ...) use
        ``eval_batches`` (fixed validation batches) to score candidates.
        """
        return self.current_architecture()

    @abstractmethod
    def sample(self, n: int, rng: np.random.Generator) -> list[Architecture]:
        """``n`` architectures drawn from the current distribution."""

    def arch_weights(self) -> dict[str, torch.Tensor]:
        """Normalised mixing weights of the current state (for diagnostics)."""
        return {k: v.to(self.device) for k, v in self.space.one_hot(self.current_architecture()).items()}

    def arch_parameters(self) -> dict[str, torch.Tensor]:
        """Raw architecture parameters (empty for weight-only optimizers)."""
        return {}

    # -- state ----------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bit-identically."""
        return {
            "epoch": self.epoch,
            "supernet": self.supernet.state_dict(),
            "weights": self.weights.state_dict(),
            "generator": self.generator.get_state(),
            "rng": self.rng.bit_generator.state,
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = state["epoch"]
        self.supernet.load_state_dict(state["supernet"])
        self.weights.load_state_dict(state["weights"])
        self.generator.set_state(state["generator"])
        self.rng.bit_generator.state = state["rng"]
        self.load_extra_state(state["extra"])

    def extra_state(self) -> dict[str, Any]:
        """Subclass state (architecture parameters, their optimizer, ...): what resume needs to continue
        bit-identically. Tensors and plain containers only (the checkpoint loads weights-only)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Inverse of ``extra_state``."""

    # -- helpers --------------------------------------------------------
    def forward(self, x: torch.Tensor, weights: dict[str, torch.Tensor],
                active: dict[str, list[int]] | None = None, **kw: Any) -> torch.Tensor:
        """Supernet logits; passes ``active`` (and ``kw``) only when given (not every supernet takes them)."""
        if active is None or not getattr(self.supernet, "supports_active", False):
            return self.supernet(x, weights)
        return self.supernet(x, weights, active=active, **kw)

    @staticmethod
    def metrics(prefix: str, logits: torch.Tensor, y: torch.Tensor, loss: torch.Tensor) -> dict[str, torch.Tensor]:
        """Device-side loss sum / correct / count of a batch (no host sync)."""
        n = torch.tensor(float(y.shape[0]), device=y.device)
        return {f"{prefix}_loss": loss.detach() * n, f"{prefix}_correct": (logits.argmax(-1) == y).sum().float(),
                f"{prefix}_count": n}

    def score_architectures(self, archs: list[Architecture], batches: list[Batch],
                            per_candidate: bool = False) -> torch.Tensor:
        """Supernet validation accuracy of each arch, ``[len(archs)]`` (``parts.candidates``).

        ``per_candidate``: each arch on its own batch of a fresh pass (AutoDL's selection);
        else all on the same ``batches`` (one-shot evaluation).
        """
        from harness.optimizers.parts.candidates import score_candidates

        return score_candidates(self, archs, batches, per_candidate=per_candidate)


#: Attributes ``SearchOptimizer.__init__`` sets (and ``state_dict`` covers or rebuilds).
_BASE_ATTRS = {"space", "supernet", "config", "epochs", "steps_per_epoch", "seed", "device", "dtype", "epoch",
               "weights", "generator", "rng", "valid_stream"}
_STATEFUL = (torch.Tensor, nn.Module, torch.optim.Optimizer, np.random.Generator, torch.Generator)


def check_step_output(opt: SearchOptimizer, out: Any) -> None:
    """``step()``'s return on a run's first step: a dict of tensors with the training sums the runner reads."""
    need = ("train_loss", "train_correct", "train_count")
    if not isinstance(out, dict) or any(k not in out for k in need) or \
            not all(isinstance(v, torch.Tensor) for v in out.values()):
        got = sorted(out) if isinstance(out, dict) else type(out).__name__
        raise ConfigError(f"{type(opt).__name__}.step() must return a dict of 0-d tensors with {', '.join(need)} "
                          f"(self.metrics('train', logits, y, loss) makes them); got {got}")


def undeclared_state(opt: SearchOptimizer) -> list[str]:
    """Attributes holding state (tensors, modules, optimizers, generators) of an optimizer that keeps the
    base ``extra_state``: a resume would silently restart them."""
    if type(opt).extra_state is not SearchOptimizer.extra_state:
        return []
    out = []
    for k, v in vars(opt).items():
        items = v.values() if isinstance(v, dict) else v if isinstance(v, (list, tuple)) else [v]
        if k not in _BASE_ATTRS and any(isinstance(x, _STATEFUL) for x in items):
            out.append(k)
    return sorted(out)
