"""S5: 81 architectures, exact string/index round-trips, supernet equals discrete choices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from search_spaces import Architecture, SupernetConfig, get_space
from search_spaces.errors import ArchitectureError

S5 = get_space("s5")
TINY = SupernetConfig(channels=4, depth=3, in_channels=1, input_size=8, num_classes=10)


def test_enumeration_and_roundtrips():
    archs = list(S5.enumerate())
    assert len(archs) == 81 == len(set(archs)) == S5.size
    for i, a in enumerate(archs):
        assert S5.index(a) == i and S5.from_index(i) == a
        assert S5.from_str(S5.to_str(a)) == a
    assert S5.to_str(Architecture("s5", (2, 1, 0, 2))) == "|sep_conv_3x3~k-2|skip_connect~k-1|+|none~k-1|sep_conv_3x3~n0|"


@pytest.mark.parametrize("bad", ["", "|none~k-2|", "|none~k-1|none~k-2|+|none~k-1|none~n0|",
                                 "|conv~k-2|none~k-1|+|none~k-1|none~n0|"])
def test_malformed(bad):
    with pytest.raises(ArchitectureError) as e:
        S5.from_str(bad)
    assert repr(bad) in str(e.value)


def test_supernet_with_one_hot_equals_active_path_and_shapes():
    torch.manual_seed(0)
    net = S5.build_supernet(TINY).double()
    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    rng = np.random.default_rng(0)
    for _ in range(4):
        a = S5.sample(rng)
        w = S5.one_hot(a)["cell"].double()
        torch.testing.assert_close(net(x, {"cell": w}, active={"cell": list(a.choices)}), net(x, {"cell": w}))
        assert S5.discretize({"cell": w}) == a
    assert net(x, {"cell": torch.softmax(torch.randn(4, 4, 3, dtype=torch.float64), -1)}).shape == (4, 10)


def test_per_example_weights_equal_loop():
    torch.manual_seed(0)
    net = S5.build_supernet(TINY.with_overrides(track_running_stats=True)).double().eval()
    x = torch.randn(3, 1, 8, 8, dtype=torch.float64)
    w = torch.softmax(torch.randn(3, 4, 3, dtype=torch.float64), -1)
    torch.testing.assert_close(net(x, {"cell": w}), torch.cat([net(x[i:i + 1], {"cell": w[i]}) for i in range(3)]))


def test_discrete_network():
    a = S5.from_str("|none~k-2|sep_conv_3x3~k-1|+|skip_connect~k-1|sep_conv_3x3~n0|")
    net = S5.build_network(a, TINY)
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    assert all(len(e) == 1 for cell in net.cells for e in cell.edges)
