"""What a supernet trained on a fixed pool of architectures learns (optimizer ``nsa``).

``analyze_pool`` measures, for a trained supernet with pool P (|P| = S):

- train/test disparity: per architecture, one-shot accuracy on the training
  examples the weights were fit on (``search_train``) minus test accuracy;
- seen vs unseen: test accuracy of the pool architectures and of
  ``n_unseen`` architectures outside the pool (histograms);
- ensembles: the average softmax of the first m pool architectures (a fixed,
  seeded order), its accuracy and its gain over the members' mean accuracy,
  for m = 1..S;
- calibration: expected calibration error (15 equal-width confidence bins)
  of every single architecture and of the whole-pool ensemble;
- agreement of per-architecture test accuracy with the benchmark (when given).

Protocol (thudzj/NSA ``main_s.py``): ``n_seen`` = 100 pool members (all of them
when the pool is smaller: the official draws 100 with replacement, an estimate
of the same pool mean) and ``n_unseen`` = 100 architectures outside it, on
the whole test split (10,000 CIFAR images). Unseen architectures of an ``er``
pool are the official ones: random-wired graphs of seeds drawn from
50500..50999 (``validate_unseen``); other pools sample the space.

BN at evaluation (``bn``): ``running``, the official evaluation (eval mode with
the running statistics accumulated in training; a supernet without running
statistics normalises with the test batch's), or ``recalibrate``, statistics
recomputed per architecture on ``bn_batches`` training batches
(``harness.analysis.oneshot_eval``), which removes the BN train/test inconsistency the
disparity is blamed on. ``bn_compare`` also evaluates under the other one and
reports the seen/unseen gap and the disparity under both.
``pool_size_study`` trains one supernet per S and draws the seen/unseen
histograms side by side.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.analysis.correlate import ground_truth_for, pyplot, rank_correlations, save_figure, to_csv
from harness.analysis.oneshot_eval import Trained, evaluate_weights, fixed_batches, train_supernet
from harness.optimizers.parts.arch_conditional import batch_norms
from harness.run.config import RunConfig
from harness.run.items import resumable_item
from search_spaces import Architecture, get_space
from search_spaces.errors import ConfigError, UserError
from search_spaces.io import atomic_write_json, atomic_write_text

BN_MODES = ("running", "recalibrate")
#: Seeds of the official unseen random-wired architectures (``validate_unseen``).
UNSEEN_ER_SEEDS = range(50500, 51000)


@dataclass(frozen=True)
class NSAAnalysisConfig:
    """Settings of ``analyze_pool``.

    Attributes:
        n_seen: Pool members evaluated (official 100; the whole pool when smaller).
        n_unseen: Architectures outside the pool evaluated (official 100).
        unseen_seed: Seed of the seen subset and the unseen sample.
        test_examples: First test examples used (None: all, the official 10,000).
        train_examples: First ``search_train`` examples of the disparity.
        bn: ``running`` (official eval mode) or ``recalibrate`` (per-architecture statistics).
        bn_batches: Training batches of ``recalibrate``.
        bn_compare: Also evaluate under the other BN mode and report both gaps.
        batch_size: Evaluation batch size (official 128).
        ensemble_seed: Seed of the order in which pool members join the ensemble.
        ece_bins: Equal-width confidence bins of the calibration error (official ``_ECELoss``: 15).
    """

    n_seen: int = 100
    n_unseen: int = 100
    unseen_seed: int = 0
    test_examples: int | None = None
    train_examples: int = 1000
    bn: str = "running"
    bn_batches: int = 4
    bn_compare: bool = True
    batch_size: int = 128
    ensemble_seed: int = 0
    ece_bins: int = 15

    def __post_init__(self) -> None:
        for f in ("n_unseen", "unseen_seed", "train_examples", "bn_batches", "ensemble_seed"):
            if getattr(self, f) < 0:
                raise ConfigError(f"NSAAnalysisConfig.{f} must be >= 0, got {getattr(self, f)}")
        if self.n_seen < 1 or self.batch_size < 1 or self.ece_bins < 1 or (
                self.test_examples is not None and self.test_examples < 1):
            raise ConfigError("NSAAnalysisConfig: n_seen, batch_size, ece_bins, test_examples must be >= 1")
        if self.bn not in BN_MODES:
            raise ConfigError(f"NSAAnalysisConfig.bn must be one of {BN_MODES}, got {self.bn!r}")
        if self.bn_batches < 1 and (self.bn == "recalibrate" or self.bn_compare):
            raise ConfigError("NSAAnalysisConfig: recalibration needs bn_batches >= 1")


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> float:
    """ECE of class probabilities ``[N, K]`` against ``labels`` ``[N]``.

    Bin ``b`` holds the examples whose confidence (max probability) lies in
    ``(b/bins, (b+1)/bins]``; ECE = sum_b |B_b|/N * |accuracy(B_b) - mean confidence(B_b)|.
    """
    conf, pred = probs.max(-1)
    correct = (pred == labels).double()
    edges = torch.linspace(0, 1, bins + 1, dtype=conf.dtype, device=conf.device)[1:-1]
    which = torch.bucketize(conf, edges)  # right-closed bins: conf == b/bins falls in bin b-1
    ece = 0.0
    for b in which.unique().tolist():
        m = which == b
        ece += float(m.sum()) / len(labels) * abs(float(correct[m].mean()) - float(conf[m].double().mean()))
    return ece


def ensemble_probs(logits: torch.Tensor) -> torch.Tensor:
    """Average softmax of members' logits ``[M, N, K]`` -> ``[N, K]``."""
    return torch.softmax(logits.double(), -1).mean(0)


