"""Figures and summaries group runs by optimizer and setting (as the tables do); captions, ticks, colours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_tables import make_run

from harness.reporting import plots
from harness.reporting.aggregate import load_runs, summary_table


@pytest.fixture
def two_settings(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    for s in (0, 1):
        make_run(root, "darts", s, [80.0, 90.0 + s], eig=True, arch_lr=0.001)
        make_run(root, "darts", s, [70.0, 60.0 + s], eig=True, arch_lr=0.01)
        make_run(root, "gdas", s, [85.0, 86.0 + s])  # no eigenvalue logged
    return root


def _lines(monkeypatch, fn, *args, **kw):
    """The Line2D objects a plot function drew (its figure is closed when saved)."""
    captured = {}
    real = plots._save

    def keep(fig, path):
        captured["fig"] = fig
        return real(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    fn(*args, **kw)
    return captured["fig"]


def test_regret_figure_draws_one_curve_per_setting_with_the_setting_in_the_legend(two_settings, tmp_path,
                                                                                     monkeypatch):
    runs = load_runs([two_settings])
    fig = _lines(monkeypatch, plots.plot_regret, runs, tmp_path / "r.png")
    ax = fig.axes[0]
    labels = sorted(t.get_text() for t in ax.get_legend().get_texts())
    assert labels == ["darts [arch_lr=0.001] (n=2)", "darts [arch_lr=0.01] (n=2)", "gdas (n=2)"]
    by_label = {ln.get_label(): ln for ln in ax.get_lines()}
    a, b = by_label["darts [arch_lr=0.001] (n=2)"], by_label["darts [arch_lr=0.01] (n=2)"]
    # the mean of each setting's own seeds (95 - accuracy), never the four runs averaged together
    np.testing.assert_allclose(a.get_ydata(), [15.0, 95.0 - 90.5])
    np.testing.assert_allclose(b.get_ydata(), [25.0, 95.0 - 60.5])
    assert a.get_color() == b.get_color() and a.get_linestyle() != b.get_linestyle()
    # integer epoch ticks and a caption naming space, dataset, ground truth and the band
    assert all(float(t).is_integer() for t in ax.get_xticks())
    text = " ".join(t.get_text() for t in fig.texts)
    assert "space nb201" in text and "dataset cifar10" in text and "standard error" in text


def test_summary_table_groups_by_setting(two_settings):
    text = summary_table(load_runs([two_settings]))
    assert "darts [arch_lr=0.001]" in text and "darts [arch_lr=0.01]" in text
    row = next(ln for ln in text.splitlines() if ln.startswith("darts [arch_lr=0.01]"))
    assert "60.50" in row  # mean of the setting's two seeds (60, 61)


def test_eigenvalue_figure_bottom_panel_has_a_legend_and_only_runs_with_eigenvalues(two_settings, tmp_path,
                                                                                       monkeypatch):
    fig = _lines(monkeypatch, plots.plot_eigenvalue, load_runs([two_settings]), tmp_path / "e.png")
    top, bottom = fig.axes[:2]
    assert bottom.get_legend() is not None
    names = {t.get_text() for t in bottom.get_legend().get_texts()}
    assert names == {"darts [arch_lr=0.001]", "darts [arch_lr=0.01]"}  # gdas logged no eigenvalue


def test_new_names_get_distinct_saturated_colours():
    names = ["mine", "yours", "darts", "gdas"]
    cols = [plots.optimizer_color(n, names) for n in names]
    assert len({str(c) for c in cols}) == 4
    assert plots.optimizer_color("darts") == plots.optimizer_color("darts", ["zzz", "darts"])
    # every built-in optimizer has its own colour
    from harness.optimizers import list_optimizers

    fixed = [plots.optimizer_color(n) for n in list_optimizers()]
    assert len({str(c) for c in fixed}) == len(fixed)


def test_scatter_states_three_statistics_and_keeps_outliers_from_squashing(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.normal(50, 1, 200)
    y = x + rng.normal(0, 0.5, 200)
    x[0] = -1000.0  # one broken evaluation
    fig = _lines(monkeypatch, plots.plot_scatter, x, y, tmp_path / "s.png")
    ax = fig.axes[0]
    title = ax.get_title()
    assert "Kendall tau" in title and "Spearman rho" in title and "top-10% precision" in title
    lo, hi = ax.get_xlim()
    assert lo > 40  # the outlier does not set the axis
    assert [t.get_text() for t in ax.texts] == ["1 outlier(s) beyond 3 IQR not shown"]
