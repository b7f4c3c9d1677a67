"""The CLI's root group (``cli``) that every command module registers on, and the helpers they share."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import click

from search_spaces.io import finite


#: Options that take several values: ``--seeds 0 1 2`` is rewritten to
#: ``--seeds 0 --seeds 1 --seeds 2`` before click parses it.
VARIADIC = ("--seeds", "--optimizer", "--optimizers")


def _expand_variadic(argv: list[str]) -> list[str]:
    out, i = [], 0
    while i < len(argv):
        a = argv[i]
        out.append(a)
        if a in VARIADIC:
            j = i + 1
            vals = []
            while j < len(argv) and not argv[j].startswith("-"):
                vals.append(argv[j])
                j += 1
            if vals:
                out.append(vals[0])
                for v in vals[1:]:
                    out.extend([a, v])
            i = j
            continue
        i += 1
    return out


def _progress_printer():
    if sys.stderr.isatty():
        return lambda line: click.echo(line, err=True)
    return None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Evaluation harness for weight-sharing NAS, with tabular ground truth."""


class FiniteFloat(click.ParamType):
    """A float option that refuses NaN and infinities (click's ``float`` accepts both)."""

    name = "number"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        try:
            v = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(v):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return v


#: Use as ``type=FINITE`` for every float option.
FINITE = FiniteFloat()


def json_text(obj: Any, indent: int = 2) -> str:
    """Strict JSON (NaN and infinities become null, never the non-JSON ``NaN`` / ``Infinity``)."""
    return json.dumps(finite(obj), indent=indent, allow_nan=False, default=str)
