"""Command line: ``harness run | list | query | ...`` (also ``python -m harness``).

A user error (unknown name, malformed architecture, missing file, invalid
option) prints one line ``error: ...`` and exits with status 2.
"""

from __future__ import annotations

import errno
import json
import sys
from pathlib import Path

import click

from search_spaces.errors import UserError

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


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the CLI and turns user errors into exit status 2."""
    args = _expand_variadic(list(sys.argv[1:] if argv is None else argv))
    try:
        cli.main(args=args, prog_name="harness", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        click.echo(f"error: {e.format_message()}", err=True)
        sys.exit(2)
    except UserError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    except FileNotFoundError as e:
        click.echo(f"error: file not found: {e.filename or e}", err=True)
        sys.exit(2)
    except PermissionError as e:
        click.echo(f"error: permission denied: {e.filename or e}", err=True)
        sys.exit(2)
    except OSError as e:
        # results written so far stay valid (atomic writes): say what happened, exit like a user error
        why = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
               errno.EROFS: "read-only file system"}.get(e.errno)
        if why is None:
            raise
        click.echo(f"error: {why} while writing {e.filename or ''}", err=True)
        sys.exit(2)


def _import_commands() -> None:
    # Each command lives in its own module; importing registers it on ``cli``.
    import importlib

    for mod in _COMMANDS:
        importlib.import_module(mod)


_COMMANDS = ["harness.commands.run", "harness.commands.info", "harness.commands.tabulate",
             "harness.commands.baseline", "harness.commands.correlate", "harness.commands.bench",
             "harness.commands.sweep", "harness.commands.table", "harness.commands.report",
             "harness.commands.import_cmd", "harness.commands.evaluate", "harness.commands.proxy",
             "harness.commands.protocol", "harness.commands.gpu_check"]
_import_commands()

if __name__ == "__main__":
    main()
