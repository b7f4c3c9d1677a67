"""Published rows beside ours: the same statistic, an interval, a test, and a verdict.

Each published row says what it is (``statistic``, ``n``; see
``harness.references.seeds``); ours is computed the same way and judged with
``harness.metrics.stats``:

- ``mean``: Welch's t on the difference (both stds, both n), its 95 % interval.
  ``differs`` when the interval excludes 0; ``consistent`` when the 90 %
  interval lies inside the stated equivalence margin (TOST at 5 %);
  ``inconclusive`` otherwise (the interval's width and the smallest difference
  these n detect with 80 % power are printed). Published n not stated: the
  published mean is taken as known (our uncertainty only), and the row says so.
  One run of ours: the published std is the spread of a single run (prediction
  interval). Published std 0: per-seed hits (how many of ours print as the
  published value), Fisher's exact test against the published n.
- ``min`` / ``selected``: the minimum over the same number of runs / the value
  of the run with the best selection score, with a percentile bootstrap
  interval; ``differs`` when the published value lies outside it.
- ``population``: the mean within the source's standard error (std / sqrt(n)).
- ``exact``: equal at the printed decimals. ``single``: a bootstrap interval of ours.

A std below half a unit of the printed decimal is 0 (ours and published).
``reduced: not compared`` at ``--scale reduced``; ``not run: <why>``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from harness.metrics import stats
from harness.recipes.recipe import Published, Row
from harness.references import PUBLISHED
from harness.references.seeds import COLUMNS, STATISTICS
from search_spaces.safe_read import read_text
from search_spaces.errors import UserError

REQUIRED = ("method", "benchmark", "dataset", "split", "metric", "value", "std", "source", "table", "protocol")
ALPHA = 0.05
#: Equivalence margins (ours): about the seed-to-seed std the sources print for stable methods (NB-201: BaLeNAS
#: 0.03-0.4 on CIFAR-10, 0.1-0.9 on CIFAR-100 / ImageNet16-120; S1-S4: DARTS-ES 0.07-0.21 on CIFAR-10 / SVHN,
#: 0.8-2.0 on CIFAR-100, RobustDARTS slide 21). A recipe may state its own (``Recipe.margins``).
MARGINS: dict[tuple[str, str], float] = {
    ("accuracy", "cifar10"): 0.5, ("accuracy", "cifar100"): 1.0, ("accuracy", "ImageNet16-120"): 1.0,
    ("error", "cifar10"): 0.3, ("error", "cifar100"): 1.0, ("error", "svhn"): 0.3,
    ("ece", "cifar10"): 0.005, ("ece", "cifar100"): 0.01}
DEFAULT_MARGIN = 0.1  # correlations and anything not listed (ours)


@dataclass
class Ours:
    """Our values of one row (one per seed or repeat), optional selection scores (higher is better), or why
    there are none."""

    row: Row
    values: list[float] = field(default_factory=list)
    scale: str = "full"
    not_run: str | None = None
    note: str = ""
    scores: list[float] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan

    @property
    def std(self) -> float:
        """Sample std over seeds (``ddof=1``); NaN for one value."""
        return stats.sample_std(self.values)


@dataclass(frozen=True)
class Comparison:
    """One line of a reproduction table: our statistic, the published row, the test and the verdict."""

    row: Row
    ours: Ours
    published: Mapping[str, str] | None
    statistic: str = ""
    ours_value: float | None = None
    ours_std: float | None = None
    difference: float | None = None
    ci: tuple[float, float] | None = None
    p: float | None = None
    margin: float | None = None
    verdict: str = ""
    detail: str = ""
    holm: float | None = None


def load_published(extra: Sequence[str | Path] = ()) -> pd.DataFrame:
    """The shipped ``published.csv`` plus the user's files; values kept as text for their decimals.

    A user's file needs ``REQUIRED``; ``setting``, ``n``, ``statistic`` and ``disputed`` default to empty,
    empty, ``mean`` (``exact`` without a std) and empty.
    """
    frames = []
    for path in (PUBLISHED, *extra):
        try:
            text = read_text(path, "published rows")
            df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as e:
            raise UserError(f"published rows {path}: {str(e).strip()[:200]}") from None
        missing = [c for c in REQUIRED if c not in df.columns]
        if missing:
            raise UserError(f"published rows {path}: missing columns {missing} (need {', '.join(REQUIRED)})")
        for col in ("setting", "n", "disputed"):
            df[col] = df[col] if col in df.columns else ""
        if "statistic" not in df.columns:
            df["statistic"] = np.where(df["std"].str.strip() == "", "exact", "mean")
        for i, r in df.iterrows():  # checked here, before any part runs
            try:
                ok = math.isfinite(float(r["value"])) and (not r["std"].strip() or 0 <= float(r["std"]) < math.inf) \
                    and (not r["n"].strip() or int(r["n"]) >= 1) and r["statistic"] in STATISTICS
            except ValueError:
                ok = False
            if not ok:
                raise UserError(f"published rows {path}, row {i + 2}: value/std must be numbers, n a positive "
                                f"integer, statistic one of {STATISTICS} (got {r['value']!r}, {r['std']!r}, "
                                f"{r['n']!r}, {r['statistic']!r})")
        frames.append(df[list(COLUMNS)])
    return pd.concat(frames, ignore_index=True)


def select(published: pd.DataFrame, refs: Sequence[Published]) -> pd.DataFrame:
    """The rows of ``published`` that any of ``refs`` selects."""
    keep = np.zeros(len(published), dtype=bool)
    for r in refs:
        hit = published["source"].str.contains(r.source, regex=False) & (published["table"] == r.table)
        if r.methods:
            hit &= published["method"].isin(r.methods)
        keep |= hit.to_numpy()
    return published[keep]


def margin_for(row: Row, margins: Mapping[tuple[str, str], float] | None = None) -> float:
    """The equivalence margin of ``row`` (the recipe's, else ``MARGINS``, else ``DEFAULT_MARGIN``)."""
    key = (row.metric, row.dataset)
    return (margins or {}).get(key, MARGINS.get(key, DEFAULT_MARGIN))


def _interval_verdict(stat: float, ci: tuple[float, float], value: float, margin: float) -> str:
    if not ci[0] <= value <= ci[1]:
        return "differs"
    return "consistent" if value - margin < ci[0] and ci[1] < value + margin else "inconclusive"


def judge(ours: Ours, pub: Mapping[str, str], margin: float, alpha: float = ALPHA) -> Comparison:
    """Our ``ours`` against one published row (``COLUMNS`` as text)."""
    base = {"row": ours.row, "ours": ours, "published": pub, "statistic": pub["statistic"], "margin": margin}
    if ours.not_run:
        return Comparison(**base, verdict=f"not run: {ours.not_run}")
    if ours.scale != "full":
        return Comparison(**base, verdict="reduced: not compared")
    value, unit = float(pub["value"]), stats.half_unit(pub["value"])
    v = np.asarray(ours.values, dtype=np.float64)
    n_pub = int(pub["n"]) if pub["n"].strip() else None
    s_pub = stats.snap_std(float(pub["std"]), unit) if pub["std"].strip() else math.nan
    s_ours = stats.snap_std(stats.sample_std(v), unit) if len(v) > 1 else math.nan
    kind = pub["statistic"]
    out = dict(base, ours_value=float(v.mean()), ours_std=None if math.isnan(s_ours) else s_ours)
    if kind == "exact":
        diff = float(v.mean()) - value
        return Comparison(**out, difference=diff, verdict="consistent" if abs(diff) <= unit + 1e-9 else "differs",
                          detail="exact at the printed decimals")
    if kind == "population":
        n = n_pub or len(v)
        w = stats.from_se(float(v.mean()) - value, s_pub / math.sqrt(n), math.inf, alpha)
        return Comparison(**out, difference=w.diff, ci=w.ci, p=w.p, verdict="differs" if w.differs() else "consistent",
                          detail=f"population mean within the source's standard error {w.se:.3f} (std / sqrt({n})); "
                                 f"std ours {stats.sample_std(v):.2f} vs published {pub['std']}")
    if kind in ("min", "selected", "single"):
        k = n_pub or len(v)
        if kind == "min":
            stat, ci = float(v[:k].min()), stats.bootstrap(v, lambda d: d.min(axis=1), size=k, alpha=alpha)
            detail = f"min over {min(k, len(v))} of our runs" + (f" (the source's is over {k})" if len(v) < k else "")
        elif kind == "selected":
            if len(ours.scores) != len(v):
                return Comparison(**base, verdict="not run: our runs carry no selection score")
            stat = float(v[int(np.argmax(ours.scores))])
            ci = stats.bootstrap_selected(v, ours.scores, alpha=alpha)
            detail = f"the run with the best search validation accuracy of {len(v)}"
        else:
            stat, ci = float(v.mean()), stats.bootstrap_mean(v, alpha=alpha) if len(v) > 1 else (math.nan, math.nan)
            detail = "one published number, no uncertainty stated; bootstrap interval of our mean"
        out["ours_value"] = stat
        if not all(map(math.isfinite, ci)):
            return Comparison(**out, difference=stat - value, verdict="inconclusive", detail=detail + "; one run")
        return Comparison(**out, difference=stat - value, ci=(ci[0] - value, ci[1] - value),
                          verdict=_interval_verdict(stat, ci, value, margin), detail=detail + ", bootstrap 95 %")
    # mean over n runs
    if math.isnan(s_pub):
        return judge(ours, {**pub, "statistic": "single"}, margin, alpha)
    if s_pub == 0:
        hits = int(np.sum(np.abs(v - value) <= unit + 1e-9))
        detail = f"published std 0: {hits}/{len(v)} of our runs print as {pub['value']}"
        if hits == len(v):
            return Comparison(**out, difference=float(v.mean()) - value, verdict="consistent", detail=detail)
        if n_pub is None:
            return Comparison(**out, difference=float(v.mean()) - value, verdict="inconclusive",
                              detail=detail + " (published n not stated: no test)")
        p = stats.fisher_hits(hits, len(v), n_pub, n_pub)
        return Comparison(**out, difference=float(v.mean()) - value, p=p,
                          verdict="differs" if p < alpha else "inconclusive",
                          detail=detail + f", Fisher exact vs {n_pub}/{n_pub}")
    w = stats.welch(float(v.mean()), s_ours, len(v), value, s_pub, n_pub, alpha)
    notes = ([] if n_pub else ["published n not stated: only our uncertainty counted"]) + \
            (["one run: the published std as its spread"] if len(v) == 1 else [])
    if w.se == 0:
        return Comparison(**out, difference=w.diff, detail="; ".join(notes + ["no spread on either side"]),
                          verdict="consistent" if abs(w.diff) <= unit + 1e-9 else "differs")
    verdict = "differs" if w.differs() else "consistent" if w.equivalent(margin) else "inconclusive"
    if verdict == "inconclusive":
        notes.append(f"interval width {w.ci[1] - w.ci[0]:.2f}; these n detect {w.detectable:.2f} (80 % power)")
    return Comparison(**out, difference=w.diff, ci=w.ci, p=w.p, verdict=verdict,
                      detail="; ".join(["Welch t, df %.1f" % w.df if math.isfinite(w.df) else "z"] + notes))


def comparisons(ours_rows: Sequence[Ours], published: pd.DataFrame,
                margins: Mapping[tuple[str, str], float] | None = None, alpha: float = ALPHA) -> list[Comparison]:
    """One line per (our row, published row) pair, Holm-adjusted p over the table; our rows without a
    published value get one line."""
    out = []
    for o in ours_rows:
        r = o.row
        pub = published[(published["method"] == r.method) & (published["benchmark"] == r.benchmark)
                        & (published["dataset"] == r.dataset) & (published["split"] == r.split)
                        & (published["metric"] == r.metric) & (published["setting"] == r.setting)]
        if pub.empty:
            verdict = f"not run: {o.not_run}" if o.not_run else (
                "reduced: not compared" if o.scale != "full" else "no published value")
            out.append(Comparison(r, o, None, verdict=verdict))
            continue
        for p in pub.to_dict("records"):
            out.append(judge(o, p, margin_for(r, margins), alpha))
    adjusted = stats.holm([c.p if c.p is not None else math.nan for c in out])
    return [Comparison(**{**c.__dict__, "holm": None if math.isnan(h) else h}) for c, h in zip(out, adjusted)]


def chance_line(lines: Sequence[Comparison], alpha: float = ALPHA) -> str:
    """How many ``differs`` chance alone gives among the rows with a test, and how many survive Holm."""
    tested = [c for c in lines if c.p is not None and not math.isnan(c.p)]
    if not tested:
        return "No row carries a p-value."
    m = len(tested)
    raw = sum(c.p < alpha for c in tested)
    kept = sum(c.holm is not None and c.holm < alpha for c in tested)
    at_least_one = 1 - sps.binom.cdf(0, m, alpha)
    return (f"{m} rows carry a p-value; if none truly differed, chance alone would mark about {alpha * m:.1f} of "
            f"them `differs` at alpha {alpha} (at least one with probability {at_least_one:.0%}). {raw} have "
            f"p < {alpha}; {kept} stay below it after Holm's correction.")
