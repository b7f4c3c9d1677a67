"""The CLI's root group (``cli``) that every command module registers on, and the helpers they share."""

from __future__ import annotations

import json
import math
import os
import stat
import sys
from typing import Any

import click

from search_spaces.errors import UserError
from search_spaces.io import finite

#: Options that take several values. One list syntax for all of them: space-separated
#: (``--seeds 0 1 2``) or comma-separated (``--seeds 0,1,2``). ``VARIADIC`` options are repeated
#: click options (rewritten to ``--seeds 0 --seeds 1 --seeds 2``); ``COMMA_LISTS`` take one
#: comma-separated string (``--pool-sizes 5 20 100`` is rewritten to ``--pool-sizes 5,20,100``).
VARIADIC = ("--seeds", "--optimizer", "--optimizers")
COMMA_LISTS = ("--pool-sizes", "--r-max", "--eval-epochs")


def _values_after(argv: list[str], i: int) -> tuple[list[str], int]:
    """The values following option ``argv[i]`` up to the next option (a negative number is a value)."""
    j, vals = i + 1, []
    while j < len(argv) and (not argv[j].startswith("-") or _is_number(argv[j])):
        vals.append(argv[j])
        j += 1
    return vals, j


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _expand_variadic(argv: list[str]) -> list[str]:
    out, i = [], 0
    while i < len(argv):
        a = argv[i]
        if a in VARIADIC or a in COMMA_LISTS:
            vals, j = _values_after(argv, i)
            items = [v for text in vals for v in text.split(",") if v != ""]
            if not items:  # no value (click says what is missing) or an empty one (an empty list)
                out.extend([a, *vals[:1]])
            elif a in VARIADIC:
                for v in items:
                    out.extend([a, v])
            else:
                out.extend([a, ",".join(items)])
            i = j
            continue
        out.append(a)
        i += 1
    return out


#: Output settings of this invocation (the group's -q / -v / --log-file).
OUTPUT: dict[str, Any] = {"quiet": False, "verbose": False, "log_file": None, "log_handle": None}


def _progress_printer():
    """Where progress lines go: stderr (flushed, on a terminal or not) and the log file; None under -q."""
    log = OUTPUT["log_file"]
    if OUTPUT["quiet"] and not log:
        return None

    tty = sys.stderr.isatty()

    def emit(line: str) -> None:
        if not OUTPUT["quiet"]:
            if tty:  # above a run's progress bar, which would otherwise be torn
                from harness.run.progress import write_above

                write_above(line)
            else:
                click.echo(line, err=True)
                sys.stderr.flush()  # one line per epoch reaches nohup / SLURM logs / `| tee` at once
        if log:
            log_line(line)

    return emit


def open_log(path: str) -> None:
    """Open ``--log-file`` once, before any work: a wrong path is one line (exit 2) now, not after the first
    epoch; a FIFO or device is refused (it would block or never end)."""
    try:
        if os.path.exists(path) and not os.path.isfile(path):
            raise UserError(f"--log-file {path} is not a regular file")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o644)
    except OSError as e:
        raise UserError(f"--log-file {path}: {os.strerror(e.errno) if e.errno else e}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UserError(f"--log-file {path} is not a regular file")
    os.set_blocking(fd, True)
    OUTPUT["log_handle"] = os.fdopen(fd, "a", buffering=1, encoding="utf-8")


def log_line(line: str) -> None:
    """Append ``line`` to the open log file; a write error (disk full, file system gone) warns once and the
    work goes on without the log."""
    f = OUTPUT.get("log_handle")
    if f is None:
        return
    try:
        f.write(line + "\n")
        f.flush()
    except OSError as e:
        OUTPUT["log_handle"] = None
        click.echo(f"warning: --log-file {OUTPUT['log_file']}: {os.strerror(e.errno) if e.errno else e}; "
                   "no more lines are written to it (the work goes on)", err=True)


def _progress_bar():
    """A per-run progress bar (epochs x steps, elapsed, ETA) when stderr is a terminal; None otherwise or -q."""
    if OUTPUT["quiet"] or not sys.stderr.isatty():
        return None
    from harness.run.progress import StepBar

    return StepBar()


#: Group options that may also stand after the command (moved in front of it before click parses).
_GLOBAL_FLAGS = ("-q", "--quiet", "-v", "--verbose")


def hoist_global_options(argv: list[str]) -> list[str]:
    """``harness run ... -q --log-file x`` means ``harness -q --log-file x run ...``."""
    front, rest, i = [], [], 0
    while i < len(argv):
        a = argv[i]
        if a in _GLOBAL_FLAGS:
            front.append(a)
        elif a in ("--log-file", "--threads") and i + 1 < len(argv):
            front.extend(argv[i:i + 2])
            i += 1
        elif a.startswith(("--log-file=", "--threads=")):
            front.append(a)
        else:
            rest.append(a)
        i += 1
    return front + rest


def split_plugins(argv: list[str]) -> tuple[list[str], list[str]]:
    """``(argv without --plugin options, their modules)``: ``--plugin M`` may stand anywhere."""
    rest, mods, i = [], [], 0
    while i < len(argv):
        a = argv[i]
        if a == "--plugin" and i + 1 < len(argv):
            mods.append(argv[i + 1])
            i += 2
            continue
        if a.startswith("--plugin="):
            mods.append(a.split("=", 1)[1])
        else:
            rest.append(a)
        i += 1
    return rest, mods


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nas-harness", prog_name="harness")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines (errors and results still print).")
@click.option("-v", "--verbose", is_flag=True, help="Also say which protocol preset each run resolves to.")
@click.option("--log-file", type=click.Path(dir_okay=False), default=None,
              help="Append every progress line to this file as well.")
