"""RobustDARTS spaces S1-S4 (``s1``..``s4``): automl/RobustDARTS ``src/search/args.py``.

PC-DARTS, SDARTS and DrNAS on these DARTS-cell spaces use their authors'
DARTS-space search scripts.
"""

from __future__ import annotations

from harness.protocols._blocks import DRNAS_ARCH_WD, arch_adam, no_cutout, no_scoring, weight_training
from harness.protocols.base import Family, V

_RD = "RobustDARTS src/search/args.py"
_PC = "PC-DARTS train_search.py"
_SD = "SDARTS optimizers/darts/train_search.py"
_DR = "DrNAS DARTS-space/train_search.py"
_sdarts = weight_training(_SD, lr=0.025, lr_min=0.001, momentum=0.9, wd=3e-4, nesterov=False, clip=5.0, epochs=50,
                          batch=64)

FAMILY = Family(
    name="robustdarts",
    spaces=("s1", "s2", "s3", "s4"),
    description="RobustDARTS S1-S4: automl/RobustDARTS search defaults; PC-DARTS/SDARTS/DrNAS from their DARTS-space scripts",
    common={**weight_training(_RD, lr=0.025, lr_min=0.001, momentum=0.9, wd=3e-4, nesterov=False, clip=5.0,
                              epochs=50, batch=64),
            **arch_adam(_RD, lr=3e-4, wd=1e-3),
            "arch_betas": V((0.5, 0.999), "RobustDARTS src/search/architect.py: Adam betas (0.5, 0.999)"),
            "step_order": V("arch-first", "RobustDARTS src/search/train_search.py: architect.step before the "
                                          "weight step"),
            **no_scoring(),
            "cutout_length": V(16, "RobustDARTS scripts/DARTS_search.sh and DARTS-ADA_search.sh pass --cutout; "
                                   "args.py --cutout_length 16 (train and valid batches: one transform)"),
            "cutout_prob": V(1.0, f"{_RD} --cutout_prob 1.0"),
            "cutout_ramp": V(False, "RobustDARTS src/search/train_search.py sets transforms[-1].cutout_prob, an "
                                    "attribute src/utils.py Cutout never reads (it reads .prob): the probability "
                                    "stays 1.0 in the runs as made")},
    methods={
        "gdas": {"unselected_terms": V(False, "AutoDL search_cells.py NASNetSearchCell / MixedOp.forward_gdas: "
                                              "only the sampled op")},
        "pc-darts": {**no_cutout(_PC),
                     **weight_training(_PC, lr=0.1, lr_min=0.0, momentum=0.9, wd=3e-4, nesterov=False, clip=5.0,
                                       epochs=50, batch=256),
                     **arch_adam(_PC, lr=6e-4, wd=1e-3)},
        "sdarts-rs": {**no_cutout(_SD), **_sdarts},
        "sdarts-adv": {**no_cutout(_SD), **_sdarts},
        "drnas": {**no_cutout(_DR),
                  **weight_training(_DR, lr=0.1, lr_min=0.0, momentum=0.9, wd=3e-4, nesterov=False, clip=5.0,
                                    epochs=50, batch=64),
                  "arch_lr": V(6e-4, f"{_DR} --arch_learning_rate 6e-4"),
                  "arch_weight_decay": DRNAS_ARCH_WD,
                  "partial_channels": V(6, f"{_DR} --k 6 (initial partial-channel K)")},
    },
    deviations={
        "*": ("RobustDARTS splits CIFAR-10's training set at train_portion 0.5 (first 25,000 images / the rest); "
              "we use NB-201's class-balanced halves (25,000 / 25,000).",
              "torch's CosineAnnealingLR stepped before each epoch (as the DARTS-derived scripts do) gives "
              "epoch e the rate at e / epochs on the PyTorch versions they ran; we use e / epochs."),
        "drnas": ("DrNAS's DARTS-space search grows the partial-channel K and prunes ops progressively in stages; "
                  "we keep K fixed at its initial 6 and do not prune.",),
        "sdarts-rs": ("SDARTS draws each architecture batch with replacement; we draw without replacement.",),
        "sdarts-adv": ("SDARTS draws each architecture batch with replacement; we draw without replacement.",),
    },
)
