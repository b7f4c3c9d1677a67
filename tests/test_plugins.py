"""Plug-ins from outside the package (``--plugin``, ``HARNESS_PLUGINS``, entry points) in the CLI, in sweep
workers and on Ray; name clashes; the optimizer contract that protects a plug-in's author."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--epochs", "1", "--seeds", "0", "--subset", "64", "--batch-size", "16", "--no-summary"]

PLUGIN = '''"""An optimizer from outside the harness: DARTS with a softmax temperature."""
from dataclasses import dataclass

import torch

from harness.optimizers import register_optimizer
from harness.optimizers.darts import Darts, DartsConfig


@dataclass(frozen=True)
class TempDartsConfig(DartsConfig):
    temperature: float = 0.5


@register_optimizer("temp-darts")
class TempDarts(Darts):
    config_cls = TempDartsConfig

    def mix(self, alpha):
        return {k: torch.softmax(v / self.config.temperature, dim=-1) for k, v in alpha.items()}
'''


def harness(args: list[str], cwd: Path, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


@pytest.fixture
def plugin(tmp_path) -> Path:
    f = tmp_path / "my_nas_plugin.py"
    f.write_text(PLUGIN)
    return f


def test_plugin_file_through_harness_run(plugin, tmp_path):
    for args in (["--plugin", str(plugin), "run"], ["run", "--plugin", str(plugin)]):  # anywhere on the line
        r = harness([*args, "--optimizer", "temp-darts", *TINY, "--out", "o"], tmp_path)
        assert r.returncode == 0, r.stderr[-2000:]
        assert "finished" in r.stdout
    r = harness(["protocol", "s5", "temp-darts", "--plugin", str(plugin)], tmp_path)
    assert json.loads(r.stdout)["values"]["temperature"] == 0.5


def test_plugin_in_sweep_workers(plugin, tmp_path):
    import yaml

    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"optimizers": ["darts", "temp-darts"], "seeds": [0], "epochs": 1,
                                    "subset": 64, "batch_size": 16}))
    r = harness(["sweep", str(plan), "--jobs", "2", "--out", "o"], tmp_path, env={"HARNESS_PLUGINS": str(plugin)})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "2 finished" in r.stdout


def test_plugin_from_an_entry_point(tmp_path):
    site = tmp_path / "site"
    pkg = site / "temp_plugin_pkg"
    pkg.mkdir(parents=True)
    # registers nothing itself: the entry point's name registers it
    (pkg / "__init__.py").write_text(PLUGIN.replace('@register_optimizer("temp-darts")\n', ""))
    dist = site / "temp_plugin_pkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: temp-plugin-pkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[nas_harness.optimizers]\ntemp-darts-ep = temp_plugin_pkg:TempDarts\n")
    env = {"PYTHONPATH": f"{ROOT}{os.pathsep}{site}", "HARNESS_ENTRY_POINTS": "1"}  # conftest turns them off
    r = harness(["list"], tmp_path, env=env)
    assert "temp-darts-ep" not in harness(["list"], tmp_path, env={**env, "HARNESS_ENTRY_POINTS": "0"}).stdout
    r = harness(["list"], tmp_path, env=env)
    assert r.returncode == 0 and "temp-darts-ep" in r.stdout, r.stderr[-2000:]
    r = harness(["run", "--optimizer", "temp-darts-ep", *TINY, "--out", "o"], tmp_path, env=env)
    assert r.returncode == 0 and "finished" in r.stdout, r.stderr[-2000:]


def test_name_clash_is_one_line_naming_both(tmp_path):
    f = tmp_path / "clash.py"
    f.write_text("from harness.optimizers import register_optimizer\nfrom harness.optimizers.darts import Darts\n\n"
                 "@register_optimizer('darts')\nclass Mine(Darts):\n    pass\n")
    r = harness(["--plugin", str(f), "list"], tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    (line,) = r.stderr.strip().splitlines()
    assert "'darts'" in line and "clash" in line and "harness.optimizers.darts" in line
    r = harness(["list"], tmp_path, env={"HARNESS_PLUGINS": "no_such_module_here"})
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "no_such_module_here" in r.stderr


_RAY_SCRIPT = """
import json, sys
import ray
from harness.run.sweep import Plan, SweepConfig, run_sweep
ray.init(_node_ip_address="127.0.0.1", include_dashboard=False, num_cpus=2, num_gpus=0, log_to_driver=False)
res = run_sweep(Plan.from_dict(json.loads(sys.argv[1])).expand(), SweepConfig(out=sys.argv[2], backend="ray"))
ray.shutdown()
print("RESULT" + json.dumps(res))
"""


def test_plugin_on_ray_workers(plugin, tmp_path):
    pytest.importorskip("ray", reason="ray not installed (optional extra: pip install 'nas-harness[ray]')")
    if not (shutil.which("unshare") and shutil.which("ip")):
        pytest.skip("needs unshare and ip (util-linux, iproute2) to keep Ray on loopback")
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -n not permitted here (needs root or CAP_SYS_ADMIN); Ray would listen on all interfaces")
    plan = {"optimizers": ["temp-darts"], "seeds": [0], "epochs": 1, "subset": 64, "batch_size": 16}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HARNESS_PLUGINS": str(plugin), "RAY_USAGE_STATS_ENABLED": "0"}
    cmd = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" -c "$1" "$2" "$3"',
           sys.executable, _RAY_SCRIPT, json.dumps(plan), str(tmp_path / "o")]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    assert [r["status"] for r in json.loads(p.stdout.split("RESULT", 1)[1])] == ["finished"]


# -- the contract --------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _forget_test_optimizers():
    yield  # optimizers these tests register must not reach tests that iterate over the registry
    from harness.optimizers import OPTIMIZERS

    for name in ("contract-lr", "contract-keys", "contract-state"):
        OPTIMIZERS.unregister(name)


def _tiny_opt(cls_body: str, name: str):
    """An optimizer class defined here (registered under a unique name) and an instance on S5."""
    from harness.optimizers import OPTIMIZERS, create_optimizer
    from harness.optimizers.base import OptimizerConfig, SearchOptimizer
    from search_spaces import SupernetConfig, get_space

    ns: dict = {"SearchOptimizer": SearchOptimizer, "OptimizerConfig": OptimizerConfig, "torch": torch}
    exec(cls_body, ns)
    cls = ns["Opt"]
    OPTIMIZERS.register(name, cls)
    space = get_space("s5")
    net = space.build_supernet(SupernetConfig(channels=4, depth=3, num_classes=3, in_channels=1, input_size=8))
    return create_optimizer(name, space, net, {}, epochs=10, steps_per_epoch=1, seed=0)


_MINIMAL = """
import torch.nn.functional as F
class Opt(SearchOptimizer):
    name = "{name}"
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.arch = self.space.sample(self.rng)
        self.alpha = torch.zeros(3)
    def step(self, train, valid):
        w = {{k: v.to(self.device) for k, v in self.space.one_hot(self.arch).items()}}
        logits = self.supernet(train[0], w)
        loss = F.cross_entropy(logits, train[1])
        self.weights.step(loss)
        return {result}
    def current_architecture(self):
        return self.arch
    def sample(self, n, rng):
        return [self.arch] * n
