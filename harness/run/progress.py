"""A progress bar per run on a terminal: epochs x steps, with elapsed time and ETA (tqdm).

Off a terminal the runner prints one plain line per epoch instead (``epoch.progress_line``);
on one, those lines are written above the bar (``tqdm.write``), so neither garbles the other.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO


class StepBar:
    """One tqdm bar per run; ``start`` opens it (resumed runs start where they left off), ``step`` advances
    it by one search step, ``epoch`` names the epoch done, ``close`` ends it."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self._bar: Any = None

    def start(self, desc: str, epochs: int, steps: int, start_epoch: int) -> None:
        from tqdm import tqdm

        self.close()
        self._bar = tqdm(total=epochs * steps, initial=start_epoch * steps, desc=desc, unit="step",
                         file=self.stream, dynamic_ncols=True, leave=True, mininterval=0.5,
                         bar_format="{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} steps{postfix} "
                                    "[{elapsed}<{remaining}, {rate_fmt}]")
        self._bar.set_postfix_str(f"epoch {start_epoch}/{epochs}", refresh=False)
        self._epochs = epochs

    def step(self) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def epoch(self, done: int) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(f"epoch {done}/{self._epochs}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def write_above(line: str, stream: TextIO | None = None) -> None:
    """Print ``line`` above any open bar."""
    from tqdm import tqdm

    tqdm.write(line, file=stream or sys.stderr)
