"""Run a recipe: check every part's inputs first, run what can run, write ``reproduction.md`` and ``.json``.

Nothing is written, and ``UserError`` (exit 2) names what is missing, when no
part of the recipe can run. Otherwise each part that cannot run lists its rows
as ``not run: <what is missing>``.
"""

from __future__ import annotations

import json
import math
import shlex
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from harness.metrics.stats import decimals
from harness.recipes.compare import ALPHA, Comparison, Ours, chance_line, comparisons, load_published, select
from harness.recipes.recipe import Context, Part, PartResult, Recipe
from search_spaces.errors import DataError, UserError
from search_spaces.io import atomic_write_json, atomic_write_text, empty_dirs_removed_on_failure

HEADER = ["method", "setting", "quantity", "ours", "published", "difference [95 % interval]", "p (Holm)", "margin",
          "verdict", "detail"]
VERDICT = 8  # index of the verdict column


def published_counts(recipe: Recipe, published) -> tuple[int, int, int]:
    """(published numbers the recipe lists, those a part of this harness computes, those a ``cpu``-tier part
    computes)."""
    def keys(parts) -> set[tuple[str, ...]]:
        return {(r.method, r.benchmark, r.dataset, r.split, r.metric, r.setting) for p in parts for r in p.rows}

    ours = keys(p for p in recipe.parts if p.executor != "unavailable")
    cpu = keys(p for p in recipe.parts if p.executor != "unavailable" and p.tier == "cpu" and "full" in p.scales)
    chosen = [tuple(x) for x in select(published, recipe.published)[
        ["method", "benchmark", "dataset", "split", "metric", "setting"]].itertuples(index=False)]
    return len(chosen), sum(k in ours for k in chosen), sum(k in cpu for k in chosen)


def blocker(part: Part, ctx: Context, long: bool = False) -> str | None:
    """Why ``part`` cannot run under ``ctx`` (what is missing: labels, or in full words with ``long``), or None."""
    from harness.data import readers

    if ctx.scale not in part.scales:
        return f"defined at --scale {' / '.join(part.scales)} only"
    missing = []
    for n in part.needs:
        if n.kind == "benchmark_file":
            ok = bool(ctx.benchmark_file) and Path(ctx.benchmark_file).exists()
        elif n.kind == "logs":
            ok = bool(ctx.logs) and Path(ctx.logs).is_dir()
        elif n.kind == "gpu":
            ok = ctx.device.startswith("cuda") or (ctx.device_explicit and ctx.device == "cpu")
        else:
            ok = True
            for ds in n.datasets:
                try:
                    readers.locate(ctx.data_dir, ds)
                except (DataError, OSError):
                    ok = False
        if not ok:
            missing.append(n.what if long or not n.label else n.label)
    return "needs " + "; ".join(missing) if missing else None


def _num(x: float | None, dec: int, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return f"{x:+.{dec}f}" if sign else f"{x:.{dec}f}"


def table_rows(lines: list[Comparison]) -> list[list[str]]:
    """The comparison as text cells (``HEADER`` order), at the published value's decimals."""
    out = []
    for c in lines:
        o: Ours = c.ours
        r, pub = c.row, c.published or {}
        dec = max(decimals(pub["value"]), 2) if pub else 2
        if o.not_run:
            ours = ""
        else:
            std = f" ± {_num(c.ours_std if c.ours_std is not None else o.std, dec)}" if o.n > 1 else (
                "" if c.statistic == "exact" else " ± n/a")
            head = {"min": "min ", "selected": "selected "}.get(c.statistic, "")
            val = c.ours_value if c.ours_value is not None else o.mean
            ours = f"{head}{_num(val, dec)}{std if not head else ''} (n={o.n})" + (
                " reduced" if o.scale != "full" else "")
        published = "" if not pub else (pub["value"] + (f" ± {pub['std']}" if pub["std"] else "")
                                         + f" ({pub['statistic']}" + (f", n={pub['n']}" if pub["n"] else "") + ")")
        diff = _num(c.difference, dec, sign=True)
        if c.ci is not None and diff:
            diff += f" [{_num(c.ci[0], dec, True)}, {_num(c.ci[1], dec, True)}]"
        p = "" if c.p is None else f"{c.p:.3g}" + ("" if c.holm is None else f" ({c.holm:.3g})")
        detail = c.detail + (f"; disputed: {pub['disputed']}" if pub and pub.get("disputed") else "")
        if pub:
            detail += f"; source: {pub['source']}, {pub['table']}"
        out.append([r.method, r.setting, f"{r.benchmark} {r.dataset} {r.split} {r.metric}", ours, published, diff,
                    p, "" if c.margin is None or not pub or c.statistic in ("exact", "population")
                    else f"±{c.margin:g}", c.verdict, detail.strip("; ")])
    return out


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    esc = [[v.replace("|", "\\|") for v in r] for r in rows]
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                     + ["| " + " | ".join(r) + " |" for r in esc])


def run_recipe(recipe: Recipe, ctx: Context, published_files: tuple[str, ...] = (),
               command: list[str] | None = None) -> dict[str, Any]:
    """Run ``recipe`` under ``ctx``; returns the ``reproduction.json`` content."""
    from harness.recipes.executors import EXECUTORS
    from harness.recipes.studies import bender_dropout, nsa_disparity, search

    executors = {**EXECUTORS, "search": search, "bender_dropout": bender_dropout, "nsa_disparity": nsa_disparity}
    published = select(load_published(published_files), recipe.published)
    blocked = {p.name: blocker(p, ctx) for p in recipe.parts}
    if all(blocked[p.name] for p in recipe.parts if p.executor != "unavailable"):
        raise UserError(f"{recipe.id}: nothing can run: " + "; ".join(
            f"{p.name} {blocker(p, ctx, long=True)}" for p in recipe.parts if p.executor != "unavailable"))
    out = Path(ctx.out)
    with empty_dirs_removed_on_failure(out):
        out.mkdir(parents=True, exist_ok=True)
        return _run_parts(recipe, ctx, blocked, executors, published, out, command)


