"""Analyses of trained supernets: one-shot evaluation, correlation with a benchmark, NSA, proxies, eigensolver checks.

May import ``reporting`` (its figures), ``run``, ``optimizers``, ``metrics``, ``data``, ``protocols``,
``references``.
"""
