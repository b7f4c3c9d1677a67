"""The command group's options and output: --version, --help without torch, progress lines off a terminal and a
bar on one, -q, --log-file, files written with the process umask."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _harness(args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def test_version_and_help_without_torch(tmp_path):
    r = _harness(["--version"], tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("harness, version ")
    probe = ("import sys, runpy; sys.argv = ['harness', '--help']\n"
             "try:\n    runpy.run_module('harness', run_name='__main__')\nexcept SystemExit:\n    pass\n"
             "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')")
    r = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.stdout.strip().endswith("NO-TORCH"), r.stdout[-500:]


RUN = ["run", "--optimizer", "darts", "--epochs", "2", "--seeds", "0", "--subset", "64", "--batch-size", "16", "--no-summary"]


def test_progress_lines_off_a_terminal_quiet_and_log_file(tmp_path):
    r = _harness([*RUN, "--out", "a"], tmp_path)  # stderr is a pipe here, as under nohup or SLURM
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("[darts seed 0] epoch")]
    assert r.returncode == 0 and len(lines) == 2 and all("elapsed" in ln and "ETA" in ln for ln in lines)
    r = _harness(["-q", "--log-file", "log.txt", *RUN, "--out", "b"], tmp_path)
    assert r.returncode == 0 and "epoch" not in r.stderr
    assert len((tmp_path / "log.txt").read_text().splitlines()) == 2
    r = _harness([*RUN, "--out", "c", "-q", "--log-file", "log2.txt"], tmp_path)  # after the command, too
    assert r.returncode == 0 and "epoch" not in r.stderr and len((tmp_path / "log2.txt").read_text().splitlines()) == 2


def test_a_progress_bar_per_run_on_a_terminal(tmp_path):
    """On a terminal (a pseudo-terminal here): a tqdm bar per run over epochs x steps, with the epoch lines above it."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    p = subprocess.Popen([sys.executable, "-m", "harness", *RUN, "--out", "t"], cwd=tmp_path, stdin=slave,
                         stdout=slave, stderr=slave, env={**os.environ, "PYTHONPATH": str(ROOT)}, close_fds=True)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    assert p.wait(timeout=600) == 0
    text = out.decode(errors="replace")
    assert "darts seed 0 100%|" in text and "steps, epoch 2/2" in text  # the bar, finished
    assert text.count("[darts seed 0] epoch") == 2  # the epoch lines, written above the bar


def test_results_take_the_process_umask(tmp_path):
    from search_spaces.io import atomic_write_text

    old = os.umask(0o002)
    try:
        atomic_write_text(tmp_path / "r.json", "{}")
    finally:
        os.umask(old)
    assert oct((tmp_path / "r.json").stat().st_mode & 0o777) == oct(0o664)  # group-readable, as any new file


def test_one_option_vocabulary(tmp_path):
    r = _harness([*RUN, "-o", "runs", "--benchmark-seed", "1", "--epochs", "1"], tmp_path)
    assert r.returncode == 0, r.stderr[-1500:]
    (cfg,) = (tmp_path / "runs").glob("*/config.json")
    assert '"benchmark_seed": "1"' in cfg.read_text()
    r = _harness(["table", "runs", "-o", "t.md"], tmp_path)
    assert r.returncode == 0 and (tmp_path / "t.md").is_file()
    r = _harness(["table", "runs", "--output", "old.md"], tmp_path)  # the old spelling: one more release
    assert r.returncode == 0 and (tmp_path / "old.md").is_file() and "--output is deprecated" in r.stderr
