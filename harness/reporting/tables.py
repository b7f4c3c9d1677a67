"""Result tables: optimizer rows x (dataset, split) columns, mean ± std over seeds.

Cells are computed from the long frame of ``aggregate.load_frame``. Only runs
with status ``finished`` are averaged; diverged runs are counted in their own
column note, unfinished and failed runs in another, so a table never hides a
run that did not make it. Published numbers (``harness/references``) can be
added as distinct reference rows, or compared with each of our rows.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.metrics.stats import separable_best
from harness.reporting.aggregate import mean_std
from search_spaces.errors import ConfigError, UserError

#: metric -> split -> trajectory column; ``higher`` says which direction is best.
METRICS: dict[str, dict] = {
    "accuracy": {"columns": {"valid": "gt_valid_acc", "test": "gt_test_acc"}, "higher": True, "unit": "%"},
    "regret": {"columns": {"test": "test_regret"}, "higher": False, "unit": "% points"},
}
FORMATS = ("md", "latex", "csv", "html")  # html: for the report page


@dataclass(frozen=True)
class TableConfig:
    """What a table shows.

    Attributes:
        metric: ``accuracy`` (ground-truth accuracy of the pick) or ``regret``.
        epoch: ``"final"`` (each run's last epoch) or N: the value after N search
            epochs (trajectory row ``epoch == N - 1``); runs shorter than N are left out.
        decimals: Digits after the point in md/latex cells.
    """

    metric: str = "accuracy"
    epoch: str | int = "final"
    decimals: int = 2

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ConfigError(f"metric must be one of {sorted(METRICS)}, got {self.metric!r}")
        if self.epoch != "final" and (not isinstance(self.epoch, int) or self.epoch < 1):
            raise ConfigError(f"epoch must be 'final' or a positive integer, got {self.epoch!r}")
        if not isinstance(self.decimals, int) or not 0 <= self.decimals <= 6:
            raise ConfigError(f"decimals must be an integer in 0..6, got {self.decimals!r}")


def parse_epoch(text: str) -> str | int:
    """``final`` or a positive integer, from the command line."""
    if text == "final":
        return text
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"--epoch must be 'final' or an integer, got {text!r}") from None


def cell_stats(frame: pd.DataFrame, cfg: TableConfig) -> pd.DataFrame:
    """One row per (optimizer, setting, dataset, split): mean, std, n, diverged, other, best.

    ``std`` is the sample std over seeds (0 for one seed); ``n`` counts the finished
    runs with a finite value; ``diverged`` and ``other`` (unfinished, failed, or no
    value at the epoch) count the rest of the group's runs, which are never averaged.
    """
    cols = METRICS[cfg.metric]["columns"]
    out = []
    runs = frame.drop_duplicates("run_id")
    runs = runs.assign(space=runs["config.space"] if "config.space" in runs else None)  # cells per space too
    if cfg.epoch == "final":
        at = frame[frame["is_final"].astype(bool)]
    else:
        at = frame[pd.to_numeric(frame["epoch"], errors="coerce") == cfg.epoch - 1]
    for split, qty in cols.items():
        vals = at[at["quantity"] == qty].set_index("run_id")["value"]
        if not vals.notna().any():
            continue  # e.g. no source with a validation split: no column at all
        for (opt, setting, space, bench, dataset), g in runs.groupby(
                ["optimizer", "setting", "space", "benchmark", "dataset"], dropna=False, sort=True):
            ok = g[g["status"] == "finished"]["run_id"]
            m, s, n = mean_std(float(v) for v in vals.reindex(ok).tolist())
            div = int((g["status"] == "diverged").sum())
            out.append({"optimizer": opt, "setting": setting, "space": space, "benchmark": bench,
                        "dataset": dataset, "split": split, "metric": cfg.metric, "epoch": str(cfg.epoch),
                        "mean": m, "std": s, "n": n, "diverged": div, "other": len(g) - n - div})
    cells = pd.DataFrame(out, columns=["optimizer", "setting", "space", "benchmark", "dataset", "split", "metric",
                                       "epoch", "mean", "std", "n", "diverged", "other"])
    cells["best"] = False
    cells["tied"] = False
    higher = METRICS[cfg.metric]["higher"]
    for _, g in cells[cells["n"] > 0].groupby(["space", "benchmark", "dataset", "split"], dropna=False):
        # Bold only a best that Welch's test separates from every other cell after Holm (harness.metrics.stats);
        # otherwise the cells not separable from the best are marked as tied with it.
        best, tied = separable_best(g["mean"].tolist(), g["std"].tolist(), g["n"].tolist(), higher)
        if best is not None:
            cells.loc[g.index[best], "best"] = True
        elif len(g) > 1:
            cells.loc[g.index[[i for i, t in enumerate(tied) if t]], "tied"] = True
    return cells


def reference_rows(cells: pd.DataFrame, refs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Published rows for the (benchmark, dataset, split) columns present in ``cells``."""
    keys = {(str(b).lower(), str(d).lower(), s) for b, d, s in cells[["benchmark", "dataset", "split"]].itertuples(index=False)}
    r = refs[refs["metric"] == metric]
    mask = [(str(b).lower(), str(d).lower(), s) in keys for b, d, s in r[["benchmark", "dataset", "split"]].itertuples(index=False)]
    return r[mask].reset_index(drop=True)


#: Published names of a harness optimizer that share nothing with its own (BaLeNAS Table 1 quotes NB-201's
#: RSPS as RandomNAS).
_ALIASES = {"randomnas": "rsws", "rsps": "rsws"}


def _names(method: str) -> set[str]:
    """Normalised names a published method answers to: ``RSPS (RS-ws)`` -> {rsps, rsws, rspsrsws};
    ``RandomNAS`` -> {randomnas, rsws}."""
    norm = lambda t: re.sub(r"[^a-z0-9]", "", t.lower())  # noqa: E731
    inner = re.findall(r"\(([^)]*)\)", method)
    names = {norm(method), norm(method.split("(")[0])} | {norm(i) for i in inner}
    return names | {_ALIASES[n] for n in names if n in _ALIASES}


def resolve_against(refs: pd.DataFrame, reference: str) -> tuple[pd.DataFrame, bool]:
    """Reference rows for ``--against``: a method name (every row compared with it), a source
    substring or a CSV file of reference rows (each row compared with its namesake).

    Returns:
        The candidate rows and whether name matching applies.
    """
    by_method = refs[refs["method"].str.lower() == reference.lower()]
    if len(by_method):
        return by_method, False
    by_source = refs[refs["source"].str.contains(reference, case=False, regex=False, na=False)]
    if len(by_source):
        return by_source, True
    if Path(reference).is_file():
        return pd.read_csv(reference), True
    raise UserError(f"--against {reference!r}: no published method, source or file by that name "
                    f"(methods: {', '.join(sorted(refs['method'].unique()))}; sources: "
                    f"{'; '.join(sorted(refs['source'].dropna().unique()))})")


def compare_against(cells: pd.DataFrame, candidates: pd.DataFrame, match_names: bool) -> pd.DataFrame:
    """For each of our cells with values: the published value and (ours - published) / our seed std.

    ``z`` is NaN when our std is undefined or zero (one seed, or identical seeds):
    a difference cannot be expressed in units of a spread we did not observe.
    """
    out = []
    for _, c in cells[cells["n"] > 0].iterrows():
        m = candidates[(candidates["metric"] == c["metric"]) & (candidates["split"] == c["split"])
                       & (candidates["dataset"].astype(str).str.lower() == str(c["dataset"]).lower())]
        if match_names:
            m = m[[_names(str(c["optimizer"])) & _names(meth) != set() for meth in m["method"]]]
        ref = m.iloc[0] if len(m) else None
        diff = c["mean"] - ref["value"] if ref is not None else math.nan
        z = diff / c["std"] if c["n"] > 1 and c["std"] > 0 else math.nan
        out.append({**{k: c[k] for k in ("optimizer", "setting", "dataset", "split", "mean", "std", "n")},
                    "ref_method": None if ref is None else ref["method"],
                    "ref_value": math.nan if ref is None else float(ref["value"]),
                    "ref_source": None if ref is None else _citation(ref["source"], ref.get("table")),
                    "diff": diff, "z": z})
    return pd.DataFrame(out)


# -- rendering ---------------------------------------------------------------
def _citation(source, table) -> str:
    """``source, table`` without empty parts (a missing table is NaN in the CSV)."""
    return ", ".join(str(x) for x in (source, table) if x is not None and not pd.isna(x) and str(x))


def _fmt(v: float, d: int) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{d}f}"