def _acc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    return 100.0 * float((scores.argmax(-1) == labels).double().mean())


def sample_unseen(trained: Trained, n: int, seed: int) -> list[Architecture]:
    """Up to ``n`` distinct architectures outside the pool, drawn with ``seed`` (official ER seeds for ``er`` pools)."""
    pool, rng, out = set(trained.pool or ()), np.random.default_rng(seed), {}
    space = trained.space
    values = trained.run.optimizer_values() if trained.run.optimizer == "nsa" else {}
    if values.get("pool") == "er":
        seeds = rng.permutation(np.asarray(UNSEEN_ER_SEEDS))
        archs = (space.er_architecture(int(s), values["arch_p"]) for s in seeds)
        return [a for a in archs if a not in pool][:n]
    if space.size is not None and space.size - len(pool) <= n:
        return [a for a in space.enumerate() if a not in pool]
    for _ in range(1000 * max(n, 1)):
        if len(out) == n:
            break
        a = space.sample(rng)
        if a not in pool:
            out[a] = None
    return list(out)


def seen_subset(pool: Sequence[Architecture], n: int, seed: int) -> list[Architecture]:
    """The pool when it has at most ``n`` members, else ``n`` of them drawn without replacement with ``seed``."""
    if len(pool) <= n:
        return list(pool)
    return [pool[int(i)] for i in np.random.default_rng(seed).choice(len(pool), size=n, replace=False)]


