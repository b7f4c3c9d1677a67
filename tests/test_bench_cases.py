"""``harness bench --only``: case selection (the timings themselves are never tested)."""

from __future__ import annotations

import pytest
import torch

from harness.bench.suite import cases, run_bench, select_cases


def test_select_cases_keeps_order_and_rejects_unknown_names() -> None:
    assert select_cases(True) == cases(True)
    picked = select_cases(True, ("nb201/gdas", "nb201/darts"))
    assert [(c.space, c.optimizer) for c in picked] == [("nb201", "darts"), ("nb201", "gdas")]
    with pytest.raises(ValueError, match=r"unknown bench case\(s\) \['nb201/dart'\]; choose from"):
        select_cases(True, ("nb201/dart",))


def test_only_runs_the_named_case_and_the_rows_measured_on_it(tmp_path) -> None:
    rows = run_bench("cpu", quick=True, steps=1, warmup=0, out=tmp_path / "b.json", batched_k=0,
                     only=("nb201/gdas",))
    assert [(r["case"], r["optimizer"]) for r in rows] == [("default_vs_eager", "gdas")]
    assert rows[0]["speedup_vs_eager"] > 0
    assert (tmp_path / "b.json").exists()


def test_options_row_times_every_option_against_fp32() -> None:
    """Exercises the GPU row's code path on the CPU (compile through the cheap ``aot_eager`` backend)."""
    from harness.bench.suite import BenchCase, options_for, time_options

    assert options_for(torch.device("cpu")) == ("channels_last", "bf16")
    assert options_for(torch.device("cuda")) == ("channels_last", "bf16", "compile")
    tiny = BenchCase("nb201", "darts", 4, 1, 8)
    r = time_options(tiny, torch.device("cpu"), steps=1, warmup=0, options=("channels_last", "bf16", "compile"),
                     compile_backend="aot_eager")
    assert r["options"] == ["channels_last", "bf16", "compile"] and r["compile_mode"] == "default"
    for o in r["options"]:
        assert r[f"{o}_seconds_per_step"] > 0 and r[f"{o}_over_fp32"] > 0
    with pytest.raises(ValueError, match="unknown options"):
        time_options(tiny, torch.device("cpu"), 1, 0, ("fp8",))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_bench_reports_peak_memory_and_the_compile_option(tmp_path) -> None:
    """The GPU run docs/performance.md asks for, at the quick size: every row it needs is there."""
    rows = run_bench("cuda", quick=True, steps=2, warmup=1, out=tmp_path / "b.json", batched_k=2,
                     only=("nb201/darts",))
    by_case = {r["case"]: r for r in rows}
    assert by_case["default_vs_eager"]["default_peak_memory_mib"] > 0
    assert by_case["options"]["options"] == ["channels_last", "bf16", "compile"]
    assert by_case["options"]["compile_mode"] == "reduce-overhead"
    assert by_case["batched_seeds"]["batched_k"] == 2


def test_kernels_row_times_every_choice() -> None:
    from harness.bench.micro import time_kernels
    from harness.bench.suite import BenchCase

    r = time_kernels(BenchCase("nb201", "darts", 2, 1, 2), torch.device("cpu"), reps=1)
    assert set(r) == {"pool_native_ms", "pool_box_ms", "conv_padded_ms", "conv_split_ms", "conv1x1_native_ms",
                      "conv1x1_matmul_ms", "bn_native_ms", "bn_rows_ms"}
    assert all(v > 0 for v in r.values())
