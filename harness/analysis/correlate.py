"""What does a one-shot model learn? Rank agreement of shared weights with ground truth.

``correlate`` evaluates a fixed, seeded set of architectures with a trained
supernet's shared weights (BN statistics recomputed per architecture, see
``harness.analysis.oneshot_eval``) and compares the one-shot accuracies with the
benchmark's valid and test accuracies: Kendall tau-b, Spearman rho, Pearson r
and top-k precision (k = 5 %, 10 % of the architectures). It also runs Bender
et al.'s analysis (ICML 2018): the symmetric KL divergence between each
candidate's predictions and the all-paths-on model's on fixed training
examples, and how well ``-KL`` ranks the architectures.

``dropout_study`` trains one-shot models (optimizer ``oneshot``) over a plan of
``r_max`` values and reports the correlation reached with each.

Finished runs keep no weights unless the runner calls ``save_supernet``
(``supernet.pt`` next to ``final.json``); unfinished runs are read from
``checkpoint.pt``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from harness.analysis.oneshot_eval import Trained, all_on_weights, evaluate_weights, fixed_batches, train_supernet
from harness.metrics.rank import (kendall_tau, pearson_r, rank_correlations,  # noqa: F401 (public here too)
                                  spearman_rho, top_k_precision)
from harness.run.config import RunConfig
from harness.run.items import resumable_item
from harness.run.trained import SUPERNET_FILE, load_trained, save_supernet  # noqa: F401 (public here too)
from search_spaces import Architecture, SearchSpace, get_space
from search_spaces.errors import ConfigError, UserError
from search_spaces.io import atomic_write_json, atomic_write_text

EVAL_SPLITS = ("search_train", "search_valid", "train", "valid", "test")


@dataclass(frozen=True)
class CorrelateConfig:
    """How architectures are evaluated with shared weights.

    Attributes:
        archs: ``"N"`` (N distinct architectures sampled with ``arch_seed``; the
            whole space when N >= its size), ``"all"``, or a file with one
            architecture string per line (``#`` comments allowed).
        arch_seed: Seed of the architecture sample.
        bn_batches: Training batches used to recompute BN statistics per
            architecture (0: keep the supernet's own BN behaviour).
        batch_size: Evaluation batch size.
        eval_split: Split on which one-shot accuracy is measured.
        eval_examples: First examples of ``eval_split`` used (None: all).
        kl_examples: Fixed training examples of the KL analysis (0: skip it).
        top_fractions: Fractions k of the top-k precision.
        device: Evaluation device.
    """

    archs: str = "100"
    arch_seed: int = 0
    bn_batches: int = 4
    batch_size: int = 128
    eval_split: str = "search_valid"
    eval_examples: int | None = 1024
    kl_examples: int = 256
    top_fractions: tuple[float, ...] = (0.05, 0.10)
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.bn_batches < 0 or self.kl_examples < 0 or self.batch_size < 1 or self.arch_seed < 0:
            raise ConfigError("correlate: bn_batches, kl_examples, arch_seed must be >= 0 and batch_size >= 1")
        if self.eval_examples is not None and self.eval_examples < 1:
            raise ConfigError(f"correlate: eval_examples must be >= 1 or None, got {self.eval_examples}")
        if self.eval_split not in EVAL_SPLITS:
            raise ConfigError(f"correlate: eval_split {self.eval_split!r} not one of {EVAL_SPLITS}")
        if not self.top_fractions or any(not 0 < f <= 1 for f in self.top_fractions):
            raise ConfigError(f"correlate: top_fractions must lie in (0, 1], got {self.top_fractions}")
        if not str(self.archs).strip():
            raise ConfigError("correlate: archs must be N, 'all' or a file")


def symmetric_kl(logits_p: torch.Tensor, logits_q: torch.Tensor) -> torch.Tensor:
    """``KL(p||q) + KL(q||p)`` per example of two logit tensors ``[N, K]`` -> ``[N]``."""
    lp, lq = F.log_softmax(logits_p.double(), -1), F.log_softmax(logits_q.double(), -1)
    return ((lp.exp() - lq.exp()) * (lp - lq)).sum(-1)


# -- architectures, saved supernets ------------------------------------------------
def select_architectures(space: SearchSpace, spec: str | int, seed: int) -> list[Architecture]:
    """The architectures named by ``spec`` (see ``CorrelateConfig.archs``), in a fixed order."""
    text = str(spec).strip()
    if text == "all":
        if space.size is None:
            raise ConfigError(f"space {space.name!r} is not enumerable; use --archs N")
        return list(space.enumerate())
    if text.isdigit():
        n = int(text)
        if n < 1:
            raise ConfigError("--archs N needs N >= 1")
        if space.size is not None and n >= space.size:
            return list(space.enumerate())
        rng, seen = np.random.default_rng(seed), dict[Architecture, None]()
        for _ in range(100 * n):
            seen[space.sample(rng)] = None
            if len(seen) == n:
                break
        return list(seen)
    path = Path(text).expanduser()
    if not path.is_file():
        raise UserError(f"--archs {text!r} is neither a number, 'all', nor an existing file")
    lines = [ln.split("#", 1)[0].strip() for ln in path.read_text().splitlines()]
    archs = [space.from_str(ln) for ln in lines if ln]
    if not archs:
        raise UserError(f"{path} lists no architectures")
    return list(dict.fromkeys(archs))


def ground_truth_for(run: RunConfig, space: SearchSpace, **overrides: Any):
    """The run's ``GroundTruth``, with the non-None benchmark options in ``overrides`` replaced."""
    from harness.run.ground_truth import GroundTruth

    run = replace(run, **{k: v for k, v in overrides.items() if v is not None})
    if run.benchmark == "none":
        raise UserError("the run has no benchmark; pass --benchmark (and --benchmark-file) for ground truth")
    return GroundTruth.create(run, space)


# -- the analysis -------------------------------------------------------------------
def correlate(trained: Trained, cfg: CorrelateConfig, gt: Any, splits: Any = None, out_dir: str | Path | None = None,
              progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Evaluate ``cfg.archs`` with ``trained``'s shared weights and compare with ``gt`` (a ``GroundTruth``).

    Returns ``{"rows": per-architecture dicts, "summary": statistics and settings}``
    and, with ``out_dir``, writes ``archs.csv``, ``summary.json`` and ``scatter.png`` there.
    """
    from harness.data import load_dataset

    space, net, run = trained.space, trained.supernet, trained.run
    device = next(net.parameters()).device
    if splits is None:
        splits = load_dataset(run.dataset, run.data_dir, device, subset=run.subset)
    archs = select_architectures(space, cfg.archs, cfg.arch_seed)
    m, s, bs = splits.mean, splits.std, cfg.batch_size
    evals = fixed_batches(getattr(splits, cfg.eval_split), bs, cfg.eval_examples, m, s)
    bn = fixed_batches(splits.search_train, bs, cfg.bn_batches * bs, m, s) if cfg.bn_batches else []
    kl = fixed_batches(splits.search_train, bs, cfg.kl_examples, m, s) if cfg.kl_examples else []
    labels = torch.cat([y for _, y in evals])
    ref = evaluate_weights(net, all_on_weights(space, device), [kl], bn)[0] if kl else None
    rows = []
    for i, arch in enumerate(archs):
        with trained.weight_map.bound(net, space, arch):
            logits, kl_logits = evaluate_weights(net, trained.weight_map.weights(space, arch, device), [evals, kl], bn)
        rows.append({"arch": space.to_str(arch),
                     "oneshot_acc": 100.0 * float((logits.argmax(-1) == labels).float().mean()),
                     "oneshot_loss": float(F.cross_entropy(logits, labels)),
                     "sym_kl": float(symmetric_kl(kl_logits, ref).mean()) if ref is not None else math.nan,
                     **gt.evaluate(arch)})
        if progress and (i + 1) % 100 == 0:
            progress(f"correlate: {i + 1}/{len(archs)} architectures evaluated")
    col = {k: np.array([r[k] for r in rows], dtype=np.float64) for k in rows[0] if k != "arch"}
    fr = cfg.top_fractions
    st = {f"oneshot_vs_gt_{sp}": rank_correlations(col["oneshot_acc"], col[f"gt_{sp}_acc"], fr)
          for sp in ("valid", "test")}
    if ref is not None:  # Bender et al.: the closer to the all-on model, the better the architecture
        st.update({f"neg_kl_vs_gt_{sp}": rank_correlations(-col["sym_kl"], col[f"gt_{sp}_acc"], fr)
                   for sp in ("valid", "test")})
    summary = {"run_id": run.run_id(), "source": str(trained.source) if trained.source else None,
               "n_archs": len(archs), "eval_examples": len(labels), "config": json.loads(json.dumps(asdict(cfg))),
               "ground_truth": gt.describe(), "stats": st}
    if out_dir is not None:
        write_outputs(Path(out_dir), rows, summary)
    return {"rows": rows, "summary": summary}


def write_outputs(out: Path, rows: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    """``archs.csv`` (one row per architecture), ``summary.json`` and ``scatter.png`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "archs.csv", to_csv(rows))
    atomic_write_json(out / "summary.json", summary)
    from harness.reporting.plots import scatter_panel

    plt = pyplot()
    with_kl = any(math.isfinite(r["sym_kl"]) for r in rows)
    fig, axes = plt.subplots(1, 2 if with_kl else 1, figsize=(10.4 if with_kl else 5.2, 4.4), squeeze=False)
    gt = [r["gt_test_acc"] for r in rows]
    scatter_panel(axes[0, 0], [r["oneshot_acc"] for r in rows], gt, "one-shot accuracy (%)",
                  "ground-truth test accuracy (%)")
    if with_kl:
        # -KL: a smaller distance to the all-paths-on model ranks higher, as in the summary's statistics
        scatter_panel(axes[0, 1], [-r["sym_kl"] for r in rows], gt, "-(symmetric KL to the all-paths-on model)",
                      "ground-truth test accuracy (%)", color="tab:orange")
    fig.tight_layout()
    fig.savefig(out / "scatter.png", dpi=120)
    plt.close(fig)

def dropout_study(base: RunConfig, r_values: Sequence[float], cfg: CorrelateConfig, out: str | Path,
                  seeds: Sequence[int] | None = None, progress: Callable[[str], None] | None = None,
                  **gt_overrides: Any) -> list[dict[str, Any]]:
    """Train optimizer ``oneshot`` once per ``r_max`` (and seed), correlate each, write the plan's results.

    Writes ``dropout_study.csv`` / ``.json`` / ``.png`` (Kendall tau vs r_max) in
    ``out`` and each run's ``correlate`` outputs in ``out/r_max=<r>-seed<s>``.
    """
    if not r_values or any(not 0 <= r <= 1 for r in r_values):
        raise ConfigError(f"dropout study: r_max values must lie in [0, 1], got {list(r_values)}")
    out = Path(out)
    space = get_space(base.space)
    gt = ground_truth_for(base, space, **gt_overrides)
    rows = []
    items = [(r, seed) for r in r_values for seed in (seeds or (base.seed,))]
    for k, (r, seed) in enumerate(items, 1):
        run = replace(base, optimizer="oneshot", seed=seed, protocol=None,
                      optimizer_config={**base.optimizer_config, "r_max": float(r)})

        def one(run=run, r=r, seed=seed) -> dict[str, Any]:
            trained, splits, opt = train_supernet(run, progress)
            res = correlate(trained, cfg, gt, splits, out / f"r_max={r:g}-seed{seed}")
            sel = fixed_batches(splits.search_valid, run.batch_size, run.batch_size * run.select_batches,
                                splits.mean, splits.std)
            picked = opt.select(sel)
            return {"r_max": float(r), "seed": seed, "picked": space.to_str(picked),
                    **{f"picked_{k}": v for k, v in gt.evaluate(picked).items()},
                    **{f"{name}.{k}": v for name, d in res["summary"]["stats"].items() for k, v in d.items()}}

        # each (r_max, seed) is saved when done: a killed study resumes at the item it was on
        row, reused = resumable_item(out / f"r_max={r:g}-seed{seed}", {"run": run.to_dict(), "correlate": asdict(cfg),
                                                                       "gt": gt_overrides}, one)
        rows.append(row)
        if progress:
            progress(f"dropout study [{k}/{len(items)}] r_max={r:g} seed {seed}: Kendall tau (test) "
                     f"{row['oneshot_vs_gt_test.kendall_tau']:.3f}" + (" (kept from an earlier run)" if reused else ""))
    atomic_write_text(out / "dropout_study.csv", to_csv(rows))
    atomic_write_json(out / "dropout_study.json", {"base_run": json.loads(json.dumps(base.to_dict())),
                                                   "correlate": json.loads(json.dumps(asdict(cfg))), "rows": rows})
    _plot_study(out / "dropout_study.png", rows)
    return rows


def _plot_study(path: Path, rows: list[dict[str, Any]]) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    rs = sorted({r["r_max"] for r in rows})
    for key, label in (("oneshot_vs_gt_test.kendall_tau", "test"), ("oneshot_vs_gt_valid.kendall_tau", "valid")):
        vals = [[row[key] for row in rows if row["r_max"] == r and math.isfinite(row[key])] for r in rs]
        ys = [float(np.mean(v)) if v else math.nan for v in vals]
        if any(math.isfinite(y) for y in ys):
            ax.plot(rs, ys, marker="o", label=f"vs ground-truth {label}")
    ax.set(xlabel="r_max (final path-dropout rate)", ylabel="Kendall tau (mean over seeds)",
           title="one-shot rank correlation vs path dropout")
    save_figure(fig, ax, path)


def to_csv(rows: list[dict[str, Any]]) -> str:
    """CSV text of dict rows (columns from the first row)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else [], lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def save_figure(fig: Any, ax: Any, path: Path) -> None:
    """Grid, legend, tight layout, PNG at 120 dpi, figure closed: how the analyses' line plots end."""
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    pyplot().close(fig)


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
