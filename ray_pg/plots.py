"""Pictures of a search: the best result so far, what the policy learnt, and which parameters matter.

Needs matplotlib, an optional extra: ``pip install "ray_pg[plots]"``.

    from ray_pg.plots import plot_best_so_far, plot_contour, plot_importance, plot_policy, plot_slice

    ax = plot_best_so_far(result_grid, "loss", "min")      # or its get_dataframe()
    fig = plot_policy(searcher.history())                  # one panel per parameter
    ax = plot_importance(searcher.history())               # which parameters mattered to the updates
    fig = plot_slice(result_grid, "loss", "min")           # the metric against each parameter
    ax = plot_contour(result_grid, "loss", "lr", "momentum")

Over 300 lines: six pictures, each reading Tune's dataframe or the policy's history columns and
checking its arguments with errors that name what is missing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_INSTALL = 'pip install "ray_pg[plots]"'
_CATEGORY = re.compile(r"^(?P<path>.+):p\[(?P<category>.*)\]$")
_GAUSSIAN = re.compile(r"^(?P<path>.+):(?P<stat>mean|sd)$")


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(f"ray_pg.plots needs matplotlib: {_INSTALL}") from error
    return plt


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    """``ax``, or the axes of a new figure of ``figsize``; without matplotlib, the same clear error."""
    plt = _pyplot()
    return plt.subplots(figsize=figsize, constrained_layout=True)[1] if ax is None else ax


def results_dataframe(results: Any) -> pd.DataFrame:
    """One row per trial from a ``ResultGrid``, an ``ExperimentAnalysis`` or a dataframe."""
    if isinstance(results, pd.DataFrame):
        return results
    if hasattr(results, "get_dataframe"):  # tune.ResultGrid
        return results.get_dataframe()
    if hasattr(results, "results_df"):  # tune.ExperimentAnalysis (tune.run): indexed by trial_id
        df = results.results_df
        return df if "trial_id" in df.columns else df.reset_index()
    raise TypeError(f"expected a ResultGrid, an ExperimentAnalysis or a pandas DataFrame, got {type(results)!r}")


def best_so_far(results: Any, metric: str, mode: str) -> pd.DataFrame:
    """Trials in completion order with their metric and the best value up to each.

    Completion order is the ``timestamp`` of each trial's last result (whole
    seconds; ties keep Tune's trial order). Trials without a finite metric (errored
    ones) are left out.

    Returns:
        Columns ``trial`` (1, 2, ...), ``trial_id``, ``value`` and ``best_so_far``.
    """
    _check_mode(mode)
    df = _completion_order(results_dataframe(results))
    values = _metric_values(df, metric)
    keep = np.isfinite(values)
    values = values[keep]
    ids = df["trial_id"].to_numpy()[keep] if "trial_id" in df.columns else np.arange(len(df))[keep]
    best = np.maximum.accumulate(values) if mode == "max" else np.minimum.accumulate(values)
    return pd.DataFrame({"trial": np.arange(1, len(values) + 1), "trial_id": ids, "value": values,
                         "best_so_far": best})


def _check_mode(mode: str) -> None:
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode=}")


def _completion_order(df: pd.DataFrame) -> pd.DataFrame:
    """Trials by the ``timestamp`` of their last result (whole seconds; ties keep Tune's trial order)."""
    return df.sort_values("timestamp", kind="stable") if "timestamp" in df.columns else df


def _metric_values(df: pd.DataFrame, metric: str) -> np.ndarray:
    """The metric per row, NaN where a trial has none (errored)."""
    if metric not in df.columns:
        raise ValueError(f"no column {metric!r} in the results; columns: {sorted(map(str, df.columns))}")
    return pd.to_numeric(df[metric], errors="coerce").to_numpy(dtype=float)


def plot_best_so_far(results: Any, metric: str, mode: str, ax: Axes | None = None) -> Axes:
    """Each trial's metric (dots) and the best so far (a step line), against trials completed.

    Args:
        results: a ``ResultGrid``, an ``ExperimentAnalysis`` or Tune's results dataframe.
        metric: the result column to plot.
        mode: ``"max"`` or ``"min"``: which values are better.
        ax: the axes to draw on; None: a new figure.
    """
    data = best_so_far(results, metric, mode)
    ax = _axes(ax, (6, 4))
    ax.scatter(data["trial"], data["value"], s=12, alpha=0.45, color="tab:gray", label="trial")
    ax.step(data["trial"], data["best_so_far"], where="post", color="tab:blue", linewidth=2,
            label="best so far")
    ax.set_xlabel("trials completed")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} ({mode})")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right" if mode == "max" else "upper right")
    return ax


