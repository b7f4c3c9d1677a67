"""NAS-Bench-201 search protocols (space ``nb201``).

AutoDL-Projects (D-X-Y/AutoDL-Projects) ran the NB-201 paper's searches:
``configs/nas-benchmark/algos/{DARTS,GDAS,SETN,RANDOM,ENAS}.config`` with the
scripts in ``scripts-search/NAS-Bench-201-algos/``. DrNAS, SDARTS and the
SNAS variant come from their authors' NB-201 code.
"""

from __future__ import annotations

from harness.protocols._blocks import DRNAS_ARCH_WD, arch_adam, no_cutout, no_scoring, vim_nas, weight_training
from harness.protocols.base import Family, V

_CFG = "AutoDL configs/nas-benchmark/algos"
_EXP = "AutoDL exps/NAS-Bench-201-algos"
_SH = "AutoDL scripts-search/NAS-Bench-201-algos"


_SCRIPT = {"DARTS": "DARTS-V1.py (--gradient_clip 5) / DARTS-V2.py", "GDAS": "GDAS.py", "SETN": "SETN.py",
           "RANDOM": "RANDOM-NAS.py", "ENAS": "ENAS.py"}


def _autodl(config: str, **kw) -> dict[str, V]:
    base = dict(lr=0.025, lr_min=0.001, momentum=0.9, wd=5e-4, nesterov=True, clip=5.0, epochs=50, batch=64)
    base.update(kw)
    return weight_training(f"{_CFG}/{config}.config", **base,
                           clip_src=f"{_EXP}/{_SCRIPT[config]} clip_grad_norm_",
                           period_src=(f"{_CFG}/{config}.config T_max" if base.get("period") else
                                       "AutoDL xautodl/procedures/optimizers.py get_optim_scheduler: T_max = epochs"))


def _author(src: str, epochs: int = 100) -> dict[str, V]:
    """DARTS-derived NB-201 scripts of DrNAS / SDARTS: DARTS's SGD values, 100 epochs."""
    return {**weight_training(src, lr=0.025, lr_min=0.001, momentum=0.9, wd=3e-4, nesterov=False, clip=5.0,
                              epochs=epochs, batch=64),
            **arch_adam(src, lr=3e-4, wd=1e-3),
            "step_order": V("arch-first", f"{src}: architect.step before the weight step"),
            "search_split": V("train-halves", f"{src}: --train_portion 0.5 of the training set on every dataset "
                                              "(the test set is never used); DataLoader without drop_last")}


_DRNAS = "DrNAS 201-space/train_search.py"
_SDARTS = "SDARTS nasbench201/train_search.py"