"""


def test_base_class_advances_the_learning_rate_schedule():
    opt = _tiny_opt(_MINIMAL.format(name="contract-lr", result="self.metrics('train', logits, train[1], loss)"),
                    "contract-lr")
    opt.on_epoch_start(9)  # the subclass defines no on_epoch_start: the cosine still advances
    assert opt.weights.lr == pytest.approx(0.001 + (0.025 - 0.001) * (1 + torch.cos(torch.tensor(0.9 * 3.14159265)))
                                           .item() / 2, rel=1e-4)


def test_wrong_step_keys_are_one_line(tmp_path, capsys):
    from harness.cli import main
    from harness.optimizers.base import check_step_output

    opt = _tiny_opt(_MINIMAL.format(name="contract-keys", result="{'loss': loss}"), "contract-keys")
    with pytest.raises(Exception, match="train_loss, train_correct, train_count"):
        check_step_output(opt, {"loss": torch.tensor(1.0)})
    with pytest.raises(SystemExit) as e:
        main(["run", "--optimizer", "contract-keys", *TINY, "--out", str(tmp_path / "o")])
    assert e.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "step() must return" in line and "['loss']" in line


def test_state_without_extra_state_warns(tmp_path):
    from harness.run.config import RunConfig
    from harness.run.runner import SearchRun

    _tiny_opt(_MINIMAL.format(name="contract-state", result="self.metrics('train', logits, train[1], loss)"),
              "contract-state")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        SearchRun(RunConfig(optimizer="contract-state", epochs=1, subset=64, batch_size=16), tmp_path).run()
    assert any("alpha" in str(x.message) and "extra_state" in str(x.message) for x in w)


_SUBCLASS_AT_IMPORT = '''
from harness.optimizers import get_optimizer_class, register_optimizer

Base = get_optimizer_class("darts")  # looked up at import: fills the registry, which imports plug-ins again


@register_optimizer("looked-up-darts")
class LookedUp(Base):
    pass
'''


def test_plugin_that_looks_up_a_builtin_at_import(tmp_path):
    """Issue 34 item 7: the natural way to subclass a built-in must not recurse until RecursionError."""
    (tmp_path / "sub_plugin.py").write_text(_SUBCLASS_AT_IMPORT)
    r = harness(["--plugin", str(tmp_path / "sub_plugin.py"), "protocol", "s5", "looked-up-darts"], tmp_path)
    assert r.returncode == 0 and "RecursionError" not in r.stderr, r.stderr[-1500:]


def test_plugin_file_named_like_a_stdlib_module_replaces_nothing(tmp_path):
    (tmp_path / "json.py").write_text(PLUGIN)
    code = ("import sys, json; from search_spaces.registry import add_plugins; add_plugins([sys.argv[1]]); "
            "import json as j2; from harness.optimizers import get_optimizer_class; "
            "get_optimizer_class('temp-darts'); print(j2.dumps({'ok': 1}), sys.modules['json'] is json)")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "json.py")], capture_output=True, text=True,
                       cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr[-1500:]
    assert r.stdout.split() == ['{"ok":', "1}", "True"]


@pytest.mark.parametrize("body,needle", [("import sys\nsys.exit(0)\n", "sys.exit(0)"),
                                         ("from harness.optimizers import register_optimizer\n"
                                          "from harness.optimizers.darts import Darts\n"
                                          "register_optimizer('../escape')(type('E', (Darts,), {}))\n", "not allowed")])
def test_plugin_exit_and_path_names_are_one_line(tmp_path, body, needle):
    (tmp_path / "bad_plugin.py").write_text(body)
    r = harness(["--plugin", str(tmp_path / "bad_plugin.py"), "run", "--optimizer", "darts", *TINY, "--out", "o"],
                tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr[-800:])
    assert len(r.stderr.strip().splitlines()) == 1 and needle in r.stderr, r.stderr
    assert not (tmp_path / "o").exists() and not (tmp_path / "escape").exists()


def test_the_projects_tests_see_the_builtins_only():
    """Issue 36: a user's installed plug-in (an entry point) showed up in a colour and a generated-doc test."""
    assert os.environ.get("HARNESS_ENTRY_POINTS") == "0" and not os.environ.get("HARNESS_PLUGINS")
    from harness.optimizers import OPTIMIZERS

    # built-ins, or what a test registered itself in this process; never an installed package's
    assert all(OPTIMIZERS._sources[n].startswith(("harness.", "test", "harness_plugin_", "__main__", "<"))
               for n in OPTIMIZERS.names()), {n: OPTIMIZERS._sources[n] for n in OPTIMIZERS.names()}