def policy_parameters(history: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The parameters described in ``PGSearcher.history()``, in column order.

    Returns:
        ``{path: {"kind": "choice", "columns": {category: column}}}`` or
        ``{path: {"kind": "gaussian", "mean": column, "sd": column}}``.
    """
    params: dict[str, dict[str, Any]] = {}
    for column in history.columns:
        if match := _CATEGORY.match(str(column)):
            entry = params.setdefault(match["path"], {"kind": "choice", "columns": {}})
            entry["columns"][match["category"]] = column
        elif match := _GAUSSIAN.match(str(column)):
            params.setdefault(match["path"], {"kind": "gaussian"})[match["stat"]] = column
    return params


def plot_policy(history: pd.DataFrame, *, params: Iterable[str] | None = None,
                log_scale: Iterable[str] | None = None, ncols: int = 3) -> Figure:
    """The policy after each update, one panel per parameter.

    Choices show each category's probability; numeric parameters show the
    policy's centre (``"<path>:mean"``) with a band of its spread
    (``"<path>:sd"``: half the width of the values one sd either side of the
    centre), both in the parameter's own units.

    Args:
        history: ``PGSearcher.history()``, one row per policy update.
        params: the parameter paths to draw (as in the history's columns); None: all.
        log_scale: numeric parameters to draw on a log axis; None: those whose
            values are positive and whose spread exceeds their centre at the
            first update (log-uniform domains).
        ncols: panels per row.
    """
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols=}")
    described = policy_parameters(history)
    if not described or history.empty:
        raise ValueError("the history describes no parameter: pass PGSearcher.history() after at least one update")
    names = list(described) if params is None else list(params)
    unknown = [name for name in names if name not in described]
    if unknown:
        raise ValueError(f"no parameter {unknown} in the history; known: {list(described)}")
    plt = _pyplot()
    rows = math.ceil(len(names) / ncols)
    cols = min(ncols, len(names))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False, constrained_layout=True)
    update = history["update"] if "update" in history.columns else pd.Series(np.arange(1, len(history) + 1))
    logs = None if log_scale is None else set(log_scale)
    for ax, name in zip(axes.flat, names):
        entry = described[name]
        if entry["kind"] == "choice":
            for category, column in entry["columns"].items():
                ax.plot(update, history[column], marker=".", label=category)
            ax.set_ylim(0, 1)
            ax.set_ylabel("probability")
            ax.legend(fontsize="small", ncol=1 + len(entry["columns"]) // 5)
        else:
            mean, sd = history[entry["mean"]], history[entry["sd"]]
            log = _looks_logarithmic(mean, mean.iloc[0], sd.iloc[0]) if logs is None else name in logs
            _plot_gaussian(ax, update, mean.to_numpy(float), sd.to_numpy(float), log=log)
        ax.set_title(name)
        ax.set_xlabel("update")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    return fig


def _looks_logarithmic(values: pd.Series, centre: float, spread: float) -> bool:
    """Positive values spread wider than their centre: a log-scaled domain.

    The policy's first spread exceeds its centre on a log-uniform domain; so does the sd of
    log-uniform samples over more than about two decades, never that of uniform ones.
    """
    return bool(len(values) and (values > 0).all() and spread > centre)


def _log_interval(mean: np.ndarray, sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The interval [lo, hi] the history describes on a log domain: lo * hi = centre^2, hi - lo = 2 * spread."""
    high = sd + np.sqrt(sd**2 + mean**2)
    return mean**2 / high, high


def _plot_gaussian(ax: Axes, update: pd.Series, mean: np.ndarray, sd: np.ndarray, *, log: bool) -> None:
    """The centre as a line, the spread as a band; on a log axis the band is symmetric in log space."""
    if log:
        if not (mean > 0).all():
            raise ValueError(f"a log axis needs positive values, got centres down to {mean.min()}")
        low, high = _log_interval(mean, sd)
        ax.set_yscale("log")
    else:
        low, high = mean - sd, mean + sd
    ax.plot(update, mean, color="tab:blue", marker=".", label="centre")
    ax.fill_between(update, low, high, color="tab:blue", alpha=0.2, label="spread")
    ax.set_ylabel("value")


def importance(history: pd.DataFrame) -> pd.Series:
    """The evidence that each parameter mattered to the updates, in sds of noise; largest first.

    From the last row of ``PGSearcher.history()``: each update adds its batch to how much each
    parameter's draws explain the ranks of the batches so far (``<path>:evidence``, see
    ``ray_pg/evidence.py``). Where the metric ignores a parameter this stays about a standard normal
    value, near 0; where the ranks depend on it, it grows with every batch. A parameter of a branch
    never drawn scores 0.

    Not how far the policy moved: CMA-ES's one step size shrinks every coordinate as the relevant ones
    converge, those the metric ignores too, so the distance moved does not tell them apart.
    """
    columns = [column for column in history.columns if str(column).endswith(":evidence")]
    if not columns or history.empty:
        raise ValueError("the history holds no evidence columns (<path>:evidence): pass PGSearcher.history() "
                         "after at least one update")
    last = history[columns].apply(pd.to_numeric, errors="coerce").iloc[-1].fillna(0.0)
    last.index = [str(column).removesuffix(":evidence") for column in columns]
    return last.rename("importance").sort_values(ascending=False, kind="stable")


# A standard normal score passes 3 once in 740; on a flat objective, 200 seeds, the score of a parameter the
# metric ignores passed it 1 time in 1,800 (9 parameters; tests/test_evidence.py).
_NOISE_LEVEL = 3.0


def plot_importance(history: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """:func:`importance` as horizontal bars, the largest at the top, with the level noise seldom passes."""
    scores = importance(history)
    ax = _axes(ax, (6, 0.8 + 0.35 * len(scores)))
    ax.barh(list(scores.index)[::-1], scores.to_numpy()[::-1], color="tab:blue")
    ax.axvline(_NOISE_LEVEL, color="tab:gray", linestyle="--", label="noise seldom passes this")
    ax.set_xlim(min(0.0, scores.min()) - 0.5, max(scores.max(), _NOISE_LEVEL) * 1.05 + 0.5)
    ax.set_xlabel("evidence that the ranks depend on it, in sds of noise")
    ax.set_title("which parameters mattered to the updates")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right")
    return ax


def trial_parameters(results: Any) -> dict[str, str]:
    """The parameters in Tune's results: ``{path: column}``, e.g. ``{"svm/C": "config/svm/C"}``."""
    return {str(column).removeprefix("config/"): column for column in results_dataframe(results).columns
            if str(column).startswith("config/")}


def _is_categorical(values: pd.Series) -> bool:
    return pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values)


def _looks_logarithmic_sample(values: pd.Series) -> bool:
    return _looks_logarithmic(values, values.mean(), values.std())


def trial_importance(results: Any, metric: str, mode: str, *, seed: int = 0) -> pd.Series:
    """Optuna's fANOVA importance of each parameter, from the trials alone; largest first.

    A check on :func:`importance` that knows nothing of the policy. Like Optuna, it ranks the
    parameters that every trial with a finite metric has: those of a conditional branch are left
    out unless every trial drew it. Needs optuna and scikit-learn.
    """
    try:
        import optuna
    except ImportError as error:
        raise ImportError("trial_importance needs optuna and scikit-learn: pip install optuna scikit-learn") \
            from error
    _check_mode(mode)
    df = results_dataframe(results)
    values = _metric_values(df, metric)
    df, values = df[np.isfinite(values)], values[np.isfinite(values)]
    distributions = {}
    for name, column in trial_parameters(df).items():
        present = df[column].dropna()
        if present.empty:
            continue
        if _is_categorical(present):
            distributions[name] = optuna.distributions.CategoricalDistribution(sorted(set(map(str, present))))
        else:
            distributions[name] = optuna.distributions.FloatDistribution(
                float(present.min()), float(present.max()), log=_looks_logarithmic_sample(present))
    if len(values) < 2 or not distributions:
        raise ValueError(f"trial_importance needs two trials with a finite {metric!r} and parameters "
                         f"(config/ columns); got {len(values)} trials and {list(distributions)}")
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # not one "study created" line per call
    try:
        study = optuna.create_study(direction="maximize" if mode == "max" else "minimize")
        for (_, row), value in zip(df.iterrows(), values):
            params = {name: str(row[trial_parameters(df)[name]]) if isinstance(distribution,
                      optuna.distributions.CategoricalDistribution) else float(row[trial_parameters(df)[name]])
                      for name, distribution in distributions.items() if pd.notna(row[trial_parameters(df)[name]])}
            study.add_trial(optuna.trial.create_trial(
                params=params, distributions={name: distributions[name] for name in params}, value=value))
        scores = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed))
    finally:
        optuna.logging.set_verbosity(verbosity)
    return pd.Series(scores, name="importance", dtype=float).sort_values(ascending=False, kind="stable")