def _run_parts(recipe: Recipe, ctx: Context, blocked: dict, executors: dict, published: pd.DataFrame, out: Path,
               command: list[str] | None) -> dict[str, Any]:
    rows: list[Ours] = []
    findings, tables, files, parts = [], [], [], []
    for part in recipe.parts:
        why = blocked[part.name] or (part.params["reason"] if part.executor == "unavailable" else None)
        if why:
            if ctx.scale in part.scales:  # a part of the other scale has its rows listed by its twin
                per_row = part.params.get("reasons", {}) if not blocked[part.name] else {}
                rows += [Ours(r, not_run=per_row.get(r.metric, why)) for r in part.rows]
            parts.append({"part": part.name, "tier": part.tier, "ran": False, "why": why, "seconds": 0.0})
            continue
        ctx.say(f"{recipe.id}: {part.name} ({part.tier})")
        t0 = time.perf_counter()
        res: PartResult = executors[part.executor](part, ctx)
        parts.append({"part": part.name, "tier": part.tier, "ran": True, "why": "",
                      "seconds": round(time.perf_counter() - t0, 1)})
        rows += res.rows
        findings += res.findings
        tables += res.tables
        files += res.files
    lines = comparisons(rows, published, recipe.margins)
    counts = Counter(c.verdict.split(":")[0] for c in lines)
    rep = {"recipe": recipe.id, "title": recipe.title, "source": recipe.source, "tier": recipe.tier,
           "scale": ctx.scale, "reduced": recipe.reduced if ctx.scale == "reduced" else None,
           "seeds": list(ctx.seeds), "device": ctx.device, "command": shlex.join(command) if command else None,
           "missing_published": recipe.missing, "parts": parts, "counts": dict(counts),
           "table": {"header": HEADER, "rows": table_rows(lines)}, "chance": chance_line(lines, ALPHA),
           "alpha": ALPHA, "findings": findings, "tables": tables,
           "files": files, "values": [{**asdict(o.row), "values": o.values, "scores": o.scores, "scale": o.scale,
                                       "not_run": o.not_run, "note": o.note} for o in rows]}
    atomic_write_json(out / "reproduction.json", json.loads(json.dumps(rep, default=str)))
    atomic_write_text(out / "reproduction.md", render_markdown(rep))
    return rep


def not_run_groups(rows: list[list[str]]) -> tuple[list[list[str]], dict[str, list[str]]]:
    """Rows that ran, and the methods of the others grouped by why they did not run."""
    ran, groups = [], {}
    for r in rows:
        if r[VERDICT].startswith("not run: "):
            groups.setdefault(r[VERDICT], []).append(r[0] + (f" ({r[2]}: published {r[4]})" if r[4] else ""))
        else:
            ran.append(r)
    return ran, groups


def render_markdown(rep: dict[str, Any]) -> str:
    """``reproduction.md`` from the ``reproduction.json`` content."""
    md = [f"# Reproduction: {rep['recipe']}", "", f"{rep['title']}.", "", f"- Source: {rep['source']}",
          f"- Scale: {rep['scale']}" + (f" ({rep['reduced']}; reduced rows are never compared with a published "
                                          f"number)" if rep["reduced"] else ""),
          f"- Seeds: {', '.join(map(str, rep['seeds']))}; device: {rep['device']}"]
    if rep["command"]:
        md.append(f"- Command: `{rep['command']}`")
    ran, not_run = not_run_groups(rep["table"]["rows"])
    md += ["", "## Ours beside the published numbers", "",
           markdown_table(rep["table"]["header"], ran) if ran else "No row ran.", ""]
    if not_run:
        md += ["Not run:", ""] + [f"- {why} ({len(rows)} rows): {', '.join(dict.fromkeys(rows))}"
                                  for why, rows in not_run.items()] + [""]
    md += ["Verdicts: `differs` when the 95 % interval of the difference excludes 0 (Welch's t for means; a "
           "bootstrap interval for min / selected / single rows; the source's standard error for population rows; "
           "Fisher's exact test on per-seed hits when the published std is 0); `consistent` when the 90 % "
           "interval lies inside the row's equivalence margin (or every seed hits the printed value); "
           "`inconclusive` otherwise. A std below half a unit of the printed decimal counts as 0.",
           rep.get("chance", ""),
           "Counts: " + (", ".join(f"{k} {v}" for k, v in sorted(rep["counts"].items())) or "no rows") + "."]
    if rep["missing_published"]:
        md += ["", f"Notes on the published numbers: {rep['missing_published']}"]
    if rep["findings"] or rep["tables"]:
        md += ["", "## Findings", ""] + [f"- {f}" for f in rep["findings"]]
        for t in rep["tables"]:
            md += ["", t]
    if rep["files"]:
        md += ["", "Files: " + ", ".join(f"`{f}`" for f in rep["files"])]
    md += ["", "## Parts", "", markdown_table(["part", "tier", "ran", "seconds", "why not"],
                                              [[p["part"], p["tier"], "yes" if p["ran"] else "no",
                                                f"{p['seconds']:.1f}", p["why"]] for p in rep["parts"]])]
    return "\n".join(md) + "\n"
