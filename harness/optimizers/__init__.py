"""Search optimizers, one file each, registered in ``OPTIMIZERS``.

``create_optimizer(name, space, supernet, overrides, epochs=, steps_per_epoch=, seed=)``
builds one; ``list_optimizers()`` names them. Plug-ins register more with
``register_optimizer`` (see ``search_spaces.registry`` for how they are found).
May import ``metrics`` and ``data`` (and ``search_spaces``).
"""

from __future__ import annotations

from typing import Any

from search_spaces.registry import Registry

#: Modules whose import registers the built-in optimizers.
_BUILTIN: list[str] = ["harness.optimizers.darts", "harness.optimizers.gdas", "harness.optimizers.rsws",
                       "harness.optimizers.sdarts", "harness.optimizers.snas", "harness.optimizers.snas_bilevel",
                       "harness.optimizers.drnas",
                       "harness.optimizers.enas", "harness.optimizers.setn", "harness.optimizers.pcdarts",
                       "harness.optimizers.balenas", "harness.optimizers.vimnas", "harness.optimizers.oneshot",
                       "harness.optimizers.nsa", "harness.optimizers.robust_darts"]


def _adopt(name: str, obj: Any) -> None:
    # an entry point naming an optimizer class that did not register itself
    if isinstance(obj, type):
        obj.name = name
        OPTIMIZERS.register(name, obj)


OPTIMIZERS: Registry[type] = Registry("optimizer", _BUILTIN, "nas_harness.optimizers", _adopt)


def register_optimizer(name: str):
    """Class decorator registering a ``SearchOptimizer`` subclass under ``name``."""

    def deco(cls):
        OPTIMIZERS.register(name, cls)
        return cls

    return deco


def get_optimizer_class(name: str) -> type:
    """The optimizer class registered as ``name`` (built-in or plug-in)."""
    return OPTIMIZERS.get(name)


def list_optimizers() -> list[str]:
    """Names of every registered optimizer."""
    return OPTIMIZERS.names()


def make_config(name: str, overrides: dict[str, Any] | None = None):
    """The optimizer's config with ``overrides`` applied (unknown keys rejected)."""
    cls = get_optimizer_class(name)
    return cls.config_cls.from_dict(dict(overrides or {}))


def supernet_overrides(name: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Supernet config fields the optimizer needs (e.g. PC-DARTS' partial channels)."""
    cls = get_optimizer_class(name)
    fn = getattr(cls, "supernet_overrides", None)
    return fn(make_config(name, overrides)) if fn is not None else {}


def create_optimizer(name: str, space, supernet, overrides: dict[str, Any] | None = None, *,
                     epochs: int, steps_per_epoch: int, seed: int):
    """Instantiate optimizer ``name`` on ``supernet``."""
    cls = get_optimizer_class(name)
    return cls(space, supernet, make_config(name, overrides), epochs=epochs,
               steps_per_epoch=steps_per_epoch, seed=seed)
