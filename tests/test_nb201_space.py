"""NB-201 encoding: strings, op tuples and official indices round-trip exactly."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from search_spaces import Architecture, get_space
from search_spaces.errors import ArchitectureError

NB201 = get_space("nb201")
BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"


def test_enumeration_is_complete_and_distinct():
    archs = list(NB201.enumerate())
    assert len(archs) == 15625 == NB201.size
    assert len(set(archs)) == 15625
    assert all(NB201.index(a) == i for i, a in enumerate(archs[:500]))


@pytest.mark.parametrize("i", [0, 1, 1835, 6111, 9930, 15624])
def test_roundtrip_index_string_tuple(i):
    a = NB201.from_index(i)
    s = NB201.to_str(a)
    assert NB201.from_str(s) == a
    assert Architecture("nb201", a.choices).index == i
    assert hash(a) == hash(Architecture("nb201", tuple(a.choices)))


def test_official_order_matches_real_table(shared_data):
    with open(shared_data / "nb201" / "nb201_200epoch_test.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 15625
    for i, r in enumerate(rows):
        assert NB201.from_str(r["ArchitectureString"]).index == i
    assert NB201.from_str(BEST).index == 6111
    assert float(rows[NB201.from_str(ALL_SKIP).index]["CIFAR10TestAccuracy200Epochs"]) == pytest.approx(54.2967, abs=1e-3)


@pytest.mark.parametrize("bad", [
    "", "garbage", "|nor_conv_3x3~0|", "|conv~0|+|skip_connect~0|skip_connect~1|+|none~0|none~1|none~2|",
    "|skip_connect~1|+|skip_connect~0|skip_connect~1|+|none~0|none~1|none~2|",
    "|skip_connect~0|+|skip_connect~0|+|none~0|none~1|none~2|",
])
def test_malformed_strings_raise_quoting_input(bad):
    with pytest.raises(ArchitectureError) as e:
        NB201.from_str(bad)
    assert repr(bad) in str(e.value)


def test_out_of_space_tuple_rejected():
    with pytest.raises(ArchitectureError):
        NB201.to_str(Architecture("nb201", (5, 0, 0, 0, 0, 0)))
    with pytest.raises(ArchitectureError):
        NB201.from_index(15625)


def test_uniform_sampling_uses_the_generator():
    a = [NB201.sample(np.random.default_rng(3)) for _ in range(2)]
    assert a[0] == a[1]
    counts = np.zeros(5)
    rng = np.random.default_rng(0)
    for _ in range(2000):
        for c in NB201.sample(rng).choices:
            counts[c] += 1
    assert counts.min() / counts.max() > 0.9


def test_discretize_inverts_one_hot():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = NB201.sample(rng)
        assert NB201.discretize(NB201.one_hot(a)) == a
    w = torch.zeros(6, 5)
    w[:, 3] = 1
    assert NB201.to_str(NB201.discretize({"cell": w})).count("nor_conv_3x3") == 6
