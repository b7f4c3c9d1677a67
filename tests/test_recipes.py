"""``harness reproduce``: catalogue integrity, the comparison arithmetic, missing inputs, small end-to-end slices."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from test_verdicts import pub_row

from harness.recipes.catalogue import NB201, RECIPES, register, zero_cost_part
from harness.recipes.compare import (
    comparisons,
    load_published,
    select,
)
from harness.recipes.executors import EXECUTORS
from harness.recipes.recipe import Context, Part, Published, Recipe, Row, check_tier
from harness.recipes.reproduce import VERDICT, blocker, run_recipe
from harness.references.seeds import COLUMNS, STATISTICS
from search_spaces.errors import ConfigError, UserError

REQUIRED = ("nb201-table5", "balenas-table1", "balenas-table2", "balenas-table4", "balenas-table5", "balenas-fig1",
            "robustdarts-table", "robustdarts-eigenvalue", "vimnas-table4", "bender-dropout", "nsa-disparity",
            "drnas-nb201")
STUDY_EXECUTORS = {"search", "bender_dropout", "nsa_disparity"}


def test_every_required_recipe_exists_with_a_valid_tier():
    assert set(REQUIRED) <= set(RECIPES)
    for r in RECIPES.values():
        check_tier(r.tier)
        assert r.source and r.title
        for p in r.parts:
            assert p.executor in EXECUTORS or p.executor in STUDY_EXECUTORS, (r.id, p.executor)


def test_ids_are_unique():
    with pytest.raises(ConfigError, match="already registered"):
        register(RECIPES["nb201-table5"])
    with pytest.raises(UserError, match="unknown recipe 'nope'"):
        from harness.recipes.catalogue import get_recipe

        get_recipe("nope")


def test_every_published_selection_has_rows_and_every_published_row_of_a_recipe_is_named():
    pub = load_published()
    for r in RECIPES.values():
        for sel in r.published:
            assert len(select(pub, (sel,))), f"{r.id}: no published row for {sel}"
        names = {(row.method, row.benchmark, row.dataset, row.split, row.metric) for p in r.parts for row in p.rows}
        chosen = select(pub, r.published)
        # a published row that no part produces would never be compared: each must be one of ours
        # (rows of another table selected only for the shared setting are checked the same way)
        for row in chosen.itertuples():
            if (row.method, row.benchmark, row.dataset, row.split, row.metric) not in names:
                assert r.missing, f"{r.id}: published row {row.method}/{row.dataset} has no part and no note"


def test_every_optimizer_space_and_preset_a_plan_names_exists():
    from harness.optimizers import get_optimizer_class
    from harness.protocols import resolve_protocol
    from search_spaces import get_space

    for r in RECIPES.values():
        for p in r.parts:
            if p.executor != "search":
                continue
            for space in p.params["spaces"]:
                get_space(space)
                for name, setting in p.params["optimizers"].items():
                    get_optimizer_class(setting["optimizer"])
                    proto = resolve_protocol(space, setting["optimizer"], dict(setting.get("config", {})))
                    assert proto.to_dict()["preset"], (r.id, name)


def test_published_csv_is_complete_and_typed():
    pub = load_published()
    assert not pub.empty
    for row in pub.itertuples():
        float(row.value)
        assert row.std == "" or float(row.std) >= 0
        assert row.source and row.split and row.metric
    # the numbers the issue names, with their stds
    z = pub[(pub.method == "Zero-cost NAS (SynFlow, N=100)") & (pub.table == "Table 2")]
    assert sorted(z.value.astype(float)) == [44.43, 69.87, 93.45]
    rb = pub[(pub.method == "Random baseline") & (pub.dataset == "cifar10") & (pub.split == "test")]
    assert set(rb.value) == {"86.61"} and set(rb["std"]) == {"13.46"} and set(rb.statistic) == {"population"}
    assert set(pub.statistic) <= set(STATISTICS) and set(pub.columns) == set(COLUMNS)


def harness(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def test_missing_inputs_exit_2_with_one_line_before_any_work(tmp_path):
    out = tmp_path / "x"
    r = harness("reproduce", "nb201-table5", "--device", "auto", "-o", str(out))
    assert r.returncode == 2
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "nothing can run" in lines[0] and "--benchmark-file" in lines[0]
    assert "--data-dir" in lines[0] and not out.exists()
    r = harness("reproduce", "robustdarts-eigenvalue", "--logs", str(tmp_path / "absent"), "-o", str(out))
    assert r.returncode == 2 and "RobustDARTS search logs" in r.stderr and not out.exists()
    r = harness("reproduce", "no-such-recipe")
    assert r.returncode == 2 and "unknown recipe" in r.stderr


def test_list_and_show():
    r = harness("reproduce", "--list")
    assert r.returncode == 0, r.stderr
    for rid in REQUIRED:
        assert rid in r.stdout
    assert "needs nasbench_only108.tfrecord" in r.stdout
    r = harness("reproduce", "balenas-table1", "--show")
    assert r.returncode == 0 and "benchmark rows [cpu" in r.stdout and "searches [gpu" in r.stdout


def test_blockers_name_what_is_missing(tmp_path):
    part = RECIPES["nb201-table5"].parts[0]
    why = blocker(part, Context(out=tmp_path, device="cpu"))
    assert "NB-201" in why and "cifar10 files" in why and "GPU" in why
    # an explicit --device cpu runs gpu-tier parts; a reduced-only part does not run at full scale
    assert "GPU" not in blocker(part, Context(out=tmp_path, device="cpu", device_explicit=True))
    assert "scale" in blocker(RECIPES["bender-dropout"].parts[0], Context(out=tmp_path))
    assert blocker(RECIPES["bender-dropout"].parts[0], Context(out=tmp_path, scale="reduced")) is None


def test_each_part_has_its_own_blocker(cifar10_dir, tmp_path):
    """CIFAR-10 files alone: the CIFAR-10 SNIP part runs, the CIFAR-100 / ImageNet16-120 one says what it needs."""
    c10, other = zero_cost_part("snip", ("cifar10",)), zero_cost_part("snip", ("cifar100", "ImageNet16-120"))
    ctx = Context(out=tmp_path, benchmark_file=str(cifar10_dir), data_dir=str(cifar10_dir))
    assert blocker(c10, ctx) is None
    assert "cifar100 / ImageNet16-120 files" in blocker(other, ctx)


def test_zero_cost_recipe_end_to_end_on_a_slice(shared_data, tmp_path):
    """Zero-cost NAS, SynFlow, N=5 on full-size NB-201 networks, CIFAR-10, two seeds: our rows equal an independent
    computation (proxy_search + a table lookup), the published row beside them gives the verdict."""
    from benchmarks import load_benchmark
    from harness.metrics import proxies
    from search_spaces import get_space

    nb201 = shared_data / "nb201"
    extra = tmp_path / "mine.csv"
    extra.write_text("method,benchmark,dataset,split,metric,value,std,source,table,protocol\n"
                     '"Zero-cost NAS (SynFlow, N=5)",nb201,cifar10,test,accuracy,90.00,1.00,test source,T9,slice\n')
    recipe = Recipe("slice", "slice", "test", (zero_cost_part("synflow", ("cifar10",), (5,)),),
                    published=(Published("test source", "T9"),))
    ctx = Context(out=tmp_path / "out", benchmark_file=str(nb201), seeds=(0, 1))
    rep = run_recipe(recipe, ctx, (str(extra),))
    sp, bench = get_space("nb201"), load_benchmark("nb201", nb201)
    cfg = sp.default_config().with_overrides(num_classes=10)
    expect = [bench.query(proxies.proxy_search(sp, "synflow", 5, None, cfg, seed=s).best, "cifar10", "test",
                          "accuracy", 200, "mean") for s in (0, 1)]
    (val,) = rep["values"]
    assert val["values"] == pytest.approx(expect)
    (row,) = rep["table"]["rows"]
    mean = float(np.mean(expect))
    assert row[3].startswith(f"{mean:.2f} ±") and row[4] == "90.00 ± 1.00 (mean)"
    p = sps.ttest_1samp(expect, 90.0).pvalue  # the user's row states no n: a one-sample t on our seeds
    assert row[6] == f"{p:.3g} ({p:.3g})" and row[VERDICT] == ("differs" if p < 0.05 else "inconclusive")
    md = (tmp_path / "out" / "reproduction.md").read_text()
    assert "Zero-cost NAS (SynFlow, N=5)" in md and "| zero-cost NAS, synflow, cifar10 | cpu | yes |" in md
    assert json.loads((tmp_path / "out" / "reproduction.json").read_text())["counts"]
    # issue 36: each (dataset, seed) was saved when scored; a second call reuses them and says so
    said: list[str] = []
    again = run_recipe(recipe, replace(ctx, progress=said.append), (str(extra),))
    assert again["values"][0]["values"] == val["values"]
    assert sum("kept from an earlier run" in ln for ln in said) == 2


def test_benchmark_rows_say_not_run_for_a_missing_split(shared_data, tmp_path):
    part = RECIPES["balenas-table1"].parts[0]
    rep = run_recipe(replace(RECIPES["balenas-table1"], parts=(part,)),
                     Context(out=tmp_path, benchmark_file=str(shared_data / "nb201")))
    by = {(r[0], *r[2].split()[1:3]): r for r in rep["table"]["rows"]}
    assert by[("optimal", "cifar10", "test")][VERDICT] == "consistent"
    assert by[("optimal", "cifar10", "test")][3].startswith("94.37")
    valid = by[("optimal", "cifar10", "valid")][VERDICT]
    assert valid.startswith("not run: needs the official NB-201 file") and "valid" in valid
    # the Random baseline is a population: our mean over all 15,625 cells against the source's standard error
    rb = by[("Random baseline", "ImageNet16-120", "test")]
    values = next(v["values"] for v in rep["values"] if v["method"] == "Random baseline"
                  and v["dataset"] == "ImageNet16-120" and v["split"] == "test")
    z = (np.mean(values) - 33.13) / (9.66 / math.sqrt(15625))
    assert len(values) == 15625 and "n=15625" in rb[3] and rb[VERDICT] == "differs" and z > 1.96
    assert rb[6].startswith(f"{2 * sps.norm.sf(z):.3g}")


def test_search_part_runs_through_the_sweep_and_resumes(tmp_path):
    """A tiny search slice (S5 on digits, one epoch): our row is the table's test accuracy of the run's final
    architecture, and a second call skips the finished run."""
    rows = (Row("DARTS", "digits", "test", benchmark="s5"),)
    part = Part("searches", "search", {"spaces": ("s5",), "search_datasets": ("digits",),
                                       "optimizers": {"DARTS": {"optimizer": "darts"}}, "eval": "benchmark",
                                       "benchmark": "s5-digits", "epochs": 10, "run": {"epochs": 1}}, rows=rows)
    recipe = Recipe("tiny", "tiny", "test", (part,))
    ctx = Context(out=tmp_path, seeds=(0,))
    rep = run_recipe(recipe, ctx)
    (run_dir,) = (tmp_path / "runs").iterdir()
    final = json.loads((run_dir / "final.json").read_text())
    from benchmarks import load_benchmark
    from search_spaces import get_space

    truth = load_benchmark("s5-digits").query(get_space("s5").from_str(final["arch"]), "digits", "test",
                                              "accuracy", 10, "mean")
    assert rep["values"][0]["values"] == [pytest.approx(truth)]
    assert rep["files"] == ["anytime_regret_searches.png"] and (tmp_path / "anytime_regret_searches.png").is_file()
    mtime = (run_dir / "final.json").stat().st_mtime_ns
    run_recipe(recipe, ctx)
    assert (run_dir / "final.json").stat().st_mtime_ns == mtime
    # a diverged run (finished before, so the sweep skips it) is counted, never averaged, as in the tables
    (run_dir / "final.json").write_text(json.dumps({**final, "status": "diverged"}))
    rep = run_recipe(recipe, ctx)
    assert rep["values"][0]["not_run"] == "no finished search (diverged or failed runs: see the findings)"
    assert rep["findings"][0] == f"1 searches diverged and are left out of the means: {run_dir.name}"


def test_robustdarts_eigenvalue_from_the_published_logs(shared_data, tmp_path):
    from harness.run.import_robustdarts import dominant_eigenvalues

    logs = shared_data / "robustdarts" / "search_logs"
    rep = run_recipe(RECIPES["robustdarts-eigenvalue"], Context(out=tmp_path, logs=str(logs)))
    d = logs / "s1" / "cifar10" / "0.0_0.0003-2516843"
    eig = [dominant_eigenvalues(d / f"derivatives_{s}.json") for s in (1, 2, 3)]
    first = np.mean([np.linalg.eigvalsh(np.asarray(json.loads(
        (d / f"derivatives_{s}.json").read_text().splitlines()[0])["H"]))[-1] for s in (1, 2, 3)])
    last = np.mean([e[max(e)] for e in eig])
    line = next(x for x in rep["tables"][0].splitlines() if x.startswith("| 0 | 0.0003 |"))
    assert f"| {first:.3f} | {last:.3f} |" in line
    assert "rises from the first to the last logged epoch" in rep["findings"][0]
    assert (tmp_path / "eigenvalue.png").is_file()


def test_report_shows_reproductions_escaped(tmp_path):
    from harness.reporting.report import build_report

    rep = {"recipe": "x", "title": "<b>t</b>", "source": "s", "scale": "full", "reduced": None,
           "table": {"header": ["method", "verdict"], "rows": [["<script>", "reproduced"], ["m", "not run: y"]]},
           "findings": ["a < b"], "files": []}
    (tmp_path / "rep").mkdir()
    (tmp_path / "rep" / "reproduction.json").write_text(json.dumps(rep))
    page = build_report([tmp_path / "rep"], tmp_path / "html").read_text()
    assert "<h2>Reproductions</h2>" in page and "&lt;script&gt;" in page and "<script>" not in page
    assert "a &lt; b" in page and "1 rows not run" in page
    (tmp_path / "rep" / "reproduction.json").write_text('{"recipe": "x"}')
    with pytest.raises(UserError, match="not a reproduction record"):
        build_report([tmp_path / "rep"], tmp_path / "html")


def test_report_embeds_only_the_folders_own_png_figures(tmp_path):
    """A hostile reproduction.json must not make the report embed other files (absolute paths, ``..``,
    symlinks out of the folder, files that are not PNGs)."""
    import base64

    from harness.reporting.report import build_report

    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG\r\n\x1a\nTOP-SECRET-A")
    rep_dir = tmp_path / "rep"
    rep_dir.mkdir()
    (rep_dir / "link.png").symlink_to(secret)
    (rep_dir / "fake.png").write_bytes(b"TOP-SECRET-B not a png")
    (rep_dir / "ok.png").write_bytes(b"\x89PNG\r\n\x1a\nfine")
    files = [str(secret), "../secret.png", "link.png", "fake.png", "ok.png", {"x": 1}, "/etc/passwd"]
    rep = {"recipe": "x", "title": "t", "source": "s", "scale": "full", "reduced": None,
           "table": {"header": ["method", "verdict"], "rows": []}, "findings": [], "files": files}
    (rep_dir / "reproduction.json").write_text(json.dumps(rep))
    page = build_report([rep_dir], tmp_path / "html").read_text()
    embedded = [base64.b64decode(m) for m in __import__("re").findall(r"base64,([A-Za-z0-9+/=]+)", page)]
    assert embedded == [b"\x89PNG\r\n\x1a\nfine"]


def test_recipe_definitions_refuse_nonsense():
    with pytest.raises(ConfigError, match="tier"):
        Part("p", "zero_cost", tier="tpu")
    with pytest.raises(ConfigError, match="reduced"):
        Recipe("r", "t", "s", (Part("p", "zero_cost", scales=("reduced",)),))
    with pytest.raises(ConfigError, match="unique"):
        Recipe("r", "t", "s", (Part("p", "zero_cost"), Part("p", "zero_cost")))
    with pytest.raises(ConfigError, match="need kind"):
        type(NB201)("disk", "x")


def test_reduced_studies_report_what_their_runs_measured(tmp_path):
    """Bender's dropout study and the NSA study at a tiny size: the findings are the studies' own numbers,
    and no row is ever scored against a published value."""
    import pandas as pd

    bender = replace(RECIPES["bender-dropout"].parts[0], params={
        **RECIPES["bender-dropout"].parts[0].params, "r_max": (0.0, 0.5), "archs": "8", "run": {"epochs": 1}})
    rep = run_recipe(replace(RECIPES["bender-dropout"], parts=(bender,)),
                     Context(out=tmp_path / "b", seeds=(0,), scale="reduced"))
    rows = pd.read_csv(tmp_path / "b" / "dropout_study" / "dropout_study.csv")
    taus = dict(zip(rows["r_max"], rows["oneshot_vs_gt_test.kendall_tau"]))
    best = max(taus, key=taus.get)
    assert f"highest at r_max = {best:g} (Kendall tau {taus[best]:.3f})" in rep["findings"][0]
    assert rep["table"]["rows"] == [] and rep["scale"] == "reduced"

    nsa = replace(RECIPES["nsa-disparity"].parts[0], params={
        **RECIPES["nsa-disparity"].parts[0].params, "modes": ("naive", "nsa-i"), "pool_size": 5,
        "analysis": {"n_seen": 5, "n_unseen": 5, "test_examples": 64, "train_examples": 64},
        "run": {"epochs": 1}})
    rep = run_recipe(replace(RECIPES["nsa-disparity"], parts=(nsa,)),
                     Context(out=tmp_path / "n", seeds=(0,), scale="reduced"))
    got = {}
    for mode in ("naive", "nsa-i"):
        (r,) = json.loads((tmp_path / "n" / f"nsa-{mode}-seed0" / "nsa_study.json").read_text())["rows"]
        got[mode] = r["test_acc_seen"] - r["test_acc_unseen"]
    line = next(x for x in rep["tables"][0].splitlines() if x.startswith("| nsa-i |"))
    assert f"| {got['nsa-i']:+.2f} |" in line
    assert "nsa-i vs naive" in rep["findings"][1]


def test_reduced_search_reports_a_ranking_and_never_a_verdict(shared_data, cifar10_dir, tmp_path):
    """nb201-table5 at --scale reduced on a tiny slice (one optimizer, one epoch): its rows are labelled reduced,
    never scored, listed once (the full-scale twin adds none), and the finding ranks what ran."""
    full, red, _ = RECIPES["nb201-table5"].parts
    red = replace(red, params={**red.params, "optimizers": {"GDAS": {"optimizer": "gdas"}},
                               "run": {**red.params["run"], "epochs": 1, "subset": 64}},
                  rows=tuple(r for r in red.rows if r.method == "GDAS"))
    full = replace(full, rows=red.rows)
    rep = run_recipe(replace(RECIPES["nb201-table5"], parts=(full, red)),
                     Context(out=tmp_path, benchmark_file=str(shared_data / "nb201"), data_dir=str(cifar10_dir),
                             seeds=(0,), scale="reduced"))
    verdicts = [r[VERDICT] for r in rep["table"]["rows"]]
    assert len(verdicts) == len(red.rows) == 6
    assert all(v == "reduced: not compared" or v.startswith("not run: needs the official NB-201 file")
               for v in verdicts) and "reduced: not compared" in verdicts
    assert any(f.startswith("Reduced ranking, cifar10 test accuracy: GDAS ") for f in rep["findings"])
    assert rep["reduced"] and "reduced rows are never compared" in (tmp_path / "reproduction.md").read_text()


def test_retraining_rows_use_each_settings_sizes_and_select_by_search_validation(tmp_path, monkeypatch):
    """S1-S4 retraining plumbing on a tiny S5 search: each row's setting sets (layers, channels) as RobustDARTS's
    src/evaluation/config.yaml (commit f83f0a8) and VIM-NAS's caption say, and the selection score is the search's
    final validation accuracy. ``evaluate`` is replaced by a recorder (retraining itself is tested elsewhere)."""
    import harness.run.evaluate as ev
    from harness.recipes.catalogue import RD_EVAL, WIDE, rd_sizes

    # the official table, typed from config.yaml's lines (s{k}_cifar10_{dp,wd}: init_channels, layers)
    official = {("s1", "dp"): (20, 36), ("s1", "wd"): (20, 36), ("s2", "dp"): (20, 16), ("s2", "wd"): (8, 16),
                ("s3", "dp"): (20, 36), ("s3", "wd"): (8, 16), ("s4", "dp"): (20, 16), ("s4", "wd"): (8, 16)}
    for (sp, grid), size in official.items():
        assert rd_sizes(sp, "cifar10", grid) == size and rd_sizes(sp, "cifar100", grid) == (8, 16)
    seen = []

    def fake(arch, proto, space=None, out=None, progress=None):
        seen.append((proto.layers, proto.channels, Path(out).name))
        return {"retrained_test_error": 3.0 + len(seen)}

    monkeypatch.setattr(ev, "evaluate", fake)
    rows = (Row("DARTS", "digits", "test", "error", "s5", RD_EVAL), Row("DARTS", "digits", "test", "error", "s5", WIDE))
    part = Part("searches", "search", {"spaces": ("s5",), "search_datasets": ("digits",),
                                       "optimizers": {"DARTS": {"optimizer": "darts"}}, "eval": "retrain",
                                       "retrain": {"epochs": 1}, "run": {"epochs": 1}}, rows=rows)
    from harness.recipes.studies import search

    out = search(part, Context(out=tmp_path, seeds=(0, 1)))
    assert sorted({s[:2] for s in seen}) == [(8, 16), (20, 36)] and {s[2] for s in seen} == {"retrain-8x16",
                                                                                              "retrain-20x36"}
    by = {o.row.setting: o for o in out.rows}
    assert len(by[WIDE].values) == 2 and len(by[WIDE].scores) == 2
    accs = [float(pd.read_csv(d / "trajectory.csv")["valid_acc"].iloc[-1]) for d in (tmp_path / "runs").iterdir()]
    assert sorted(by[RD_EVAL].scores) == sorted(accs)
    pub = pd.DataFrame([pub_row("3.50", statistic="selected", method="DARTS", benchmark="s5", dataset="digits",
                                metric="error", setting=WIDE)])
    (c,) = comparisons([by[WIDE]], pub)
    assert c.ours_value == by[WIDE].values[int(np.argmax(by[WIDE].scores))]


def test_one_search_per_dataset_answers_its_own_dataset_only(tmp_path):
    """DrNAS's README table: a cell found on one dataset is not scored on another (``own_dataset``)."""
    from harness.recipes.studies import search

    rows = (Row("DARTS", "digits", "test", benchmark="s5"), Row("DARTS", "cifar10", "test", benchmark="s5"))
    part = Part("searches", "search", {"spaces": ("s5",), "search_datasets": ("digits",), "own_dataset": True,
                                       "optimizers": {"DARTS": {"optimizer": "darts"}}, "eval": "benchmark",
                                       "benchmark": "s5-digits", "epochs": 10, "run": {"epochs": 1}}, rows=rows)
    out = search(part, Context(out=tmp_path, seeds=(0,)))
    by = {o.row.dataset: o for o in out.rows}
    assert len(by["digits"].values) == 1 and by["cifar10"].not_run.startswith("no finished search")
