"""ray_pg.plots: pictures drawn from a real run's data; a clear error without matplotlib."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from ray import tune

import trainables
from ray_pg import PGSearcher, plots


@pytest.fixture
def pyplot():
    """matplotlib's pyplot on the Agg backend; figures closed afterwards."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def test_pictures_of_a_real_run(pyplot, local_ray, tmp_path):
    searcher = PGSearcher(batch_size=4, seed=0)
    grid = tune.Tuner(trainables.conditional, param_space=trainables.CONDITIONAL_SPACE,
                      tune_config=tune.TuneConfig(search_alg=searcher, metric="loss", mode="min", num_samples=20,
                                                  reuse_actors=True),
                      run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0)).fit()
    df = grid.get_dataframe()

    data = plots.best_so_far(grid, "loss", "min")
    assert len(data) == len(df) == 20
    assert (np.diff(data["best_so_far"]) <= 0).all()
    assert data["best_so_far"].iloc[-1] == pytest.approx(df["loss"].min())
    assert sorted(data["value"]) == pytest.approx(sorted(df["loss"]))
    ax = plots.plot_best_so_far(df, "loss", "min")  # the dataframe works as well
    step = [line for line in ax.get_lines() if line.get_label() == "best so far"][0]
    assert list(step.get_ydata()) == pytest.approx(list(data["best_so_far"]))
    ax.figure.savefig(tmp_path / "best.png")
    assert (tmp_path / "best.png").stat().st_size > 1000

    history = searcher.history()
    assert len(history) == searcher.num_updates >= 3
    fig = plots.plot_policy(history)
    titles = {ax.get_title(): ax for ax in fig.axes if ax.get_visible()}
    assert set(titles) == {"opt", "opt=sgd/momentum", "opt=adam/beta1", "opt=adam/eps", "lr"}
    probabilities = titles["opt"].get_lines()
    assert len(probabilities) == 3
    assert list(probabilities[1].get_ydata()) == pytest.approx(list(history["opt:p[adam]"]))
    assert titles["lr"].get_yscale() == "log"  # loguniform: drawn on a log axis
    assert titles["opt=adam/eps"].get_yscale() == "log"
    assert titles["opt=sgd/momentum"].get_yscale() == "linear"
    centre = titles["lr"].get_lines()[0]
    assert list(centre.get_ydata()) == pytest.approx(list(history["lr:mean"]))
    fig.savefig(tmp_path / "policy.png")
    assert (tmp_path / "policy.png").stat().st_size > 1000

    chosen = plots.plot_policy(history, params=["lr"], log_scale=[])
    assert [ax.get_title() for ax in chosen.axes if ax.get_visible()] == ["lr"]
    assert chosen.axes[0].get_yscale() == "linear"


def test_log_band_is_the_interval_of_a_log_domain(pyplot):
    # A log domain's interval [lo, hi] around the centre m has lo * hi = m^2; the history keeps (hi - lo) / 2.
    low, high = 1e-4, 1e-2
    history = pd.DataFrame({"update": [1], "lr:mean": [np.sqrt(low * high)], "lr:sd": [(high - low) / 2]})
    fig = plots.plot_policy(history)
    band = fig.axes[0].collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(low) and band.max() == pytest.approx(high)


def test_clear_errors():
    df = pd.DataFrame({"loss": [1.0, 0.5], "timestamp": [1, 2]})
    with pytest.raises(ValueError, match="'accuracy'"):
        plots.plot_best_so_far(df, "accuracy", "max")
    with pytest.raises(ValueError, match="best"):
        plots.plot_best_so_far(df, "loss", "best")
    with pytest.raises(TypeError, match="list"):
        plots.plot_best_so_far([1, 2], "loss", "min")
    with pytest.raises(ValueError, match="no parameter"):
        plots.plot_policy(pd.DataFrame({"update": [1], "lr:mean": [0.1], "lr:sd": [0.1]}), params=["momentum"])
    with pytest.raises(ValueError, match="at least one update"):
        plots.plot_policy(pd.DataFrame())


def test_without_matplotlib_the_error_names_the_extra(monkeypatch):
    for name in [name for name in sys.modules if name == "matplotlib" or name.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    df = pd.DataFrame({"loss": [1.0, 0.5]})
    with pytest.raises(ImportError, match=r'pip install "ray_pg\[plots\]"'):
        plots.plot_best_so_far(df, "loss", "min")
    history = pd.DataFrame({"update": [1], "lr:mean": [0.1], "lr:sd": [0.01]})
    with pytest.raises(ImportError, match=r'pip install "ray_pg\[plots\]"'):
        plots.plot_policy(history)


def test_best_so_far_of_tune_runs_analysis_names_real_trial_ids(local_ray, tmp_path):
    analysis = tune.run(trainables.one_shot, config=trainables.SPACE, search_alg=PGSearcher(seed=0), metric="loss",
                        mode="min", num_samples=6, reuse_actors=True, storage_path=str(tmp_path), verbose=0)
    data = plots.best_so_far(analysis, "loss", "min")
    assert sorted(data["trial_id"]) == sorted(trial.trial_id for trial in analysis.trials)