def _chosen_parameters(df: pd.DataFrame, names: Iterable[str] | None) -> dict[str, str]:
    known = trial_parameters(df)
    if not known:
        raise ValueError(f"no parameter in the results (no config/ column); columns: {sorted(map(str, df.columns))}")
    names = list(known) if names is None else list(names)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"no parameter {unknown} in the results; known: {list(known)}")
    return {name: known[name] for name in names}


def plot_slice(results: Any, metric: str, mode: str, params: Iterable[str] | None = None, *,
               log_scale: Iterable[str] | None = None, ncols: int = 3) -> Figure:
    """The metric of each trial against each parameter, one panel per parameter.

    Points are coloured by completion order; a star marks the best trial. Choices sit on a
    category axis; a parameter that a trial's branch lacks is left out of that panel.

    Args:
        results: a ``ResultGrid``, an ``ExperimentAnalysis`` or Tune's results dataframe.
        metric: the result column to plot.
        mode: ``"max"`` or ``"min"``: which values are better.
        params: parameter paths as in :func:`trial_parameters` (``"svm/C"``); None: all.
        log_scale: numeric parameters to draw on a log axis; None: those whose values look
            log-uniform (positive, sd above the mean).
        ncols: panels per row.
    """
    _check_mode(mode)
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols=}")
    df = _completion_order(results_dataframe(results))
    values = _metric_values(df, metric)
    chosen = _chosen_parameters(df, params)
    plt = _pyplot()
    rows, cols = math.ceil(len(chosen) / ncols), min(ncols, len(chosen))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False, constrained_layout=True)
    order = np.arange(1, len(df) + 1)
    logs = None if log_scale is None else set(log_scale)
    for ax, (name, column) in zip(axes.flat, chosen.items()):
        keep = df[column].notna().to_numpy() & np.isfinite(values)
        x, y = df[column][keep], values[keep]
        if _is_categorical(x):
            x = x.astype(str)
        elif logs is None and _looks_logarithmic_sample(x) or logs is not None and name in logs:
            ax.set_xscale("log")
        points = ax.scatter(x, y, c=order[keep], cmap="viridis", vmin=1, vmax=len(df), s=14, alpha=0.8)
        if len(y):
            best = int(np.argmax(y) if mode == "max" else np.argmin(y))
            ax.scatter([x.iloc[best]], [y[best]], marker="*", s=160, color="tab:red", edgecolor="black",
                       zorder=3, label="best")
        ax.set_title(name)
        ax.set_xlabel(name)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(chosen):]:
        ax.set_visible(False)
    fig.colorbar(points, ax=axes, label="trial (completion order)")
    return fig