def _latex_escape(t: str) -> str:
    # Character by character, so replacements are never escaped a second time.
    table = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$",
             "{": r"\{", "}": r"\}", "±": r"$\pm$", "≈": r"$\approx$", "–": "--", "~": r"\textasciitilde{}",
             "^": r"\^{}"}
    return "".join(table.get(ch, ch) for ch in t)


def render_table(cells: pd.DataFrame, refs: pd.DataFrame | None, cfg: TableConfig, fmt: str) -> str:
    """The table as Markdown, LaTeX (booktabs) or CSV (one line per cell, machine-readable)."""
    if fmt not in FORMATS:
        raise ConfigError(f"format must be one of {FORMATS}, got {fmt!r}")
    refs = refs if refs is not None else pd.DataFrame(columns=["method", "dataset", "split", "value", "std", "source"])
    if fmt == "csv":
        ours = cells.assign(kind="ours", source="")
        theirs = pd.DataFrame({"kind": "reference", "optimizer": refs["method"], "setting": "",
                               "benchmark": refs.get("benchmark"), "dataset": refs["dataset"], "split": refs["split"],
                               "metric": cfg.metric, "epoch": "", "mean": refs["value"], "std": refs["std"],
                               "n": pd.NA, "diverged": pd.NA, "other": pd.NA, "best": False, "tied": False,
                               "source": [_citation(a, b) for a, b in zip(refs["source"], refs.get("table", [None] * len(refs)))]})
        both = pd.concat([ours, theirs], ignore_index=True) if len(theirs) else ours
        return both[["kind", "optimizer", "setting", "benchmark", "dataset", "split", "metric", "epoch", "mean",
                     "std", "n", "diverged", "other", "best", "tied", "source"]].to_csv(index=False)
    d = cfg.decimals
    keyed = cells.assign(space=cells["space"].fillna("").astype(str) if "space" in cells else "",
                         benchmark=cells["benchmark"].fillna("none").astype(str))
    columns = sorted({(r.space, r.benchmark, r.dataset, r.split) for r in keyed.itertuples()},
                     key=lambda k: (k[0], k[1], str(k[2]), k[3] != "valid"))
    ns = cells.loc[cells["n"] > 0, "n"]
    usual_n = int(ns.mode().max()) if len(ns) else 0  # ties: the fuller seed count is the norm
    ours: list[list[str]] = []
    for (opt, setting), g in keyed.groupby(["optimizer", "setting"], sort=True, dropna=False):
        row = [str(opt), str(setting or "")]
        for space, bench, ds, sp in columns:
            c = g[(g["space"] == space) & (g["benchmark"] == bench) & (g["dataset"] == ds) & (g["split"] == sp)]
            row.append(_cell(c.iloc[0], d, usual_n, fmt) if len(c) else "")
        ours.append(row)
    theirs = []
    for r in refs.itertuples():
        row = [_style(str(r.method), "italic", fmt), _style(_citation(r.source, getattr(r, "table", None)), "italic", fmt)]
        for _space, bench, ds, sp in columns:
            hit = str(r.dataset).lower() == str(ds).lower() and r.split == sp and (
                getattr(r, "benchmark", None) in (None, "", bench) or pd.isna(getattr(r, "benchmark", None)))
            txt = (_fmt(r.value, d) + ("" if pd.isna(r.std) else f" ± {_fmt(r.std, d)}")) if hit else ""
            row.append(_style(txt, "italic", fmt) if txt else "")
        theirs.append(row)
    unit = METRICS[cfg.metric]["unit"]
    spaces = {c[0] for c in columns}
    # every column names its space and benchmark (issue 36: "digits" alone said neither)
    header = ["optimizer", "setting"] + [f"{space + ' / ' if len(spaces) > 1 else ''}{bench}: {ds} {sp}"
                                         for space, bench, ds, sp in columns]
    where = ", ".join(sorted(f"space {sp}" for sp in spaces if sp)) or "space unknown"
    notes = (f"{cfg.metric} ({unit}) at epoch {cfg.epoch} ({where}; columns: benchmark: dataset split): mean ± std "
             f"over seeds; n shown where it differs from "
             f"{usual_n}; bold: the best of a column where Welch's test separates it from every other after Holm "
             f"(alpha 0.05), else ≈ marks the cells not separable from the best; diverged/unfinished runs are "
             f"counted, never averaged.")
    if theirs:
        notes += " Italic rows: published values with their source."
    return _grid(header, ours, theirs, notes, fmt, f"tab:{cfg.metric}")


