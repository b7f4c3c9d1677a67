"""``harness compare`` as text: Markdown, LaTeX (booktabs) and CSV, and the files it writes."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from harness.metrics import stats
from harness.reporting.compare import Comparison, higher_is_better
from harness.reporting.tables import _latex_escape
from search_spaces.io import atomic_write_text


def _f(x: float, d: int = 2, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:+.{d}f}" if sign else f"{x:.{d}f}"


def _p(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.3g}"


def _best(s: pd.DataFrame, higher: bool, alpha: float, pairs: pd.DataFrame | None = None
          ) -> tuple[str | None, set[str]]:
    """The separable best and the competitors tied with the best. With every pair tested (``pairs``), from
    those rows (paired where the seeds pair, Holm within the setting); else Welch from the summaries."""
    names = s["competitor"].tolist()
    top = names[int(s["mean"].to_numpy().argmax() if higher else s["mean"].to_numpy().argmin())]
    if pairs is not None and len(pairs):
        with_top = pairs[(pairs["competitor"] == top) | (pairs["against"] == top)]
        if len(with_top) == len(names) - 1:
            tied = {top} | {r.against if r.competitor == top else r.competitor
                            for r in with_top.itertuples() if not r.significant}
            return (top if tied == {top} else None), tied
    best, flags = stats.separable_best(s["mean"].tolist(), s["std"].fillna(0).tolist(), s["n"].tolist(), higher,
                                       alpha)
    return (names[best] if best is not None else None), {n for n, t in zip(names, flags) if t}


def _what(c: Comparison) -> str:
    cfg = c.config
    at = "the final epoch" if cfg.epoch == "final" else f"search epoch {cfg.epoch}"
    return (f"{cfg.metric} at {at} ({'higher' if higher_is_better(cfg.metric) else 'lower'} is better); "
            f"intervals {100 * (1 - cfg.alpha):.0f} %, tests at alpha {cfg.alpha}, Holm within each setting")


def markdown(c: Comparison) -> str:
    """Every setting: the competitors, the pairs, power; then the across-setting ranks and notes."""
    cfg, higher = c.config, higher_is_better(c.config.metric)
    md = ["# Comparison", "", _what(c) + ".", ""]
    for setting, s in c.summary.groupby("setting", sort=True):
        p = c.pairs[c.pairs["setting"] == setting] if len(c.pairs) else pd.DataFrame()
        best, tied = _best(s, higher, cfg.alpha, p if cfg.against is None else None)
        md += [f"## {setting}", "", "| competitor | n | mean ± std | bootstrap interval | area under curve | "
               + ("reached / epoch / seconds | " if cfg.threshold is not None else "") + "diverged |",
               "|---|---:|---|---|---|" + ("---|" if cfg.threshold is not None else "") + "---:|"]
        for r in s.itertuples():
            name = f"**{r.competitor}**" if r.competitor == best else r.competitor + (" ≈" if r.competitor in tied
                                                                                      and best is None else "")
            reach = (f"{r.reached} / {_f(r.epochs_to_threshold, 1)} / {_f(r.seconds_to_threshold, 1)} | "
                     if cfg.threshold is not None else "")
            md.append(f"| {name} | {r.n} | {_f(r.mean)} ± {_f(r.std)} | [{_f(r.boot_low)}, {_f(r.boot_high)}] | "
                      f"{_f(r.auc)} ± {_f(r.auc_std)} | {reach}{r.diverged} |")
        md += ["", "Bold: the best, separated from every other after Holm (the pair tests below); ≈: not "
                   "separable from the best (no bold then).", ""]
        if len(p):
            md += ["| competitor | against | difference [interval] | test | p (Holm) | rank test p | Hedges' g | "
                   "Cliff's delta | detectable | seeds for delta |", "|---|---|---|---|---|---|---:|---:|---:|---:|"]
            for r in p.itertuples():
                mark = " *" if r.significant else ""
                md.append(f"| {r.competitor} | {r.against} | {_f(r.difference, sign=True)} [{_f(r.ci_low, sign=True)}"
                          f", {_f(r.ci_high, sign=True)}] | {r.test} | {_p(r.p)} ({_p(r.p_holm)}){mark} | "
                          f"{_p(r.p_rank)} ({r.rank_test}) | {_f(r.hedges_g)} | {_f(r.cliffs_delta)} | "
                          f"{_f(r.detectable)} | {r.seeds_needed if math.isfinite(r.seeds_needed) else 'n/a'} "
                          f"(delta {_f(r.delta)}) |")
            paired = p["paired"].all()
            md += ["", "*: significant after Holm. " + (
                "Runs are paired by seed (same seed, supernet config, batch size and data: the same initialisation "
                "and data order), so the tests are paired." if paired else
                "Runs are treated as independent (seeds do not share initialisation and data order for every "
                "pair)." if not p["paired"].any() else "Some pairs are paired by seed, some independent (column "
                "test)."),
                   f"Power: differences smaller than {_f(p['detectable'].min())}-{_f(p['detectable'].max())} "
                   f"cannot be told apart with these seeds (alpha {cfg.alpha}, 80 % power); 'seeds for delta' is "
                   "how many seeds per optimizer would detect that difference.", ""]
    if len(c.ranks):
        fr = c.friedman
        md += ["## Across settings", "", "| competitor | average rank |", "|---|---:|"]
        md += [f"| {r.competitor} | {r.average_rank:.2f} |" for r in c.ranks.itertuples()]
        md += ["", f"Friedman chi2 = {fr.chi2:.2f} (p {_p(fr.p)}), Iman-Davenport F = {_f(fr.f)} (p {_p(fr.p_f)}) "
                   f"over {fr.n} settings and {fr.k} competitors; Nemenyi critical difference {c.cd:.2f} at alpha "
                   f"{cfg.alpha}: average ranks closer than that are not separable (Demsar 2006).", ""]
    if c.notes:
        md += ["## Notes", ""] + [f"- {n}" for n in c.notes]
    return "\n".join(md).rstrip() + "\n"


def latex(c: Comparison) -> str:
    """One booktabs table per setting: best in bold (only when separable), a dagger where the difference to
    ``against`` is significant after Holm."""
    higher = higher_is_better(c.config.metric)
    out = ["% needs \\usepackage{booktabs}"]
    for k, (setting, s) in enumerate(c.summary.groupby("setting", sort=True)):
        p = c.pairs[c.pairs["setting"] == setting] if len(c.pairs) else pd.DataFrame()
        best, _ = _best(s, higher, c.config.alpha, p if c.config.against is None else None)
        sig = set(p[p["significant"]]["competitor"]) if len(p) and c.config.against else set()
        out += ["\\begin{table}", "\\centering", "\\begin{tabular}{lrl}", "\\toprule",
                "competitor & $n$ & mean $\\pm$ std \\\\", "\\midrule"]
        for r in s.itertuples():
            cell = f"{_f(r.mean)} $\\pm$ {_f(r.std)}"
            cell = f"\\textbf{{{cell}}}" if r.competitor == best else cell
            cell += "$^\\dagger$" if r.competitor in sig else ""
            out.append(f"{_latex_escape(r.competitor)} & {r.n} & {cell} \\\\")
        out += ["\\bottomrule", "\\end{tabular}",
                f"\\caption{{{_latex_escape(setting)}: {_latex_escape(_what(c))}."
                + (f" $^\\dagger$: differs from {_latex_escape(c.config.against)} after Holm." if c.config.against else "")
                + "}", f"\\label{{tab:compare-{k}}}", "\\end{table}"]
    return "\n".join(out) + "\n"


def write(c: Comparison, out: str | Path, log: bool | None = None) -> list[Path]:
    """``OUT/comparison.md``, ``.tex``, ``summary.csv``, ``pairs.csv``, the anytime figures per setting (epochs
    and seconds) and the critical-difference diagram (PNG + PDF)."""
    from harness.reporting.compare_plots import plot_anytime, plot_cd

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "comparison.md", out / "comparison.tex", out / "summary.csv", out / "pairs.csv"]
    atomic_write_text(files[0], markdown(c))
    atomic_write_text(files[1], latex(c))
    atomic_write_text(files[2], c.summary.to_csv(index=False))
    atomic_write_text(files[3], c.pairs.to_csv(index=False))
    ok = c.runs[(c.runs["status"] == "finished") & c.runs["trajectory"].map(len).astype(bool)]
    for k, (setting, g) in enumerate(ok.groupby("setting", sort=True)):
        files.append(plot_anytime(g, c.config.metric, out / f"anytime_{k}_epochs.png", "epoch", log, c.config.alpha))
        if g["seconds"].map(len).all():
            files.append(plot_anytime(g, c.config.metric, out / f"anytime_{k}_seconds.png", "seconds", log,
                                      c.config.alpha))
    if len(c.ranks):
        files.append(plot_cd(c.ranks, c.cd, out / "critical_difference.png",
                             f"{c.config.metric}: average rank over {c.friedman.n} settings"))
    return files