def analyze_pool(trained: Trained, cfg: NSAAnalysisConfig, splits: Any = None, gt: Any = None,
                 out_dir: str | Path | None = None) -> dict[str, Any]:
    """Every measurement of the module docstring; writes ``archs.csv``, ``ensemble.csv``,
    ``summary.json``, ``hist.png`` and ``ensemble.png`` to ``out_dir`` when given."""
    from harness.data import load_dataset

    if not trained.pool:
        raise UserError("this supernet has no architecture pool (train it with optimizer 'nsa')")
    space, net, run = trained.space, trained.supernet, trained.run
    device = next(net.parameters()).device
    if splits is None:
        splits = load_dataset(run.dataset, run.data_dir, device, subset=run.subset)
    m, s, bs = splits.mean, splits.std, cfg.batch_size
    test = fixed_batches(splits.test, bs, cfg.test_examples, m, s)
    train = fixed_batches(splits.search_train, bs, cfg.train_examples, m, s) if cfg.train_examples else []
    bn = fixed_batches(splits.search_train, bs, cfg.bn_batches * bs, m, s) if cfg.bn_batches else []
    y_test = torch.cat([y for _, y in test])
    y_train = torch.cat([y for _, y in train]) if train else None
    modes = [cfg.bn] + ([o for o in BN_MODES if o != cfg.bn] if cfg.bn_compare else [])
    rows, pool_logits = [], []
    for seen, archs in ((True, seen_subset(trained.pool, cfg.n_seen, cfg.unseen_seed)),
                        (False, sample_unseen(trained, cfg.n_unseen, cfg.unseen_seed))):
        for a in archs:
            row: dict[str, Any] = {"arch": space.to_str(a), "seen": seen}
            for k, mode in enumerate(modes):
                with trained.weight_map.bound(net, space, a):
                    lt, lr = evaluate_weights(net, trained.weight_map.weights(space, a, device), [test, train],
                                              bn if mode == "recalibrate" else [])
                tag = "" if k == 0 else f"_{mode}"
                tr, te = (_acc(lr, y_train) if y_train is not None else math.nan), _acc(lt, y_test)
                row.update({f"train_acc{tag}": tr, f"test_acc{tag}": te, f"disparity{tag}": tr - te,
                            f"ece{tag}": expected_calibration_error(torch.softmax(lt.double(), -1), y_test,
                                                                    cfg.ece_bins)})
                if seen and k == 0:
                    pool_logits.append(lt)
            rows.append({**row, **(gt.evaluate(a) if gt is not None else {})})
    ens = ensemble_curve(torch.stack(pool_logits), y_test, cfg.ensemble_seed, cfg.ece_bins)
    tracked = any(b.track_running_stats for b in batch_norms(net))
    summary = {"run_id": run.run_id(), "pool_size": len(trained.pool), "mode": run.optimizer_values().get("mode"),
               "bn_eval": cfg.bn if cfg.bn == "recalibrate" or tracked else "running (supernet keeps no running "
                          "statistics: eval mode normalises with each test batch)",
               "config": json.loads(json.dumps(asdict(cfg))), **_summarise(rows, ens, gt),
               "bn_compare": {mode: _gaps(rows, "" if k == 0 else f"_{mode}") for k, mode in enumerate(modes)}}
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "archs.csv", to_csv(rows))
        atomic_write_text(out / "ensemble.csv", to_csv(ens))
        atomic_write_json(out / "summary.json", summary)
        _plot_hists(out / "hist.png", {len(trained.pool): rows})
        _plot_ensembles(out / "ensemble.png", {len(trained.pool): ens})
    return {"rows": rows, "ensemble": ens, "summary": summary}


def _gaps(rows: list[dict[str, Any]], tag: str) -> dict[str, float]:
    """Seen/unseen test accuracy, their gap and the train/test disparity, under one BN mode (column ``tag``)."""
    def mean(key: str, seen: bool) -> float:
        v = [r[key + tag] for r in rows if r["seen"] is seen and math.isfinite(r[key + tag])]
        return float(np.mean(v)) if v else math.nan

    out = {f"{k}_{t}": mean(k, f) for k in ("test_acc", "disparity") for t, f in (("seen", True), ("unseen", False))}
    out["seen_minus_unseen"] = out["test_acc_seen"] - out["test_acc_unseen"]
    return out


def ensemble_curve(logits: torch.Tensor, labels: torch.Tensor, seed: int, bins: int = 15) -> list[dict[str, float]]:
    """Ensembles of the first m members (seeded order) for m = 1..M, from logits ``[M, N, K]``."""
    order = np.random.default_rng(seed).permutation(len(logits))
    probs = torch.softmax(logits.double(), -1)[torch.as_tensor(order)]
    total = torch.zeros_like(probs[0])
    out, singles = [], []
    for m in range(1, len(order) + 1):
        total += probs[m - 1]
        singles.append(_acc(probs[m - 1], labels))
        acc = _acc(total / m, labels)
        out.append({"members": m, "ensemble_acc": acc, "mean_member_acc": float(np.mean(singles)),
                    "gain": acc - float(np.mean(singles)),
                    "ensemble_ece": expected_calibration_error(total / m, labels, bins)})
    return out


def _summarise(rows: list[dict[str, Any]], ens: list[dict[str, float]], gt: Any) -> dict[str, Any]:
    def mean(key: str, seen: bool) -> float:
        v = [r[key] for r in rows if r["seen"] is seen and math.isfinite(r[key])]
        return float(np.mean(v)) if v else math.nan

    out: dict[str, Any] = {f"{k}_{tag}": mean(k, flag) for k in ("train_acc", "test_acc", "disparity", "ece")
                           for tag, flag in (("seen", True), ("unseen", False))}
    out.update(n_seen=sum(r["seen"] for r in rows), n_unseen=sum(not r["seen"] for r in rows),
               ensemble_acc=ens[-1]["ensemble_acc"], ensemble_gain=ens[-1]["gain"],
               ensemble_ece=ens[-1]["ensemble_ece"])
    if gt is not None:
        for tag, sel in (("all", None), ("seen", True), ("unseen", False)):
            rs = [r for r in rows if sel is None or r["seen"] is sel]
            out[f"corr_{tag}"] = rank_correlations([r["test_acc"] for r in rs], [r["gt_test_acc"] for r in rs])
    return out


