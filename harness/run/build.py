"""What a run and an in-memory training build alike: the device and the supernet config."""

from __future__ import annotations

from typing import Any

import torch

from harness.optimizers import supernet_overrides
from harness.run.config import RunConfig
from search_spaces import SupernetConfig
from search_spaces.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda if available else cpu; validates the name."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r} (use cpu, cuda, cuda:N or auto)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available")
    return dev


def supernet_config(run: RunConfig, space: Any, splits: Any) -> SupernetConfig:
    """The run's supernet config: the space's protocol size, the data's shape, what the optimizer
    needs (``supernet_overrides``), then the run's explicit fields (which win)."""
    opt = supernet_overrides(run.optimizer, run.optimizer_values())
    explicit = {k: v for k, v in (("channels", run.channels), ("depth", run.depth),
                                  ("track_running_stats", run.track_running_stats)) if v is not None}
    return space.default_config().with_overrides(
        num_classes=splits.num_classes, in_channels=splits.in_channels, input_size=splits.input_size,
        **{**opt, **explicit})
