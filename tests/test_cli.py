"""CLI: listing, JSON queries, one-line user errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.cli import _expand_variadic

ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"


def harness(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def test_list_names_everything():
    r = harness("list")
    assert r.returncode == 0, r.stderr
    for needle in ("nb201", "15,625 architectures", "s5", "81 architectures", "darts", "darts-2nd", "gdas",
                   "rsws", "digits", "cifar10", "ImageNet16-120", "s5-digits"):
        assert needle in r.stdout


def test_query_json(shared_data):
    r = harness("query", "--benchmark", "nb201", "--file", str(shared_data / "nb201"), "--arch", ALL_SKIP,
                "--dataset", "cifar10", "--split", "test", "--epochs", "200")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["value"] == pytest.approx(54.2967, abs=1e-3) and d["index"] == 1835
    assert d["optimum"] == pytest.approx(94.3733, abs=1e-3)
    # the old spellings still work for one release, each with a deprecation line
    assert "--file is deprecated" in r.stderr and "--epochs is deprecated" in r.stderr
    # the new vocabulary, an index for the architecture and NB-201's own names resolve to the same value
    r = harness("query", "--benchmark", "nb201", "--benchmark-file", str(shared_data / "nb201"), "--arch", "1835",
                "--dataset", "cifar10", "--split", "ori-test", "--benchmark-epochs", "200")
    assert r.returncode == 0 and json.loads(r.stdout)["value"] == pytest.approx(54.2967, abs=1e-3)
    assert "cifar10 / test here" in r.stderr


@pytest.mark.parametrize("args,needle", [
    (["run", "--optimizer", "dartz"], "unknown optimizer 'dartz'; did you mean 'darts'"),
    (["run", "--space", "nb2O1", "--benchmark", "none"], "unknown space"),
    (["run", "--dataset", "cifar10", "--space", "nb201", "--benchmark", "none", "--data-dir", "/nonexistent"],
     "does not exist"),
    (["run", "--epochs", "-1"], "epochs must be a positive integer"),
    (["run", "--set", "arch_lrr=1"], "unknown keys ['arch_lrr']"),
    (["query", "--benchmark", "s5-digits", "--arch", "|bad|", "--dataset", "digits", "--split", "test"],
     "malformed S5 architecture string"),
    (["query", "--benchmark", "nb201", "--benchmark-file", "/no/such.pth", "--arch", ALL_SKIP, "--dataset", "cifar10",
      "--split", "test"], "does not exist"),
    (["run", "--bogus-option"], "No such option"),
    (["bench", "--only", "nb201/dart"], "unknown bench case(s) ['nb201/dart']"),
])
def test_user_errors_are_one_line_exit_2(args, needle, tmp_path):
    r = harness(*args, "--out", str(tmp_path)) if args[0] == "run" else harness(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.strip().splitlines() if ln]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], r.stderr
    assert not any(tmp_path.iterdir())


def test_variadic_options():
    assert _expand_variadic(["run", "--seeds", "0", "1", "2", "--optimizer", "darts", "gdas", "--epochs", "3"]) == [
        "run", "--seeds", "0", "--seeds", "1", "--seeds", "2", "--optimizer", "darts", "--optimizer", "gdas",
        "--epochs", "3"]
    # one list syntax everywhere: commas or spaces, for repeated and for comma-list options alike
    assert _expand_variadic(["run", "--seeds", "0,1", "2"]) == ["run", "--seeds", "0", "--seeds", "1", "--seeds", "2"]
    assert _expand_variadic(["nsa", "--pool-sizes", "5", "20", "100", "--study"]) == \
        ["nsa", "--pool-sizes", "5,20,100", "--study"]
    assert _expand_variadic(["correlate", "--r-max", "0,0.1", "0.2"]) == ["correlate", "--r-max", "0,0.1,0.2"]
    assert _expand_variadic(["tabulate", "--eval-epochs", "", "-o", "t"]) == ["tabulate", "--eval-epochs", "", "-o", "t"]


def test_baseline_proxy_reports_ground_truth_with_its_budget():
    r = harness("baseline", "proxy", "--space", "s5", "--n", "4", "--dataset", "digits", "--seeds", "0",
                "--benchmark", "s5-digits", "--channels", "4", "--depth", "1")
    assert r.returncode == 0, r.stderr
    assert "digits test accuracy @10 epochs, seed mean" in r.stdout
    pick = r.stdout.strip().splitlines()[-1]
    assert pick.startswith("seed 0: |") and "test acc" in pick
    r = harness("baseline", "proxy", "--space", "s5", "--proxy", "snip", "--dataset", "cifar10")
    assert r.returncode == 2 and "needs --data-dir" in r.stderr


def test_openmp_threads_do_not_burn_a_busy_cpu_unless_the_user_says_otherwise():
    """A busy CPU gets OMP_WAIT_POLICY=PASSIVE, a quiet one a short spin, set before torch loads libgomp; a value
    the user set wins."""
    import os
    import subprocess
    import sys

    from harness import openmp_wait_policy

    assert openmp_wait_policy(2, 1.6) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert openmp_wait_policy(2, 0.4) == {"GOMP_SPINCOUNT": "10000"}
    assert openmp_wait_policy(16, 8.0) == {"GOMP_SPINCOUNT": "10000"}
    code = "import os, harness, torch; print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('GOMP_SPINCOUNT'))"
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() in (["PASSIVE", "None"], ["None", "10000"]), out.stderr
    out = subprocess.run([sys.executable, "-c", code], env={**env, "OMP_WAIT_POLICY": "ACTIVE"},
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["ACTIVE", "None"]


def test_list_copy_of_the_builtins_is_current_and_needs_no_torch():
    """Issue 36: `harness list` took 40 s under load importing torch for names. It prints a committed copy of the
    built-ins' listing (regenerate: python -m harness.commands.listing --write) unless plug-ins are configured."""
    import json as _json
    import subprocess
    import sys

    from harness.commands.listing import BUILTIN, listing

    assert _json.loads(BUILTIN.read_text()) == _json.loads(_json.dumps(listing())), \
        "stale: python -m harness.commands.listing --write"
    code = ("import sys; from harness.cli import main\ntry:\n    main(['list'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch imported'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={**__import__("os").environ, "HARNESS_ENTRY_POINTS": "0"})
    assert r.returncode == 0 and "spaces:" in r.stdout and "darts" in r.stdout, r.stderr[-1500:]