@click.option("--threads", type=click.IntRange(1, 1024), default=None,
              help="CPU threads per run (default: the CPUs this process may use: affinity and cgroup quota; "
                   "sweep workers share them). Recorded in config.json; results depend on it.")
@click.option("--plugin", "plugin", metavar="MODULE", default=None,
              help="Import MODULE (a name or a .py file) to register optimizers, spaces or benchmarks; "
                   "may stand anywhere and repeat; also HARNESS_PLUGINS=mod1,mod2.")
def cli(quiet: bool, verbose: bool, log_file: str | None, threads: int | None, plugin: str | None) -> None:
    """Evaluation harness for weight-sharing NAS, with tabular ground truth."""
    OUTPUT.update(quiet=quiet, verbose=verbose, log_file=log_file, log_handle=None)
    if log_file:
        open_log(log_file)
    if threads is not None:  # also read by worker processes (harness.run.cpus)
        os.environ["HARNESS_THREADS"] = str(threads)
        from harness.run.cpus import configure_threads

        configure_threads(threads)
    # worker processes (sweep --jobs N) write their per-epoch lines by these (harness.run.sweep.worker_progress)
    os.environ["HARNESS_QUIET"] = "1" if quiet else "0"
    if log_file:
        os.environ["HARNESS_LOG_FILE"] = os.path.abspath(log_file)
    else:
        os.environ.pop("HARNESS_LOG_FILE", None)


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

#: Seeds: what every generator the harness seeds accepts (NumPy's legacy ``np.random.seed`` and the official
#: scripts' seeding take 32 bits; torch takes 64).
MAX_SEED = 2**32 - 1
SEED = click.IntRange(0, MAX_SEED)


def deprecated(old: str, new: str, new_given: bool = False) -> None:
    """The one-line notice of an old option spelling that still works for one more release; both spellings at
    once is an error (which one should win is the user's call, not ours)."""
    if new_given:
        raise UserError(f"{old} and {new} are the same option (the first is its old spelling); give only {new}")
    click.echo(f"warning: {old} is deprecated and goes in the next release; use {new}", err=True)


def given(param: str) -> bool:
    """Whether the user gave option ``param`` (its Python name) on the command line or in the environment."""
    src = click.get_current_context().get_parameter_source(param)
    return src is not None and src.name not in ("DEFAULT", "DEFAULT_MAP")


_CONTROL = dict.fromkeys(c for c in range(32) if c not in (9, 10))
_CONTROL[127] = None


def printable(text: str) -> str:
    """``text`` without terminal control characters (escape sequences from a run's names would otherwise
    reach the terminal raw); tabs and newlines stay."""
    return text.translate(_CONTROL)


def json_text(obj: Any, indent: int = 2) -> str:
    """Strict JSON (NaN and infinities become null, never the non-JSON ``NaN`` / ``Infinity``)."""
    return json.dumps(finite(obj), indent=indent, allow_nan=False, default=str)
