"""Where each optimizer's own default comes from (layer 1 of every preset).

Values are the config dataclasses' defaults (one truth); this module holds
their sources, field by field. A field inherited from ``OptimizerConfig`` or
``DartsConfig`` takes the shared source unless the optimizer names its own.
Repositories: DARTS = quark0/darts, AutoDL = D-X-Y/AutoDL-Projects,
RobustDARTS = automl/RobustDARTS, SDARTS = xiangning-chen/SmoothDARTS,
DrNAS = xiangning-chen/DrNAS, PC-DARTS = yuhuixu1993/PC-DARTS.
"""

from __future__ import annotations

from dataclasses import MISSING, fields

from harness.protocols.base import V

_DARTS_TS = "DARTS cnn/train_search.py"
_UNUSED = "not used by this optimizer (inherited config field; value has no effect)"

#: Supernet-weight training (``OptimizerConfig``): the DARTS search script's values.
WEIGHTS: dict[str, str] = {
    "w_lr": f"{_DARTS_TS} --learning_rate 0.025",
    "w_lr_min": f"{_DARTS_TS} --learning_rate_min 0.001",
    "w_momentum": f"{_DARTS_TS} --momentum 0.9",
    "w_weight_decay": f"{_DARTS_TS} --weight_decay 3e-4",
    "w_nesterov": f"{_DARTS_TS}: torch.optim.SGD without nesterov",
    "grad_clip": f"{_DARTS_TS} --grad_clip 5",
    "w_lr_period": "DARTS/AutoDL cosine schedule with T_max = the search's epochs (0 means that)",
}

#: Architecture logits and their Adam (``DartsConfig``).
DARTS_ARCH: dict[str, str] = {
    "arch_lr": f"{_DARTS_TS} --arch_learning_rate 3e-4",
    "arch_betas": "DARTS cnn/architect.py: Adam betas (0.5, 0.999)",
    "arch_weight_decay": f"{_DARTS_TS} --arch_weight_decay 1e-3",
    "order": f"{_DARTS_TS}: first order unless --unrolled",
    "init_std": "DARTS cnn/model_search.py: alphas = 1e-3 * randn",
    "unrolled_eps": "DARTS cnn/architect.py _hessian_vector_product: R = 0.01 / ||v||",
    "step_order": "DARTS cnn/train_search.py: architect.step before the weight step",
}

_NOT_DARTS_ARCH = {k: _UNUSED for k in ("order", "unrolled_eps", "step_order")}

