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


# A benchmark with known irrelevant parameters: the loss depends on lr, width and act, never on unused_x or
# unused_c.
IGNORED = {"unused_x", "unused_c"}
BENCHMARK = {"lr": tune.loguniform(1e-5, 1e-1), "width": tune.uniform(0.0, 1.0), "act": tune.choice(["relu", "tanh", "gelu"]),
             "unused_x": tune.uniform(-5.0, 5.0), "unused_c": tune.choice(["a", "b", "c"])}


def benchmark_loss(config: dict) -> float:
    return ((np.log10(config["lr"]) + 3) ** 2 + 4 * (config["width"] - 0.8) ** 2
            + {"relu": 0.0, "tanh": 0.5, "gelu": 1.0}[config["act"]])


@pytest.fixture(scope="module")
def benchmark_run() -> tuple[pd.DataFrame, pd.DataFrame]:
    """250 trials of PGSearcher without Ray, one at a time: its history and Tune-like results."""
    searcher = PGSearcher(BENCHMARK, metric="loss", mode="min", seed=1)
    rows = []
    for i in range(250):
        config = searcher.suggest(str(i))
        loss = benchmark_loss(config)
        searcher.on_trial_complete(str(i), {"loss": loss})
        rows.append({"trial_id": str(i), "loss": loss, **{f"config/{key}": value for key, value in config.items()}})
    return searcher.history(), pd.DataFrame(rows)


def test_trial_importance_ranks_the_ignored_parameters_last(benchmark_run):
    pytest.importorskip("optuna")
    pytest.importorskip("sklearn")
    _, results = benchmark_run
    scores = plots.trial_importance(results, "loss", "min")
    assert set(scores.index) == set(BENCHMARK)
    # With seed 0 the ignored numeric ranks third: the policy settles lr early, so its trials barely vary it.
    assert set(scores.index[-2:]) == IGNORED, scores


def test_policy_importance_agrees_with_fanova_on_the_ignored_parameters(benchmark_run):
    pytest.importorskip("optuna")
    history, results = benchmark_run
    policy = plots.importance(history)
    assert set(policy.index[-2:]) == IGNORED == set(plots.trial_importance(results, "loss", "min").index[-2:]), policy


def test_policy_importance_ranks_the_ignored_parameters_last_within_the_noise_level():
    # Before the evidence, the Hellinger distance the policy moved ranked unused_x second (seed 1: width 0.92,
    # unused_x 0.79, lr 0.76, unused_c 0.54, act 0.39): the one step size shrinks the ignored coordinates too.
    # The second parameter's evidence is a statistic: over seeds 0-29 it fell under the noise level in 1 run
    # (2.76, seed 24) on the code of 2026-12-03 and in 2 (2.71, 2.76) on today's, whose search differs from
    # it by rounding (L^-1 for solves): one of ten may.
    below_noise = []
    for seed in range(10):
        searcher = PGSearcher(BENCHMARK, metric="loss", mode="min", seed=seed)
        for i in range(250):
            searcher.on_trial_complete(str(i), {"loss": benchmark_loss(searcher.suggest(str(i)))})
        scores = plots.importance(searcher.history())
        assert set(scores.index[-2:]) == IGNORED, scores
        assert scores[list(IGNORED)].abs().max() < plots._NOISE_LEVEL, scores
        below_noise += [seed] if scores.iloc[1] <= plots._NOISE_LEVEL else []
    assert len(below_noise) <= 1, below_noise


def test_importance_is_the_last_updates_evidence(pyplot):
    history = pd.DataFrame({"update": [1, 2, 3], "opt:p[sgd]": [0.5, 0.7, 0.9], "opt:evidence": [0.5, 2.0, 4.0],
                            "lr:mean": [1e-3, 5e-3, 1e-2], "lr:sd": [2e-3, 1e-2, 2e-2], "lr:evidence": [1.0, 3.0, 6.0],
                            "m:mean": [0.5, 0.2, 0.5], "m:sd": [0.1, 0.05, 0.1], "m:evidence": [None, None, None],
                            "x:mean": [0.5, 0.2, 0.5], "x:sd": [0.1, 0.05, 0.1], "x:evidence": [None, 1.0, -0.5]})
    scores = plots.importance(history)
    assert scores.to_dict() == {"lr": 6.0, "opt": 4.0, "m": 0.0, "x": -0.5}  # m: a branch never drawn
    assert list(scores.index) == ["lr", "opt", "m", "x"]
    ax = plots.plot_importance(history)
    assert [label.get_text() for label in ax.get_yticklabels()] == ["x", "m", "opt", "lr"]  # the largest at the top
    assert [bar.get_width() for bar in ax.patches] == pytest.approx([-0.5, 0.0, 4.0, 6.0])
    assert [line.get_xdata()[0] for line in ax.get_lines()] == [plots._NOISE_LEVEL]
    with pytest.raises(ValueError, match="no evidence columns"):
        plots.importance(history.drop(columns=[c for c in history.columns if c.endswith(":evidence")]))


