"""``harness gpu-check``: the prepared GPU check runs end to end on a CPU in its tiny mode."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.bench.gpu_check import NAMES, STAGES, run_check


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-check")
    r = subprocess.run([sys.executable, "-m", "harness", "gpu-check", "--device", "cpu", "--tiny", "--out", str(out),
                        "--limit-scale", "3"], capture_output=True, text=True)
    return out, r


def test_every_stage_runs_and_writes_its_json(tiny_run):
    out, r = tiny_run
    assert r.returncode == 0, r.stdout + r.stderr
    files = sorted(p.name for p in out.iterdir())
    assert files == [f"{i + 1}-{n}.json" for i, n in enumerate(NAMES)] + ["summary.json"]
    assert len(files) <= 8  # what comes back from the device machine
    summary = json.loads((out / "summary.json").read_text())
    assert {k: v["status"] for k, v in summary["stages"].items()} == {n: "ok" for n in NAMES}
    for i, n in enumerate(NAMES):
        d = json.loads((out / f"{i + 1}-{n}.json").read_text())
        assert d["status"] == "ok" and d["stage"] == n and d["tiny"] is True


def test_stage_contents(tiny_run):
    out, _ = tiny_run
    tests = json.loads((out / "2-tests.json").read_text())["result"]
    assert tests["pytest_gpu"]["returncode"] == 0 and tests["smoke"]["failed"] == 0 and tests["smoke"]["ran"] > 20
    bench = json.loads((out / "3-bench.json").read_text())["result"]
    assert set(bench["rows"]) == {"nb201/darts", "nb201/darts-2nd", "nb201/gdas", "nb201/darts batched seeds",
                                  "s1/darts eigenvalue"}
    assert {"default", "loop", "eager"} <= set(bench["rows"]["nb201/darts"])
    # a ratio of timings, not checked for size here (this CPU is shared; docs/performance.md has the figures)
    assert bench["second_over_first_order"] > 0 and bench["eigen_in_steps"] > 0
    options = json.loads((out / "4-options.json").read_text())["result"]["nb201/darts"]
    assert options["options"] == ["channels_last", "bf16"]  # compile only on a GPU
    epoch = json.loads((out / "5-epoch.json").read_text())["result"]
    assert epoch["preset"] == "nb201/darts" and epoch["steps"] == 4 and epoch["epoch_seconds"] > 0


def test_a_stage_over_its_limit_costs_only_itself(tmp_path):
    summary = run_check("cpu", tmp_path, tiny=True, stages=("env", "epoch"), limit_scale=1e-4, echo=lambda s: None)
    assert {v["status"] for v in summary["stages"].values()} == {"timeout"}
    assert json.loads((tmp_path / "1-env.json").read_text())["status"] == "timeout"
    assert sum(est for _, _, est in STAGES) <= 8 * 60  # the whole check fits about 8 GPU minutes


@pytest.mark.parametrize("args", [["--device", "cpu", "--tiny", "--stages", "bench,nope"], ["--device", "cpu"]])
def test_bad_input_is_one_line_exit_2(args, tmp_path):
    r = subprocess.run([sys.executable, "-m", "harness", "gpu-check", "--out", str(tmp_path / "o"), *args],
                       capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("error:")
    assert not (tmp_path / "o").exists()


def test_step_costs_count_flops_of_every_bench_case():
    from harness.bench.gpu_check import TINY, step_costs

    costs = step_costs(TINY)
    assert set(costs) == {"nb201/darts", "nb201/darts-2nd", "nb201/gdas", "s1/darts"}
    assert all(c["gflop_per_step"] > 0 for c in costs.values())
    assert costs["nb201/darts-2nd"]["gflop_per_step"] > costs["nb201/darts"]["gflop_per_step"]
