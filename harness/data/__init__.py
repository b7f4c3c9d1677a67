"""Data: official-format readers, NB-201 splits, on-device augmentation and resumable batch streams.

Datasets are held whole as tensors on the run's device; augmentation is
batched tensor ops there; every random draw comes from an explicit
``torch.Generator``. See ``datasets`` for the split table. Imports no other harness room.
"""

from harness.data.augment import AUGMENT, AugmentSpec, augment, augment_and_normalize, augment_spec, normalize
from harness.data.datasets import DATASETS, SPLITS, DatasetInfo, DatasetSplits, list_datasets, load_dataset
from harness.data.loader import BatchStream, derive_seed, search_streams, selection_stream, set_cutout
from harness.data.splits import balanced_subset, stratified_order, stratified_split

__all__ = ["AUGMENT", "DATASETS", "SPLITS", "AugmentSpec", "BatchStream", "DatasetInfo", "DatasetSplits", "augment",
           "augment_and_normalize", "augment_spec", "balanced_subset", "derive_seed", "list_datasets",
           "load_dataset", "normalize", "search_streams", "selection_stream", "set_cutout", "stratified_order", "stratified_split"]
