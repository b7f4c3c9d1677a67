"""The HTML report (synthetic runs) and the table/report commands; Chromium rendering where installed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pandas as pd
import pytest
from click.testing import CliRunner
from test_tables import make_run

from harness.cli import cli


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("r") / "runs"
    for s, acc in enumerate([90.0, 92.0, 94.0]):
        make_run(root, "darts", s, [80.0, 85.0, acc], eig=True)
        make_run(root, "gdas", s, [82.0, 88.0, acc + 1], eig=True)
    make_run(root, "gdas", 3, [10.0, 10.0, 10.0], status="diverged")
    f = root / "rsws-broken"
    f.mkdir()
    (f / "failed.json").write_text(json.dumps({"run_id": "rsws-broken", "error": "ConfigError: <bad> & worse"}))
    corr = root / "analysis" / "corr"
    corr.mkdir(parents=True)
    pd.DataFrame({"arch": list("abcd"), "oneshot_acc": [1, 2, 3, 4], "gt_test_acc": [2, 1, 4, 3]}).to_csv(
        corr / "archs.csv", index=False)
    nsa = root / "analysis" / "S=4"
    nsa.mkdir(parents=True)
    pd.DataFrame({"arch": list("abcd"), "seen": [True, True, False, False], "test_acc": [1.0, 2, 3, 4]}).to_csv(
        nsa / "archs.csv", index=False)
    pd.DataFrame({"members": [1, 2, 3], "gain": [0.0, 0.5, 0.8]}).to_csv(nsa / "ensemble.csv", index=False)
    return root


@pytest.fixture(scope="module")
def page(runs, tmp_path_factory):
    from harness.reporting.report import build_report

    return build_report([runs], tmp_path_factory.mktemp("rep") / "report")  # built once: figures are slow


def test_report_self_contained(page):
    text = page.read_text()
    assert text.count("data:image/png;base64,") == 6  # regret x2, eigenvalue, scatter, histograms, ensemble
    # self-contained: no external resources of any kind
    assert not re.search(r'(src|href)="(?!data:)', text)
    # gdas leads by 1 point at n = 3 with std 2: no test separates it, so no bold, both marked tied
    assert "93.00 ± 2.00 ≈" in text and "<b>93.00" not in text and "1 diverged" in text
    assert "&lt;bad&gt; &amp; worse" in text  # failure listed, escaped
    assert text.count("<details>") == 7 and "Kendall" not in text  # configs; tau is inside the scatter image
    assert (page.parent / "figures" / "regret_vs_epoch.pdf").is_file()
    # issue 36: every run's found architecture, with its ground truth, in a per-run table
    runs_table = text[text.index("<h2>Runs</h2>"):text.index("<h2>Comparison</h2>")]
    assert runs_table.count("<tr>") == 1 + 7 and runs_table.count("<code>arch2</code>") == 7  # last epoch's pick
    assert "Italic rows: published values" in text and "No published row matches" not in text  # NB-201 rows
    assert pd.read_parquet(page.parent / "runs.parquet")["run_id"].nunique() == 7


def test_table_and_report_commands(runs, tmp_path):
    r = CliRunner()
    res = r.invoke(cli, ["table", str(runs), "--format", "latex", "--metric", "regret", "--epoch", "2",
                         "--dataframe", str(tmp_path / "f.parquet")])
    assert res.exit_code == 0, res.output
    assert r"\toprule" in res.output and "epoch 2" in res.output and (tmp_path / "f.parquet").is_file()
    res = r.invoke(cli, ["table", str(runs), "--references", "--against", "Dong & Yang"])
    assert res.exit_code == 0, res.output
    assert "*GDAS*" in res.output and "93.51" in res.output
    res = r.invoke(cli, ["table", str(runs), "--format", "csv", "-o", str(tmp_path / "t.csv")])
    assert res.exit_code == 0 and len(pd.read_csv(tmp_path / "t.csv")) == 4  # 2 optimizers x valid/test
    res = r.invoke(cli, ["report", str(runs / "darts-cifar10--seed0"), "-o", str(tmp_path / "rep"), "--no-references"])
    assert res.exit_code == 0, res.output
    assert "self-contained" in res.output and (tmp_path / "rep" / "index.html").is_file()
    res = r.invoke(cli, ["report", str(runs), "-o", str(tmp_path / "all"), "--no-references"])
    page = (tmp_path / "all" / "index.html").read_text()
    assert res.exit_code == 0 and "<h2>Comparison</h2>" in page and "paired t" in page  # same seeds and supernet
    assert "<td>darts</td>" in page and "<td>gdas</td>" in page
    res = r.invoke(cli, ["table", str(tmp_path / "rep" / "figures")])  # no runs there
    assert res.exit_code != 0


def _chromium() -> str | None:
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


def test_report_renders_in_headless_chromium(page, tmp_path):
    exe = _chromium()
    if not exe:
        pytest.skip("chromium not installed (apt-get install -y chromium); the page is still checked above")
    shot = tmp_path / "shot.png"
    p = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--window-size=1200,2000", f"--screenshot={shot}", page.as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and shot.is_file(), p.stderr[-2000:]
    import numpy as np
    from PIL import Image

    img = Image.open(shot).convert("L")
    assert img.size == (1200, 2000)
    assert len(np.unique(np.asarray(img.resize((60, 100))))) > 10  # not a blank page: text and figures drew


EVIL = "<i><img src=x onerror=alert(1)>"


def test_values_from_runs_are_escaped_everywhere(tmp_path):
    # an optimizer name from a shared run folder's config.json must reach the page as text, never as markup
    from harness.reporting.report import build_report

    root = tmp_path / "runs"
    for seed in (0, 1):  # a clear best (Welch separates it), so the table has emphasis
        d = make_run(root, "darts", seed, [80.0, 90.0 + seed / 10])
        make_run(root, "gdas", seed, [40.0, 50.0 + seed / 10])
        cfg = json.loads((d / "config.json").read_text())
        cfg["run"]["optimizer"] = EVIL
        (d / "config.json").write_text(json.dumps(cfg))
    page = build_report([root], tmp_path / "report").read_text()
    assert "<img src=x" not in page and "onerror=alert(1)>" not in page.replace("&gt;", "")
    assert "&lt;i&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert re.search(r"<b>[\d.]+ ± [\d.]+</b>", page)  # emphasis still comes from the table's structure
    exe = _chromium()
    if exe:  # rendered: the DOM holds no element made from the name
        p = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                            (tmp_path / "report" / "index.html").as_uri()], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0 and '<img src="x"' not in p.stdout
