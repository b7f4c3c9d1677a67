"""One self-contained static HTML page for a set of runs: tables, figures, configs.

Figures are embedded as base64 PNG data URIs and the styles are inline, so the
page can be mailed or archived as one file. The PNG/PDF files are also kept in
``<out>/figures`` for papers. Analysis outputs found under the run folders are
included when present: ``harness correlate`` folders (``archs.csv`` with
``oneshot_acc``: one-shot vs ground-truth scatter) and NSA pool studies
(``archs.csv`` with ``seen``: histograms; ``ensemble.csv``: gain curves), and
``harness reproduce`` outputs (``reproduction.json``: ours beside the published
numbers with the verdicts, findings, figures).
"""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.reporting.aggregate import find_run_dirs, load_frame, load_runs, save_parquet
from harness.reporting.files import read_analysis_csv, read_reproduction
from harness.reporting.tables import TableConfig, cell_stats, reference_rows, render_table
from harness.run.files import read_failed
from search_spaces.errors import ConfigError, UserError
from search_spaces.io import atomic_write_text

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:right}th{background:#f3f3f3}
td:first-child,td:nth-child(2),th:first-child,th:nth-child(2){text-align:left}
tr.reference td{color:#555;background:#fafafa}
.note{color:#555;font-size:.85em}figure{display:inline-block;margin:.5em;vertical-align:top}
figure img{max-width:520px;border:1px solid #eee}figcaption{font-size:.85em;color:#555;max-width:520px}
pre{background:#f6f6f6;padding:.6em;overflow:auto;font-size:.8em}.failed{color:#a00}
table.repro td,table.repro th{text-align:left}
"""


@dataclass(frozen=True)
class ReportConfig:
    """What goes into the report.

    Attributes:
        title: Page title.
        metrics: Table metrics, one table each (``accuracy``, ``regret``).
        references: Add published reference rows to the accuracy table.
        log_regret: Symlog y axis for the regret figures (None: when the curves span more than 10x).
        max_configs: Run configs shown in full (the rest listed by id), to keep the page small.
    """

    title: str = "NAS harness report"
    metrics: tuple[str, ...] = ("accuracy", "regret")
    references: bool = True
    log_regret: bool | None = None
    max_configs: int = 200

    def __post_init__(self) -> None:
        bad = [m for m in self.metrics if m not in ("accuracy", "regret")]
        if bad or not self.metrics:
            raise ConfigError(f"report metrics must be accuracy and/or regret, got {list(self.metrics)}")
        if self.max_configs < 0:
            raise ConfigError(f"max_configs must be >= 0, got {self.max_configs}")


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _own_png(folder: Path, name: object) -> Path | None:
    """``folder/name`` when it is a plain file name (no path, no ``..``), a regular file that is no symlink,
    inside ``folder`` and a PNG by its signature; else None. A shared results folder names the figures to
    embed, so it must never make the report embed another file the reporting user can read."""
    if not isinstance(name, str) or not name.endswith(".png") or Path(name).name != name or name in (".", ".."):
        return None
    p = folder / name
    try:
        if p.is_symlink() or not p.is_file() or p.resolve().parent != folder.resolve():
            return None
        with open(p, "rb") as f:
            return p if f.read(8) == PNG_SIGNATURE else None
    except OSError:
        return None


def _img(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _analysis_outputs(paths: Iterable[str | Path]) -> dict[str, list[Path]]:
    """Correlation and NSA outputs below ``paths`` (see module docstring)."""
    found: dict[str, list[Path]] = {"scatter": [], "hist": [], "ensemble": []}
    for root in map(Path, paths):
        if not root.is_dir():
            continue
        for p in sorted(root.rglob("archs.csv")):
            cols = set(read_analysis_csv(p).columns)
            if {"oneshot_acc", "gt_test_acc"} <= cols:
                found["scatter"].append(p)
            if {"seen", "test_acc"} <= cols:
                found["hist"].append(p)
        found["ensemble"] += sorted(p for p in root.rglob("ensemble.csv")
                                    if {"members", "gain"} <= set(read_analysis_csv(p).columns))
    return found


def _figures(paths: list[str | Path], fig_dir: Path, cfg: ReportConfig) -> list[str]:
    from harness.reporting import plots

    runs = load_runs(paths)
    out = []
    t = runs.trajectories
    if len(t) and "test_regret" in t and t["test_regret"].notna().any():
        out.append(_img(plots.plot_regret(runs, fig_dir / "regret_vs_epoch.png", log=cfg.log_regret),
                        "Anytime test regret vs search epoch: mean and standard error over seeds."))
        if "steps_per_epoch" in t and t["steps_per_epoch"].notna().any():
            out.append(_img(plots.plot_regret(runs, fig_dir / "regret_vs_steps.png", log=cfg.log_regret,
                                              x="steps"),
                            "Anytime test regret vs search steps (comparable across machines)."))
        if "wall_seconds" in t and t["wall_seconds"].fillna(0).gt(0).any():
            out.append(_img(plots.plot_regret(runs, fig_dir / "regret_vs_time.png", log=cfg.log_regret,
                                              x="wall_seconds"),
                            "Anytime test regret vs search wall-clock time (mean over seeds per epoch); wall-clock "
                            "depends on the machine and on its load while the runs ran: compare runs by steps."))
    if len(t) and "dominant_eigenvalue" in t and t["dominant_eigenvalue"].notna().any():
        out.append(_img(plots.plot_eigenvalue(runs, fig_dir / "eigenvalue.png"),
                        "Dominant Hessian eigenvalue (top) and test error of the pick (bottom) vs epoch."))
    if len(t) and "sigma_mean" in t and t["sigma_mean"].notna().any():
        out.append(_img(plots.plot_posterior(runs, fig_dir / "posterior.png"),
                        "BaLeNAS's q: mean sigma (band: spread over logits) and the spread of mu vs epoch."))
    found = _analysis_outputs(paths)
    for i, p in enumerate(found["scatter"]):
        a = read_analysis_csv(p, ("oneshot_acc", "gt_test_acc"))
        out.append(_img(plots.plot_scatter(a["oneshot_acc"], a["gt_test_acc"], fig_dir / f"scatter_{i}.png",
                                           title=p.parent.name), f"One-shot vs ground-truth accuracy: {p.parent}"))
    for i, p in enumerate(found["hist"]):
        out.append(_img(plots.plot_histograms(read_analysis_csv(p, ("test_acc",)), fig_dir / f"hist_{i}.png", title=p.parent.name),
                        f"Test accuracy of seen vs unseen architectures: {p.parent}"))
    if found["ensemble"]:
        curves = {p.parent.name: read_analysis_csv(p, ("members", "gain")) for p in found["ensemble"]}
        out.append(_img(plots.plot_ensemble(curves, fig_dir / "ensemble.png"),
                        "Ensemble accuracy gain over the mean member vs members averaged."))
    return out


def _reproductions(paths: Iterable[str | Path]) -> list[tuple[Path, dict]]:
    """``reproduction.json`` files at or below ``paths``; a damaged one is a one-line error naming it."""
    found = []
    for root in map(Path, paths):
        cands = [root / "reproduction.json"] if root.is_dir() else []
        cands += sorted(root.rglob("*/reproduction.json")) if root.is_dir() else []
        for p in cands:
            if p.exists():
                found.append((p.parent, read_reproduction(p)))
                continue
    return found


def _reproduction_html(folder: Path, rep: dict) -> str:
    """One recipe's section: the comparison table (every value escaped), findings, figures."""
    e = html.escape
    header = [str(h) for h in rep["table"]["header"]]
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    at = header.index("verdict") if "verdict" in header else -1

    def not_run(r) -> bool:
        return isinstance(r, list) and len(r) == len(header) and str(r[at]).startswith("not run")

    body = "".join("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in r) + "</tr>" for r in rep["table"]["rows"]
                   if isinstance(r, list) and not not_run(r))
    skipped = sum(map(not_run, rep["table"]["rows"]))
    out = [f"<h3>{e(str(rep['recipe']))}: {e(str(rep['title']))}</h3>",
           f'<p class="note">{e(str(rep["source"]))}; scale {e(str(rep["scale"]))}'
           + (f" ({e(str(rep['reduced']))}; never compared with published numbers)" if rep.get("reduced") else "")
           + f"; {skipped} rows not run (see reproduction.md).</p>"]
    if body:
        out.append(f'<table class="repro"><tr>{head}</tr>{body}</table>')
    if rep.get("chance"):
        out.append(f'<p class="note">{e(str(rep["chance"]))}</p>')
    out += [f"<p>{e(str(f))}</p>" for f in rep.get("findings", [])]
    for f in rep.get("files", []) if isinstance(rep.get("files"), list) else []:
        png = _own_png(folder, f)
        if png is not None:
            out.append(_img(png, f"{rep['recipe']}: {f}"))
    return "\n".join(out)


def _comparison_html(paths: Iterable[str | Path], fig_dir: Path) -> str:
    """``harness compare`` on the report's runs (test regret at the final epoch, every pair): per setting the
    competitors and the pairs, every value escaped; the critical-difference diagram when there is one."""
    from harness.reporting.compare import CompareConfig, compare
    from harness.reporting.compare_plots import plot_cd

    try:
        c = compare(list(paths), CompareConfig())
    except UserError as e:
        return f'<p class="note">{html.escape(str(e))}</p>'
    out = [f'<p class="note">{html.escape(c.config.metric)} at the final epoch; 95 % intervals; Welch or paired '
           "t (runs paired by seed where the harness knows seeds share initialisation and data order), Holm "
           "within each setting (harness compare RUNS for every option).</p>"]
    cols = {"competitor": "competitor", "n": "n", "mean": "mean", "std": "std", "boot_low": "bootstrap low",
            "boot_high": "bootstrap high", "diverged": "diverged"}
    pcols = {"competitor": "competitor", "against": "against", "difference": "difference", "ci_low": "low",
             "ci_high": "high", "test": "test", "p_holm": "p (Holm)", "significant": "significant",
             "detectable": "detectable"}
    for setting, g in c.summary.groupby("setting", sort=True):
        out.append(f"<h3>{html.escape(str(setting))}</h3>")
        out.append(g[list(cols)].rename(columns=cols).to_html(index=False, escape=True, float_format="%.3g"))
        p = c.pairs[c.pairs["setting"] == setting] if len(c.pairs) else pd.DataFrame()
        if len(p):
            out.append(p[list(pcols)].rename(columns=pcols).to_html(index=False, escape=True, float_format="%.3g"))
    if len(c.ranks):
        out.append(_img(plot_cd(c.ranks, c.cd, fig_dir / "critical_difference.png"), "critical difference"))
    out += [f'<p class="note">{html.escape(n)}</p>' for n in c.notes]
    return "\n".join(out)


def _runs_html(frame: pd.DataFrame) -> str:
    """One row per run: what it is and the architecture it found, with that architecture's ground truth."""
    e = html.escape
    last = frame[frame["is_final"].astype(bool)] if "is_final" in frame else frame.iloc[0:0]
    rows = []
    for rid, g in frame.groupby("run_id", sort=True):
        r = g.iloc[0]
        fin = last[last["run_id"] == rid]
        val = {q: fin.loc[fin["quantity"] == q, "value"] for q in ("gt_test_acc", "test_regret")}
        arch = fin["arch"].dropna().iloc[0] if "arch" in fin and fin["arch"].notna().any() else ""
        cells = [rid, r.get("optimizer"), r.get("setting") or "", r.get("seed"),
                 f"{r.get('config.space', '')} / {r.get('benchmark') or 'none'}: {r.get('dataset')}", r.get("status"),
                 arch] + [f"{float(v.iloc[0]):.2f}" if len(v) and pd.notna(v.iloc[0]) else "n/a" for v in val.values()]
        rows.append("<tr>" + "".join(f"<td>{e(str(c))}</td>" if i != 6 else f"<td><code>{e(str(c))}</code></td>"
                                     for i, c in enumerate(cells)) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("run", "optimizer", "setting", "seed", "space / benchmark: dataset",
                                             "status", "architecture found", "its test acc (%)", "test regret"))
    return f'<table class="runs"><tr>{head}</tr>{"".join(rows)}</table>'


def _failures(paths: Iterable[str | Path]) -> list[dict]:
    out = []
    for root in map(Path, paths):
        cands = [root / "failed.json"] if (root / "failed.json").is_file() else sorted(root.rglob("failed.json")) if root.is_dir() else []
        for p in cands:
            if not (p.parent / "final.json").is_file():  # a later success supersedes the failure
                out.append(read_failed(p))
    return out


def build_report(paths: list[str | Path], out_dir: str | Path, cfg: ReportConfig | None = None) -> Path:
    """Write ``out_dir/index.html`` (plus ``figures/`` and ``runs.parquet``); returns the page path."""
    cfg = cfg or ReportConfig()
    out_dir = Path(out_dir)
    dirs = find_run_dirs(paths)
    failures = _failures(paths)
    repros = _reproductions(paths)
    if not dirs and not failures and not repros:
        raise UserError(f"no runs (folders with config.json) or reproductions under {', '.join(map(str, paths))}")
    frame = load_frame(paths) if dirs or failures else pd.DataFrame(columns=["run_id", "status", "run_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    if dirs or failures:
        save_parquet(frame, out_dir / "runs.parquet")
    runs = frame.drop_duplicates("run_id")
    status = runs["status"].value_counts().to_dict() if len(runs) else {}
    parts = [f"<h1>{html.escape(cfg.title)}</h1>",
             f'<p class="note">Generated {time.strftime("%Y-%m-%d %H:%M:%S")} from '
             f"{html.escape(', '.join(map(str, paths)))}: {len(runs)} runs ("
             + html.escape(", ".join(f"{v} {k}" for k, v in sorted(status.items())))
             + (f", {len(failures)} failed" if failures else "") + ").</p>"]
    if repros:
        parts.append("<h2>Reproductions</h2>" + "".join(_reproduction_html(d, r) for d, r in repros))
    parts.append("<h2>Tables</h2>")
    refs = None
    if cfg.references:
        from harness.references import load_references

        refs = load_references()
    for metric in cfg.metrics:
        tc = TableConfig(metric=metric)
        cells = cell_stats(frame, tc) if len(runs) else pd.DataFrame()
        if not len(cells):
            parts.append(f'<p class="note">No {metric} values (runs without ground truth?).</p>')
            continue
        rr = reference_rows(cells, refs, metric) if refs is not None else None
        parts.append(f"<h3>{metric}</h3>" + render_table(cells, rr, tc, "html"))
        if refs is not None and metric == "accuracy" and (rr is None or not len(rr)):
            parts.append('<p class="note">No published row matches these columns (published rows cover NB-201, '
                         "the DARTS spaces and NB-1Shot1 on their datasets: harness/references/published.csv).</p>")
    if len(runs):
        parts.append("<h2>Runs</h2>" + _runs_html(frame))
        parts.append("<h2>Comparison</h2>" + _comparison_html(paths, out_dir / "figures"))
    parts.append("<h2>Figures</h2>")
    figs = _figures(paths, out_dir / "figures", cfg) if len(runs) else []
    parts.append("".join(figs) or '<p class="note">No trajectories with ground truth to plot.</p>')
    if failures:
        parts.append("<h2>Failed runs</h2><ul>" + "".join(
            f'<li class="failed"><code>{html.escape(f["run_id"])}</code>: {html.escape(str(f["error"]))}</li>'
            for f in failures) + "</ul>")
    parts.append("<h2>Run configs</h2>")
    for i, d in enumerate(dirs):
        cfg_text = (d / "config.json").read_text()
        st = runs.loc[runs["run_dir"] == str(d), "status"]
        label = f"{d.name} ({st.iloc[0] if len(st) else '?'})"
        if i < cfg.max_configs:
            parts.append(f"<details><summary><code>{html.escape(label)}</code></summary>"
                         f"<pre>{html.escape(cfg_text)}</pre></details>")
        else:
            parts.append(f"<div><code>{html.escape(label)}</code></div>")
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(cfg.title)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")
    atomic_write_text(out_dir / "index.html", page)
    return out_dir / "index.html"
