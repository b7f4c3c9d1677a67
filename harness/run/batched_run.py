"""Several seeds of one run config searched in lock-step in one process (``harness run --batch-seeds``).

Each seed keeps its own run directory with the same files as a separate run
(``config.json``, ``trajectory.csv``, ``checkpoint.pt``, ``final.json``); only
the search steps are shared: ``harness.run.batched_seeds.BatchedDarts`` stacks the
seeds' supernets and ``vmap``s one step over them. Each seed's data stream,
initialisation and hyperparameters are those of its separate run, so the
trajectories equal separate runs within float tolerance (tested).

After every epoch the stacked state is written back into one ordinary
``Darts`` optimizer per seed (``BatchedDarts.write_to``); selection, curvature,
trajectory rows, checkpoints and ``final.json`` then go through the same
``SearchRun`` code as a separate run, and the checkpoints are standard ones.

Checkpoints are committed as a group: every seed's ``checkpoint.next.pt`` is
written before any replaces its ``checkpoint.pt``, and a resume finishes or
discards an interrupted commit, so after a kill all seeds restart from the
same epoch. ``wall_seconds`` of every seed is the batched search's time.

Supported: first-order DARTS (``darts`` with ``order=1``), no ``--compile``,
no ``--channels-last``, and spaces whose forward draws no random numbers
(S4's ``noise`` op does; ``vmap`` refuses it).
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import TYPE_CHECKING, Any

import torch

from harness.data import load_dataset, set_cutout
from harness.data.search_split import search_data
from harness.optimizers import make_config
from harness.run.batched_seeds import BatchedDarts
from harness.run.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from harness.run.lock import RunLock

if TYPE_CHECKING:
    from harness.run.runner import SearchRun

from harness.run.epoch import LiveRun, divergence, progress_line, step_precision
from search_spaces.errors import ConfigError, UserError

CKPT, NEXT = "checkpoint.pt", "checkpoint.next.pt"


def check_batchable(runs: list[SearchRun]) -> None:
    """Raise ``ConfigError`` unless ``runs`` are seeds of one config that ``BatchedDarts`` can step."""
    if not runs:
        raise ConfigError("no runs to batch")
    base = {k: v for k, v in runs[0].config.to_dict().items() if k != "seed"}
    for r in runs[1:]:
        if {k: v for k, v in r.config.to_dict().items() if k != "seed"} != base:
            raise ConfigError("batched seeds must share every setting but the seed")
    if len({r.config.seed for r in runs}) != len(runs):
        raise ConfigError("batched seeds must be distinct")
    c = runs[0].config
    opt_cfg = make_config(c.optimizer, c.optimizer_values())
    if c.optimizer != "darts" or getattr(opt_cfg, "order", None) != 1:
        raise ConfigError(f"--batch-seeds supports first-order DARTS (optimizer 'darts', order 1), "
                          f"not {c.optimizer!r} with {c.optimizer_config}; run these seeds separately")
    if c.compile != "off" or c.channels_last:
        raise ConfigError("--batch-seeds cannot be combined with --compile or --channels-last")


class BatchedSearch:
    """Run ``runs`` (same config, different seeds) together; see the module docstring."""

    def __init__(self, runs: list[SearchRun]) -> None:
        check_batchable(runs)
        self.runs = runs
        for r in runs:
            r.batched_with = sorted(x.config.seed for x in runs)

    def run(self, resume: bool = False) -> list[dict[str, Any]]:
        """Execute or resume every unfinished run; returns each run's ``final.json`` (in ``runs`` order)."""
        todo = [r for r in self.runs if not r.finished]
        if todo:
            c = todo[0].config
            splits = search_data(load_dataset(c.dataset, c.data_dir, todo[0].device, subset=c.subset),
                                 c.search_split)
            for r in todo:
                r._check_dir(resume)
            with contextlib.ExitStack() as stack:
                for r in todo:
                    r.lock = stack.enter_context(RunLock(r.dir))
                todo = [r for r in todo if not r.finished]  # another worker may have finished some
                if todo:
                    BatchedSearch(todo).run_locked(splits)
        return [r._final_json() for r in self.runs]

    def run_locked(self, splits) -> list[dict[str, Any]]:
        """The search itself; the caller holds every run's lock."""
        _recover_commit(self.runs)
        lives = [r.prepare(splits) for r in self.runs]
        finals: dict[int, dict[str, Any]] = {}
        # runs restored at different epochs (resumed separately, or batched in other groups) step apart
        for start in sorted({lv.start for lv in lives}):
            idx = [i for i, lv in enumerate(lives) if lv.start == start]
            finals.update(self._search([self.runs[i] for i in idx], [lives[i] for i in idx], idx))
        return [finals[i] for i in range(len(self.runs))]

    def _search(self, runs: list[SearchRun], lives: list[LiveRun], idx: list[int]) -> dict[int, dict[str, Any]]:
        c, space = runs[0].config, runs[0].space
        bd = BatchedDarts(space, lives[0].net_config, [r.config.seed for r in runs], lives[0].opt.config,
                          epochs=c.epochs, steps_per_epoch=lives[0].steps, device=runs[0].device,
                          supernets=[lv.supernet for lv in lives])
        bd.load_from([lv.opt for lv in lives])  # logits, Adam / SGD state and step count (restored ones too)
        active = list(range(len(runs)))
        out: dict[int, dict[str, Any]] = {}
        for epoch in range(lives[0].start, c.epochs):
            t0 = time.perf_counter()
            bd.on_epoch_start(epoch)
            for lv in lives:
                set_cutout((lv.train_s, lv.valid_s), c.cutout_length, c.cutout_prob_at(epoch))
            sums: dict[str, torch.Tensor] = {}
            for _ in range(lives[0].steps):
                train = _stack([lv.train_s.next() for lv in lives])
                valid = _stack([lv.valid_s.next() for lv in lives])
                with step_precision(runs[0].device, c.precision):
                    res = _step(bd, train, valid, c.space)
                for k, v in res.items():
                    sums[k] = sums[k] + v.detach() if k in sums else v.detach().clone()
            seconds = time.perf_counter() - t0
            bd.write_to([lv.opt for lv in lives])
            rows = {}
            for i in active:
                lives[i].opt.on_epoch_start(epoch)  # the per-seed optimizer's epoch and lr, as a separate run's
                rows[i] = runs[i].end_epoch(lives[i], epoch, {k: v[i] for k, v in sums.items()}, seconds)
            _commit([runs[i] for i in active], [lives[i] for i in active], epoch)
            for i in list(active):
                runs[i].progress(progress_line(runs[i].config, epoch, rows[i]))
                reason = divergence(rows[i], lives[i].opt)
                if reason:  # this seed stops; its slice of the batch is simply no longer reported
                    out[idx[i]] = runs[i].finish(lives[i], "diverged", reason)
                    active.remove(i)
            if not active:
                break
        for i in active:
            out[idx[i]] = runs[i].finish(lives[i], "finished", None)
        return out


