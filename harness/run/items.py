"""Resumable study items: a study (a recipe's dropout or pool-size study) is a list of items, each trained and
measured once; an item's result is written when it completes, so a killed study loses at most the item it
was working on and a rerun skips the rest (as sweeps skip finished runs)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from search_spaces.errors import UserError
from search_spaces.io import atomic_write_text, finite
from search_spaces.safe_read import read_json

ITEM_FILE = "item.json"


def resumable_item(folder: str | Path, key: dict[str, Any], compute: Callable[[], Any]) -> tuple[Any, bool]:
    """``(result, reused)``: the result saved in ``folder/item.json`` under the same ``key``, else
    ``compute()`` saved there. A damaged or foreign item file is recomputed, never trusted."""
    p = Path(folder) / ITEM_FILE
    norm = json.loads(json.dumps(key, sort_keys=True, default=str))
    if p.exists():
        try:
            saved = read_json(p, "study item")
        except UserError:
            saved = {}
        if saved.get("key") == norm and "result" in saved:
            return saved["result"], True
    result = compute()
    p.parent.mkdir(parents=True, exist_ok=True)
    # key order kept (not sorted): a reused result has the columns of a fresh one
    text = json.dumps(finite({"key": norm, "result": result}), default=str, allow_nan=False, indent=1)
    atomic_write_text(p, text + "\n")
    return json.loads(text)["result"], False
