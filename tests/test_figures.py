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


def test_far_off_curve_gets_a_symlog_axis_and_steps_are_an_x_axis(tmp_path, monkeypatch):
    """Issue 36: a baseline at 30-35 regret flattened everyone else on a linear axis."""
    root = tmp_path / "runs"
    for s in (0, 1):
        make_run(root, "darts", s, [94.0, 94.3 + 0.01 * s])   # regret about 1 and 0.7
        make_run(root, "gdas", s, [60.0, 62.0 + s])           # regret about 33
    runs = load_runs([root])
    fig = _lines(monkeypatch, plots.plot_regret, runs, tmp_path / "r.png")
    assert fig.axes[0].get_yscale() == "symlog"
    fig = _lines(monkeypatch, plots.plot_regret, runs, tmp_path / "r.png", log=False)
    assert fig.axes[0].get_yscale() == "linear"
    close = tmp_path / "close"
    for s in (0, 1):
        make_run(close, "darts", s, [90.0, 91.0 + s])
        make_run(close, "gdas", s, [89.0, 92.0 + s])
    fig = _lines(monkeypatch, plots.plot_regret, load_runs([close]), tmp_path / "r.png")
    assert fig.axes[0].get_yscale() == "linear"  # curves within 10x: linear
    fig = _lines(monkeypatch, plots.plot_regret, runs, tmp_path / "w.png", x="wall_seconds")
    assert "load" in fig.axes[0].get_xlabel()


def test_many_settings_of_one_optimizer_never_share_colour_and_line(tmp_path, monkeypatch):
    """Issue 36: four legend entries shared one colour and a solid line (styles picked among all groups)."""
    root = tmp_path / "runs"
    for k in range(6):
        make_run(root, "darts", 0, [80.0, 85.0 + k], eig=True, arch_lr=10.0 ** -(k + 1))
    fig = _lines(monkeypatch, plots.plot_regret, load_runs([root]), tmp_path / "r.png")
    looks = [(str(ln.get_color()), ln.get_linestyle()) for ln in fig.axes[0].get_lines()]
    assert len(looks) == 6 and len(set(looks)) == 6


def test_eigenvalue_figure_of_imported_logs_keeps_drop_path_settings_apart(shared_data, tmp_path, monkeypatch):
    """Issue 36: RobustDARTS's drop-path rates were merged into one curve (n=3 for 9 runs) and an empty lower
    panel was drawn for logs without ground truth."""
    from harness.run.import_robustdarts import import_robustdarts

    src = shared_data / "robustdarts" / "search_logs" / "s1" / "cifar10"
    if not src.is_dir():
        pytest.skip(f"{src} not present")
    import_robustdarts(src, tmp_path / "imp")
    runs = load_runs([tmp_path / "imp"])
    fig = _lines(monkeypatch, plots.plot_eigenvalue, runs, tmp_path / "e.png")
    assert len(fig.axes) == 1  # no ground truth: no lower panel
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    t = runs.trajectories
    n_settings = t.loc[t["dominant_eigenvalue"].notna(), "setting"].nunique()
    assert len(labels) == n_settings > 1 and all("n=3" in lab for lab in labels), labels
    assert any("drop_path_prob=" in lab for lab in labels)
