"""What ``harness list`` prints, and a committed copy of it for the built-ins.

Importing the registries loads torch and every optimizer (seconds on a quiet
machine, most of a minute on a loaded one) only to print names. The built-ins'
listing is therefore kept in ``builtin_listing.json`` beside this file;
``harness list`` prints it unless plug-ins are configured (``HARNESS_PLUGINS``,
``--plugin``, or an installed package's entry points), in which case it
imports the registries as before. ``tests/test_cli.py`` checks that the copy
equals what the registries say; regenerate it with
``python -m harness.commands.listing --write``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

BUILTIN = Path(__file__).with_name("builtin_listing.json")
GROUPS = ("nas_harness.spaces", "nas_harness.benchmarks", "nas_harness.optimizers")


def listing() -> dict[str, list[dict[str, Any]]]:
    """Everything registered now (imports the registries, plug-ins included)."""
    from benchmarks import list_benchmarks
    from harness.data import DATASETS
    from harness.optimizers import get_optimizer_class, list_optimizers
    from search_spaces import get_space, list_spaces

    spaces = [{"name": n, "size": get_space(n).size, "depth": get_space(n).depth_meaning} for n in list_spaces()]
    return {"spaces": spaces,
            "benchmarks": [{"name": n, "space": s, "description": d} for n, s, d in list_benchmarks()],
            "optimizers": [{"name": n, "description": get_optimizer_class(n).description} for n in list_optimizers()],
            "datasets": [{"name": n, "num_classes": i.num_classes, "shape": f"{i.in_channels}x{i.input_size}x"
                          f"{i.input_size}"} for n, i in sorted(DATASETS.items())]}


def plugins_configured() -> bool:
    """Whether anything beyond the built-ins could register (checked without importing any of it)."""
    from search_spaces.registry import ENTRY_POINTS_ENV, plugin_modules

    if plugin_modules():
        return True
    if os.environ.get(ENTRY_POINTS_ENV, "1") == "0":
        return False
    from importlib.metadata import entry_points

    return any(len(entry_points(group=g)) for g in GROUPS)


def current() -> dict[str, list[dict[str, Any]]]:
    """The listing to print: the committed built-ins' copy when no plug-in can register, else the registries'."""
    if not plugins_configured() and BUILTIN.is_file():
        return json.loads(BUILTIN.read_text())
    return listing()


def render(data: dict[str, list[dict[str, Any]]]) -> str:
    lines = ["spaces:"]
    for s in data["spaces"]:
        size = f"{s['size']:,} architectures" if s["size"] else "not enumerable"
        lines.append(f"  {s['name']:16s} {size:24s} --depth: {s['depth']}")
    lines.append("benchmarks:")
    lines += [f"  {b['name']:16s} space {b['space']:14s} {b['description']}" for b in data["benchmarks"]]
    lines.append("optimizers:")
    lines += [f"  {o['name']:16s} {o['description']}" for o in data["optimizers"]]
    lines.append("datasets:")
    lines += [f"  {d['name']:16s} {d['num_classes']} classes, {d['shape']}" for d in data["datasets"]]
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m harness.commands.listing --write")
    os.environ["HARNESS_ENTRY_POINTS"] = "0"
    os.environ.pop("HARNESS_PLUGINS", None)
    BUILTIN.write_text(json.dumps(listing(), indent=1) + "\n")
    print(f"wrote {BUILTIN}")
