"""The NSA protocol on its own random-wired WRN (``randwire``): thudzj/NSA ``main_s.py`` and the README's scripts."""

from __future__ import annotations

from harness.protocols._blocks import weight_training
from harness.protocols.base import Family, V

_MAIN = "thudzj/NSA main_s.py"
_README = "thudzj/NSA README.md (NSA-i script)"

FAMILY = Family(
    name="nsa",
    spaces=("randwire",),
    description="NSA on the random-wired WRN: thudzj/NSA main_s.py with the README's 300-epoch scripts",
    common={**weight_training(_MAIN, lr=0.1, lr_min=0.0, momentum=0.9, wd=5e-4, nesterov=True, clip=0.0,
                              epochs=300, batch=128),
            "epochs": V(300, f"{_README}: --epochs 300"),
            "w_lr_min": V(0.0, f"{_MAIN}: step schedule (adjust_learning_rate), no cosine floor"),
            "w_nesterov": V(True, f"{_MAIN}: SGD(nesterov=(momentum > 0))"),
            "select_batch_size": V(128, f"{_MAIN}: evaluation batch = --batch_size 128"),
            "select_augment": V(False, f"{_MAIN}: test_transform has no augmentation"),
            "track_running_stats": V(None, "ours: the random-wired WRN's own BN setting (it keeps running statistics)"),
            "search_split": V("ours", "ours: NSA trains on the search-train split (a documented deviation: "
                                      f"{_MAIN} trains on the whole training set)"),
            "cutout_length": V(16, f"{_MAIN}: args.cutout = True forced; utils.Cutout(n_holes=1, length=16)"),
            "cutout_prob": V(1.0, f"{_MAIN}: Cutout on every training image"),
            "cutout_ramp": V(False, f"{_MAIN}: no ramp")},
    methods={"nsa": {
        "mode": V("nsa-i", f"{_README}: NSA-i (per-example architectures, --use_bn)"),
        "pool": V("er", "thudzj/NSA models/wrn_r.py WRN.__init__: --arch_type random (Erdos-Renyi wirings)"),
        "pool_size": V(5, f"{_README}: --arch_seed_start 1 --arch_seed_end 5"),
        "pool_seed_start": V(1, f"{_README}: --arch_seed_start 1"),
        "arch_p": V(0.7, f"{_README}: --arch_p 0.7"),
        "lr_milestones": V((90, 180, 240), f"{_README}: --schedule 90 180 240"),
        "lr_gamma": V(0.2, f"{_MAIN}: --gammas default 0.2 0.2 0.2"),
    }},
    deviations={"*": (
        "The official auxiliary head (--aux --aux_weight 0.1 after stage 2) is not built: the harness's "
        "supernets return one logit tensor.",
        "The official trains on the whole CIFAR training set and reports the test set each epoch; the harness "
        "trains on its search-train split and selects on search-valid (harness nsa evaluates the test split).",
    )},
)