def plot_contour(results: Any, metric: str, x: str, y: str, ax: Axes | None = None) -> Axes:
    """The metric over two parameters: the trials coloured by it over a surface of it.

    Two numeric parameters: a surface interpolated between the trials (``tricontourf``) in
    the coordinates drawn (log10 where the values look log-uniform). With a choice on an axis,
    or trials on one line: the mean metric per cell, one cell per category and up to 10 bins
    per numeric axis. Trials lacking either parameter (another branch) are left out.

    Args:
        results: a ``ResultGrid``, an ``ExperimentAnalysis`` or Tune's results dataframe.
        metric: the result column to plot.
        x: the parameter on the horizontal axis, a path as in :func:`trial_parameters` (``"svm/C"``).
        y: the parameter on the vertical axis, likewise.
        ax: the axes to draw on; None: a new figure.
    """
    df = results_dataframe(results)
    values = _metric_values(df, metric)
    columns = _chosen_parameters(df, [x, y])
    keep = df[columns[x]].notna().to_numpy() & df[columns[y]].notna().to_numpy() & np.isfinite(values)
    if not keep.any():
        raise ValueError(f"no trial has {x!r}, {y!r} and a finite {metric!r}")
    ax = _axes(ax, (6, 4.8))
    z = values[keep]
    (cx, x_edges), (cy, y_edges) = (_coordinates(df[columns[name]][keep], axis, name)
                                    for name, axis in ((x, ax.xaxis), (y, ax.yaxis)))
    norm = _pyplot().Normalize(z.min(), z.max())
    spread = np.column_stack([cx, cy])
    if x_edges is None and y_edges is None and np.linalg.matrix_rank(spread - spread.mean(axis=0)) == 2:
        ax.tricontourf(cx, cy, z, levels=12, cmap="viridis", norm=norm, alpha=0.8)
    else:  # a category axis or a line of trials: the mean per cell
        x_edges, y_edges = (_bins(c) if e is None else e for c, e in ((cx, x_edges), (cy, y_edges)))
        count, _, _ = np.histogram2d(cx, cy, bins=[x_edges, y_edges])
        total, _, _ = np.histogram2d(cx, cy, bins=[x_edges, y_edges], weights=z)
        mean = np.ma.masked_where(count == 0, total / np.maximum(count, 1))
        ax.pcolormesh(x_edges, y_edges, mean.T, cmap="viridis", norm=norm, alpha=0.8)
    points = ax.scatter(cx, cy, c=z, cmap="viridis", norm=norm, s=24, edgecolor="black", linewidth=0.5)
    ax.figure.colorbar(points, ax=ax, label=metric)
    ax.set_title(f"{metric} over {x} and {y}")
    return ax


def _coordinates(values: pd.Series, axis: Any, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Where the values are drawn, labelling ``axis``; a category axis also gives its cell edges."""
    if _is_categorical(values):
        codes = pd.Categorical(values.astype(str))
        axis.set_ticks(range(len(codes.categories)), labels=list(codes.categories))
        axis.set_label_text(name)
        return codes.codes.astype(float), np.arange(len(codes.categories) + 1) - 0.5
    numbers = values.to_numpy(float)
    if _looks_logarithmic_sample(values):
        axis.set_label_text(f"log10 {name}")
        return np.log10(numbers), None
    axis.set_label_text(name)
    return numbers, None


def _bins(coordinates: np.ndarray) -> np.ndarray:
    """Up to 10 equal bins over the values, about sqrt(n) of them; one bin of width 1 around a single value."""
    low, high = coordinates.min(), coordinates.max()
    if low == high:
        return np.array([low - 0.5, high + 0.5])
    return np.linspace(low, high, min(10, math.ceil(math.sqrt(len(coordinates)))) + 1)
