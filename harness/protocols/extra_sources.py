"""Sources of the remaining optimizers' own fields (BaLeNAS, VIM-NAS, NSA, one-shot, RobustDARTS).

Kept apart from ``methods`` only to keep each module short; same format.
"""

from __future__ import annotations

_RD_ARGS = "RobustDARTS src/search/args.py"
_RD_UTILS = "RobustDARTS src/utils.py EVLocalAvg"
_EIGEN = "ours: Lanczos settings of harness.metrics.curvature (RobustDARTS computes the full spectrum)"

_ROBUST = {
    "order": "RobustDARTS scripts/DARTS_search.sh --unrolled",
    "drop_path_prob": f"{_RD_ARGS} --drop_path_prob (0 = plain DARTS; the DP grid sets it)",
    "eigen_every": "RobustDARTS scripts/DARTS_search.sh --report_freq_hessian 2 (0 for DP: no tracking)",
    "eigen_batches": _EIGEN,
    "eigen_tol": _EIGEN,
    "eigen_max_iter": _EIGEN,
    "es_window": f"{_RD_ARGS} --window 5",
    "es_delta": f"{_RD_ARGS} --delta 4",
    "es_factor": f"{_RD_ARGS} --factor 1.3",
    "es_start_epoch": f"{_RD_ARGS} --es_start_epoch 10",
    "ada_factor": "RobustDARTS scripts/DARTS-ADA_search.sh --mul_factor 10",
    "ada_max_l2": "RobustDARTS scripts/DARTS-ADA_search.sh --max_weight_decay 0.03",
}
_ROBUST_DP = {**_ROBUST, "eigen_every": "ours: 0 (DP tracks no eigenvalue unless asked)"}

_BALENAS_PAPER = "BaLeNAS paper (Zhang et al., CVPR 2022)"
_BALENAS = {
    "order": f"{_BALENAS_PAPER}: headline rows are second order (Table 5 M = 3 = Table 1 'BaLeNAS (2nd)')",
    "mc_samples": f"{_BALENAS_PAPER}, Table 5: M = 3 Monte-Carlo samples in the headline configuration",
    "init_std": "ours: DARTS's 1e-3 * randn (cnn/model_search.py) for mu_0; the BaLeNAS paper gives no value",
    "unrolled_eps": "ours: DARTS's R = 0.01 / ||v|| (cnn/architect.py) for the second-order step; the BaLeNAS "
                    "paper gives no value",
    "update": "Khan et al., ICML 2018, Fig. 1 (Vadam, which the BaLeNAS paper says it uses): sqrt(s) and "
              "bias correction; the printed eq. (17) is update=eq17 (harness/optimizers/balenas.py doc)",
    "beta": "ours: Vadam's alpha = DARTS's architecture Adam lr 3e-4 (paper gives no value)",
    "gamma": "ours: Vadam's gamma_1 = DARTS's architecture Adam beta_1 0.5 (paper gives no value)",
    "beta2": "ours: Vadam's gamma_2 = DARTS's architecture Adam beta_2 0.999 (paper gives no value)",
    "delta": "ours: null = 1 / N, a standard-normal prior on the logits (Khan et al.: delta-tilde = lambda / N, "
             "lambda = 1); paper gives no value",
    "n_data": "ours: null = the run's search-valid split size (the data q is fitted to)",
    "init_s": "ours: s_0 = 0 (q starts at the prior variance)",
    "weight_mix": "ours: the weight step mixes with softmax(mu)",
    "selection": f"{_BALENAS_PAPER}: argmax of mu",
    "tf_samples": f"{_BALENAS_PAPER}, BaLeNAS-TF: 100 sampled architectures",
    "tf_when": f"{_BALENAS_PAPER}, BaLeNAS-TF: after the search",
    "proxy": f"{_BALENAS_PAPER}, Sec. 4.2 and appendix B: BaLeNAS-TF adopts SynFlow",
    "s_estimate": "Khan et al., ICML 2018 (Vadam with M Monte-Carlo samples): s averages the squared gradient of "
                  "each draw; square-of-mean is kept as an option",
    "tf_channels": "ours: the supernet's width",
    "tf_depth": "ours: the supernet's depth",
}

