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

from harness.recipes.compare import Comparison, Ours, comparisons, load_published, select
from harness.recipes.recipe import Context, Part, PartResult, Recipe
from search_spaces.errors import DataError, UserError
from search_spaces.io import atomic_write_json, atomic_write_text

HEADER = ["method", "benchmark", "dataset", "split", "metric", "ours (mean ± std, n)", "published (± std)",
          "difference", "in std units", "verdict"]


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


def _fmt(x: float | None, fmt: str = "{:.2f}") -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x)


def table_rows(lines: list[Comparison]) -> list[list[str]]:
    """The comparison as text cells (``HEADER`` order)."""
    out = []
    for c in lines:
        o: Ours = c.ours
        ours = "" if o.not_run else (f"{o.mean:.2f} ± {o.std:.2f} (n={o.n})" + (" reduced" if o.scale != "full"
                                                                                 else ""))
        pub = "" if c.published_value is None else (
            f"{c.published_value:.2f}" + (f" ± {c.published_std:.2f}" if c.published_std is not None else ""))
        z = "" if c.in_std is None else f"{c.in_std:+.2f} ({c.std_of} std)"
        out.append([c.row.method, c.row.benchmark, c.row.dataset, c.row.split, c.row.metric, ours, pub,
                    _fmt(c.difference, "{:+.2f}"), z, c.verdict])
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
    out.mkdir(parents=True, exist_ok=True)
    rows: list[Ours] = []
    findings, tables, files, parts = [], [], [], []
    for part in recipe.parts:
        why = blocked[part.name] or (part.params["reason"] if part.executor == "unavailable" else None)
        if why:
            if ctx.scale in part.scales:  # a part of the other scale has its rows listed by its twin
                rows += [Ours(r, not_run=why) for r in part.rows]
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
    lines = comparisons(rows, published)
    counts = Counter(c.verdict.split(":")[0] for c in lines)
    rep = {"recipe": recipe.id, "title": recipe.title, "source": recipe.source, "tier": recipe.tier,
           "scale": ctx.scale, "reduced": recipe.reduced if ctx.scale == "reduced" else None,
           "seeds": list(ctx.seeds), "device": ctx.device, "command": shlex.join(command) if command else None,
           "missing_published": recipe.missing, "parts": parts, "counts": dict(counts),
           "table": {"header": HEADER, "rows": table_rows(lines)}, "findings": findings, "tables": tables,
           "files": files, "values": [{**asdict(o.row), "values": o.values, "scale": o.scale, "not_run": o.not_run,
                                       "note": o.note} for o in rows]}
    atomic_write_json(out / "reproduction.json", json.loads(json.dumps(rep, default=str)))
    atomic_write_text(out / "reproduction.md", render_markdown(rep))
    return rep


def not_run_groups(rows: list[list[str]]) -> tuple[list[list[str]], dict[str, list[str]]]:
    """Rows that ran, and the methods of the others grouped by why they did not run."""
    ran, groups = [], {}
    for r in rows:
        if r[-1].startswith("not run: "):
            groups.setdefault(r[-1], []).append(r[0])
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
    md += ["Verdict: `reproduced` when |ours - published| <= 2 std (the published std, else our seed std, "
           "else exact to the published decimals); `differs` otherwise.",
           "Counts: " + (", ".join(f"{k} {v}" for k, v in sorted(rep["counts"].items())) or "no rows") + "."]
    if rep["missing_published"]:
        md += ["", f"Published numbers not in the catalogue: {rep['missing_published']}"]
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
