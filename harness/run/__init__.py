"""The run engine: config, runner, checkpoints, locks, batched seeds, ground-truth lookups, sweeps.

Also what trains networks outside a search (``evaluate``, ``tabulate``, ``baselines``) and
writes foreign logs in the run format (``import_robustdarts``). May import ``optimizers``,
``metrics``, ``data``, ``protocols``, ``references`` (and ``benchmarks``, ``search_spaces``).
"""
