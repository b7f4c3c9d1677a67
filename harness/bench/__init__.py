"""Throughput measurements (``harness bench``), the micro rows, the curvature timings and the prepared GPU check.

Timings are for the machine they run on; nothing here is a pass/fail test. May import every
room but ``commands``.
"""