def _cell(c: pd.Series, d: int, usual_n: int, fmt: str) -> str:
    # one seed has no spread to show: "± n/a", never a "± 0.00" that reads as zero variance
    txt = "–" if c["n"] == 0 else f"{_fmt(c['mean'], d)} ± {_fmt(c['std'], d) if c['n'] > 1 else 'n/a'}"
    if c["best"]:
        txt = _style(txt, "bold", fmt)
    elif c.get("tied", False):
        txt += " ≈"
    extra = []
    if c["n"] != usual_n:
        extra.append(f"n={c['n']}")
    if c["diverged"]:
        extra.append(f"{c['diverged']} diverged")
    if c["other"]:
        extra.append(f"{c['other']} without value")
    return txt + (f" ({', '.join(extra)})" if extra else "")


def _style(t: str, how: str, fmt: str) -> str:
    if fmt == "md":
        return f"**{t}**" if how == "bold" else f"*{t}*"
    # HTML and LaTeX: placeholders, turned into markup after the whole cell is escaped, so emphasis
    # comes from the table's structure and never from text (a run's optimizer name may hold markup)
    return f"\x01{how}\x02{t}\x03"


def _html_cell(t: str) -> str:
    """Escape every character of ``t``, then turn the emphasis placeholders of ``_style`` into tags."""
    t = html.escape(t)
    return re.sub("\x01(bold|italic)\x02(.*?)\x03",
                  lambda m: ("<b>" if m.group(1) == "bold" else "<i>") + m.group(2)
                  + ("</b>" if m.group(1) == "bold" else "</i>"), t, flags=re.S)


