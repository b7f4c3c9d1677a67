"""RobustDARTS spaces S1-S4 (``s1``..``s4``): automl/RobustDARTS ``src/search/args.py``.

PC-DARTS, SDARTS and DrNAS on these DARTS-cell spaces use their authors'
DARTS-space search scripts.
"""

from __future__ import annotations

from harness.protocols._blocks import DRNAS_ARCH_WD, arch_adam, no_cutout, no_scoring, vim_nas, weight_training
from harness.protocols.base import Family, V

_RD = "RobustDARTS src/search/args.py"
_PC = "PC-DARTS train_search.py"
_SD = "SDARTS sota/cnn/train_search.py"
_DR = "DrNAS DARTS-space/train_search.py"
_sdarts = weight_training(_SD, lr=0.025, lr_min=0.001, momentum=0.9, wd=3e-4, nesterov=False, clip=5.0, epochs=50,
                          batch=64)

def cutout_rule(optimizer: str, values: dict, sources: dict, overridden: set) -> None:
    """RobustDARTS's Cutout: the search scripts pass ``--cutout`` (length 16, p 1.0), and ``Helper.__init__``
    turns it off whenever ``drop_path_prob == 0``; RandomNAS.sh passes no ``--cutout``. Methods run from
    their own scripts (PC-DARTS, SDARTS, DrNAS) keep their values; an explicit override wins."""
    if "cutout_length" in overridden or optimizer in ("pc-darts", "sdarts-rs", "sdarts-adv", "drnas", "rsws"):
        return
    if values.get("drop_path_prob", 0.0) > 0:
        values["cutout_length"] = 16
        sources["cutout_length"] = (f"RobustDARTS scripts/DARTS_search.sh --cutout, kept by {_RD} Helper.__init__ "
                                    "because drop_path_prob > 0; --cutout_length 16")


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
            "cutout_length": V(0, f"{_RD} Helper.__init__: cutout off when drop_path_prob == 0 (DARTS, DARTS-ES/"
                                  "-ADA and the L2 grid run at 0); R-DARTS(DP) at p > 0 keeps the scripts' "
                                  "--cutout (see the family rule)"),
            "track_running_stats": V(None, "ours: the supernet's default (search BNs keep no running statistics); "
                                          "the official search code tracks them (BatchNorm2d's default), which "
                                          "only its eval-mode passes use"),
            "search_split": V("train-halves", f"{_RD} get_train_val_loaders: --train_portion 0.5 of the "
                                              "training set on every dataset; DataLoader without drop_last"),
            "cutout_prob": V(1.0, f"{_RD} --cutout_prob 1.0"),
            "cutout_ramp": V(False, "RobustDARTS src/search/train_search.py sets transforms[-1].cutout_prob, an "
                                    "attribute src/utils.py Cutout never reads (it reads .prob): the probability "
                                    "stays 1.0 in the runs as made")},
    methods={
        "gdas": {"unselected_terms": V(False, "AutoDL search_cells.py NASNetSearchCell / MixedOp.forward_gdas: "
                                              "only the sampled op"),
                 "step_order": V("weights-first", "AutoDL exps GDAS search_func: the weight step, then the "
                                                  "architecture step (the family's arch-first is RobustDARTS's "
                                                  "DARTS loop)")},
        "rsws": {"cutout_length": V(0, "RobustDARTS scripts/RandomNAS.sh passes no --cutout")},
        **vim_nas({"epochs": V(1, "VIM-NAS summary (seed 001): on S1-S4 the search converges in one epoch "
                                  "(within 10 minutes); Table 1's search cost 0.007 GPU-days")}),
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
                  "partial_channels": V(6, f"{_DR} --k 6 (initial partial-channel K)"),
                  "warmup_epochs": V(10, f"{_DR} train(): architect.step only when the stage's epoch e >= 10"),
                  "stage_epochs": V(25, f"{_DR}: train_epochs = [25, 25] (two progressive stages)")},
    },
    deviations={
        "*": ("RobustDARTS splits the training set at train_portion 0.5 by index (first half / the rest); we use "
              "class-balanced halves of the same sizes.",
              "torch's CosineAnnealingLR stepped before each epoch (as the DARTS-derived scripts do) gives "
              "epoch e the rate at e / epochs on the PyTorch versions they ran; we use e / epochs."),
        "drnas": ("DrNAS's DARTS-space search grows the partial-channel K and prunes ops progressively in two "
                  "25-epoch stages; we keep K fixed at its initial 6 and do not prune (the per-stage warm-up of 10 "
                  "epochs is kept).",),
        "sdarts-rs": ("SDARTS draws each architecture batch with replacement; we draw without replacement.",),
        "sdarts-adv": ("SDARTS draws each architecture batch with replacement; we draw without replacement.",),
    },
    rule=cutout_rule,
)
