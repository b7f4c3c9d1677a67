"""``harness evaluate``: train a found architecture from scratch under the DARTS evaluation protocol.

Protocol (``EvalProtocol``, DARTS / RobustDARTS ``train.py``): a network of
``layers`` cells with ``channels`` initial channels and an auxiliary head
(loss weight 0.4) trained on the ``train`` split with SGD (lr 0.025, cosine to
0 per epoch, momentum 0.9, weight decay 3e-4, gradient-norm clip 5, batch 96)
for 600 epochs; random crop + flip, then cutout 16 (a square of the
normalised image zeroed); drop-path probability raised linearly
``0.2 * e / epochs``. Test accuracy on the whole official test set (``full_test``) at the end.

Results: for a search-run directory, ``final.json`` gains
``retrained[seed<N>]`` and ``retrained_test_acc`` / ``retrained_test_error``
(means over the seeds evaluated so far). For an architecture string the same
is written to ``OUT/retrain-<space>-<hash>/final.json``. Work files live in
``<dir>/retrain-seed<N>/``: a checksummed checkpoint after every epoch (a
killed evaluation resumes from it) and ``result.json`` once done.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from harness.run.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from harness.run.files import check_eval_state, read_final, read_result
from harness.run.lock import RunLock
from harness.run.tabulate import evaluate_network
from search_spaces import get_space
from search_spaces.errors import ConfigError, UserError
from search_spaces.io import atomic_write_json, empty_dirs_removed_on_failure
from search_spaces.safe_read import field, read_json


@dataclass(frozen=True)
class EvalProtocol:
    """Stand-alone training of a discrete architecture (defaults: DARTS CIFAR-10 evaluation)."""

    dataset: str = "cifar10"
    data_dir: str | None = None
    layers: int = 20
    channels: int = 36
    auxiliary: bool = True
    auxiliary_weight: float = 0.4
    cutout: int = 16
    drop_path_prob: float = 0.2
    epochs: int = 600
    batch_size: int = 96
    lr: float = 0.025
    lr_min: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    augment: bool = True
    seed: int = 0
    subset: int | None = None
    eval_batch_size: int = 256
    device: str = "cpu"

    def __post_init__(self) -> None:
        for f in ("layers", "channels", "epochs", "batch_size", "eval_batch_size"):
            if not isinstance(getattr(self, f), int) or getattr(self, f) < 1:
                raise ConfigError(f"evaluate: {f} must be a positive integer, got {getattr(self, f)!r}")
        for f in ("auxiliary_weight", "cutout", "lr", "lr_min", "momentum", "weight_decay", "seed"):
            if getattr(self, f) < 0:
                raise ConfigError(f"evaluate: {f} must be >= 0, got {getattr(self, f)!r}")
        if not 0.0 <= self.drop_path_prob < 1.0:
            raise ConfigError(f"evaluate: drop_path_prob must lie in [0, 1), got {self.drop_path_prob}")
        if self.subset is not None and self.subset < 1:
            raise ConfigError("evaluate: subset must be >= 1")

    def training_key(self) -> dict[str, Any]:
        """Fields that change the trained network (a checkpoint is resumed only under the same key)."""
        return {k: v for k, v in asdict(self).items() if k not in ("device", "data_dir", "eval_batch_size")}

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def resolve_source(source: str, space: str | None, out: str | Path | None) -> tuple[str, str, Path]:
    """``(space, arch string, target directory)`` of a run directory or an architecture string."""
    p = Path(source)
    if not source.lstrip().startswith(("Genotype(", "|")) and p.is_dir():
        if not (p / "final.json").is_file():
            raise UserError(f"{p} is not a finished search run (no final.json)")
        final = read_final(p)
        # only the space is needed: a hand-made run folder ({"run": {"space": ...}}) is enough
        cfg = read_json(p / "config.json", "run config") if (p / "config.json").exists() else {"run": {}}
        run = field(cfg, "run", dict, f"run config {p / 'config.json'}")
        field(run, "space", str, f"run config {p / 'config.json'} run", default=None)
        sp = space or run.get("space")
        if not final.get("arch") or not sp:
            raise UserError(f"{p}: final.json has no architecture (or config.json no space) to evaluate")
        return sp, final["arch"], p
    if space is None:
        raise UserError("evaluating an architecture string needs --space")
    if out is None:
        raise UserError("evaluating an architecture string needs -o/--out")
    canon = get_space(space).to_str(get_space(space).from_str(source))  # ArchitectureError quotes bad input
    digest = hashlib.sha256(canon.encode()).hexdigest()[:8]
    return space, canon, Path(out) / f"retrain-{space}-{digest}"


def build_network(space: str, arch: str, protocol: EvalProtocol, num_classes: int, in_channels: int,
                  input_size: int) -> torch.nn.Module:
    """The evaluation network (auxiliary head and drop-path per ``protocol``)."""
    from search_spaces.darts import S5, EvalNetConfig

    sp = get_space(space)
    if space == "s5":
        sp = S5  # the DARTS-based S5 builds evaluation networks with auxiliary head and drop-path
    a = sp.from_str(arch)
    cfg = sp.default_config().with_overrides(channels=protocol.channels, depth=protocol.layers,
                                             num_classes=num_classes, in_channels=in_channels, input_size=input_size)
    ev = EvalNetConfig(auxiliary=protocol.auxiliary, drop_path_prob=protocol.drop_path_prob)
    try:
        return sp.build_network(a, cfg, ev)
    except TypeError:
        raise ConfigError(f"space {space!r} has no DARTS evaluation network (auxiliary head / drop-path)") from None


def cutout(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Zero one ``size`` x ``size`` square per image (centre uniform, clipped at the border): ``[B, C, H, W]``."""
    if size <= 0:
        return x
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b, 1, 1), generator=generator, device=generator.device).to(x.device)
    cx = torch.randint(0, w, (b, 1, 1), generator=generator, device=generator.device).to(x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    # the square spans [c - size // 2, c + size // 2) in each direction, as DARTS' Cutout
    inside = (ys >= cy - size // 2) & (ys < cy + size // 2) & (xs >= cx - size // 2) & (xs < cx + size // 2)
    return x * (~inside).unsqueeze(1).to(x.dtype)


def train_and_test(space: str, arch: str, protocol: EvalProtocol, work: Path,
                   progress=None, lock=None) -> dict[str, Any]:
    """Train (resuming from ``work/checkpoint.pt``) and test; returns the result dict (``lock``: refreshed
    every epoch)."""
    from harness.data import AUGMENT, augment, load_dataset, normalize
    from harness.run.build import resolve_device

    p = protocol
    dev = resolve_device(p.device)
    splits = load_dataset(p.dataset, p.data_dir, dev, subset=p.subset)
    torch.manual_seed(p.seed)
    net = build_network(space, arch, p, splits.num_classes, splits.in_channels, splits.input_size).to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay)
    gen = torch.Generator(device=dev).manual_seed(p.seed)
    key = {"space": space, "arch": arch, **p.training_key()}
    start, history, elapsed = 0, [], 0.0
    ckpt = work / "checkpoint.pt"
    if ckpt.exists():
        try:
            st = load_checkpoint(ckpt)
        except CheckpointError as e:
            raise UserError(f"{e}; delete {ckpt} to restart the evaluation") from None
        try:
            if st["key"] != key:
                raise UserError(f"{work} holds an evaluation with other settings; delete it or change --seed")
            last, history, elapsed = check_eval_state(st, p.epochs)
            net.load_state_dict(st["net"])
            opt.load_state_dict(st["opt"])
            gen.set_state(st["gen"])
            torch.set_rng_state(st["torch_rng"])
            if dev.type == "cuda" and st.get("cuda_rng") is not None:
                torch.cuda.set_rng_state(st["cuda_rng"], dev)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as e:
            if isinstance(e, UserError):
                raise
            raise UserError(f"checkpoint {ckpt} does not hold this evaluation's state ({type(e).__name__}: "
                            f"{str(e)[:100]}); delete it to restart the evaluation") from None
        start = last + 1
    x, y = splits.train
    spec = AUGMENT.get(p.dataset) if p.augment else None
    for epoch in range(start, p.epochs):
        t0 = time.perf_counter()
        lr = p.lr_min + (p.lr - p.lr_min) * (1 + math.cos(math.pi * epoch / p.epochs)) / 2
        for g in opt.param_groups:
            g["lr"] = lr
        net.drop_path_prob = p.drop_path_prob * epoch / p.epochs
        net.train()
        perm = torch.randperm(len(y), generator=gen, device=dev)
        loss_sum = torch.zeros((), device=dev)
        correct = torch.zeros((), device=dev)
        seen = 0
        for i in range(0, len(y), p.batch_size):
            idx = perm[i:i + p.batch_size]
            if len(idx) < 2:  # batch norm cannot train on a single image
                continue
            xb = x[idx]
            if spec is not None:
                xb = augment(xb, spec, gen)
            xb = cutout(normalize(xb, splits.mean, splits.std), p.cutout if p.augment else 0, gen)
            out = net(xb)
            logits, aux = out if isinstance(out, tuple) else (out, None)
            loss = F.cross_entropy(logits, y[idx])
            total = loss + p.auxiliary_weight * F.cross_entropy(aux, y[idx]) if aux is not None else loss
            opt.zero_grad(set_to_none=True)
            total.backward()
            if p.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(net.parameters(), p.grad_clip)
            opt.step()
            loss_sum += loss.detach() * len(idx)
            correct += (logits.argmax(-1) == y[idx]).sum()
            seen += len(idx)
        elapsed += time.perf_counter() - t0
        row = {"epoch": epoch, "lr": lr, "drop_path_prob": net.drop_path_prob,
               "train_loss": float(loss_sum) / max(seen, 1), "train_acc": 100.0 * float(correct) / max(seen, 1)}
        history.append(row)
        if lock is not None:
            lock.refresh()  # taken over by another host's worker: stop before writing
        save_checkpoint(ckpt, {"key": key, "net": net.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(),
                               "torch_rng": torch.get_rng_state(),
                               "cuda_rng": torch.cuda.get_rng_state(dev) if dev.type == "cuda" else None,
                               "epoch": epoch, "history": history, "elapsed": elapsed})
        if progress:
            progress(f"[evaluate seed {p.seed}] epoch {epoch + 1}/{p.epochs} train {row['train_acc']:5.1f}%")
    # the whole official test set (RobustDARTS src/evaluation/train.py, DARTS train.py), not NB-201's x-test half
    test_acc, test_loss = evaluate_network(net, *splits.full_test, splits.mean, splits.std, p.eval_batch_size)
    return {"space": space, "arch": arch, "seed": p.seed, "test_acc": test_acc, "test_error": 100.0 - test_acc,
            "test_loss": test_loss, "test_split": "full_test", "test_size": len(splits.full_test[1]), "epochs": p.epochs, "train_seconds": round(elapsed, 3),
            "params": sum(q.numel() for q in net.parameters()), "protocol": asdict(p), "history": history}


def evaluate(source: str, protocol: EvalProtocol = EvalProtocol(), space: str | None = None,
             out: str | Path | None = None, progress=None) -> dict[str, Any]:
    """Evaluate a run directory's architecture (or an architecture string); returns the updated ``final.json``."""
    sp, arch, target = resolve_source(source, space, out)
    work = target / f"retrain-seed{protocol.seed}"
    with empty_dirs_removed_on_failure(work):
        return _evaluate(sp, arch, target, work, protocol, progress)


def _evaluate(sp: str, arch: str, target: Path, work: Path, protocol: EvalProtocol, progress) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    with RunLock(work) as lock:
        res_p = work / "result.json"
        if res_p.exists():
            result = read_result(res_p)
            if result.get("protocol") != json.loads(json.dumps(asdict(protocol))):
                raise UserError(f"{work} was evaluated under another protocol; use another --seed or delete it")
        else:
            result = train_and_test(sp, arch, protocol, work, progress, lock=lock)
            atomic_write_json(res_p, result)
            (work / "checkpoint.pt").unlink(missing_ok=True)
    with RunLock(target):  # several seeds may finish at once; final.json is read-modified-written
        fp = target / "final.json"
        # an architecture string's folder holds evaluate's own record (no search status)
        final = read_final(target, require_status=False) if fp.exists() else {"arch": arch, "space": sp}
        runs = dict(final.get("retrained") or {})
        runs[f"seed{protocol.seed}"] = {k: result[k] for k in ("test_acc", "test_error", "test_loss", "epochs",
                                                                "train_seconds", "params", "protocol")}
        accs = [r["test_acc"] for r in runs.values()]
        final.update({"retrained": runs, "retrained_test_acc": sum(accs) / len(accs),
                      "retrained_test_error": 100.0 - sum(accs) / len(accs)})
        atomic_write_json(fp, final)
    return final
