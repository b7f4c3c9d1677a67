"""A small name -> object registry in the style of timm's ``register_model``, with plug-ins.

One instance each lists spaces (``search_spaces.SPACES``), benchmarks
(``benchmarks.BENCHMARKS``) and optimizers (``harness.optimizers.OPTIMIZERS``).
Registering a name twice is a one-line error naming both sources, so two
modules cannot silently shadow each other.

A registry fills itself on first use: its built-in modules, then the plug-ins
of this process, in this order:

- ``HARNESS_PLUGINS=module1,module2`` (a module name, or the path of a ``.py``
  file that is not installed); the CLI's ``--plugin MODULE`` adds to it, so
  worker processes (joblib, Ray) that inherit the environment load the same;
- the entry points of the registry's group (``nas_harness.optimizers``,
  ``nas_harness.spaces``, ``nas_harness.benchmarks``) of installed packages.

A plug-in module registers what it defines with the usual decorator or call
(``register_optimizer``, ``register_space``, ``register_benchmark``); an entry
point that names an object not registered yet is registered under the entry
point's name (``adopt``).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

from search_spaces.errors import UnknownNameError, UserError

T = TypeVar("T")

#: Environment variable listing plug-in modules (comma-separated names or ``.py`` paths).
PLUGINS_ENV = "HARNESS_PLUGINS"
#: ``0`` ignores installed packages' entry points (see ``Registry._load_entry_points``).
ENTRY_POINTS_ENV = "HARNESS_ENTRY_POINTS"
_imported: dict[str, Any] = {}


class RegistryClash(UserError, ValueError):
    """A name registered twice (by a built-in and a plug-in, or by two plug-ins)."""


class PluginError(UserError):
    """A plug-in module that cannot be imported."""


def plugin_modules() -> list[str]:
    """The plug-in modules named in ``HARNESS_PLUGINS``."""
    return [m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip()]


def add_plugins(modules: list[str]) -> None:
    """Add ``modules`` to ``HARNESS_PLUGINS`` (so child processes load them too) and import them now."""
    current = plugin_modules()
    os.environ[PLUGINS_ENV] = ",".join(current + [m for m in modules if m not in current])
    import_plugins()


def import_plugins() -> None:
    """Import every module of ``HARNESS_PLUGINS`` not imported yet in this process."""
    for spec in plugin_modules():
        if spec not in _imported:
            # marked before the import: a plug-in that looks a built-in up at import time (to subclass it)
            # fills the registries, which import the plug-ins again; the mark ends that recursion
            _imported[spec] = None
            _imported[spec] = _import(spec)


def _import(spec: str) -> Any:
    try:
        if spec.endswith(".py") or os.sep in spec:
            path = Path(spec).expanduser().resolve()
            if not path.is_file():
                raise PluginError(f"plug-in file {spec} does not exist")
            # never the bare stem: a plug-in file named json.py or copy.py would replace that module for the
            # whole process; workers import plug-ins the same way, so classes pickle under this name there too
            name = f"harness_plugin_{path.stem}"
            if name in sys.modules and getattr(sys.modules[name], "__file__", None) != str(path):
                raise PluginError(f"plug-in file {spec}: another plug-in file named {path.name} is loaded already "
                                  "(rename one of them)")
            loader = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(loader)
            sys.modules[name] = module  # its classes pickle by this name in worker processes
            loader.loader.exec_module(module)
            return module
        return importlib.import_module(spec)
    except UserError:
        _imported.pop(spec, None)
        raise
    except SystemExit as e:  # sys.exit() in a plug-in would end the command silently, even with status 0
        _imported.pop(spec, None)
        raise PluginError(f"plug-in {spec!r} called sys.exit({e.code!r}) while importing") from None
    except Exception as e:  # noqa: BLE001 - any failure of a user's module is reported in one line
        _imported.pop(spec, None)
        raise PluginError(f"plug-in {spec!r} failed to import: {type(e).__name__}: {str(e)[:300]}") from None


#: What a registered name may be: it becomes part of run ids and folder names, so no path separators, no
#: "..", no spaces or control characters.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")


def check_name(kind: str, name: Any, source: str = "?") -> None:
    """Refuse a name that cannot stand in a folder name (``../x``, ``a/b``, empty, too long)."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or ".." in name:
        raise UserError(f"{kind} name {str(name)[:80]!r} from {source} is not allowed: names are letters, digits "
                        "and _ . + - (at most 64, no '..'), since they become folder names")


def _source(obj: Any) -> str:
    return getattr(obj, "__module__", None) or type(obj).__module__


class Registry(Generic[T]):
    """Maps names to objects (usually classes or factories).

    Args:
        kind: What is registered, used in error messages ("space", ...).
        builtin: Modules whose import registers the built-in entries.
        group: Entry-point group of plug-ins (``nas_harness.<kind>s``).
        adopt: ``adopt(name, obj)`` registers an entry point's object that registered nothing itself.
    """

    def __init__(self, kind: str, builtin: list[str] | None = None, group: str | None = None,
                 adopt: Callable[[str, Any], None] | None = None) -> None:
        self.kind = kind
        self.builtin = list(builtin or [])
        self.group = group
        self.adopt = adopt
        self._items: dict[str, T] = {}
        self._sources: dict[str, str] = {}
        self._loaded = False

    def register(self, name: str, obj: T | None = None, source: str | None = None) -> Callable[[T], T] | T:
        """Register ``obj`` under ``name``; usable as a decorator."""

        def add(o: T) -> T:
            src = source or _source(o)
            check_name(self.kind, name, src)
            if name in self._items:
                raise RegistryClash(f"{self.kind} {name!r} from {src} clashes with the one from "
                                    f"{self._sources[name]}; rename one of them")
            self._items[name] = o
            self._sources[name] = src
            return o

        return add if obj is None else add(obj)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests, and a notebook that redefines a plug-in)."""
        self._items.pop(name, None)
        self._sources.pop(name, None)

    def load(self) -> None:
        """Import the built-in modules, then the plug-ins (once per process; later plug-ins on later calls)."""
        if not self._loaded:
            self._loaded = True
            for mod in self.builtin:
                importlib.import_module(mod)
            self._load_entry_points()
        import_plugins()

    def _load_entry_points(self) -> None:
        # HARNESS_ENTRY_POINTS=0: the built-ins only (the test suite sets it, so a user's installed plug-ins
        # cannot change what the project's own tests see)
        if self.group is None or os.environ.get(ENTRY_POINTS_ENV, "1") == "0":
            return
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.group):
            try:
                obj = ep.load()
            except Exception as e:  # noqa: BLE001
                raise PluginError(f"plug-in entry point {self.group}:{ep.name} ({ep.value}) failed to load: "
                                  f"{type(e).__name__}: {e}") from None
            if ep.name not in self._items and self.adopt is not None and not isinstance(obj, type(sys)):
                self.adopt(ep.name, obj)

    def get(self, name: str) -> T:
        """The object registered as ``name``; ``UnknownNameError`` with close matches otherwise."""
        self.load()
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._items) from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self.load()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self.load()
        return len(self._items)