def _drop_empty_columns(header: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """Leave out every column (after the first) that is empty in every row (e.g. ``setting`` with one setting)."""
    keep = [i for i in range(len(header)) if i == 0 or any(r[i] for r in rows)]
    return [header[i] for i in keep], [[r[i] for i in keep] for r in rows]


def _grid(header: list[str], ours: list[list[str]], theirs: list[list[str]], notes: str, fmt: str,
          label: str = "tab:results") -> str:
    full, rows = _drop_empty_columns(header, ours + theirs)
    header, ours, theirs = full, rows[:len(ours)], rows[len(ours):]
    if fmt == "html":
        def td(c: str, tag: str = "td") -> str:
            return f"<{tag}>{_html_cell(c)}</{tag}>"
        body = ["<tr>" + "".join(td(c) for c in r) + "</tr>" for r in ours]
        body += ['<tr class="reference">' + "".join(td(c) for c in r) + "</tr>" for r in theirs]
        return ("<table>\n<thead><tr>" + "".join(td(h, "th") for h in header) + "</tr></thead>\n<tbody>\n"
                + "\n".join(body) + f"\n</tbody>\n</table>\n<p class=\"note\">{html.escape(notes)}</p>\n")
    if fmt == "md":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in ours + theirs]
        return "\n".join(lines + ["", notes]) + "\n"

    def tex(t: str) -> str:
        t = _latex_escape(t)
        return re.sub("\x01(bold|italic)\x02(.*?)\x03",
                      lambda m: ("\\textbf{" if m.group(1) == "bold" else "\\textit{") + m.group(2) + "}", t)

    left = 2 if len(header) > 1 and header[1] == "setting" else 1
    lines = ["% needs \\usepackage{booktabs} (\\toprule, \\midrule, \\bottomrule)",
             r"\begin{table}[t]", r"\centering", r"\begin{tabular}{" + "l" * left + "r" * (len(header) - left) + "}",
             r"\toprule",
             " & ".join(tex(h) for h in header) + r" \\", r"\midrule"]
    lines += [" & ".join(tex(c) for c in r) + r" \\" for r in ours]
    if theirs:
        lines.append(r"\midrule")
        lines += [" & ".join(tex(c) for c in r) + r" \\" for r in theirs]
    lines += [r"\bottomrule", r"\end{tabular}", r"\caption{" + tex(notes) + "}", r"\label{" + label + "}",
              r"\end{table}"]
    return "\n".join(lines) + "\n"


def _z_text(r) -> str:
    if pd.isna(r.ref_method):
        return "–"
    return f"{r.z:+.2f}" if not math.isnan(r.z) else f"n/a (our std undefined: n={r.n}, std={r.std:g})"


def render_against(comp: pd.DataFrame, fmt: str, decimals: int = 2) -> str:
    """The ``--against`` comparison in the same formats."""
    if fmt == "csv":
        return comp.to_csv(index=False)
    header = ["optimizer", "setting", "column", "ours", "published", "difference", "difference / our std"]
    rows = [[str(r.optimizer), str(r.setting or ""), f"{r.dataset} {r.split}",
             f"{_fmt(r.mean, decimals)} ± {_fmt(r.std, decimals)} (n={r.n})",
             "no published value" if pd.isna(r.ref_method) else f"{_fmt(r.ref_value, decimals)} ({r.ref_method}; {r.ref_source})",
             _fmt(r.diff, decimals), _z_text(r)]
            for r in comp.itertuples()]
    return _grid(header, rows, [], "difference = ours - published; / our std = in units of our seed std.", fmt,
                 "tab:against")
