"""Reporting: loading run directories into frames, paper tables, plots, the HTML report.

May import ``run``, ``optimizers``, ``metrics``, ``data``, ``protocols``, ``references``.
"""