def pool_size_study(base: RunConfig, sizes: Sequence[int], mode: str, cfg: NSAAnalysisConfig, out: str | Path,
                    progress: Callable[[str], None] | None = None, **gt_overrides: Any) -> list[dict[str, Any]]:
    """Train optimizer ``nsa`` once per pool size S and analyse each; writes ``nsa_study.{csv,json}``,
    ``nsa_hist.png`` (seen vs unseen test accuracy, one panel per S) and ``nsa_ensemble.png``."""
    if not sizes or any(int(s) < 1 for s in sizes):
        raise ConfigError(f"pool sizes must be >= 1, got {list(sizes)}")
    out = Path(out)
    use_gt = base.benchmark != "none" or gt_overrides.get("benchmark") not in (None, "none")
    gt = ground_truth_for(base, get_space(base.space), **gt_overrides) if use_gt else None
    rows, hists, curves = [], {}, {}
    for k, size in enumerate(sizes, 1):
        run = replace(base, optimizer="nsa", protocol=None,
                      optimizer_config={**base.optimizer_config, "pool_size": int(size), "mode": mode})

        def one(run=run, size=size) -> dict[str, Any]:
            trained, splits, _ = train_supernet(run, progress)
            res = analyze_pool(trained, cfg, splits, gt, out / f"S={size}")
            flat = {k: v for k, v in res["summary"].items() if not isinstance(v, dict)}
            flat.update({f"{k}.{m}": v for k, d in res["summary"].items() if k.startswith("corr_")
                         for m, v in d.items()})
            flat.update({f"bn_{md}.{k}": v for md, d in res["summary"]["bn_compare"].items() for k, v in d.items()})
            return {"flat": flat, "rows": res["rows"], "ensemble": res["ensemble"]}

        # each pool size is saved when done: a killed study resumes at the size it was on
        item, reused = resumable_item(out / f"S={size}", {"run": run.to_dict(), "analysis": asdict(cfg),
                                                          "gt": gt_overrides}, one)
        flat = item["flat"]
        rows.append(flat)
        hists[int(size)], curves[int(size)] = item["rows"], item["ensemble"]
        if progress:
            progress(f"pool-size study [{k}/{len(sizes)}] S={size}: test acc seen {flat['test_acc_seen']:.1f} / "
                     f"unseen {flat['test_acc_unseen']:.1f}" + (" (kept from an earlier run)" if reused else ""))
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "nsa_study.csv", to_csv(rows))
    atomic_write_json(out / "nsa_study.json", {"base_run": json.loads(json.dumps(base.to_dict())), "mode": mode,
                                               "analysis": json.loads(json.dumps(asdict(cfg))), "rows": rows})
    _plot_hists(out / "nsa_hist.png", hists)
    _plot_ensembles(out / "nsa_ensemble.png", curves)
    return rows


def _plot_hists(path: Path, by_size: dict[int, list[dict[str, Any]]]) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(by_size), figsize=(4 * len(by_size), 3.5), squeeze=False)
    for ax, (size, rows) in zip(axes.flat, sorted(by_size.items())):
        vals = [r["test_acc"] for r in rows]
        edges = np.linspace(min(vals), max(vals) + 1e-6, 16)
        for seen, color in ((True, "tab:blue"), (False, "tab:orange")):
            v = [r["test_acc"] for r in rows if r["seen"] is seen]
            if v:
                ax.hist(v, bins=edges, alpha=0.6, color=color, label=f"{'seen' if seen else 'unseen'} (n={len(v)})")
        ax.set(title=f"S = {size}", xlabel="one-shot test accuracy (%)", ylabel="architectures")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_ensembles(path: Path, by_size: dict[int, list[dict[str, float]]]) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    for size, curve in sorted(by_size.items()):
        ax.plot([c["members"] for c in curve], [c["gain"] for c in curve], marker=".", label=f"S = {size}")
    ax.set(xlabel="architectures averaged (softmax)", ylabel="ensemble accuracy gain (% points)",
           title="ensemble gain over mean member accuracy")
    save_figure(fig, ax, path)