FAMILY = Family(
    name="nb201",
    spaces=("nb201",),
    description="NAS-Bench-201: AutoDL-Projects' NB-201 search configs; DrNAS/SDARTS from their NB-201 code",
    common={**_autodl("DARTS"), **arch_adam(f"{_SH}/DARTS-V1.sh", lr=3e-4, wd=1e-3),
            "arch_betas": V((0.5, 0.999), f"{_EXP}/DARTS-V1.py: Adam betas (0.5, 0.999)"),
            **no_scoring(), **no_cutout("AutoDL xautodl/datasets/get_dataset_with_transform.py"),
            "track_running_stats": V(True, "AutoDL docs/NAS-Bench-201.md: every documented search command passes "
                                           "BN tracking 1 (e.g. GDAS.sh cifar10 1 -1 -> --track_running_stats "
                                           "1); DrNAS / SDARTS NB-201 search models default to True. The paper "
                                           "reports both; BN=0 searches better (AutoDL-Projects issue #70)"),
            "search_split": V("nb201", "AutoDL xautodl/datasets/get_dataset_with_transform.py "
                                       "get_nas_search_loaders + SearchDatasetWrap.py SearchDataset: weights on the "
                                       "train part (CIFAR-100 / ImageNet16-120: the whole training set), "
                                       "architecture samples drawn at random from the valid part (x-valid); "
                                       "len = the train part, DataLoader without drop_last")},
    methods={
        **vim_nas(),
        "darts": {"step_order": V("weights-first", f"{_EXP}/DARTS-V1.py search_func: weight step, then "
                                                   "architecture step")},
        "darts-2nd": {"step_order": V("arch-first", f"{_EXP}/DARTS-V2.py search_func: unrolled architecture "
                                                    "step, then weight step")},
        "gdas": {**_autodl("GDAS", epochs=250), **arch_adam(f"{_SH}/GDAS.sh", lr=3e-4, wd=1e-3),
                 "tau_schedule": V("to-last-epoch", f"{_EXP}/GDAS.py: tau_max - (tau_max - tau_min) * epoch / "
                                                    "(epochs - 1)"),
                 "unselected_terms": V(True, "AutoDL xautodl/models/cell_searchs/search_cells.py "
                                             "SearchCell.forward_gdas: unselected ops add their weight")},
        "setn": {**_autodl("SETN", epochs=250), **arch_adam(f"{_SH}/SETN.sh", lr=3e-4, wd=1e-3),
                 "grad_clip": V(0.0, f"{_EXP}/SETN.py search_func: no gradient clipping of the weights"),
                 "select_batch_size": V(512, f"{_CFG}/SETN.config test_batch_size 512"),
                 "select_augment": V(False, f"{_EXP}/SETN.py get_best_arch: valid_loader with the test transform")},
        "rsws": {**_autodl("RANDOM", epochs=250),
                 "select_batch_size": V(512, f"{_CFG}/RANDOM.config test_batch_size 512"),
                 "select_augment": V(False, f"{_EXP}/RANDOM-NAS.py search_find_best: valid_loader with the test "
                                            "transform")},
        "enas": {**_autodl("ENAS", epochs=250, batch=128, lr=0.05, lr_min=5e-4, wd=2.5e-4, period=10),
                 "select_batch_size": V(128, f"{_EXP}/ENAS.py: valid_loader batch = config batch_size 128"),
                 "select_augment": V(True, f"{_EXP}/ENAS.py: valid_loader given the training transform")},
        "drnas": {**_author(_DRNAS), "arch_weight_decay": DRNAS_ARCH_WD},
        "snas-bilevel": {**_author(_DRNAS),
                         "arch_weight_decay": V(1e-3, "DrNAS architect.py: Adam weight decay = --reg_scale 1e-3 "
                                                      "(reg_type l2)"),
                         "tau_schedule": V("per-epoch-step", f"{_DRNAS}: tau += (tau_min - tau_max) / epochs "
                                                             "after each epoch")},
        "sdarts-rs": _author(_SDARTS),
        "sdarts-adv": _author(_SDARTS),
    },
    deviations={
        "*": ("Search split: NB-201's cifar-split.txt halves when the file is present, else class-balanced "
              "halves (harness.data.datasets); AutoDL uses the split file.",
              "The cosine learning rate is set once per epoch as AutoDL's CosineAnnealingLR computes it "
              "(its per-iteration update only matters during warm-up, which is 0)."),
        "darts-2nd": ("The unrolled virtual step uses plain momentum without Nesterov, as AutoDL DARTS-V2.py does "
                      "even though the weight SGD uses Nesterov.",),
        "sdarts-rs": ("SDARTS draws each architecture batch with replacement (next(iter(valid_queue))); we "
                      "draw without replacement per pass.",),
        "sdarts-adv": ("SDARTS draws each architecture batch with replacement (next(iter(valid_queue))); we "
                       "draw without replacement per pass.",),
        "pc-darts": ("No official PC-DARTS NB-201 protocol: AutoDL's DARTS values with PC-DARTS's own "
                     "architecture settings.",),
        "snas": ("Single-level SNAS (ours); the bilevel variant behind the usually cited NB-201 SNAS numbers is "
                 "snas-bilevel.",),
    },
)
