"""One search run, end to end, in its own directory.

Files, in the order they appear:
- ``config.json``: the run config plus everything resolved from it (supernet
  size, the optimizer's full config, ground-truth columns, versions);
- ``trajectory.csv``: one row per finished epoch (rewritten atomically);
- ``arch_weights.json``: per epoch, the optimizer's normalised architecture
  weights ``{group: [rows][options]}`` (anytime weights, ``harness.reporting.plots.plot_arch_weights``);
- ``checkpoint.pt``: checksummed state after every epoch (resume point);
- ``final.json``: written last; its presence marks the run finished, and a
  finished run is never touched again.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import platform
import shutil
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.data import load_dataset, selection_stream, set_cutout
from harness.data.search_split import describe as describe_split
from harness.data.search_split import search_data, search_setup
from harness.optimizers import create_optimizer, get_optimizer_class, make_config
from harness.optimizers.base import check_step_output, undeclared_state
from harness.optimizers.parts.candidates import SelectionBatches
from harness.run.build import resolve_device, supernet_config  # noqa: F401 (public here too)
from harness.run.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from harness.run.config import RunConfig
from harness.run.epoch import LiveRun, compile_supernet, divergence, fixed_batches, progress_line, step_precision
from harness.run.ground_truth import GroundTruth
from harness.run.cpus import THREADS, ensure_threads
from harness.run.files import check_search_state, read_final
from harness.run.lock import RunLock, RunLockedError
from harness.run.orphans import ParentDied
from search_spaces import get_space
from search_spaces.errors import ConfigError, UserError
from search_spaces.io import atomic_write_json, atomic_write_text

BASE_COLUMNS = ["epoch", "wall_seconds", "arch", "train_loss", "train_acc", "valid_loss", "valid_acc",
                "gt_valid_acc", "gt_test_acc", "test_regret"]


class RunExistsError(UserError):
    """The run directory holds another config, or an unfinished run without ``--resume``."""


class SearchRun:
    """Prepares and executes one run (see module docstring for the files).

    Args:
        config: The run config.
        out_root: Folder that holds run directories; this run's is ``out_root / config.run_id()``.
        progress: Called with one line per epoch (None: silent).
        bar: A ``harness.run.progress.StepBar`` advanced once per search step (a terminal's bar; None: none).
    """

    def __init__(self, config: RunConfig, out_root: str | Path,
                 progress: Callable[[str], None] | None = None,
                 stop_check: Callable[[], bool] | None = None, bar: Any = None) -> None:
        self.config = config
        self.bar = bar
        #: Checked before every epoch (the last one is checkpointed); True stops the run with ``ParentDied``.
        self.stop_check = stop_check
        self.dir = Path(out_root) / config.run_id()
        self.progress = progress or (lambda _line: None)
        self.device = resolve_device(config.device)
        ensure_threads()  # the CPUs this process may use, or --threads (harness/run/cpus.py)
        self.space = get_space(config.space)
        if config.depth is not None:  # before any work: no folder, one line
            self.space.check_depth(config.depth)
        make_config(config.optimizer, config.optimizer_values())  # fail on bad values before any work
        self.gt = GroundTruth.create(config, self.space)
        #: Seeds this run is stepped with (``harness.run.batched_run``); None for a separate run.
        self.batched_with: list[int] | None = None
        self.lock: RunLock | None = None  #: held while the run runs (refreshed every epoch)

    # -- public ---------------------------------------------------------
    @property
    def finished(self) -> bool:
        return (self.dir / "final.json").is_file()

    def _final_json(self) -> dict[str, Any]:
        return read_final(self.dir)

    def run(self, resume: bool = False) -> dict[str, Any]:
        """Execute (or resume) the run; returns the contents of ``final.json``."""
        if self.finished:
            return self._final_json()
        c = self.config
        # load the data first: a bad data folder must leave nothing behind
        splits = search_data(load_dataset(c.dataset, c.data_dir, self.device, subset=c.subset), c.search_split)
        n = min(len(splits.search_train[1]), len(splits.search_valid[1]))
        if c.batch_size > n:
            raise ConfigError(f"batch size {c.batch_size} exceeds the search split ({n} images)")
        # folders this call creates; a run that fails before its config.json exists leaves none of them
        new_dirs = [d for d in (self.dir, *self.dir.parents) if not d.exists()]
        try:
            self._check_dir(resume)
            with RunLock(self.dir) as self.lock:
                if self.finished:  # another worker finished it while we waited
                    return self._final_json()
                return self._run_locked(splits)
        except RunLockedError:
            raise  # another process holds the folder (it may have just created it): never clean what it locked
        except BaseException:
            self._remove_unstarted(new_dirs)
            raise

    def _run_locked(self, splits) -> dict[str, Any]:
        c = self.config
        if c.batch_seeds:  # a batched config run alone: a batch of one seed, same arithmetic
            from harness.run.batched_run import BatchedSearch

            return BatchedSearch([self]).run_locked(splits)[0]
        live = self.prepare(splits)
        epoch = live.start
        if self.bar is not None:
            self.bar.start(f"{c.optimizer} seed {c.seed}", c.epochs, live.steps, live.start)
        try:
            return self._epochs(live, epoch)
        finally:
            if self.bar is not None:
                self.bar.close()

    def _epochs(self, live: LiveRun, epoch: int) -> dict[str, Any]:
        """Search epochs from ``epoch`` on, then ``finish``."""
        c = self.config
        opt, train_s, valid_s = live.opt, live.train_s, live.valid_s
        status, reason = "finished", None
        # an optimizer may lengthen the run (DARTS-ADA re-trains the epochs it rolled back)
        while epoch < c.epochs + opt.extra_epochs:
            if self.stop_check is not None and self.stop_check():
                raise ParentDied(f"{self.dir}: the sweep that started this worker died; stopped before epoch "
                                 f"{epoch + 1} (resume it with the sweep)")
            t0 = time.perf_counter()
            opt.on_epoch_start(epoch)
            set_cutout((train_s, valid_s), c.cutout_length, c.cutout_prob_at(opt.search_epoch))
            sums: dict[str, torch.Tensor] = {}
            for i in range(live.steps):
                with step_precision(self.device, c.precision):
                    # an optimizer whose steps see no validation batch (ENAS) gets none drawn for it
                    out = opt.step(train_s.next(), valid_s.next() if opt.uses_step_valid else None)
                if i == 0 and epoch == live.start:
                    check_step_output(opt, out)  # a plug-in's wrong keys: one line, not a "diverged" run
                for k, v in out.items():
                    sums[k] = sums[k] + v.detach() if k in sums else v.detach().clone()
                if self.bar is not None:
                    self.bar.step()
            row = self.end_epoch(live, epoch, sums, time.perf_counter() - t0)
            self.refresh_lock()  # a worker whose lock was taken over stops before writing
            save_checkpoint(self.dir / "checkpoint.pt", self.checkpoint_state(live, epoch))
            if self.bar is not None:
                self.bar.epoch(epoch + 1)
            self.progress(progress_line(c, epoch, row))
            reason = divergence(row, opt)
            if reason:
                status = "diverged"
                break
            epoch += 1
        return self.finish(live, status, reason)

    def refresh_lock(self) -> None:
        """Refresh this run's lock (raises ``RunLockedError`` if another worker took it over)."""
        if self.lock is not None:
            self.lock.refresh()

    def prepare(self, splits) -> LiveRun:
        """Build supernet, streams and optimizer; restore the checkpoint or write ``config.json``."""
        c = self.config
        net_cfg = supernet_config(c, self.space, splits)
        torch.manual_seed(c.seed)
        supernet = self.space.build_supernet(net_cfg).to(self.device)
        if c.channels_last:
            # only the weights: a convolution with channels-last weights returns channels-last
            # activations, so the batches need no per-step copy
            supernet = supernet.to(memory_format=torch.channels_last)
        compile_supernet(supernet, c.compile)
        train_s, valid_s, steps = search_setup(splits, c.search_split, c.batch_size, c.seed, self.device)
        if steps < 1:
            raise ConfigError(f"batch size {c.batch_size} exceeds the search split ({len(splits.search_train[1])} images)")
        values = c.optimizer_values()
        values.update(get_optimizer_class(c.optimizer).data_overrides(values, len(splits.search_valid[1])))
        opt = create_optimizer(c.optimizer, self.space, supernet, values,
                               epochs=c.epochs, steps_per_epoch=steps, seed=c.seed)
        opt.valid_stream = valid_s  # ENAS trains its controller on it after the epoch's steps
        fixed = fixed_batches(splits, c.batch_size, max(c.select_batches, c.eigen_batches))
        select_s = selection_stream(splits, c.select_batch_size, c.seed, c.select_augment, self.device)
        live = LiveRun(net_cfg, supernet, opt, train_s, valid_s, steps, fixed, select_s)
        ckpt = self.dir / "checkpoint.pt"
        if ckpt.exists():
            try:
                state = load_checkpoint(ckpt)
                opt.load_state_dict(state["optimizer"])
                train_s.load_state_dict(state["train_stream"])
                valid_s.load_state_dict(state["valid_stream"])
                if "select_stream" in state:
                    select_s.load_state_dict(state["select_stream"])
                torch.set_rng_state(state["torch_rng"])
                live.rows, last, live.elapsed, live.arch_rows = check_search_state(state, c.epochs + opt.extra_epochs)
                live.start = last + 1
            except CheckpointError as e:
                raise UserError(f"{e}; delete {ckpt} to restart the run from scratch") from None
            except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as e:
                # a valid checksum around a structure this version did not write
                raise UserError(f"checkpoint {ckpt} does not hold this run's state ({type(e).__name__}: "
                                f"{str(e)[:100]}); delete it to restart the run from scratch") from None
            self._write_trajectory(live.rows)
            if not (self.dir / "config.json").is_file():  # lost: it is derivable, and tables need it
                self._write_config(net_cfg, opt, steps, splits)
        else:
            self._write_config(net_cfg, opt, steps, splits)
        return live

    def end_epoch(self, live: LiveRun, epoch: int, sums: dict[str, torch.Tensor], seconds: float) -> dict[str, Any]:
        """Selection, optional curvature, the trajectory row (written); ``seconds``: the epoch's steps."""
        c, opt = self.config, live.opt
        t0 = time.perf_counter()
        extra = opt.on_epoch_end(epoch)
        arch = opt.select(SelectionBatches(live.fixed[: c.select_batches], live.select_s))
        live.elapsed += seconds + time.perf_counter() - t0
        # measurement, not search: kept out of wall_seconds; never overrides an optimizer's own value
        if c.eigen_every and "dominant_eigenvalue" not in extra:
            from harness.metrics.curvature import dominant_eigenvalue_column

            due = (epoch + 1) % c.eigen_every == 0
            extra["dominant_eigenvalue"] = (dominant_eigenvalue_column(opt, live.fixed[: c.eigen_batches])
                                            if due else math.nan)
        row = self._row(epoch, live.elapsed, arch, sums, live.steps, extra)
        live.rows.append(row)
        self._write_trajectory(live.rows)
        live.arch_rows.append({"epoch": epoch, "weights": {k: v.detach().double().cpu().tolist()
                                                           for k, v in opt.arch_weights().items()}})
        atomic_write_json(self.dir / "arch_weights.json", {"groups": self.space_groups(), "epochs": live.arch_rows})
        return row

    def space_groups(self) -> dict[str, list[list[str]]]:
        """Row option names of every weight group (what ``arch_weights.json``'s numbers are)."""
        return {g.name: [list(r) for r in g.row_options] for g in self.space.param_groups}

    def checkpoint_state(self, live: LiveRun, epoch: int) -> dict[str, Any]:
        """What ``checkpoint.pt`` holds after ``epoch``."""
        undeclared = undeclared_state(live.opt) if epoch == live.start else []
        if undeclared:
            warnings.warn(f"{type(live.opt).__name__} holds state in {', '.join(undeclared)} but does not define "
                          "extra_state/load_extra_state: a resumed run would restart it (not bit-identical)",
                          stacklevel=2)
        return {"optimizer": live.opt.state_dict(), "train_stream": live.train_s.state_dict(),
                "valid_stream": live.valid_s.state_dict(), "select_stream": live.select_s.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "rows": live.rows, "arch_weights": live.arch_rows, "epoch": epoch, "elapsed": live.elapsed}

    def finish(self, live: LiveRun, status: str, reason: str | None) -> dict[str, Any]:
        """Write the trained supernet and ``final.json``, drop the checkpoint; returns ``final.json``."""
        final = self._final(live.rows, status, reason, live.elapsed)
        from harness.run.trained import save_supernet

        # the trained supernet outlives the checkpoint, for `harness correlate`
        save_supernet(self.dir, live.supernet, live.opt)
        atomic_write_json(self.dir / "final.json", final)
        (self.dir / "checkpoint.pt").unlink(missing_ok=True)  # the trajectory and final.json hold the results
        return json.loads((self.dir / "final.json").read_text())

    # -- internals ------------------------------------------------------
    def _remove_unstarted(self, new_dirs: list[Path]) -> None:
        """Remove the folders this call created when the run never wrote its config (nothing to keep)."""
        if not new_dirs or (self.dir / "config.json").exists():
            return
        if self.dir in new_dirs and self.dir.is_dir():
            if all(p.name == "run.lock" for p in self.dir.iterdir()):
                shutil.rmtree(self.dir, ignore_errors=True)
        for d in new_dirs[1:]:
            with contextlib.suppress(OSError):
                d.rmdir()  # only when empty

    def _check_dir(self, resume: bool) -> None:
        cfg_p = self.dir / "config.json"
        if cfg_p.exists():
            try:
                written = json.loads(cfg_p.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError, IsADirectoryError) as e:
                raise RunExistsError(f"{cfg_p} is damaged ({type(e).__name__}); move the run folder away or "
                                     "delete config.json (--resume rewrites it from the checkpoint)") from None
            if not isinstance(written, dict):
                raise RunExistsError(f"{cfg_p} is not a run config; move the run folder away")
            saved = written.get("run", {})
            try:  # fields added to RunConfig since the run was written take their defaults
                saved = _jsonable(RunConfig.from_dict(saved).to_dict())
            except (UserError, TypeError):
                pass
            # the device is where a run executes, not what it is (the run id leaves it out too): a run
            # started with --device cpu may resume under --device auto
            if {k: v for k, v in saved.items() if k != "device"} != \
                    {k: v for k, v in _jsonable(self.config.to_dict()).items() if k != "device"}:
                raise RunExistsError(f"{self.dir} belongs to a different config; choose another --out")
            self._check_same_protocol(written.get("resolved", {}).get("optimizer"))
            if not resume:
                raise RunExistsError(f"{self.dir} holds an unfinished run; pass --resume to continue it")
        self.dir.mkdir(parents=True, exist_ok=True)

    def _check_same_protocol(self, written: dict[str, Any] | None) -> None:
        """Refuse to continue a run whose recorded optimizer values differ from today's resolution of its
        config (a run started before a preset changed): it would finish under another protocol."""
        if not isinstance(written, dict):
            return
        now = _jsonable(make_config(self.config.optimizer, self.config.optimizer_values()).to_dict())
        diff = sorted(k for k, v in now.items() if v is not None and k in written and written[k] != v)
        diff += sorted(k for k in now if k not in written)
        if diff:
            raise RunExistsError(f"{self.dir} was started with other optimizer values ({', '.join(diff)}); "
                                 "finish it with the version that started it, or start it anew in another --out")

    def _write_config(self, net_cfg, opt, steps: int, splits) -> None:
        from dataclasses import asdict

        atomic_write_json(self.dir / "config.json", {
            "run_id": self.config.run_id(),
            "run": _jsonable(self.config.to_dict()),
            "resolved": {
                "supernet": asdict(net_cfg),
                "optimizer": _jsonable(opt.config.to_dict()),
                "protocol": self.config.resolved_protocol().to_dict(),
                "steps_per_epoch": steps,
                "ground_truth": self.gt.describe(),
                "search_split_sizes": {"train": int(len(splits.search_train[1])),
                                       "valid": int(len(splits.search_valid[1]))},
                "search_split": {"protocol": self.config.search_split,
                                 "what": describe_split(self.config.search_split),
                                 "source": self.config.resolved_protocol().sources["search_split"]},
                "device": str(self.device),
                # how this process's CPU threads behave (harness/__init__.py: openmp_wait_policy)
                "cpu": {"threads": torch.get_num_threads(), **{k: v for k, v in THREADS.items() if k != "threads"},
                        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
                        "GOMP_SPINCOUNT": os.environ.get("GOMP_SPINCOUNT")},
                **({"batched_with_seeds": self.batched_with} if self.batched_with is not None else {}),
            },
            "versions": {"python": platform.python_version(), "torch": torch.__version__,
                         "numpy": np.__version__, "harness": _harness_version()},
        })

    def _row(self, epoch, elapsed, arch, sums, steps, extra) -> dict[str, Any]:
        host = {k: float(v) for k, v in sums.items()}  # the one host sync of the epoch

        def ratio(a: str, b: str) -> float:
            return host[a] / host[b] if host.get(b) else math.nan

        gt = self.gt.evaluate(arch)
        row = {"epoch": epoch, "wall_seconds": round(elapsed, 3), "arch": self.space.to_str(arch),
               "train_loss": ratio("train_loss", "train_count"), "train_acc": 100 * ratio("train_correct", "train_count"),
               "valid_loss": ratio("valid_loss", "valid_count"), "valid_acc": 100 * ratio("valid_correct", "valid_count"),
               **gt, "regret_convention": self.config.regret}
        skip = {"train_loss", "train_correct", "train_count", "valid_loss", "valid_correct", "valid_count"}
        for k, v in sorted(host.items()):
            if k not in skip:
                row[k] = v / steps
        row.update({k: float(v) for k, v in extra.items()})
        return row

    def _write_trajectory(self, rows: list[dict[str, Any]]) -> None:
        cols = list(BASE_COLUMNS) + sorted({k for r in rows for k in r} - set(BASE_COLUMNS))
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        atomic_write_text(self.dir / "trajectory.csv", buf.getvalue())

    def _final(self, rows, status, reason, elapsed) -> dict[str, Any]:
        last = rows[-1] if rows else {}
        return {"run_id": self.config.run_id(), "status": status, "reason": reason,
                "epochs_completed": len(rows), "search_seconds": round(elapsed, 3),
                "arch": last.get("arch"), "gt_valid_acc": last.get("gt_valid_acc"),
                "gt_test_acc": last.get("gt_test_acc"), "test_regret": last.get("test_regret"),
                "diverged_epoch": rows[-1]["epoch"] if status == "diverged" else None,
                "ground_truth": self.gt.describe()}


def _jsonable(d: Any) -> Any:
    return json.loads(json.dumps(d, default=str))


def _harness_version() -> str:
    try:
        from importlib.metadata import version

        return version("nas-harness")
    except Exception:
        return "unknown"
