"""Published rows beside ours: the difference in standard deviations and a verdict.

Verdict of one (our row, published row) pair:

- ``reproduced``: ``|ours - published| <= 2 * scale``, where ``scale`` is the
  published std when the paper gives one above zero, else our seed std
  (sample std, ``ddof=1``) when we have two or more seeds and it is above zero;
  when neither exists (e.g. a published ``54.30 +- 0.00`` against one exact
  value) the two must agree to half a unit of the published last decimal.
- ``differs``: otherwise.
- ``reduced: not compared``: a ``--scale reduced`` row is never scored against a
  published number (the recipe reports the phenomenon instead).
- ``not run: <what is missing>`` / ``no published value``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from harness.recipes.recipe import Published, Row
from harness.references import PUBLISHED
from search_spaces.errors import UserError

COLUMNS = ("method", "benchmark", "dataset", "split", "metric", "value", "std", "source", "table", "protocol")


@dataclass
class Ours:
    """Our values of one row (one per seed or per repeat), or why there are none."""

    row: Row
    values: list[float] = field(default_factory=list)
    scale: str = "full"
    not_run: str | None = None
    note: str = ""

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan

    @property
    def std(self) -> float:
        """Sample std over seeds (``ddof=1``); 0 for one value."""
        return float(np.std(self.values, ddof=1)) if self.n > 1 else 0.0


@dataclass(frozen=True)
class Comparison:
    """One line of a reproduction table."""

    row: Row
    ours: Ours
    published_value: float | None
    published_std: float | None
    published_source: str
    difference: float | None
    in_std: float | None
    std_of: str
    verdict: str


def load_published(extra: Sequence[str | Path] = ()) -> pd.DataFrame:
    """The shipped ``published.csv`` plus the user's files (same columns); ``value`` kept as text for its decimals."""
    frames = []
    for path in (PUBLISHED, *extra):
        try:
            df = pd.read_csv(path, dtype={"value": str, "std": str, "table": str}, keep_default_na=False)
        except (OSError, pd.errors.ParserError, UnicodeDecodeError) as e:
            raise UserError(f"published rows {path}: {e}") from None
        missing = [c for c in COLUMNS if c not in df.columns]
        if missing:
            raise UserError(f"published rows {path}: missing columns {missing} (need {', '.join(COLUMNS)})")
        frames.append(df[list(COLUMNS)])
    return pd.concat(frames, ignore_index=True)


def select(published: pd.DataFrame, refs: Sequence[Published]) -> pd.DataFrame:
    """The rows of ``published`` that any of ``refs`` selects."""
    keep = np.zeros(len(published), dtype=bool)
    for r in refs:
        keep |= (published["source"].str.contains(r.source, regex=False) & (published["table"] == r.table)).to_numpy()
    return published[keep]


def _decimals(text: str) -> int:
    return len(text.split(".", 1)[1]) if "." in text else 0


def compare(ours: Ours, published_value: str, published_std: str = "") -> tuple[float, float | None, str, str]:
    """``(difference, difference in std units or None, whose std, verdict)`` of ``ours`` against one published value.

    ``published_value``/``published_std`` are the CSV's text (the decimals set the exact-match tolerance).
    """
    if ours.not_run:
        return math.nan, None, "", f"not run: {ours.not_run}"
    value = float(published_value)
    if ours.scale != "full":
        return math.nan, None, "", "reduced: not compared"
    diff = ours.mean - value
    pstd = float(published_std) if published_std.strip() else math.nan
    if math.isfinite(pstd) and pstd > 0:
        scale, of = pstd, "published"
    elif ours.n > 1 and ours.std > 0:
        scale, of = ours.std, "ours"
    else:
        tol = 0.5 * 10 ** -_decimals(published_value) + 1e-9
        return diff, None, "none (exact)", "reproduced" if abs(diff) <= tol else "differs"
    z = diff / scale
    return diff, z, of, "reproduced" if abs(z) <= 2 else "differs"


def comparisons(ours_rows: Sequence[Ours], published: pd.DataFrame) -> list[Comparison]:
    """One line per (our row, published source) pair; our rows without a published value get one line."""
    out = []
    for o in ours_rows:
        r = o.row
        pub = published[(published["method"] == r.method) & (published["benchmark"] == r.benchmark)
                        & (published["dataset"] == r.dataset)
                        & (published["split"] == r.split) & (published["metric"] == r.metric)]
        if pub.empty:
            verdict = f"not run: {o.not_run}" if o.not_run else (
                "reduced: not compared" if o.scale != "full" else "no published value")
            out.append(Comparison(r, o, None, None, "", None, None, "", verdict))
            continue
        for p in pub.itertuples():
            diff, z, of, verdict = compare(o, p.value, p.std)
            pstd = float(p.std) if str(p.std).strip() else None
            out.append(Comparison(r, o, float(p.value), pstd, f"{p.source}, {p.table}".strip(", "),
                                  None if math.isnan(diff) else diff, z, of, verdict))
    return out
