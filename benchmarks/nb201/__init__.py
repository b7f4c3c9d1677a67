"""NAS-Bench-201 ground truth: official .pth, NATS-Bench or CSV, one canonical cached table.

``load_benchmark("nb201", FILE)`` accepts the official
``NAS-Bench-201-v1_0-e61699.pth`` / ``-v1_1-096897.pth``, a NATS-Bench
``NATS-tss-v1_0-3ffb9-simple/`` directory (or the single
``NATS-tss-v1_0-3ffb9.pickle.pbz2``), one NB-201 CSV, or a directory of CSVs
(all merged). The first load converts it into ``cache_root()/nb201-<sha256>/``;
later loads read that table. Rows are the 15,625 cells in official index
order (a CSV covering a subset gives just those rows).

Canonical names (``MetricKey(dataset, split, metric, epochs)``):

| dataset | split | official dataset | official set | model trained on |
| --- | --- | --- | --- | --- |
| cifar10 | train | cifar10-valid | train | CIFAR-10 train half (25k) |
| cifar10 | valid | cifar10-valid | x-valid | CIFAR-10 train half; scored on the valid half (25k) |
| cifar10 | test | cifar10 | ori-test | CIFAR-10 train + valid (50k); scored on the test set |
| cifar100 | train | cifar100 | train | CIFAR-100 train |
| cifar100 | valid | cifar100 | x-valid | CIFAR-100 train; scored on half of the test set |
| cifar100 | test | cifar100 | x-test | CIFAR-100 train; scored on the other half |
| ImageNet16-120 | train | ImageNet16-120 | train | ImageNet16-120 train |
| ImageNet16-120 | valid | ImageNet16-120 | x-valid | ImageNet16-120 train; half of its validation set |
| ImageNet16-120 | test | ImageNet16-120 | x-test | ImageNet16-120 train; the other half |

Note that cifar10 valid and test come from two different trainings.

| metric | meaning |
| --- | --- |
| accuracy | top-1 accuracy in percent after the final epoch (``epochs - 1``) |
| loss | cross-entropy after the final epoch |
| time | total training seconds of the run behind the split (sum over all epochs; official ``train-all-time``) |
| params | parameters in millions (official ``params``, "MB") |
| flops | FLOPs in millions (official ``flop``) |

| epochs | official hyper-parameters |
| --- | --- |
| 12 | ``less`` in the .pth, ``"12"`` in NATS-Bench (v1_0 has 12-epoch runs of cifar10-valid only) |
| 200 | ``full`` in the .pth, ``"200"`` in NATS-Bench |

Seeds are the official trial seeds as strings (``"777"``, ``"888"``,
``"999"``); ``seed="mean"`` averages the trials present (the official
``is_random=False``). The CSVs publish means only (``seeds == []``): the
200-epoch CSV gives ``*/test/accuracy@200``, the 12-epoch CSV
``*/valid/accuracy@12`` and ``*/test/accuracy@12``. Not imported: the
``ori-test`` set of cifar100 / ImageNet16-120 (valid + test together), the
cifar10-valid run's test score, top-5, latency, evaluation times and the
per-epoch curves. Anything absent raises ``BenchmarkError``; nothing falls
back to a neighbouring split or budget.
"""

from __future__ import annotations

from benchmarks.nb201.csv_import import import_csv, merge_tables
from benchmarks.nb201.loader import ACCEPTED, NB201Benchmark, cache_dir, convert, load_nb201, source_digest
from benchmarks.nb201.official import HP_EPOCHS, SPLITS, import_nats_dir, import_pth

__all__ = ["ACCEPTED", "HP_EPOCHS", "NB201Benchmark", "SPLITS", "cache_dir", "convert", "import_csv",
           "import_nats_dir", "import_pth", "load_nb201", "merge_tables", "source_digest"]
