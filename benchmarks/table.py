"""The canonical ground-truth table every importer produces.

A ``Table`` holds, for one space, a float64 array ``[n_archs, n_seeds]`` per
``MetricKey`` (dataset, split, metric, epochs), NaN where the source has no
value, plus optional source-provided means ``[n_archs]`` (sources such as the
NB-201 CSVs only publish means). On disk it is ``table.npz`` plus
``metadata.json`` (source file, its sha256, created-at, library version, the
npz's own sha256, which is verified on every load).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from search_spaces.errors import BenchmarkError

SPLITS = ("train", "valid", "test")
METRICS = ("accuracy", "loss", "time", "params", "flops")


@dataclass(frozen=True, order=True)
class MetricKey:
    """What a column holds: ``dataset/split/metric@epochs``."""

    dataset: str
    split: str
    metric: str
    epochs: int

    def __str__(self) -> str:
        return f"{self.dataset}/{self.split}/{self.metric}@{self.epochs}"

    @classmethod
    def parse(cls, text: str) -> MetricKey:
        try:
            head, epochs = text.rsplit("@", 1)
            dataset, split, metric = head.split("/")
            return cls(dataset, split, metric, int(epochs))
        except ValueError:
            raise BenchmarkError(f"malformed column key {text!r} (expected dataset/split/metric@epochs)") from None


@dataclass
class Table:
    """Canonical ground truth of one space.

    Attributes:
        space: Registered space name.
        archs: Architecture strings, one per row.
        seeds: Seed labels, one per per-seed column.
        per_seed: Key -> float64 ``[n_archs, n_seeds]`` (NaN = missing).
        means: Key -> float64 ``[n_archs]`` means published by the source.
        metadata: Free-form provenance (source, sha256, protocol, ...).
    """

    space: str
    archs: list[str]
    seeds: list[str] = field(default_factory=list)
    per_seed: dict[MetricKey, np.ndarray] = field(default_factory=dict)
    means: dict[MetricKey, np.ndarray] = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.archs)
        for k, v in self.per_seed.items():
            if v.shape != (n, len(self.seeds)):
                raise ValueError(f"{k}: per-seed shape {v.shape} != {(n, len(self.seeds))}")
        for k, v in self.means.items():
            if v.shape != (n,):
                raise ValueError(f"{k}: mean shape {v.shape} != {(n,)}")
        for k, v in [*self.per_seed.items(), *self.means.items()]:
            _check_range(k, v)
        self._row = {a: i for i, a in enumerate(self.archs)}
        if len(self._row) != n:
            raise ValueError("duplicate architecture strings in table")

    # -- lookups ------------------------------------------------------
    def row(self, arch: str) -> int | None:
        """Row of ``arch`` or None."""
        return self._row.get(arch)

    def keys(self) -> list[MetricKey]:
        """All keys with per-seed or mean values."""
        return sorted(set(self.per_seed) | set(self.means))

    def column(self, key: MetricKey, seed: str | int) -> np.ndarray:
        """Values of ``key`` for every row, ``[n_archs]``.

        Args:
            seed: ``"mean"`` (the source's mean, else the mean over the seeds
                present for each row) or one seed label/int.
        """
        if seed == "mean":
            if key in self.means:
                return self.means[key]
            if key in self.per_seed:
                a = self.per_seed[key]
                with np.errstate(invalid="ignore"):
                    cnt = np.sum(~np.isnan(a), axis=1)
                    s = np.nansum(a, axis=1)
                return np.where(cnt > 0, s / np.maximum(cnt, 1), np.nan)
        else:
            if key in self.per_seed:
                label = str(seed)
                if label not in self.seeds:
                    raise BenchmarkError(f"seed {seed!r} is not in the table (seeds: {self.seeds})")
                return self.per_seed[key][:, self.seeds.index(label)]
            if key in self.means:
                raise BenchmarkError(f"{key}: the source has only seed means; ask for seed='mean'")
        raise BenchmarkError(f"the table has no {key} (available: {', '.join(map(str, self.keys()))})")

    # -- io -----------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write ``table.npz`` + ``metadata.json`` atomically into ``directory``."""
        from search_spaces.io import atomic_write_bytes, atomic_write_json

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "archs": np.array(self.archs, dtype=str),
            "seeds": np.array(self.seeds, dtype=str),
        }
        for k, v in self.per_seed.items():
            arrays[f"seed:{k}"] = v.astype(np.float64)
        for k, v in self.means.items():
            arrays[f"mean:{k}"] = v.astype(np.float64)
        import io

        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        data = buf.getvalue()
        meta = dict(self.metadata)
        meta.update(
            space=self.space,
            n_archs=len(self.archs),
            seeds=list(self.seeds),
            keys=[str(k) for k in self.keys()],
            table_sha256=hashlib.sha256(data).hexdigest(),
        )
        meta.setdefault("created_at", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
        meta.setdefault("library_version", _version())
        atomic_write_bytes(d / "table.npz", data)
        atomic_write_json(d / "metadata.json", meta)
        return d

    @classmethod
    def load(cls, directory: str | Path) -> Table:
        """Load and checksum-verify a table written by ``save``."""
        d = Path(directory)
        npz, meta_p = d / "table.npz", d / "metadata.json"
        for p in (npz, meta_p):
            if not p.is_file():
                raise BenchmarkError(f"benchmark table {d}: missing {p.name}")
        try:
            meta = json.loads(meta_p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise BenchmarkError(f"benchmark table {d}: metadata.json is not valid JSON ({e})") from None
        missing = [k for k in ("space", "table_sha256") if not isinstance(meta, dict) or k not in meta]
        if missing:
            raise BenchmarkError(f"benchmark table {d}: metadata.json is not a table's metadata (missing "
                                 f"{', '.join(missing)}); import the table again")
        data = npz.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if meta.get("table_sha256") != digest:
            raise BenchmarkError(
                f"benchmark table {npz}: checksum mismatch (expected {meta.get('table_sha256')}, got {digest}); "
                "the file is corrupted: delete the folder and import again"
            )
        import io

        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                per_seed, means = {}, {}
                for name in z.files:
                    if name.startswith("seed:"):
                        per_seed[MetricKey.parse(name[5:])] = np.asarray(z[name], dtype=np.float64)
                    elif name.startswith("mean:"):
                        means[MetricKey.parse(name[5:])] = np.asarray(z[name], dtype=np.float64)
                return cls(meta["space"], [str(a) for a in z["archs"]], [str(s) for s in z["seeds"]],
                           per_seed, means, meta)
        except BenchmarkError:
            raise
        except (ValueError, KeyError, TypeError, OSError) as e:  # object arrays, missing or misshapen arrays
            raise BenchmarkError(f"benchmark table {d}: table.npz is not a valid table ({type(e).__name__}: {e})") \
                from None


#: Valid ranges of metrics in percent or nats (NaN marks a missing value; a diverged model's loss may be
#: +inf); values outside are a broken source, not data. Other metrics (costs) are not checked.
RANGES = {"accuracy": (0.0, 100.0), "error": (0.0, 100.0), "loss": (0.0, math.inf)}


def _check_range(key: MetricKey, v: np.ndarray) -> None:
    if key.metric not in RANGES:
        return
    vals = v[~np.isnan(v)]
    lo, hi = RANGES[key.metric]
    bad = vals[(vals < lo) | (vals > hi)]
    if bad.size:
        raise BenchmarkError(f"{key}: {bad.size} value(s) out of the range [{lo:g}, {hi:g}] of {key.metric} "
                             f"(e.g. {float(bad[0])!r}); the source is broken")


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    """sha256 of a regular file, streamed (a pipe or device file is refused: it would block or never end)."""
    if not Path(path).is_file():
        raise BenchmarkError(f"{path} is not a regular file")
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(chunk):
            h.update(b)
    return h.hexdigest()


def cache_root() -> Path:
    """``$HARNESS_CACHE`` or ``~/.cache/harness`` (a folder; something else there is an error)."""
    root = Path(os.environ.get("HARNESS_CACHE", Path.home() / ".cache" / "harness"))
    if root.exists() and not root.is_dir():
        raise BenchmarkError(f"the benchmark cache {root} (HARNESS_CACHE) is not a folder; point HARNESS_CACHE "
                             "at a folder")
    return root


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("nas-harness")
    except Exception:
        return "unknown"
