"""The run configuration: one frozen dataclass, validated, saved as ``config.json``.

Defaults are the embedded setting (S5 space on scikit-learn's digits against
the shipped S5 table), so ``harness run`` works with no files at all.

Search-protocol values (epochs, batch size, candidate-scoring batches and
every optimizer hyperparameter) come from the preset of the space's family
and the optimizer (``harness.protocols``); fields left ``None`` take the
preset's value when the config is built, so a saved config holds the
resolved values and the preset name.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from search_spaces.errors import ConfigError

EMBEDDED_EPOCHS = 20


#: Test-regret conventions (see ``RunConfig.regret``).
REGRET_CONVENTIONS = ("table", "nb1shot1-reference")
#: Numeric precisions of the search step.
PRECISIONS = ("fp32", "bf16")
#: ``torch.compile`` modes of the supernet (``off``: eager; ``reduce-overhead`` adds CUDA graphs on a GPU).
COMPILE_MODES = ("off", "default", "reduce-overhead", "max-autotune")


@dataclass(frozen=True)
class RunConfig:
    """One search run: (space, benchmark, dataset, optimizer, config, seed).

    Attributes:
        space: Registered space name.
        dataset: Dataset the supernet is trained on (``digits``, ``cifar10``, ...).
        benchmark: Registered benchmark for ground truth, or ``"none"``.
        benchmark_file: Official raw file / table for the benchmark (None: shipped table).
        benchmark_dataset: Dataset name in the benchmark (None: same as ``dataset``).
        benchmark_epochs: Training budget of the ground truth (None: the table's
            largest; the resolved value is what ``config.json`` records).
        benchmark_seed: Seed aggregation of ground-truth queries ("mean" or a seed).
        regret: Test-regret convention (None: ``nb1shot1-reference`` for NB-1Shot1 benchmarks, else
            ``table``): ``table`` = the table's best test accuracy minus the pick's, percent points;
            ``nb1shot1-reference`` = nasbench-1shot1's mean test error over the repeats minus the
            space's best single-repeat test error, a fraction.
        data_dir: Folder with the official dataset files (not needed for digits).
        optimizer: Registered optimizer name.
        optimizer_config: Overrides of the preset's optimizer values.
        seed: Seeds weights, data order and the optimizer's generators.
        protocol: Preset name ``FAMILY/OPTIMIZER`` (None: the space's family and the optimizer).
        epochs: Search epochs (None: the preset's).
        batch_size: Search batch size, train and valid (None: the preset's).
        select_batch_size: Batch of each candidate scored at selection (None: the preset's).
        select_augment: Training augmentation on those batches (None: the preset's).
        cutout_length, cutout_prob, cutout_ramp: Cutout of the search batches (train and valid) after
            normalisation: square side (0: off), probability, and whether the probability ramps as
            ``cutout_prob * e / (E - 1)`` (None: the preset's).
        search_split: ``nb201``, ``train-halves`` or ``ours`` (``harness.data.search_split``): where
            weights and architecture batches come from and how long an epoch is (None: the preset's).
        channels, depth: Supernet size overrides (None: the space's protocol size).
        track_running_stats: Search-BN override (None: the space's protocol choice).
        subset: Keep only this many images per split (tests, smoke runs).
        select_batches: Validation batches used when an optimizer scores candidates.
        eigen_every: Track the dominant Hessian eigenvalue of the validation loss
            w.r.t. the architecture weights every this many epochs (0: off).
        eigen_batches: Validation batches of each eigenvalue evaluation.
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
        precision: ``fp32`` (default, for fidelity) or ``bf16`` (search steps under
            ``torch.autocast`` with bfloat16; selection and ground truth stay fp32).
        channels_last: Supernet weights (and hence activations) in channels-last memory format.
        compile: ``torch.compile`` mode of the supernet (``off``, default; see ``COMPILE_MODES``).
            Meant for GPUs (``reduce-overhead`` captures CUDA graphs); on a CPU the compile takes
            minutes. Curvature evaluations run eagerly.
        batch_seeds: Step this config's seeds together in one process (``harness.run.batched_run``:
            their parameters stacked and ``vmap``-ed; first-order DARTS only). Each seed still gets
            its own run directory; results equal separate runs within float tolerance, not bitwise,
            which is why the flag is part of the run id.
    """

    space: str = "s5"
    dataset: str = "digits"
    benchmark: str = "s5-digits"
    benchmark_file: str | None = None
    benchmark_dataset: str | None = None
    benchmark_epochs: int | None = None
    benchmark_seed: str = "mean"
    regret: str | None = None
    data_dir: str | None = None
    optimizer: str = "darts"
    optimizer_config: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    protocol: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    select_batch_size: int | None = None
    select_augment: bool | None = None
    cutout_length: int | None = None
    cutout_prob: float | None = None
    cutout_ramp: bool | None = None
    search_split: str | None = None
    channels: int | None = None
    depth: int | None = None
    track_running_stats: bool | None = None
    subset: int | None = None
    select_batches: int = 1
    eigen_every: int = 0
    eigen_batches: int = 2
    device: str = "cpu"
    precision: str = "fp32"
    channels_last: bool = False
    compile: str = "off"
    batch_seeds: bool = False

    def __post_init__(self) -> None:
        if self.compile not in COMPILE_MODES:
            raise ConfigError(f"compile must be one of {COMPILE_MODES}, got {self.compile!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        for name in ("channels_last", "batch_seeds"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.select_augment is not None and not isinstance(self.select_augment, bool):
            raise ConfigError(f"select_augment must be true or false, got {self.select_augment!r}")
        if not isinstance(self.eigen_every, int) or self.eigen_every < 0:
            raise ConfigError(f"eigen_every must be a non-negative integer, got {self.eigen_every!r}")
        for name in ("select_batches", "eigen_batches"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("channels", "depth", "subset", "benchmark_epochs", "epochs", "batch_size", "select_batch_size"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 1):
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed must be an integer in 0..2^32-1, got {str(self.seed)[:40]}")
        if not isinstance(self.optimizer_config, dict):
            raise ConfigError("optimizer_config must be a mapping")
        self._resolve_regret()
        self._resolve_protocol()

    def _resolve_regret(self) -> None:
        default = "nb1shot1-reference" if self.benchmark.startswith("nb1shot1") else "table"
        reg = self.regret if self.regret is not None else default
        if reg not in REGRET_CONVENTIONS:
            raise ConfigError(f"regret must be one of {REGRET_CONVENTIONS}, got {reg!r}")
        if reg == "nb1shot1-reference" and not self.benchmark.startswith("nb1shot1"):
            raise ConfigError(f"regret 'nb1shot1-reference' needs an NB-1Shot1 benchmark, not {self.benchmark!r}")
        object.__setattr__(self, "regret", reg)

    def _resolve_protocol(self) -> None:
        """Fill the ``None`` protocol fields and the preset name from the preset."""
        from harness.protocols import RUN_KEYS
        from search_spaces import get_space

        get_space(self.space)  # an unknown space says so (with the known ones) before anything else
        clash = sorted(set(self.optimizer_config) & set(RUN_KEYS))
        if clash:
            raise ConfigError(f"{clash} are run settings, not optimizer overrides (set them on the run)")
        proto = self.resolved_protocol()
        for k in RUN_KEYS:
            object.__setattr__(self, k, proto.values[k])
        object.__setattr__(self, "protocol", proto.preset)

    def resolved_protocol(self):
        """The ``harness.protocols.Protocol`` this config runs (preset values, sources, overrides).

        Run fields that differ from the preset count as overrides, as ``optimizer_config`` does.
        """
        from harness.protocols import RUN_KEYS, resolve_protocol

        # the base includes the optimizer's overrides: run values that follow them (a family rule) are not
        # the user's overrides
        base = resolve_protocol(self.space, self.optimizer, dict(self.optimizer_config), self.protocol)
        explicit = {k: getattr(self, k) for k in RUN_KEYS
                    if getattr(self, k) is not None and getattr(self, k) != base.values[k]}
        return resolve_protocol(self.space, self.optimizer, {**self.optimizer_config, **explicit}, self.protocol)

    def cutout_prob_at(self, epoch: int) -> float:
        """Cutout probability of search epoch ``epoch``: ``cutout_prob``, or ``cutout_prob * e / (E - 1)`` ramped."""
        return self.cutout_prob * epoch / max(self.epochs - 1, 1) if self.cutout_ramp else float(self.cutout_prob)

    def optimizer_values(self) -> dict[str, Any]:
        """Every optimizer-config value of the run: the preset's, with ``optimizer_config`` applied."""
        return self.resolved_protocol().optimizer_values()

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunConfig:
        """Build from a JSON dict; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"run config: unknown keys {unknown} (known: {sorted(known)})")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def run_id(self) -> str:
        """Stable id: readable prefix + hash of the non-default fields but seed and device."""
        # only fields that differ from their defaults: adding a new field later keeps existing ids
        defaults = RunConfig().to_dict()
        body = {k: v for k, v in self.to_dict().items() if k not in ("seed", "device") and v != defaults[k]}
        digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:8]
        return f"{self.optimizer}-{self.space}-{self.dataset}-seed{self.seed}-{digest}"
