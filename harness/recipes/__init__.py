"""Recipes: one command per published table or figure, with the published numbers beside ours and a verdict.

``recipe`` (the data types), ``catalogue`` (the recipes), ``compare`` (published
rows, the comparison arithmetic and the verdict), ``executors`` (what computes
our rows), ``reproduce`` (inputs checked first, parts run, ``reproduction.md``
written). May import ``run``, ``analysis``, ``reporting``, ``metrics``,
``protocols``, ``references``, ``data`` (and ``benchmarks``, ``search_spaces``).
"""
