"""Command line: ``harness run | list | query | ...`` (also ``python -m harness``).

A user error (unknown name, malformed architecture, missing file, invalid
option) prints one line ``error: ...`` and exits with status 2.
"""

from __future__ import annotations

import errno
import sys

import click

from harness.commands.base import _expand_variadic, cli, hoist_global_options, split_plugins
from search_spaces.errors import UserError


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the CLI and turns user errors into exit status 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args, plugins = split_plugins(hoist_global_options(_expand_variadic(argv)))
    from harness.run.signals import Terminated, terminate_like_interrupt

    terminate_like_interrupt()  # SIGTERM (SLURM, Kubernetes) releases locks as Ctrl-C does
    try:
        from search_spaces.registry import add_plugins

        # before any output: a broken plug-in is one line; HARNESS_PLUGINS gets --plugin's modules,
        # so worker processes (joblib, Ray) load the same
        add_plugins(plugins)
        cli.main(args=args, prog_name="harness", standalone_mode=False)
    except Terminated:
        click.echo("terminated (SIGTERM): checkpoints kept, locks released", err=True)
        sys.exit(143)
    except click.exceptions.Abort as e:
        if isinstance(e.__cause__, Terminated) or isinstance(e.__context__, Terminated):
            click.echo("terminated (SIGTERM): checkpoints kept, locks released", err=True)
            sys.exit(143)
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        click.echo(f"error: {e.format_message()}", err=True)
        sys.exit(2)
    except UserError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    except RecursionError:  # a file or value nested past what a parser can follow
        click.echo("error: an input is nested too deeply to read (a damaged or hostile file?)", err=True)
        sys.exit(2)
    except MemoryError:
        click.echo("error: out of memory reading an input (a file or plan far larger than any run needs?)", err=True)
        sys.exit(2)
    except UnicodeDecodeError as e:
        click.echo(f"error: an input file is not UTF-8 text ({str(e)[:120]})", err=True)
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
               errno.EROFS: "read-only file system", errno.ENOTDIR: "a path component is a file, not a directory",
               errno.EISDIR: "a directory stands where a file is expected",
               errno.ENAMETOOLONG: "file name too long", errno.ELOOP: "too many levels of symbolic links",
               errno.EINVAL: "invalid argument (a name the file system refuses?)",
               errno.ENXIO: "no such device or address (a FIFO without a reader?)",
               errno.EFBIG: "file too large", errno.EMFILE: "too many open files"}.get(e.errno)
        if why is None:
            raise
        click.echo(f"error: {why}: {str(e.filename or '')[:300]}", err=True)
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
             "harness.commands.data", "harness.commands.protocol", "harness.commands.gpu_check",
             "harness.commands.reproduce", "harness.commands.compare"]
_import_commands()

if __name__ == "__main__":
    main()
