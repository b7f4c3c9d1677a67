"""What a recipe is: an id, its source, parts (each with its inputs and executor), the published rows it answers.

A recipe is data. Each ``Part`` names an executor (``harness.recipes.executors``),
its parameters (preset names, sample sizes, never restated hyperparameters),
the inputs it needs and the rows it produces. ``reproduce`` checks every
part's inputs before any work: a part whose inputs are missing reports its
rows as ``not run: <what is missing>``; a recipe none of whose parts can run
exits 2 with one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from search_spaces.errors import ConfigError

SCALES = ("full", "reduced")
NEED_KINDS = ("benchmark_file", "data_dir", "logs", "gpu")


@dataclass(frozen=True)
class Need:
    """An input a part needs: ``kind`` (one of ``NEED_KINDS``), what it is in words, a short label, and for which
    datasets (``data_dir``)."""

    kind: str
    what: str
    datasets: tuple[str, ...] = ()
    label: str = ""

    def __post_init__(self) -> None:
        if self.kind not in NEED_KINDS:
            raise ConfigError(f"need kind must be one of {NEED_KINDS}, got {self.kind!r}")


@dataclass(frozen=True)
class Row:
    """One cell family of a table: (method, benchmark, dataset, split, metric, setting) as in ``published.csv``
    (``setting``: what else sets the number apart, e.g. the retraining sizes; empty for the usual one)."""

    method: str
    dataset: str
    split: str
    metric: str = "accuracy"
    benchmark: str = "nb201"
    setting: str = ""


@dataclass(frozen=True)
class Part:
    """One executable piece of a recipe.

    Attributes:
        name: Short label ("benchmark rows", "search rows").
        executor: Name in ``harness.recipes.executors.EXECUTORS``.
        params: Executor parameters (preset names, sample sizes, datasets).
        needs: Inputs without which this part does not run.
        rows: The rows it produces (listed as ``not run`` when it cannot run).
        tier: ``cpu``, ``gpu`` or ``needs <official file>``.
        scales: Scales at which the part runs (``reduced`` only where a CPU-sized version is defined).
    """

    name: str
    executor: str
    params: Mapping[str, Any] = field(default_factory=dict)
    needs: tuple[Need, ...] = ()
    rows: tuple[Row, ...] = ()
    tier: str = "cpu"
    scales: tuple[str, ...] = ("full",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        check_tier(self.tier)
        if not self.scales or any(s not in SCALES for s in self.scales):
            raise ConfigError(f"part {self.name!r}: scales must be a non-empty subset of {SCALES}")


@dataclass(frozen=True)
class Published:
    """Selects rows of ``published.csv``: ``source`` is a substring of the source column, ``table`` exact,
    ``methods`` (if given) the methods kept."""

    source: str
    table: str
    methods: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recipe:
    """One published table or figure.

    Attributes:
        id: Unique id (``nb201-table5``).
        title: What it reproduces, in words.
        source: Paper and table/figure number.
        parts: What computes our rows.
        published: Selections of ``published.csv`` compared with our rows.
        seeds: Default seeds (``--seeds`` overrides).
        reduced: What ``--scale reduced`` runs instead (None: no reduced version).
        missing: Published numbers this catalogue lacks and why (printed with the table).
        margins: Equivalence margins per (metric, dataset) where this table needs its own
            (``harness.recipes.compare.MARGINS`` otherwise); printed with every row.
    """

    id: str
    title: str
    source: str
    parts: tuple[Part, ...]
    published: tuple[Published, ...] = ()
    seeds: tuple[int, ...] = (0, 1, 2)
    reduced: str | None = None
    missing: str | None = None
    margins: Mapping[tuple[str, str], float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.id or not self.parts:
            raise ConfigError(f"recipe {self.id!r}: needs an id and at least one part")
        names = [p.name for p in self.parts]
        if len(set(names)) != len(names):
            raise ConfigError(f"recipe {self.id!r}: part names must be unique, got {names}")
        if self.reduced is None and any("reduced" in p.scales for p in self.parts):
            raise ConfigError(f"recipe {self.id!r}: a part runs reduced but the recipe does not say what that is")
        object.__setattr__(self, "margins", MappingProxyType(dict(self.margins)))

    @property
    def tier(self) -> str:
        """The most demanding tier of its parts: ``needs <file>`` > ``gpu`` > ``cpu``."""
        tiers = [p.tier for p in self.parts if p.executor != "unavailable"]
        needs = sorted({t for t in tiers if t.startswith("needs ")})
        if needs:
            return "needs " + ", ".join(t[len("needs "):] for t in needs)
        return "gpu" if "gpu" in tiers else "cpu"

    @property
    def tiers(self) -> str:
        """Every part's tier, once, cheapest first (``cpu, gpu``: some rows run on a CPU)."""
        order = {"cpu": 0, "gpu": 1}
        tiers = {p.tier for p in self.parts if p.executor != "unavailable"}
        return ", ".join(sorted(tiers, key=lambda t: (order.get(t, 2), t)))

    def needs_text(self) -> str:
        """Every input of every part, once, by its short label."""
        seen: dict[str, None] = {}
        for p in self.parts:
            for n in p.needs:
                seen.setdefault((n.label or n.what).split(" (")[0], None)
        return ", ".join(seen) or "nothing beyond the project"


def check_tier(tier: str) -> str:
    """``cpu``, ``gpu`` or ``needs <official file>``; else ``ConfigError``."""
    if tier in ("cpu", "gpu") or (tier.startswith("needs ") and len(tier) > len("needs ")):
        return tier
    raise ConfigError(f"tier must be 'cpu', 'gpu' or 'needs <official file>', got {tier!r}")


@dataclass
class Context:
    """What the user gave ``harness reproduce``, resolved once."""

    out: Any  # pathlib.Path
    benchmark_file: str | None = None
    data_dir: str | None = None
    logs: str | None = None
    device: str = "cpu"
    device_explicit: bool = False
    seeds: tuple[int, ...] = (0, 1, 2)
    scale: str = "full"
    jobs: int | None = None
    progress: Any = None  # Callable[[str], None] | None

    def say(self, line: str) -> None:
        if self.progress is not None:
            self.progress(line)


@dataclass
class PartResult:
    """What one part computed: rows (``compare.Ours``), findings in words, extra Markdown tables, files."""

    rows: list[Any] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