def test_slice_has_a_panel_per_parameter(pyplot, benchmark_run):
    _, results = benchmark_run
    fig = plots.plot_slice(results, "loss", "min", log_scale=["lr"])
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_visible() and ax.get_title()}
    assert list(panels) == list(BENCHMARK)
    assert panels["lr"].get_xscale() == "log" and panels["width"].get_xscale() == "linear"
    assert sorted(label.get_text() for label in panels["act"].get_xticklabels()) == ["gelu", "relu", "tanh"]
    trials, best = panels["width"].collections
    assert len(trials.get_offsets()) == len(results)
    assert best.get_offsets()[0][1] == pytest.approx(results["loss"].min())
    # A conditional parameter: the panel holds only the trials that have it.
    results = results.assign(**{"config/momentum": np.where(results["config/act"] == "relu", 0.9, np.nan)})
    fig = plots.plot_slice(results, "loss", "max", params=["momentum"])
    assert len(fig.axes[0].collections[0].get_offsets()) == (results["config/act"] == "relu").sum()
    assert fig.axes[0].collections[1].get_offsets()[0][1] == pytest.approx(
        results.loc[results["config/act"] == "relu", "loss"].max())


def test_contour_of_two_numerics_and_of_a_choice(pyplot, benchmark_run):
    from matplotlib.collections import QuadMesh
    from matplotlib.contour import ContourSet

    _, results = benchmark_run
    ax = plots.plot_contour(results, "loss", "width", "unused_x")
    assert any(isinstance(artist, ContourSet) for artist in ax.get_children())
    assert ax.get_xlabel() == "width"
    ax = plots.plot_contour(results, "loss", "act", "width")
    assert any(isinstance(artist, QuadMesh) for artist in ax.collections)
    assert [label.get_text() for label in ax.get_xticklabels()] == ["gelu", "relu", "tanh"]
    for few in (results.iloc[:1], results.iloc[:2]):  # too few trials for a surface: cells instead
        ax = plots.plot_contour(few, "loss", "width", "unused_x")
        assert any(isinstance(artist, QuadMesh) for artist in ax.collections)
        assert len(ax.collections[-1].get_offsets()) == len(few)


def test_clear_errors_of_the_analysis_plots(pyplot):
    df = pd.DataFrame({"loss": [1.0, 0.5], "config/lr": [0.1, 0.01], "config/momentum": [np.nan, 0.9]})
    with pytest.raises(ValueError, match=r"no parameter \['beta'\]"):
        plots.plot_slice(df, "loss", "min", params=["beta"])
    with pytest.raises(ValueError, match="'accuracy'"):
        plots.plot_slice(df, "accuracy", "max")
    with pytest.raises(ValueError, match="best"):
        plots.plot_slice(df, "loss", "best")
    with pytest.raises(ValueError, match=r"no parameter \['beta'\]"):
        plots.plot_contour(df, "loss", "lr", "beta")
    with pytest.raises(ValueError, match="'accuracy'"):
        plots.plot_contour(df, "accuracy", "lr", "momentum")
    with pytest.raises(ValueError, match="no trial has 'lr', 'momentum'"):
        plots.plot_contour(df.iloc[:1], "loss", "lr", "momentum")
    with pytest.raises(ValueError, match="no config/ column"):
        plots.plot_slice(df[["loss"]], "loss", "min")
    with pytest.raises(ValueError, match="'accuracy'"):
        plots.trial_importance(df, "accuracy", "max")
    with pytest.raises(ValueError, match="at least one update"):
        plots.importance(pd.DataFrame())


def test_trial_importance_without_optuna_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ImportError, match="pip install optuna"):
        plots.trial_importance(pd.DataFrame({"loss": [1.0], "config/lr": [0.1]}), "loss", "min")


@pytest.mark.slow
def test_with_eight_in_flight_the_ignored_parameters_still_rank_last():
    # Results in random order, 8 in flight: a batch mixes trials drawn under older policies, and the rank
    # model picks some. A little of lr's, width's and act's effect leaks into the ignored ones (measured:
    # means 0.49 and 1.0, the largest 2.87), never enough to pass the noise level or outrank them.
    scores = []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        searcher = PGSearcher(BENCHMARK, metric="loss", mode="min", seed=seed)
        pending = {}
        for i in range(300):
            pending[str(i)] = searcher.suggest(str(i))
            if len(pending) >= 8:
                tid = list(pending)[rng.integers(len(pending))]
                searcher.on_trial_complete(tid, {"loss": benchmark_loss(pending.pop(tid))})
        scores.append(plots.importance(searcher.history()))
        assert set(scores[-1].index[-2:]) == IGNORED, (seed, scores[-1])
    ignored = pd.DataFrame(scores)[list(IGNORED)]
    assert ignored.max().max() < plots._NOISE_LEVEL and ignored.mean().max() < 1.5, ignored.describe()
