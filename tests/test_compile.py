"""``harness run --compile``: the compiled supernet gives the eager trajectory.

The tests compile with the ``aot_eager`` backend: it exercises the graph
capture (dynamo) and the compiled autograd (AOTAutograd) that every backend
shares, without the minutes of C++ code generation that ``inductor`` needs on
a CPU. Inductor itself is PyTorch's to test; its speed is ``harness bench``'s.
"""

from __future__ import annotations

import functools

import pandas as pd
import pytest
import torch

import harness.run.runner as runner
from harness.metrics.curvature import EigenConfig, dominant_eigenvalue
from harness.optimizers import create_optimizer
from harness.run.config import RunConfig
from harness.run.runner import SearchRun, compile_supernet
from search_spaces import get_space
from search_spaces.errors import ConfigError


def _cfg(**kw) -> RunConfig:
    base = dict(space="nb201", dataset="digits", benchmark="none", optimizer="darts", epochs=2,
                batch_size=32, subset=96, channels=4, depth=1)
    return RunConfig(**{**base, **kw})


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def test_compiled_run_gives_the_eager_trajectory(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "compile_supernet", functools.partial(compile_supernet, backend="aot_eager"))
    ref, comp = _cfg(), _cfg(compile="default")
    assert ref.run_id() != comp.run_id()
    SearchRun(ref, tmp_path).run()
    assert SearchRun(comp, tmp_path).run()["status"] == "finished"
    a, b = (pd.read_csv(tmp_path / c.run_id() / "trajectory.csv") for c in (ref, comp))
    assert (a["arch"] == b["arch"]).all()
    cols = ["train_loss", "valid_loss", "train_acc", "valid_acc"]
    torch.testing.assert_close(torch.tensor(b[cols].to_numpy()), torch.tensor(a[cols].to_numpy()),
                               atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("space", ["nb201"])
def test_compiled_steps_match_and_curvature_still_works(space):
    sp = get_space(space)
    cfg = sp.default_config().with_overrides(channels=4, depth=1 if space == "nb201" else 3, input_size=8,
                                             in_channels=3, num_classes=10)
    gen = torch.Generator().manual_seed(1)
    batches = [(torch.randn(8, 3, 8, 8, generator=gen), torch.randint(0, 10, (8,), generator=gen))
               for _ in range(7)]
    opts = []
    for compiled in (False, True):
        torch.manual_seed(0)
        net = sp.build_supernet(cfg)
        if compiled:
            compile_supernet(net, "default", backend="aot_eager")
        opt = create_optimizer("darts", sp, net, epochs=1, steps_per_epoch=3, seed=0)
        opt.on_epoch_start(0)
        for i in range(3):
            opt.step(batches[2 * i], batches[2 * i + 1])
        opts.append(opt)
    eager, comp = opts
    for (k, a), b in zip(eager.arch_parameters().items(), comp.arch_parameters().values()):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5, msg=k)
    # double backward is not compiled: the evaluation runs the eager forward
    ev = [dominant_eigenvalue(o, batches[6:], EigenConfig(method="exact")).dominant for o in opts]
    assert ev[1] == pytest.approx(ev[0], rel=1e-4)


def test_unknown_compile_mode_is_refused():
    with pytest.raises(ConfigError, match="compile"):
        _cfg(compile="fast")
