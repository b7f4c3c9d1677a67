"""Data: official-format readers, NB-201 splits, on-device batches and augmentation."""

from harness.data.augment import AUGMENT, AugmentSpec, augment, normalize
from harness.data.datasets import DATASETS, DatasetSplits, list_datasets, load_dataset, stratified_split
from harness.data.loader import BatchStream, search_streams

__all__ = ["AUGMENT", "DATASETS", "AugmentSpec", "BatchStream", "DatasetSplits", "augment", "list_datasets",
           "load_dataset", "normalize", "search_streams", "stratified_split"]
