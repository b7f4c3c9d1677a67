"""``harness protocol``: print the resolved search protocol of a space and optimizer, with sources."""

from __future__ import annotations

import click

from harness.commands.base import cli, json_text
from search_spaces.errors import ConfigError


@cli.command("protocol")
@click.argument("space", required=False)
@click.argument("optimizer", required=False)
@click.option("--list", "list_", is_flag=True, help="List the presets (FAMILY/OPTIMIZER) and their spaces.")
@click.option("--preset", default=None, help="Use this preset (FAMILY/OPTIMIZER) instead of the space's family.")
@click.option("--set", "overrides", multiple=True, help="Override KEY=VALUE (JSON value); shown as an override.")
def protocol_cmd(space: str | None, optimizer: str | None, list_: bool, preset: str | None,
                 overrides: tuple[str, ...]) -> None:
    """Print SPACE OPTIMIZER's protocol as JSON: {"preset", "values", "sources", "overrides", "deviations"}."""
    from harness.commands.run import _parse_set
    from harness.protocols import families, list_presets, resolve_protocol
    from search_spaces import get_space

    if list_:
        fams = families()
        for f in fams.values():
            click.echo(f"{f.name:12s} spaces {', '.join(f.spaces):40s} {f.description}")
        click.echo(f"\n{len(list_presets())} presets: FAMILY/OPTIMIZER for every family above and every "
                   "optimizer of `harness list`")
        return
    if not space or not optimizer:
        raise ConfigError("usage: harness protocol SPACE OPTIMIZER [--set KEY=VALUE] (or --list)")
    get_space(space)  # unknown space: one line naming the known ones
    proto = resolve_protocol(space, optimizer, _parse_set(overrides), preset)
    click.echo(json_text(proto.to_dict()))
