"""Validated readers of the analysis files a report embeds (``reproduction.json``, ``archs.csv``,
``ensemble.csv``): regular files only, bounded, shapes and column types checked, damage one line."""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from search_spaces.errors import UserError
from search_spaces.safe_read import DamagedFileError, read_json, read_text

REPRODUCTION_KEYS = ("recipe", "title", "source", "scale", "table")


def read_reproduction(p: Path) -> dict[str, Any]:
    """A ``reproduction.json`` written by ``harness reproduce``: the keys the report shows, of their types."""
    rep = read_json(p, "reproduction record")
    table = rep.get("table")
    if any(k not in rep for k in REPRODUCTION_KEYS) or not isinstance(table, dict) \
            or not {"header", "rows"} <= set(table):
        raise UserError(f"{p} is not a reproduction record (needs {', '.join(REPRODUCTION_KEYS)}; table with "
                        "header and rows)")
    if not isinstance(table["header"], list) or not isinstance(table["rows"], list):
        raise DamagedFileError(f"reproduction record {p}: table header and rows must be lists")
    for k in ("findings", "files"):
        if not isinstance(rep.get(k, []), list):
            raise DamagedFileError(f"reproduction record {p}: {k!r} must be a list")
    return rep


def read_analysis_csv(p: Path, numeric: Iterable[str] = ()) -> pd.DataFrame:
    """An analysis CSV (``archs.csv``, ``ensemble.csv``); the ``numeric`` columns must hold numbers."""
    text = read_text(p, "analysis table")
    if not text.strip():
        raise DamagedFileError(f"analysis table {p} is empty")
    try:
        df = pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DamagedFileError(f"analysis table {p} is damaged ({first[:100]})") from None
    for c in numeric:
        if c not in df.columns:
            raise DamagedFileError(f"analysis table {p} has no {c!r} column")
        num = pd.to_numeric(df[c], errors="coerce")
        bad = df.index[num.isna() & df[c].notna()]
        if len(bad):
            raise DamagedFileError(f"analysis table {p}: row {int(bad[0]) + 2} holds a non-number in {c!r}")
        df[c] = num
    return df
