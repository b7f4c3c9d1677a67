"""Quantities measured on a supernet: the dominant Hessian eigenvalue and its solvers, zero-cost proxies, and
the rank statistics that compare a prediction with the truth.

They sit below ``optimizers`` because optimizers use them as signals (DARTS-ES / DARTS-ADA
stop on the eigenvalue, BaLeNAS-TF selects by a proxy); the analyses built on them live in
``analysis``. May import ``data`` (and ``search_spaces``).
"""
