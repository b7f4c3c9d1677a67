"""A cheaper ``torch.autograd.Function.apply`` for functions called with positional arguments only.

``Function.apply`` binds default arguments through ``inspect.signature`` on every call of a
function that defines ``setup_context`` (the style that functorch transforms need): tens of
microseconds in Python, at the supernets' small shapes as much as some of the ops these
functions run. Outside functorch transforms ``PositionalFunction.apply`` goes straight to the C++
``apply`` that ``Function.apply`` ends in; under ``vmap`` / ``grad`` it takes ``Function.apply``.
"""

from __future__ import annotations

from typing import Any

import torch

try:  # private torch API (2.0+): exactly what Function.apply checks and does
    from torch._C import _are_functorch_transforms_active as _functorch_active
    from torch._functorch.utils import unwrap_dead_wrappers as _unwrap_dead
except ImportError:  # pragma: no cover - other torch versions take Function.apply's path
    _functorch_active = None


class PositionalFunction(torch.autograd.Function):
    """``torch.autograd.Function`` base whose ``apply`` takes positional arguments only."""

    @classmethod
    def apply(cls, *args: Any) -> Any:
        if _functorch_active is None or _functorch_active():
            return super().apply(*args)
        return super(torch.autograd.Function, cls).apply(*_unwrap_dead(args))
