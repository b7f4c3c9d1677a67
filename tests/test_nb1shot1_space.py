"""NAS-Bench-1Shot1 spaces: published sizes, encoding, enumeration, weights, NB-101 membership."""

from __future__ import annotations

import ast
import json

import numpy as np
import pytest
import torch

from benchmarks.nb1shot1 import compute_space_hashes
from search_spaces import Architecture, get_space
from search_spaces.errors import ArchitectureError
from search_spaces.nb101 import ModelSpec

NAMES = ("nb1shot1-s1", "nb1shot1-s2", "nb1shot1-s3")


def test_published_sizes():
    sizes = {n: get_space(n).size for n in NAMES}
    assert sizes == {"nb1shot1-s1": 6240, "nb1shot1-s2": 29160, "nb1shot1-s3": 363648}


def test_param_groups_follow_reference():
    shapes = {n: {g.name: g.shape for g in get_space(n).param_groups} for n in NAMES}
    assert shapes["nb1shot1-s1"] == {"ops": (4, 3), "parents3": (1, 3), "parents4": (1, 4), "output": (1, 5)}
    assert shapes["nb1shot1-s2"] == {"ops": (4, 3), "parents2": (1, 2), "parents3": (1, 3), "parents4": (1, 4),
                                     "output": (1, 5)}
    assert shapes["nb1shot1-s3"] == {"ops": (5, 3), "parents2": (1, 2), "parents3": (1, 3), "parents4": (1, 4),
                                     "parents5": (1, 5), "output": (1, 6)}


@pytest.mark.parametrize("name", NAMES)
def test_roundtrips_on_samples(name):
    space = get_space(name)
    rng = np.random.default_rng(1)
    for _ in range(300):
        a = space.sample(rng)
        space.validate(a)
        text = a.to_str()
        assert space.from_str(text) == a
        assert space.from_index(space.index(a)) == a
        assert space.discretize(space.one_hot(a)) == a
        spec = space.spec(a)
        assert spec.is_valid() and spec.original_matrix.shape == (7, 7)
        assert spec.original_matrix.sum() == sum(space.structure.parents)  # 9 edges before pruning


def test_s1_enumeration_is_a_bijection():
    space = get_space("nb1shot1-s1")
    archs = list(space.enumerate())
    assert len(archs) == len(set(archs)) == 6240
    assert [space.index(a) for a in archs] == list(range(6240))
    assert len({a.to_str() for a in archs}) == 6240


def test_parent_structure_and_input_output_edge():
    s1 = get_space("nb1shot1-s1")
    a = s1.from_index(0)
    ps = s1.parents(a)
    assert ps[1] == (0,) and ps[2] == (0, 1)  # blocks 1 and 2 have no parent choice in space 1
    # the input->output edge is an ordinary output-parent option
    w = s1.one_hot(a)
    w["output"] = torch.tensor([[5.0, 0.0, 0.0, 0.0, 4.0]])
    assert s1.parents(s1.discretize(w))[5] == (0, 4)


def test_discretize_top_k_and_dead_ops():
    s3 = get_space("nb1shot1-s3")
    w = {g.name: torch.zeros(g.shape) for g in s3.param_groups}
    w["ops"] = torch.tensor([[0.1, 0.8, 0.1]] * 5)
    w["output"] = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.3, 0.7]])  # output <- blocks 4, 5
    w["parents5"] = torch.tensor([[0.0, 0.0, 0.0, 0.6, 0.4]])  # block 5 <- blocks 3, 4
    w["parents4"] = torch.tensor([[0.0, 0.2, 0.8, 0.0]])  # block 4 <- blocks 1, 2
    w["parents3"] = torch.tensor([[0.9, 0.1, 0.0]])  # block 3 <- input
    w["parents2"] = torch.tensor([[0.5, 0.5]])  # tie: lower index (input) wins
    a = s3.discretize(w)
    ps = s3.parents(a)
    assert ps == {1: (0,), 2: (0,), 3: (0,), 4: (1, 2), 5: (3, 4), 6: (4, 5)}
    assert a.choices[:5] == (1, 1, 1, 1, 1)  # every block feeds somebody here
    w["parents4"] = torch.tensor([[0.9, 0.0, 0.8, 0.0]])  # block 4 <- input, block 2: block 1 is dead
    b = s3.discretize(w)
    assert b.choices[0] == 0  # canonical op of the dead block
    bad = Architecture("nb1shot1-s3", (1,) + b.choices[1:])
    with pytest.raises(ArchitectureError, match="no outgoing edge"):
        s3.validate(bad)


def test_from_str_rejects_non_members():
    s1 = get_space("nb1shot1-s1")
    text = s1.from_index(123).to_str()
    bits, ops = text.split("|")
    with pytest.raises(ArchitectureError):
        s1.from_str("1" + bits[1:] + "|" + ops)
    with pytest.raises(ArchitectureError, match="parents"):
        s1.from_str(bits[:6] + ("1" if bits[6] == "0" else "0") + bits[7:] + "|" + ops)
    with pytest.raises(ArchitectureError, match="dummy"):
        s1.from_str(bits + "|" + ops.replace("conv1x1-bn-relu,output", "maxpool3x3,output"))
    with pytest.raises(ArchitectureError):
        s1.from_str("garbage")


def test_fast_hashes_match_modelspec():
    space = get_space("nb1shot1-s1")
    hashes = compute_space_hashes(space, quiet=True)
    assert len(np.unique(hashes)) == 2685  # distinct NB-101 models in space 1
    for i in range(0, 6240, 97):
        assert hashes[i] == space.spec(space.from_index(i)).hash()


def test_real_cells_membership(shared_data):
    d = json.loads((shared_data / "nb101" / "nb101_500_subset.json").read_text())["nasbench101"]["cifar10"]
    real = {ModelSpec.from_tuple56(ast.literal_eval(k)).hash() for k in d}
    counts = {}
    for name in ("nb1shot1-s1", "nb1shot1-s2"):
        members = set(compute_space_hashes(get_space(name), quiet=True).tolist())
        counts[name] = len(real & members)
    # 292 distinct models among the 500 cells; these many lie in spaces 1 and 2
    assert counts == {"nb1shot1-s1": COUNT_S1, "nb1shot1-s2": COUNT_S2}


COUNT_S1 = 28
COUNT_S2 = 61
