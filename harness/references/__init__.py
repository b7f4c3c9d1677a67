"""Published numbers kept as data (method, benchmark, dataset, split, value, source, table, protocol).

Imports no other harness room.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

PUBLISHED = Path(__file__).with_name("published.csv")


def load_references(path: str | Path | None = None) -> pd.DataFrame:
    """Reference rows; each keeps its source, so disagreeing sources stay as separate rows."""
    return pd.read_csv(path or PUBLISHED)
