"""Reading the official benchmark pickles without ``torch.load``.

Containers recognised (by content, not by file name):

- torch legacy format (torch < 1.6; the official NB-201 ``.pth`` files): five
  pickles in a row (magic number, protocol version, system info, the object,
  the storage keys) followed by raw tensor bytes;
- torch zip format (torch >= 1.6): a zip holding ``<name>/data.pkl`` plus one
  entry per tensor storage;
- a plain pickle, optionally bz2-compressed (NATS-Bench ``*.pickle.pbz2``).

Network weights are never materialised: persistent ids (tensor storages)
resolve to None and every ``torch.*`` class to an inert stub, so a
``net_state_dict`` costs nothing and the storage bytes are never read. Only an
allow-list of classes can be built, so a hostile file cannot run code (unlike a
full, not weights-only, ``torch.load``).

Two unpicklers share those rules:

- fast: CPython's C unpickler. It builds every per-epoch dict, so peak memory
  is about 5x the pickle size.
- lean: the pure-Python unpickler plus a ``compact`` hook called on every dict
  as soon as its items are set, so each trial record can be shrunk to its
  final-epoch summary before the next one is read. It keeps the memo in a
  list and interns memoised strings (trial records key per-epoch values by
  strings such as ``"x-valid@<epoch>"``, each one memoised). Measured on a synthetic
  legacy file in the official layout (232 MiB): fast 18 s and +1.1 GiB RSS,
  lean 170 s and +81 MiB, on a busy 2-core machine.
"""

from __future__ import annotations

import bz2
import pickle
import sys
import zipfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from search_spaces.errors import BenchmarkError

#: First pickle of a legacy torch file.
TORCH_MAGIC = 0x1950A86A20F9469CFC6C
#: Hook called on each dict right after its items are set (lean mode only).
Compactor = Callable[[dict], None]

_BUILTINS = {"dict": dict, "list": list, "tuple": tuple, "set": set, "frozenset": frozenset, "int": int,
             "float": float, "complex": complex, "str": str, "bytes": bytes, "bytearray": bytearray, "bool": bool}
_OTHER = {("collections", "OrderedDict"): dict,  # order is irrelevant to us; a plain dict is smaller
          ("collections", "defaultdict"): defaultdict}
_NUMPY = {"scalar", "_reconstruct", "dtype", "ndarray"}


class Dropped:
    """Inert stand-in for torch objects (tensors, storages, sizes); nothing is read."""

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Dropped:
        return _DROPPED

    def __setstate__(self, state: Any) -> None:
        pass

    def __repr__(self) -> str:
        return "<dropped torch object>"


_DROPPED = object.__new__(Dropped)


class _Restricted:
    """``find_class``/``persistent_load`` rules shared by both unpicklers."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" or module.startswith("torch."):
            return Dropped
        if module in ("builtins", "__builtin__") and name in _BUILTINS:
            return _BUILTINS[name]
        if (module, name) in _OTHER:
            return _OTHER[(module, name)]
        if module == "_codecs" and name == "encode":  # how protocol 2 writes bytes
            import codecs

            return codecs.encode
        if module.split(".")[0] == "numpy" and name in _NUMPY:
            return super().find_class(module, name)  # type: ignore[misc]
        raise pickle.UnpicklingError(f"unexpected class {module}.{name} (the official files hold plain dicts)")

    def persistent_load(self, pid: Any) -> Any:
        return None  # a tensor storage: weights are not needed


class _FastUnpickler(_Restricted, pickle.Unpickler):
    pass


class _ListMemo:
    """Pickle memo backed by a list (8 bytes a slot); memoised strings are interned."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[Any] = []

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Any:
        try:
            return self.items[i]
        except IndexError:
            raise KeyError(i) from None

    def __setitem__(self, i: int, value: Any) -> None:
        if type(value) is str:
            value = sys.intern(value)
        items = self.items
        if i == len(items):
            items.append(value)
        elif i < len(items):
            items[i] = value
        else:
            items.extend([None] * (i - len(items)))
            items.append(value)


class _LeanUnpickler(_Restricted, pickle._Unpickler):  # type: ignore[name-defined]
    dispatch = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]

    def __init__(self, file: IO[bytes], compact: Compactor | None) -> None:
        super().__init__(file)
        self.memo = _ListMemo()  # type: ignore[assignment]
        self._compact = compact or (lambda d: None)

    def _load_setitems(self) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]
        if type(target) is dict:
            self._compact(target)

    def _load_setitem(self) -> None:
        value = self.stack.pop()
        key = self.stack.pop()
        target = self.stack[-1]
        target[key] = value
        if type(target) is dict:
            self._compact(target)

    dispatch[pickle.SETITEMS[0]] = _load_setitems
    dispatch[pickle.SETITEM[0]] = _load_setitem


def _unpickler(f: IO[bytes], lean: bool, compact: Compactor | None) -> pickle.Unpickler:
    return _LeanUnpickler(f, compact) if lean else _FastUnpickler(f)


def _load_stream(f: IO[bytes], lean: bool, compact: Compactor | None) -> Any:
    first = _unpickler(f, lean, compact).load()
    if not (type(first) is int and first == TORCH_MAGIC):
        return first  # a plain pickle
    protocol = _unpickler(f, lean, None).load()
    if protocol != 1001:
        raise pickle.UnpicklingError(f"unsupported legacy torch protocol {protocol!r}")
    _unpickler(f, lean, None).load()  # system info (endianness, type sizes): irrelevant without tensors
    return _unpickler(f, lean, compact).load()


def pickle_size(path: Path) -> int:
    """Bytes of the main pickle (for the memory estimate), without reading it."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            return sum(i.file_size for i in z.infolist() if i.filename.endswith("data.pkl"))
    size = path.stat().st_size
    with open(path, "rb") as f:
        return size * 8 if f.read(3) == b"BZh" else size  # bz2 pickles of floats shrink ~8x


def load_official(path: Path, lean: bool = False, compact: Compactor | None = None) -> Any:
    """The object stored in ``path`` (torch legacy / zip, plain or bz2 pickle).

    Args:
        path: The file.
        lean: Use the low-memory pure-Python unpickler.
        compact: Lean mode only: called on each dict right after its items are set.

    Raises:
        BenchmarkError: ``path`` is none of the accepted containers or is truncated.
    """
    expected = "a torch-saved (legacy or zip) or bz2/plain pickle of the official NB-201/NATS dict"
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                names = [n for n in z.namelist() if n == "data.pkl" or n.endswith("/data.pkl")]
                if not names:
                    raise BenchmarkError(f"{path}: a zip file without data.pkl (expected {expected})")
                with z.open(names[0]) as f:
                    return _unpickler(f, lean, compact).load()
        with open(path, "rb") as raw:
            if raw.read(3) == b"BZh":
                raw.seek(0)
                with bz2.open(raw, "rb") as f:
                    return _load_stream(f, lean, compact)  # type: ignore[arg-type]
            raw.seek(0)
            return _load_stream(raw, lean, compact)
    except BenchmarkError:
        raise
    except MemoryError:
        raise  # the caller may retry with the lean reader
    except Exception as e:  # unpickling raises many types on garbage input
        raise BenchmarkError(f"{path}: unreadable ({type(e).__name__}: {e}); expected {expected}") from None