_VIM_PAPER = "VIM-NAS paper (Wang et al., ICCV 2021)"
_VIM = {
    "arch_lr": "VIM-NAS summary (seed 001), Figure 6 caption: 'DARTS is implemented with high learning rate "
               "(0.025) and added noise' to imitate VIM-NAS: our reading is VIM-NAS's architecture lr 0.025",
    "arch_betas": "ours: DARTS architecture Adam betas (0.5, 0.999)",
    "arch_weight_decay": "ours: DARTS architecture weight decay 1e-3",
    "noise_channels": "VIM-NAS summary (seed 001): the architecture network ConvReLUBN(3,14,3)-ConvReLUBN(14,1,3) "
                      "takes a 3-channel noise map",
    "kernel": "VIM-NAS summary (seed 001): ConvReLUBN(3,14,3)-ConvReLUBN(14,1,3), kernel 3",
    "phi_size": "VIM-NAS summary (seed 001): the default two-block architecture network (3 -> 14 -> 1)",
    "point_estimate": f"{_VIM_PAPER}, Algorithm 1: A = phi(eps) + xi",
    "variance": f"{_VIM_PAPER}, Algorithm 1: xi ~ N(0, 1), unit variance",
    "arch_data": f"{_VIM_PAPER}, Algorithm 1: phi from the validation loss (bilevel)",
}
_VIM_P = {**_VIM, "point_estimate": f"{_VIM_PAPER}, Figure 9: VIM-NAS-P, point estimation instead of the "
                                    "distribution (A = phi(eps))"}
_VIM_D = {**_VIM, "variance": f"ours: a reconstruction of {_VIM_PAPER}, Figure 9's VIM-NAS-Dropout ('reformulation "
                              "of variational dropout NAS with VIM', a parameterisation with learned variance): "
                              "A = phi_mean + exp(phi_s) o xi; no formula or code is published"}

_BENDER = "Bender et al., ICML 2018"
_ONESHOT = {
    "r_max": f"{_BENDER}, Section 3: path dropout rate ramped linearly to r_max (0.1 in their search)",
    "fanin_scaling": f"{_BENDER}, Section 3: drop probability r^(1/k) for k incoming paths",
    "ghost_batch_size": f"{_BENDER}, Section 3: ghost batch normalisation, ghost batches of 32",
    "mask_per": f"{_BENDER}, Section 3: dropout mask shared within a ghost batch",
    "n_candidates": "ours: 100 sampled candidates per selection",
    "selection": f"{_BENDER}, Section 4: random search over one-shot accuracy",
    "population": "ours: regularized-evolution population (option)",
    "tournament": "ours: regularized-evolution tournament size (option)",
}

_NSA = {
    "pool_size": "ours: 20 architectures (the NSA slides vary it; the nsa family presets the README's 5)",
    "mode": "thudzj/NSA README.md: NSA-i, i.i.d. per-example architectures (--use_bn)",
    "pool": "ours: a uniform sample of the space (the official random-wired pool needs the randwire space)",
    "pool_seed_start": "thudzj/NSA main_s.py --arch_seed_start 1",
    "arch_p": "thudzj/NSA main_s.py --arch_p 0.7",
    "n_candidates": "ours: 0 = score the whole pool",
    "lr_milestones": "ours: the family's cosine schedule (the nsa family presets the official step schedule)",
    "lr_gamma": "thudzj/NSA main_s.py --gammas 0.2 0.2 0.2",
}

EXTRA: dict[str, dict[str, str]] = {
    "darts-dp": _ROBUST_DP, "darts-es": _ROBUST, "darts-ada": _ROBUST,
    "balenas": _BALENAS,
    "balenas-1st": {**_BALENAS, "order": f"{_BALENAS_PAPER}: the first-order variant"},
    "balenas-tf": {**_BALENAS, "selection": f"{_BALENAS_PAPER}, BaLeNAS-TF: training-free proxy selection"},
    "vim-nas": _VIM, "vim-nas-p": _VIM_P, "vim-nas-dropout": _VIM_D, "oneshot": _ONESHOT, "nsa": _NSA,
}
