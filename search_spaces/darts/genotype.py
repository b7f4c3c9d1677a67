"""The DARTS ``Genotype`` text form: parse and print exactly

    Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ...], normal_concat=range(2, 6),
             reduce=[...], reduce_concat=range(2, 6))

(on one line). Pairs ``2i`` and ``2i+1`` of a half are the two inputs
``(op, input state)`` of node ``i``; state 0 is c_{k-2}, 1 is c_{k-1},
``2 + j`` is node ``j``. Concats are printed as ``range(a, b)`` when
contiguous (as DARTS does), else as a list; both forms parse.

RobustDARTS ``arch_*`` logs hold one genotype per search epoch written back
to back; ``parse_genotypes`` reads such a file.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass

from search_spaces.errors import ArchitectureError
from search_spaces.errors import check_arch_text

_PAIRS = r"\[[^\]]*\]"
_CONCAT = r"range\(\s*\d+\s*,\s*\d+\s*\)|\[[\d\s,]*\]"
_GENOTYPE = re.compile(
    rf"Genotype\(\s*normal\s*=\s*(?P<normal>{_PAIRS})\s*,\s*normal_concat\s*=\s*(?P<normal_concat>{_CONCAT})\s*,"
    rf"\s*reduce\s*=\s*(?P<reduce>{_PAIRS})\s*,\s*reduce_concat\s*=\s*(?P<reduce_concat>{_CONCAT})\s*\)")
_RANGE = re.compile(r"range\(\s*(\d+)\s*,\s*(\d+)\s*\)")

Pairs = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Genotype:
    """A DARTS cell pair.

    Attributes:
        normal, reduce: ``(op, input state)`` pairs, two per intermediate node.
        normal_concat, reduce_concat: States concatenated into the cell output.
    """

    normal: Pairs
    normal_concat: tuple[int, ...]
    reduce: Pairs
    reduce_concat: tuple[int, ...]

    def to_str(self) -> str:
        """The DARTS text form (as ``print`` of the DARTS namedtuple)."""
        return (f"Genotype(normal={_pairs_str(self.normal)}, normal_concat={_concat_str(self.normal_concat)}, "
                f"reduce={_pairs_str(self.reduce)}, reduce_concat={_concat_str(self.reduce_concat)})")

    def __str__(self) -> str:
        return self.to_str()

    @classmethod
    def from_str(cls, text: str) -> Genotype:
        """Parse one genotype; ``ArchitectureError`` quoting ``text`` if malformed."""
        if not isinstance(text, str):
            raise ArchitectureError(f"a genotype must be a string, got {type(text).__name__} {str(text)[:80]!r}")
        check_arch_text(text)
        m = _GENOTYPE.fullmatch(text.strip())
        if m is None:
            raise ArchitectureError(f"malformed DARTS genotype {text!r} (expected "
                                    "\"Genotype(normal=[('op', input), ...], normal_concat=range(2, 6), "
                                    "reduce=[...], reduce_concat=range(2, 6))\")")
        return _from_match(m, text)


def parse_genotypes(text: str) -> list[Genotype]:
    """All genotypes of ``text`` written back to back (whitespace between them allowed)."""
    out, pos = [], 0
    for m in _GENOTYPE.finditer(text):
        if text[pos:m.start()].strip():
            raise ArchitectureError(f"unexpected text {text[pos:m.start()][:80]!r} between genotypes")
        out.append(_from_match(m, m.group(0)))
        pos = m.end()
    if text[pos:].strip() or not out:
        raise ArchitectureError(f"malformed DARTS genotype text {text[pos:][:200]!r}")
    return out


def _from_match(m: re.Match[str], text: str) -> Genotype:
    return Genotype(_parse_pairs(m["normal"], text), _parse_concat(m["normal_concat"]),
                    _parse_pairs(m["reduce"], text), _parse_concat(m["reduce_concat"]))


def _parse_pairs(s: str, text: str) -> Pairs:
    try:
        value = ast.literal_eval(s)  # literals only: never executes code
    except (ValueError, SyntaxError):
        raise ArchitectureError(f"malformed genotype pairs {s!r} in {text!r}") from None
    if not all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) and type(p[1]) is int
               for p in value):
        raise ArchitectureError(f"genotype pairs must be ('op', input) tuples, got {s!r} in {text!r}")
    return tuple((op, src) for op, src in value)


def _parse_concat(s: str) -> tuple[int, ...]:
    m = _RANGE.fullmatch(s)
    return tuple(range(int(m[1]), int(m[2]))) if m else tuple(ast.literal_eval(s))


def _pairs_str(pairs: Sequence[tuple[str, int]]) -> str:
    return "[" + ", ".join(f"({op!r}, {src})" for op, src in pairs) + "]"


def _concat_str(concat: Sequence[int]) -> str:
    c = list(concat)
    if c and c == list(range(c[0], c[-1] + 1)):
        return f"range({c[0]}, {c[-1] + 1})"
    return repr(c)
