"""Compatibility: ``harness.aggregate`` moved to ``harness.reporting.aggregate``; its public names stay importable here."""

from harness.reporting.aggregate import Runs, find_run_dirs, load_frame, load_runs, mean_std, save_parquet

__all__ = ["Runs", "find_run_dirs", "load_frame", "load_runs", "mean_std", "save_parquet"]
