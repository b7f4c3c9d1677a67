"""Errors shared by every layer.

``UserError`` marks bad input (unknown name, malformed architecture string,
missing file, invalid config value). The CLI prints such an error as one line
and exits with status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(ValueError):
    """Bad input that the user can fix; the message names the problem."""


class UnknownNameError(UserError, KeyError):
    """A name that is not registered (space, optimizer, benchmark, dataset)."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(f"unknown {kind} {name!r}{hint} (known: {', '.join(known)})")
        self.kind, self.name = kind, name

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.args[0]


class ArchitectureError(UserError):
    """A malformed architecture string or one outside its space."""


class DataError(UserError):
    """A missing, incomplete or malformed dataset folder."""


class BenchmarkError(UserError):
    """A missing, corrupted or unsupported benchmark file, or an unanswerable query."""


class ConfigError(UserError):
    """An invalid configuration value or an unknown configuration key."""


#: ours: the longest official strings (a DARTS genotype, a 32-node random-wired stage list) are a few
#: thousand characters; a longer one is not an architecture, and regular expressions need not see it
MAX_ARCH_CHARS = 20_000


def check_arch_text(text: str) -> None:
    """Refuse an architecture string longer than any architecture (``ArchitectureError``, quoting its start)."""
    if len(text) > MAX_ARCH_CHARS:
        raise ArchitectureError(f"architecture string of {len(text):,} characters (at most {MAX_ARCH_CHARS:,}): "
                                f"{text[:60]!r}...")