def _stack(batches: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    # one device-side copy of the K batches per step: vmap needs them in one tensor
    return torch.stack([b[0] for b in batches]), torch.stack([b[1] for b in batches])


def _step(bd: BatchedDarts, train, valid, space: str) -> dict[str, torch.Tensor]:
    try:
        return bd.step(train, valid)
    except RuntimeError as e:
        if "randomness" in str(e):
            raise ConfigError(f"space {space!r} draws random numbers in its forward pass (e.g. the noise op), "
                              "which batched seeds cannot reproduce; run these seeds without --batch-seeds") from None
        raise


def _commit(runs: list[SearchRun], lives: list[LiveRun], epoch: int) -> None:
    """Every run's checkpoint of ``epoch`` written, then all swapped in (see ``_recover_commit``)."""
    for r in runs:
        r.refresh_lock()  # a group whose lock was taken over stops before writing
    for r, lv in zip(runs, lives):
        save_checkpoint(r.dir / NEXT, r.checkpoint_state(lv, epoch))
    for r in runs:
        os.replace(r.dir / NEXT, r.dir / CKPT)


def _epoch_of(path) -> int:
    try:
        return int(load_checkpoint(path)["epoch"])
    except CheckpointError as e:
        raise UserError(f"{e}; delete {path} to restart that run") from None


def _recover_commit(runs: list[SearchRun]) -> None:
    """Finish or undo a group commit that a kill interrupted.

    If any run still has a ``checkpoint.next.pt``: when every run's next checkpoint had been
    written (it is there, or already swapped in: its ``checkpoint.pt`` is of the same epoch),
    the swap is completed; otherwise the commit never finished its first phase and the next
    checkpoints are dropped, leaving every run at its previous epoch.
    """
    pending = [r for r in runs if (r.dir / NEXT).exists()]
    if not pending:
        return
    target = max(_epoch_of(r.dir / NEXT) for r in pending)
    complete = all((r.dir / NEXT).exists() or ((r.dir / CKPT).exists() and _epoch_of(r.dir / CKPT) == target)
                   for r in runs)
    for r in pending:
        if complete:
            os.replace(r.dir / NEXT, r.dir / CKPT)
        else:
            (r.dir / NEXT).unlink()
