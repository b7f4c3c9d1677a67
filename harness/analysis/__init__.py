"""Analyses of trained supernets: one-shot evaluation, correlation with a benchmark, NSA, proxies, eigensolver checks.

May import ``run``, ``optimizers``, ``metrics``, ``data``, ``protocols``, ``references``.
"""
