"""Search protocols as data: one preset per (benchmark family, optimizer), every value with its source.

May import ``optimizers`` (their config fields) and ``data``.

A *family* (``nb201``, ``robustdarts``, ``nb1shot1``, ``embedded``, ``nsa``) names the
spaces it covers and, per optimizer, the values its official code uses. A
preset is resolved in three layers, later ones winning:

1. ``methods.METHOD_DEFAULTS``: each optimizer's own hyperparameters, with the
   method paper's or official code's source (equal to the config dataclass
   defaults; a test keeps the two in step);
2. the family's ``common`` block (weight training and run-level keys);
3. the family's per-optimizer block.

``resolve_protocol(space, optimizer, overrides)`` returns a ``Protocol``:
``values`` (run keys ``RUN_KEYS`` plus every field of the optimizer's config),
``sources`` (one string per value: repository and file, "paper, ...", or
"ours: reason") and the overrides that replaced preset values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from harness.protocols.base import Family, V
from search_spaces.errors import ConfigError

#: Keys of a preset that configure the run rather than the optimizer.
RUN_KEYS = ("epochs", "batch_size", "select_batch_size", "select_augment", "cutout_length", "cutout_prob",
            "cutout_ramp", "search_split", "track_running_stats")
#: ``harness.data.search_split.SEARCH_SPLITS`` (named here: protocols sit below the data room's users).
SEARCH_SPLITS = ("nb201", "train-halves", "ours")


@dataclass(frozen=True)
class Protocol:
    """A resolved preset: ``values[k]`` came from ``sources[k]``; ``overrides`` replaced preset values."""

    preset: str
    values: dict[str, Any]
    sources: dict[str, str]
    overrides: dict[str, Any] = field(default_factory=dict)
    deviations: tuple[str, ...] = ()

    def run_values(self) -> dict[str, Any]:
        """The run-level values (``RUN_KEYS``)."""
        return {k: self.values[k] for k in RUN_KEYS}

    def optimizer_values(self) -> dict[str, Any]:
        """Every optimizer-config value (what the optimizer is built with)."""
        return {k: v for k, v in self.values.items() if k not in RUN_KEYS}

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``{"preset", "values", "sources", "overrides", "deviations"}``."""
        return {"preset": self.preset, "values": _jsonable(self.values), "sources": dict(self.sources),
                "overrides": _jsonable(self.overrides), "deviations": list(self.deviations)}


_FAMILIES: dict[str, Family] = {}

#: Run-level values for spaces outside every family.
_GENERIC_RUN = {
    "epochs": V(50, "DARTS cnn/train_search.py --epochs 50 (no protocol family covers this space)"),
    "batch_size": V(64, "DARTS cnn/train_search.py --batch_size 64 (no protocol family covers this space)"),
    "select_batch_size": V(64, "ours: the search batch size"),
    "select_augment": V(False, "ours: scoring without augmentation"),
    **{k: v for k, v in (("cutout_length", V(0, "DARTS cnn/train_search.py: --cutout off by default")),
                         ("cutout_prob", V(1.0, "DARTS cnn/train_search.py --cutout_prob 1.0 (unused: cutout off)")),
                         ("cutout_ramp", V(False, "ours: no ramp")))},
    "search_split": V("ours", "ours: no protocol family covers this space (NB-201 split semantics, full batches)"),
    "track_running_stats": V(None, "ours: the supernet's own BN setting (no protocol family covers this space)"),
}


def register_family(family: Family) -> Family:
    """Add a family (plug-ins may register their own); names and spaces must be new."""
    _load_builtin()
    _add(family)
    return family


def _add(family: Family) -> None:
    if family.name in _FAMILIES:
        raise ConfigError(f"protocol family {family.name!r} is already registered")
    taken = {s: f.name for f in _FAMILIES.values() for s in f.spaces}
    clash = sorted(s for s in family.spaces if s in taken)
    if clash:
        raise ConfigError(f"spaces {clash} already belong to protocol family {taken[clash[0]]!r}")
    _FAMILIES[family.name] = family


_loaded = False


def _load_builtin() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    from harness.protocols import embedded, nb1shot1, nb201, nsa, robustdarts

    for mod in (nb201, robustdarts, nb1shot1, embedded, nsa):
        _add(mod.FAMILY)


def families() -> dict[str, Family]:
    """Registered families by name."""
    _load_builtin()
    return dict(_FAMILIES)


def family_of(space: str) -> Family | None:
    """The family whose presets cover ``space`` (None: no protocol registered for it)."""
    for f in families().values():
        if space in f.spaces:
            return f
    return None