#: Per optimizer: sources of its own fields (and of inherited ones it uses differently).
METHODS: dict[str, dict[str, str]] = {
    "darts": {},
    "darts-2nd": {"order": "DARTS paper, Section 2.3 (second-order approximation); train_search.py --unrolled"},
    "gdas": {**_NOT_DARTS_ARCH,
             "tau_max": "AutoDL scripts-search/NAS-Bench-201-algos/GDAS.sh --tau_max 10",
             "tau_min": "AutoDL scripts-search/NAS-Bench-201-algos/GDAS.sh --tau_min 0.1",
             "tau_schedule": "AutoDL exps/NAS-Bench-201-algos/GDAS.py: tau_max - (tau_max - tau_min) * epoch / "
                             "(epochs - 1)",
             "unselected_terms": "AutoDL search_cells.py: NB-201 SearchCell.forward_gdas adds the unselected "
                                 "ops' zero-valued weights, NASNet MixedOp.forward_gdas does not; null follows "
                                 "the supernet",
             "step_order": "AutoDL exps/NAS-Bench-201-algos/GDAS.py search_func: the weight step, then the "
                           "architecture step",
             "hard_groups": "AutoDL search_model_gdas.py: every group sampled hard (one op per edge)",
             "per_cell": "AutoDL search_model_gdas.py forward: one draw before the cell loop, shared by every cell"},
    "setn": {**_NOT_DARTS_ARCH,
             "n_candidates": "AutoDL scripts-search/NAS-Bench-201-algos/SETN.sh --select_num 100"},
    "rsws": {"n_candidates": "AutoDL scripts-search/NAS-Bench-201-algos/RANDOM-NAS.sh --select_num 100"},
    "enas": {
        "controller_lr": "AutoDL configs/nas-benchmark/algos/ENAS.config controller_lr 0.001",
        "controller_betas": "AutoDL configs/nas-benchmark/algos/ENAS.config controller_betas [0, 0.999]",
        "controller_eps": "AutoDL configs/nas-benchmark/algos/ENAS.config controller_eps 0.001",
        "controller_hidden": "AutoDL xautodl/models/cell_searchs/search_model_enas_utils.py lstm_size 32",
        "controller_layers": "AutoDL search_model_enas_utils.py lstm_num_layers 2",
        "temperature": "AutoDL search_model_enas_utils.py temperature 5.0",
        "tanh_constant": "AutoDL search_model_enas_utils.py tanh_constant 2.5",
        "entropy_weight": "AutoDL scripts-search/NAS-Bench-201-algos/ENAS.sh --controller_entropy_weight 0.0001",
        "baseline_decay": "AutoDL ENAS.sh --controller_bl_dec 0.99",
        "controller_train_steps": "AutoDL ENAS.sh --controller_train_steps 50",
        "controller_num_aggregate": "AutoDL ENAS.sh --controller_num_aggregate 20",
        "controller_grad_clip": "AutoDL exps/NAS-Bench-201-algos/ENAS.py train_controller: clip_grad_norm_(5.0)",
        "n_candidates": "AutoDL ENAS.sh --controller_num_samples 100 (final selection)",
        "n_candidates_epoch": "AutoDL exps/NAS-Bench-201-algos/ENAS.py get_best_arch default n_samples=10 "
                              "(per-epoch selection)",
    },
    "sdarts-rs": {
        "eps_start": "SDARTS nasbench201/train_search.py: epsilon = 0.03 + (max - 0.03) * epoch / epochs",
        "eps_end": "SDARTS nasbench201/train_search.py --epsilon_alpha 0.3",
        "pgd_steps": _UNUSED,
        "attack_bn": _UNUSED,
    },
    "sdarts-adv": {
        "eps_start": "SDARTS nasbench201/train_search.py: epsilon = 0.03 + (max - 0.03) * epoch / epochs",
        "eps_end": "SDARTS nasbench201/train_search.py --epsilon_alpha 0.3",
        "pgd_steps": "SDARTS attacker/perturb.py Linf_PGD_alpha steps=7",
        "attack_bn": "SDARTS sota/cnn/model_search.py / nasbench201 search model: BatchNorm2d(affine=False) keeps "
                     "track_running_stats=True, so Linf_PGD_alpha's model.eval() normalises with running "
                     "statistics",
    },
    "snas": {**_NOT_DARTS_ARCH,
             "tau0": "ours: SNAS paper's initial temperature 1 (Section 3.1); no official NB-201 SNAS code",
             "tau_decay": "ours: exponential decay 0.97 per epoch, a common SNAS re-implementation choice"},
    "snas-bilevel": {**_NOT_DARTS_ARCH,
                     "tau_max": "DrNAS 201-space/train_search.py --tau_max 10",
                     "tau_min": "DrNAS 201-space/train_search.py --tau_min 1",
                     "tau_schedule": "DrNAS 201-space/train_search.py: tau += (tau_min - tau_max) / epochs after "
                                     "each epoch",
                     "arch_weight_decay": "DrNAS architect.py: Adam weight decay = --reg_scale 1e-3 (reg_type l2)"},
    "drnas": {"order": "DrNAS 201-space/train_search.py: first order unless --unrolled",
              "step_order": "DrNAS 201-space/train_search.py: architect.step before the weight step",
              "reg_type": "DrNAS 201-space/train_search.py --reg_type l2",
              "reg_scale": "DrNAS 201-space/train_search.py --reg_scale 1e-3",
              "prior": "DrNAS 201-space/search_model.py anchor Dirichlet(ones) (used by reg_type kl)",
              "partial_channels": "DrNAS 201-space/train_search.py --k 1",
              "warmup_epochs": "DrNAS 201-space/train_search.py: no warm-up (its `if epoch >= 15` is commented out)",
              "stage_epochs": "DrNAS 201-space/train_search.py: one stage (no progressive learning)",
              "arch_weight_decay": "DrNAS architect.py: Adam weight decay is reg_scale under l2 and 0 under kl; "
                                   "--arch_weight_decay is not used (this field adds to it; 0)"},
    "pc-darts": {"arch_lr": "PC-DARTS train_search.py --arch_learning_rate 6e-4",
                 "partial_channels": "PC-DARTS model_search.py k=4",
                 "warmup_epochs": "PC-DARTS train_search.py: architect.step only when epoch >= 15"},
}


def sources_for(optimizer: str, config_cls: type) -> dict[str, str]:
    """The source of every field of ``config_cls`` for ``optimizer`` (missing ones absent)."""
    from harness.protocols.extra_sources import EXTRA

    own = {**EXTRA.get(optimizer, {}), **METHODS.get(optimizer, {})}
    plugin = getattr(config_cls, "SOURCES", None)  # a plug-in config may carry its own sources
    if isinstance(plugin, dict):
        own.update(plugin)
    out = {}
    for f in fields(config_cls):
        src = own.get(f.name) or WEIGHTS.get(f.name) or DARTS_ARCH.get(f.name)
        if src is not None:
            out[f.name] = src
    return out


def method_defaults(optimizer: str, config_cls: type) -> dict[str, V]:
    """Layer 1 of a preset: ``{field: V(dataclass default, source)}``."""
    srcs = sources_for(optimizer, config_cls)
    out = {}
    for f in fields(config_cls):
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        out[f.name] = V(default, srcs.get(f.name, f"ours: {config_cls.__name__} default (no source recorded)"))
    return out
