"""Protocol presets: the NB-201 values equal the official configs, every value has a source, the CLI prints them."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest
from click.testing import CliRunner

from harness.cli import cli
from harness.optimizers import get_optimizer_class, list_optimizers
from harness.protocols import RUN_KEYS, families, resolve_protocol
from harness.run.config import RunConfig
from search_spaces.errors import ConfigError

# The official NB-201 search values (AutoDL configs/nas-benchmark/algos/*.config and scripts-search/
# NAS-Bench-201-algos/*.sh; DrNAS 201-space/train_search.py; SmoothDARTS nasbench201/train_search.py),
# written out here by hand: the table the presets must reproduce.
_AUTODL = dict(w_lr=0.025, w_lr_min=0.001, w_momentum=0.9, w_weight_decay=5e-4, w_nesterov=True, batch_size=64,
               grad_clip=5.0, w_lr_period=0)
_ARCH = dict(arch_lr=3e-4, arch_weight_decay=1e-3, arch_betas=(0.5, 0.999))
_DARTS_SCRIPT = dict(w_lr=0.025, w_lr_min=0.001, w_momentum=0.9, w_weight_decay=3e-4, w_nesterov=False,
                     batch_size=64, grad_clip=5.0, epochs=100)
OFFICIAL_NB201 = {
    "darts": {**_AUTODL, **_ARCH, "epochs": 50, "order": 1, "step_order": "weights-first"},
    "darts-2nd": {**_AUTODL, **_ARCH, "epochs": 50, "order": 2, "step_order": "arch-first"},
    "gdas": {**_AUTODL, **_ARCH, "epochs": 250, "tau_max": 10.0, "tau_min": 0.1, "unselected_terms": True,
             "tau_schedule": "to-last-epoch"},
    "setn": {**_AUTODL, **_ARCH, "epochs": 250, "grad_clip": 0.0, "n_candidates": 100, "select_batch_size": 512,
             "select_augment": False},
    "rsws": {**_AUTODL, "epochs": 250, "n_candidates": 100, "select_batch_size": 512, "select_augment": False},
    "enas": {**_AUTODL, "epochs": 250, "batch_size": 128, "w_lr": 0.05, "w_lr_min": 5e-4, "w_weight_decay": 2.5e-4,
             "w_lr_period": 10, "controller_lr": 1e-3, "controller_betas": (0.0, 0.999), "controller_eps": 1e-3,
             "entropy_weight": 1e-4, "baseline_decay": 0.99, "controller_train_steps": 50,
             "controller_num_aggregate": 20, "controller_grad_clip": 5.0, "n_candidates": 100,
             "select_batch_size": 128, "select_augment": True},
    "drnas": {**_DARTS_SCRIPT, "arch_lr": 3e-4, "arch_betas": (0.5, 0.999), "reg_type": "l2", "reg_scale": 1e-3,
              "arch_weight_decay": 0.0, "partial_channels": 1},
    "snas-bilevel": {**_DARTS_SCRIPT, **_ARCH, "tau_max": 10.0, "tau_min": 1.0, "tau_schedule": "per-epoch-step"},
    "sdarts-rs": {**_DARTS_SCRIPT, **_ARCH, "eps_start": 0.03, "eps_end": 0.3},
    "sdarts-adv": {**_DARTS_SCRIPT, **_ARCH, "eps_start": 0.03, "eps_end": 0.3, "pgd_steps": 7},
}


def _norm(v):
    return list(v) if isinstance(v, tuple) else v


@pytest.mark.parametrize("optimizer", sorted(OFFICIAL_NB201))
def test_nb201_presets_equal_the_official_values(optimizer):
    r = CliRunner().invoke(cli, ["protocol", "nb201", optimizer])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["preset"] == f"nb201/{optimizer}"
    for k, v in OFFICIAL_NB201[optimizer].items():
        assert out["values"][k] == pytest.approx(_norm(v)) if isinstance(v, float) else out["values"][k] == _norm(v), k


@pytest.mark.parametrize("family", sorted(families()))
@pytest.mark.parametrize("optimizer", list_optimizers())
def test_every_value_of_every_preset_has_a_source(family, optimizer):
    p = resolve_protocol(families()[family].spaces[0], optimizer)
    names = set(RUN_KEYS) | {f.name for f in fields(get_optimizer_class(optimizer).config_cls)}
    assert set(p.values) == names == set(p.sources)
    missing = [k for k, s in p.sources.items() if "no source recorded" in s or not s.strip()]
    assert not missing, f"{p.preset}: no source for {missing}"
    get_optimizer_class(optimizer).config_cls.from_dict(p.optimizer_values())  # a valid config


def test_other_families_use_their_official_scripts():
    assert resolve_protocol("s1", "pc-darts").run_values()["batch_size"] == 256
    pc = resolve_protocol("s2", "pc-darts").values
    assert (pc["w_lr"], pc["w_lr_min"], pc["arch_lr"]) == (0.1, 0.0, 6e-4)
    nb1 = resolve_protocol("nb1shot1-s1", "darts").values
    assert (nb1["batch_size"], nb1["epochs"], nb1["w_weight_decay"]) == (96, 50, 3e-4)
    g = resolve_protocol("nb1shot1-s2", "gdas").values
    assert (g["epochs"], g["tau_min"], g["tau_schedule"], g["unselected_terms"]) == (100, 1.0, "per-epoch-step", False)
    assert resolve_protocol("s3", "darts").values["w_nesterov"] is False
    emb = resolve_protocol("s5", "darts").values
    assert (emb["epochs"], emb["batch_size"]) == (20, 64)


def test_overrides_are_shown_as_such():
    r = CliRunner().invoke(cli, ["protocol", "nb201", "gdas", "--set", "tau_min=0.5", "--set", "epochs=3"])
    out = json.loads(r.output)
    assert out["values"]["tau_min"] == 0.5 and out["values"]["epochs"] == 3
    assert out["overrides"] == {"tau_min": 0.5, "epochs": 3}
    assert out["sources"]["tau_min"].startswith("override of tau_min by the run") and "0.1" in out["sources"]["tau_min"]


@pytest.mark.parametrize("args, needle", [
    (["protocol", "nb999", "darts"], "nb999"),
    (["protocol", "nb201", "nosuch"], "nosuch"),
    (["protocol", "nb201", "darts", "--set", "arch_lrr=1"], "arch_lrr"),
    (["protocol", "nb201", "darts", "--set", "arch_lr=NaN"], "finite"),
    (["protocol", "nb201", "darts", "--set", "epochs=0"], "epochs"),
    (["protocol", "nb201", "darts", "--preset", "nope/darts"], "nope"),
    (["protocol", "nb201", "darts", "--preset", "nb201/gdas"], "gdas"),
    (["protocol", "nb201"], "usage"),
])
def test_bad_protocol_input_is_one_line_exit_2(args, needle):
    from harness.cli import main

    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2


@pytest.mark.parametrize("args, needle", [
    (["protocol", "nb999", "darts"], "nb999"),
    (["protocol", "nb201", "darts", "--set", "arch_lrr=1"], "arch_lrr"),
])
def test_bad_protocol_input_message(args, needle, capsys):
    from harness.cli import main

    with pytest.raises(SystemExit):
        main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and "Traceback" not in err[0]


def test_list_names_every_family():
    r = CliRunner().invoke(cli, ["protocol", "--list"])
    assert r.exit_code == 0
    for name in families():
        assert name in r.output


def test_run_config_resolves_and_records_the_preset():
    c = RunConfig(space="nb201", dataset="cifar10", optimizer="gdas", benchmark="none")
    assert (c.protocol, c.epochs, c.batch_size) == ("nb201/gdas", 250, 64)
    assert c.optimizer_values()["w_weight_decay"] == 5e-4 and c.optimizer_values()["w_nesterov"] is True
    # explicit values win and are recorded as overrides; the saved form round-trips
    c2 = RunConfig(space="nb201", dataset="cifar10", optimizer="gdas", benchmark="none", epochs=3,
                   optimizer_config={"tau_min": 0.5})
    assert c2.resolved_protocol().overrides == {"tau_min": 0.5, "epochs": 3}
    assert RunConfig.from_dict(c2.to_dict()) == c2
    with pytest.raises(ConfigError, match="run settings"):
        RunConfig(optimizer_config={"epochs": 3})
    # the embedded default keeps its own preset
    assert (RunConfig().protocol, RunConfig().epochs) == ("embedded/darts", 20)


def test_config_json_records_the_protocol(tmp_path):
    from harness.run.runner import SearchRun

    cfg = RunConfig(space="s5", dataset="digits", optimizer="rsws", benchmark="none", epochs=1, subset=64,
                    batch_size=16, optimizer_config={"n_candidates": 2})
    SearchRun(cfg, tmp_path).run()
    saved = json.loads((tmp_path / cfg.run_id() / "config.json").read_text())
    proto = saved["resolved"]["protocol"]
    assert proto["preset"] == "embedded/rsws" == saved["run"]["protocol"]
    assert proto["values"]["n_candidates"] == 2 and "n_candidates" in proto["overrides"]
    assert set(proto["sources"]) == set(proto["values"])


def test_generated_preset_tables_are_current():
    from pathlib import Path

    from harness.protocols.doc import render

    path = Path(__file__).resolve().parents[1] / "docs" / "protocols_tables.md"
    assert path.read_text() == render(), \
        "docs/protocols_tables.md is stale: python -m harness.protocols.doc > docs/protocols_tables.md"


def test_enas_cosine_period_follows_autodl():
    """AutoDL CosineAnnealingLR: eta_min + (lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2, T_max 10 for ENAS."""
    import math

    from harness.optimizers import make_config
    from harness.optimizers.parts.weights import cosine_lr

    c = make_config("enas", resolve_protocol("nb201", "enas").optimizer_values())
    for e in (0, 5, 10, 15, 20, 249):
        ref = 5e-4 + (0.05 - 5e-4) * (1 + math.cos(math.pi * e / 10)) / 2
        assert cosine_lr(c, e, 250) == pytest.approx(ref, rel=1e-12)
    d = make_config("darts")
    assert cosine_lr(d, 25, 50) == pytest.approx(0.001 + 0.024 * 0.5, rel=1e-12)


def test_tau_schedules():
    from harness.optimizers.parts.samplers import tau_at

    # AutoDL GDAS.py: tau_max - (tau_max - tau_min) * epoch / (epochs - 1)
    assert [tau_at("to-last-epoch", e, 4, 10, 0.1) for e in (0, 3)] == [10, pytest.approx(0.1)]
    # nasbench-1shot1 / DrNAS: tau_max + epoch * (tau_min - tau_max) / epochs
    assert tau_at("per-epoch-step", 3, 4, 10, 1) == pytest.approx(10 - 3 * 9 / 4)