def list_presets() -> list[dict[str, str]]:
    """``[{"preset", "spaces", "description"}]`` for every (family, registered optimizer)."""
    from harness.optimizers import list_optimizers

    out = []
    for f in families().values():
        for opt in list_optimizers():
            out.append({"preset": f"{f.name}/{opt}", "spaces": ", ".join(f.spaces), "description": f.description})
    return out


def resolve_protocol(space: str, optimizer: str, overrides: dict[str, Any] | None = None,
                     preset: str | None = None) -> Protocol:
    """The protocol of ``optimizer`` on ``space`` (or the named ``preset``), with ``overrides`` applied.

    Raises:
        ConfigError: unknown optimizer, preset or override key, or a value the config rejects.
    """
    from harness.optimizers import get_optimizer_class
    from harness.protocols.methods import method_defaults

    cls = get_optimizer_class(optimizer)
    fam = _family_for(space, optimizer, preset)
    layers: list[dict[str, V]] = [method_defaults(optimizer, cls.config_cls)]
    if fam is None:  # a space no family covers (e.g. a plug-in's): DARTS's run length
        layers.append(_GENERIC_RUN)
    else:
        layers += [fam.common, fam.methods.get(optimizer, {})]
    opt_fields = [f.name for f in fields(cls.config_cls)]
    known = set(RUN_KEYS) | set(opt_fields)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for layer in layers:
        for k, v in layer.items():
            if k in known:  # a family value for a field this optimizer lacks does not apply
                values[k], sources[k] = v.value, v.source
    missing = sorted(known - set(values))
    if missing:
        raise ConfigError(f"protocol for {optimizer!r}: no value for {missing}")
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"protocol of {optimizer!r}: unknown keys {unknown} (known: {sorted(known)})")
    for k, v in overrides.items():
        _check_finite(k, v)
        sources[k] = (f"override of {k} by the run (a command-line option, --set, or a sweep plan's key); "
                      f"preset value {values[k]!r} from: {sources[k]}")
        values[k] = v
    if fam is not None and fam.rule is not None:  # values that follow other values (RobustDARTS's Cutout)
        fam.rule(optimizer, values, sources, set(overrides))
    _check_run_values(values)
    cls.config_cls.from_dict({k: values[k] for k in opt_fields})  # validate now, one line on error
    name = f"{fam.name}/{optimizer}" if fam is not None else f"default/{optimizer}"
    devs = () if fam is None else fam.deviations.get("*", ()) + fam.deviations.get(optimizer, ())
    if fam is None:
        devs = (f"no protocol family covers space {space!r}: the optimizer's own defaults",)
    return Protocol(name, {k: values[k] for k in list(RUN_KEYS) + opt_fields},
                    {k: sources[k] for k in list(RUN_KEYS) + opt_fields}, overrides, devs)


def _family_for(space: str, optimizer: str, preset: str | None) -> Family | None:
    if preset is None:
        return family_of(space)
    fam_name, sep, opt = preset.partition("/")
    fams = families()
    if not sep or fam_name not in fams:
        raise ConfigError(f"unknown preset {preset!r} (presets are FAMILY/OPTIMIZER, families: {sorted(fams)})")
    if opt != optimizer:
        raise ConfigError(f"preset {preset!r} is for optimizer {opt!r}, not {optimizer!r}")
    return fams[fam_name]


def _check_finite(key: str, value: Any) -> None:
    vals = value if isinstance(value, (list, tuple)) else [value]
    for v in vals:
        if isinstance(v, float) and not math.isfinite(v):
            raise ConfigError(f"{key} must be finite, got {value!r}")


def _check_run_values(values: dict[str, Any]) -> None:
    for k in ("epochs", "batch_size", "select_batch_size"):
        v = values[k]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"{k} must be a positive integer, got {v!r}")
    for k in ("select_augment", "cutout_ramp"):
        if not isinstance(values[k], bool):
            raise ConfigError(f"{k} must be true or false, got {values[k]!r}")
    if values["track_running_stats"] not in (None, True, False):
        raise ConfigError(f"track_running_stats must be true, false or null, got {values['track_running_stats']!r}")
    if values["search_split"] not in SEARCH_SPLITS:
        raise ConfigError(f"search_split must be one of {SEARCH_SPLITS}, got {values['search_split']!r}")
    length, prob = values["cutout_length"], values["cutout_prob"]
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise ConfigError(f"cutout_length must be a non-negative integer, got {length!r}")
    if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0.0 <= prob <= 1.0:
        raise ConfigError(f"cutout_prob must lie in [0, 1], got {prob!r}")


def _jsonable(d: Any) -> Any:
    import json

    return json.loads(json.dumps(d, default=str))
