"""NAS-Bench-1Shot1 search protocols (``nb1shot1-s1``..``s3``): automl/nasbench-1shot1 ``optimizers/*/train_search.py``."""

from __future__ import annotations

from harness.protocols._blocks import DRNAS_ARCH_WD, arch_adam, no_cutout, no_scoring, vim_nas, weight_training
from harness.protocols.base import Family, V

_OPT = "nasbench-1shot1 optimizers"


def _script(name: str, epochs: int) -> dict[str, V]:
    src = f"{_OPT}/{name}/train_search.py"
    return {**weight_training(src, lr=0.025, lr_min=0.001, momentum=0.9, wd=3e-4, nesterov=False, clip=5.0,
                              epochs=epochs, batch=96),
            **arch_adam(src, lr=3e-4, wd=1e-3),
            "step_order": V("arch-first", f"{src}: architect.step before the weight step")}


FAMILY = Family(
    name="nb1shot1",
    spaces=("nb1shot1-s1", "nb1shot1-s2", "nb1shot1-s3"),
    description="NAS-Bench-1Shot1: automl/nasbench-1shot1 search scripts (batch 96)",
    common={**_script("darts", 50), **no_scoring(), **no_cutout(f"{_OPT}/darts/train_search.py"),
            "track_running_stats": V(None, "ours: the supernet's default (search BNs keep no running statistics); "
                                          "the official search code tracks them (BatchNorm2d's default), which "
                                          "only its eval-mode passes use"),
            "search_split": V("train-halves", f"{_OPT}/darts/train_search.py --train_portion 0.5 of CIFAR-10's "
                                              "training set; DataLoader without drop_last")},
    methods={
        **vim_nas(),
        "gdas": {**_script("gdas", 100),
                 "unselected_terms": V(False, f"{_OPT}/gdas/model_search.py MixedOpGDAS: only ops with "
                                              "non-zero weight (the sample)"),
                 "tau_min": V(1.0, f"{_OPT}/gdas/train_search.py --tau_min 1"),
                 "tau_schedule": V("per-epoch-step", f"{_OPT}/gdas/train_search.py: tau += (tau_min - tau_max) / "
                                                     "epochs after each epoch"),
                 "step_order": V("arch-first", f"{_OPT}/gdas/train_search.py train(): architect.step before "
                                               "optimizer.step"),
                 "hard_groups": V(("ops",), f"{_OPT}/gdas/model_search.py forward: gumbel_softmax(hard=True) for "
                                            "the mixed ops only, hard=False for the input and output weights"),
                 "per_cell": V(True, f"{_OPT}/gdas/model_search.py forward: the samples are drawn inside the loop "
                                     "over cells")},
        "drnas": {"arch_weight_decay": DRNAS_ARCH_WD},
        "pc-darts": {**_script("pc_darts", 100),
                     "warmup_epochs": V(0, f"{_OPT}/pc_darts/train_search.py --warm_start_epochs 0")},
    },
    deviations={
        "*": ("The reference splits CIFAR-10's training set at train_portion 0.5 (first half / second half); we "
              "use NB-201's class-balanced halves.",),
    },
)
