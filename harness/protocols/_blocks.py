"""Building blocks of family presets: the values a DARTS-style search script sets, with one source each."""

from __future__ import annotations

from harness.protocols.base import V


def weight_training(src: str, *, lr: float, lr_min: float, momentum: float, wd: float, nesterov: bool,
                    clip: float, epochs: int, batch: int, period: int = 0, clip_src: str | None = None,
                    period_src: str | None = None) -> dict[str, V]:
    """SGD + cosine schedule + run length of a search script ``src`` (values as the script sets them).

    ``clip_src`` / ``period_src``: where clipping and the cosine period are set when not in ``src``.
    """
    clip_src, period_src = clip_src or src, period_src or src
    return {
        "epochs": V(epochs, f"{src}: epochs {epochs}"),
        "batch_size": V(batch, f"{src}: batch size {batch}"),
        "w_lr": V(lr, f"{src}: learning rate {lr}"),
        "w_lr_min": V(lr_min, f"{src}: minimum learning rate {lr_min}"),
        "w_momentum": V(momentum, f"{src}: momentum {momentum}"),
        "w_weight_decay": V(wd, f"{src}: weight decay {wd}"),
        "w_nesterov": V(nesterov, f"{src}: nesterov {'on' if nesterov else 'off'}"),
        "grad_clip": V(clip, f"{clip_src}: gradient clipping {clip}" if clip > 0
                       else f"{clip_src}: no gradient clipping"),
        "w_lr_period": V(period, f"{period_src}: cosine T_max = {period or 'the search epochs'}"),
    }


def arch_adam(src: str, *, lr: float, wd: float, betas: tuple[float, float] = (0.5, 0.999)) -> dict[str, V]:
    """Adam on the architecture logits as script ``src`` sets it."""
    return {"arch_lr": V(lr, f"{src}: architecture learning rate {lr}"),
            "arch_weight_decay": V(wd, f"{src}: architecture weight decay {wd}"),
            "arch_betas": V(betas, f"{src}: Adam betas {betas}")}


def no_scoring(note: str = "ours: the search batch size (the official code scores no candidates)") -> dict[str, V]:
    """Candidate-scoring batches for optimizers whose official code picks by argmax."""
    return {"select_batch_size": V(64, note), "select_augment": V(False, "ours: scoring without augmentation")}


def no_cutout(src: str) -> dict[str, V]:
    """Cutout off in the search, as script ``src`` (no ``--cutout``)."""
    return {"cutout_length": V(0, f"{src}: no Cutout in the search"),
            "cutout_prob": V(1.0, f"{src}: Cutout off (value unused)"),
            "cutout_ramp": V(False, f"{src}: Cutout off (no ramp)")}


#: DrNAS's architecture weight decay: its Adam takes ``reg_scale`` (l2) or 0 (kl), never --arch_weight_decay.
DRNAS_ARCH_WD = V(0.0, "DrNAS architect.py: Adam weight decay is reg_scale under l2 and 0 under kl "
                       "(--arch_weight_decay unused); this field adds to it")


def vim_nas(extra: dict[str, V] | None = None) -> dict[str, dict[str, V]]:
    """VIM-NAS's own architecture-network Adam for every VIM-NAS variant, over a family's DARTS values: the lr
    read from the VIM-NAS summary (seed 001, Figure 6), the rest ours (the paper gives none)."""
    own = {"arch_lr": V(0.025, "VIM-NAS summary (seed 001), Figure 6 caption: DARTS given 'high learning rate "
                               "(0.025) and added noise' to imitate VIM-NAS (our reading of its lr)"),
           "arch_betas": V((0.5, 0.999), "ours: DARTS's architecture Adam betas (the VIM-NAS paper gives none)"),
           "arch_weight_decay": V(1e-3, "ours: DARTS's architecture weight decay (the VIM-NAS paper gives none)"),
           **(extra or {})}
    return {name: dict(own) for name in ("vim-nas", "vim-nas-p", "vim-nas-dropout")}
