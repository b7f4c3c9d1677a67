"""Search steps perform no host synchronisation (a CPU stand-in for CUDA's sync-debug mode).

``torch.cuda.set_sync_debug_mode`` needs a GPU, so the Python entry points that
read a tensor's value on the host (``item``, ``tolist``, ``bool``/``float``/
``int``/``index`` conversion, ``numpy``) and the ops whose output shape
depends on values (``nonzero``, ``unique``, ``masked_select``, boolean-mask
indexing) are wrapped while ``step`` runs. A call counts as a sync when the
call stack passes through this project's code (``harness/``,
``search_spaces/``, ``benchmarks/``), whether the project calls it directly
(``.tolist()``) or a torch function it calls does (``Dirichlet``'s argument
validation). Calls are recorded rather than raised, so that a ``try`` in
library code cannot hide one.

One torch-internal read is allowed: ``torch.optim.optimizer._get_value``,
which Adam/SGD call on their ``step`` counters. Those counters live on the
CPU unless the optimizer is ``capturable`` or ``fused``, so on a GPU run the
read does not wait for the device.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from harness.optimizers import create_optimizer, list_optimizers, supernet_overrides
from harness.optimizers.parts.candidates import best_index
from search_spaces import get_space

ROOT = Path(__file__).resolve().parents[1]
OURS = tuple(str(ROOT / d) + "/" for d in ("harness", "search_spaces", "benchmarks"))
READS = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__", "numpy", "__array__")
SHAPE_OPS = ("nonzero", "unique", "masked_select")
#: (file suffix, function) of callers allowed to read a value: torch's Adam step counter (a CPU tensor,
#: see the module doc) and ``SearchSpace.active_indices``, whose one-hot is built on the host by contract.
ALLOWED = {("torch/optim/optimizer.py", "_get_value"), ("search_spaces/space.py", "active_indices")}

#: Optimizers whose step syncs today, with why. strict xfail: fixing one makes its test XPASS and fail,
#: so this set must shrink with the fix.
SYNCING = {
    "gdas": "gdas.py hard_sample: .tolist() of the sampled op indices, so the supernet can skip unsampled ops",
    "enas": "enas.py: int() of each controller sample (parts/controller.py); host-side by design (the "
            "controller's REINFORCE update runs after the epoch, outside the step)",
}


class SyncRecorder:
    """Wraps the host-read entry points; ``hits`` lists ``(what, innermost project frame)``."""

    def __init__(self) -> None:
        self.hits: list[tuple[str, str]] = []
        self.active = False

    def check(self, what: str) -> None:
        if not self.active:
            return
        f = sys._getframe(2)  # the caller of the wrapped method
        while f.f_code.co_name in ("<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>") and f.f_back is not None:
            f = f.f_back  # a comprehension's frame (Python < 3.12) stands for the function it is written in
        if any(f.f_code.co_filename.endswith(file) and f.f_code.co_name == fn for file, fn in ALLOWED):
            return
        while f is not None:
            if f.f_code.co_filename.startswith(OURS):
                self.hits.append((what, f"{Path(f.f_code.co_filename).relative_to(ROOT)}:{f.f_lineno}"))
                return
            f = f.f_back

    @contextmanager
    def recording(self) -> Iterator[SyncRecorder]:
        self.active = True
        try:
            yield self
        finally:
            self.active = False


def _wrap(rec: SyncRecorder, what: str, fn, mask_only: bool = False):
    def wrapped(*args, **kw):
        if not mask_only or any(isinstance(a, torch.Tensor) and a.dtype == torch.bool for a in _flat(args[1:])):
            rec.check(what)
        return fn(*args, **kw)

    return wrapped


def _flat(xs) -> Iterator:
    for x in xs:
        if isinstance(x, (tuple, list)):
            yield from _flat(x)
        else:
            yield x


@pytest.fixture
def recorder(monkeypatch) -> SyncRecorder:
    rec = SyncRecorder()
    for name in READS:
        monkeypatch.setattr(torch.Tensor, name, _wrap(rec, name, getattr(torch.Tensor, name)))
    for name in SHAPE_OPS:
        monkeypatch.setattr(torch.Tensor, name, _wrap(rec, name, getattr(torch.Tensor, name)))
        monkeypatch.setattr(torch, name, _wrap(rec, f"torch.{name}", getattr(torch, name)))
    for name in ("__getitem__", "__setitem__"):
        monkeypatch.setattr(torch.Tensor, name, _wrap(rec, f"bool-mask {name}", getattr(torch.Tensor, name), True))
    return rec


def _tiny_optimizer(name: str):
    """As tests/test_optimizers.py: NB-201, C=4, one cell per stage, 8x8 one-channel inputs, 3 classes."""
    space = get_space("nb201")
    over = {"n_candidates": 3} if name in ("rsws", "enas", "setn", "oneshot", "nsa") else {}
    if name == "pc-darts":
        over = {"partial_channels": 2, "warmup_epochs": 0}  # warm-up 0: the architecture step runs too
    cfg = space.default_config().with_overrides(num_classes=3, in_channels=1, input_size=8, channels=4, depth=1,
                                                **supernet_overrides(name, over))
    torch.manual_seed(0)
    net = space.build_supernet(cfg)
    return create_optimizer(name, space, net, over, epochs=2, steps_per_epoch=2, seed=0)


def _batch(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(8, 1, 8, 8, generator=g), torch.randint(0, 3, (8,), generator=g)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=SYNCING[n]))
                                  if n in SYNCING else n for n in list_optimizers()])
def test_step_does_not_sync(name, recorder):
    opt = _tiny_optimizer(name)
    g = torch.Generator().manual_seed(0)
    data = [(_batch(g), _batch(g)) for _ in range(2)]
    opt.on_epoch_start(0)
    with recorder.recording():
        for train, valid in data:  # the first step included: lazy optimizer state must not sync either
            opt.step(train, valid)
    assert not recorder.hits, f"{name} step synchronises with the host: {sorted(set(recorder.hits))}"


def test_batched_darts_step_does_not_sync(recorder):
    from harness.run.batched_seeds import BatchedDarts

    space = get_space("nb201")
    cfg = space.default_config().with_overrides(num_classes=3, in_channels=1, input_size=8, channels=4, depth=1)
    b = BatchedDarts(space, cfg, [0, 1])
    g = torch.Generator().manual_seed(0)
    stack = lambda: tuple(torch.stack(t) for t in zip(_batch(g), _batch(g)))  # noqa: E731
    with recorder.recording():
        b.step(stack(), stack())
    assert not recorder.hits, sorted(set(recorder.hits))


def test_recorder_sees_project_syncs_only(recorder):
    with recorder.recording():
        torch.tensor(1.0).item()  # from the test itself: not a project frame
        torch.tensor([True, False]).nonzero()
        best_index(torch.tensor([0.1, 0.3]))  # .tolist() inside harness/
        torch.arange(3)[torch.tensor([True, False, True])]  # mask indexing from the test: ignored
    assert [h[0] for h in recorder.hits] == ["tolist"] and "harness/optimizers/parts/candidates.py" in recorder.hits[0][1]
