"""Data protocols are conformance too: per family, dataset and optimizer, Cutout on/off, the search split, where
architecture batches come from and steps per epoch, against the official code (file and line cited per row).

Official sizes: CIFAR-10 / CIFAR-100 50,000 training images, CIFAR-100 x-valid 5,000 (half of its 10,000
test images), ImageNet16-120 151,700 training and 3,000 x-valid images (half of 6,000), batch 64.
"""

from __future__ import annotations

import math

import pytest

from harness.data.search_split import planned_sizes, search_data, search_setup, steps_per_epoch
from harness.run.config import RunConfig

# DatasetSplits.sizes() of the full official data (harness/data/datasets.py's table)
SIZES = {"cifar10": {"train": 50000, "search_train": 25000, "search_valid": 25000},
         "cifar100": {"train": 50000, "search_train": 50000, "search_valid": 5000},
         "ImageNet16-120": {"train": 151700, "search_train": 151700, "search_valid": 3000}}

# (space, dataset, optimizer, optimizer config) -> (cutout length, split, weight images, architecture images,
# steps per epoch at batch 64), with the official line that decides each
CASES = [
    # AutoDL get_nas_search_loaders: cifar10-valid halves; cifar100 / ImageNet16-120: train + x-valid;
    # SearchDataset.__len__ = the train part; DataLoader(batch 64, shuffle) keeps the last batch
    ("nb201", "cifar10", "darts", {}, (0, "nb201", 25000, 25000, 391)),
    ("nb201", "cifar100", "gdas", {}, (0, "nb201", 50000, 5000, 782)),
    ("nb201", "ImageNet16-120", "setn", {}, (0, "nb201", 151700, 3000, 2371)),
    # DrNAS 201-space/train_search.py / SDARTS nasbench201: --train_portion 0.5 of the training set
    ("nb201", "cifar100", "drnas", {}, (0, "train-halves", 25000, 25000, 391)),
    ("nb201", "ImageNet16-120", "sdarts-rs", {}, (0, "train-halves", 75850, 75850, 1186)),
    # RobustDARTS src/search/args.py: train_portion 0.5 (every dataset); Helper.__init__: cutout off at dp 0;
    # scripts/DARTS_search.sh --cutout kept at dp > 0; scripts/RandomNAS.sh: no --cutout
    ("s1", "cifar10", "darts-2nd", {}, (0, "train-halves", 25000, 25000, 391)),
    ("s2", "cifar100", "darts-es", {}, (0, "train-halves", 25000, 25000, 391)),
    ("s3", "cifar10", "darts-dp", {"drop_path_prob": 0.0}, (0, "train-halves", 25000, 25000, 391)),
    ("s3", "cifar10", "darts-dp", {"drop_path_prob": 0.2}, (16, "train-halves", 25000, 25000, 391)),
    ("s4", "cifar100", "darts-dp", {"drop_path_prob": 0.6}, (16, "train-halves", 25000, 25000, 391)),
    ("s1", "cifar10", "darts-dp", {"drop_path_prob": 0.0, "w_weight_decay": 2.43e-2},
     (0, "train-halves", 25000, 25000, 391)),
    ("s1", "cifar10", "rsws", {}, (0, "train-halves", 25000, 25000, 391)),
    ("s1", "cifar10", "gdas", {}, (0, "train-halves", 25000, 25000, 391)),
    ("s1", "cifar10", "balenas", {}, (0, "train-halves", 25000, 25000, 391)),
    ("s1", "cifar10", "vim-nas", {}, (0, "train-halves", 25000, 25000, 391)),
    # PC-DARTS train_search.py: no cutout, batch 256 -> ceil(25000 / 256) = 98 steps
    ("s1", "cifar10", "pc-darts", {}, (0, "train-halves", 25000, 25000, 98)),
    # nasbench-1shot1 optimizers/darts/train_search.py: train_portion 0.5, no cutout, batch 96 -> 261 steps
    ("nb1shot1-s3", "cifar10", "darts", {}, (0, "train-halves", 25000, 25000, 261)),
]


@pytest.mark.parametrize("space,dataset,optimizer,cfg,expect", CASES)
def test_search_data_protocol_matches_the_official_code(space, dataset, optimizer, cfg, expect):
    c = RunConfig(space=space, dataset=dataset, optimizer=optimizer, optimizer_config=cfg,
                  benchmark="none")
    cutout, split, n_w, n_a, steps = expect
    assert (c.cutout_length, c.search_split) == (cutout, split)
    assert planned_sizes(c.search_split, SIZES[dataset]) == (n_w, n_a)
    assert steps_per_epoch(c.search_split, n_w, n_a, c.batch_size) == steps
    assert steps == math.ceil(n_w / c.batch_size)  # one pass over the weights' images, last batch kept
    src = c.resolved_protocol().sources
    assert src["search_split"] and src["cutout_length"] and "override" not in src["cutout_length"]


def test_the_embedded_demo_keeps_full_batches():
    c = RunConfig()
    assert c.search_split == "ours" and steps_per_epoch("ours", 538, 539, 64) == 8


def test_streams_follow_the_split_on_real_images(cifar10_dir):
    """The runner's setup on the shared CIFAR-10 images: halves of the training set, the last batch kept."""
    from harness.data import load_dataset

    splits = load_dataset("cifar10", cifar10_dir)
    n = len(splits.train[1])
    for mode, steps in (("train-halves", math.ceil((n // 2) / 64)), ("nb201", math.ceil((n // 2) / 64)),
                        ("ours", (n // 2) // 64)):
        s = search_data(splits, mode)
        train_s, valid_s, k = search_setup(s, mode, 64, 0)
        assert k == steps and len(s.search_train[1]) == n // 2
        sizes = [len(train_s.next()[1]) for _ in range(k)]
        assert sizes[-1] == (n // 2) % 64 if mode != "ours" else sizes[-1] == 64
        assert len(valid_s.next()[1]) == 64  # architecture batches are full
    halves = search_data(splits, "train-halves")
    both = sorted(halves.search_train[1].tolist() + halves.search_valid[1].tolist())
    assert both == sorted(splits.train[1].tolist())  # the training set only, never the test set
