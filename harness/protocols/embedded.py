"""The embedded demo protocol (space ``s5`` on scikit-learn's digits): ours, sized to run in minutes on a CPU."""

from __future__ import annotations

from harness.protocols.base import Family, V

_OURS = "ours: embedded S5/digits demo"

FAMILY = Family(
    name="embedded",
    spaces=("s5",),
    description="S5 on digits (shipped table): our small demo protocol, not a paper's",
    common={"epochs": V(20, f"{_OURS}: 20 epochs keep `harness run` under 3 minutes on 2 CPU cores"),
            "batch_size": V(64, f"{_OURS}: batch 64 as the DARTS scripts"),
            "select_batch_size": V(64, f"{_OURS}: candidates scored on batches of 64"),
            "select_augment": V(False, f"{_OURS}: digits have no augmentation"),
            "cutout_length": V(0, f"{_OURS}: no Cutout"), "cutout_prob": V(1.0, f"{_OURS}: unused (no Cutout)"),
            "cutout_ramp": V(False, f"{_OURS}: no Cutout"),
            "track_running_stats": V(None, f"{_OURS}: the supernet's default BN setting"),
            "search_split": V("ours", f"{_OURS}: NB-201 split semantics, epochs of full batches (the README's "
                                      "output)")},
    methods={"gdas": {"unselected_terms": V(False, "AutoDL NASNet-space MixedOp.forward_gdas (S5 is a DARTS "
                                                   "cell): only the sampled op")}},
    deviations={"*": ("Not a published protocol: DARTS's weight-training values on an 8x8-digits supernet, "
                      "20 epochs.",)},
)
