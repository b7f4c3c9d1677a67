"""``python -m harness``: the command line (same as the ``harness`` command)."""

from harness.cli import main

main()
