"""A one-line progress bar for Tune runs: trials done of total, running, best so far, policy updates.

Tune's own output prints a box per trial and a table of all trials; with
``tune.RunConfig(verbose=0)`` it prints nothing, and this callback shows the one
line that matters while the run goes on::

    searcher = PGSearcher()
    tune.Tuner(trainable, param_space=space,
               tune_config=tune.TuneConfig(search_alg=searcher, metric="loss", mode="min", num_samples=200),
               run_config=tune.RunConfig(verbose=0, callbacks=[ProgressBar(searcher)])).fit()

    trials:  41%|████▏     | 82/200 [00:19<00:27, running=8, best loss=0.0132, updates=9]
"""

from __future__ import annotations

import math
import sys
import time
from numbers import Real
from typing import IO, Any

from ray.tune import Callback
from ray.tune.experiment import Trial

# Tune's total for `num_samples=-1` is a huge number: show no total then.
_UNBOUNDED = 10**9


class ProgressBar(Callback):
    """A Tune callback drawing one updating tqdm line for the whole run.

    The line shows trials done (finished or errored) of the total, trials
    running, the best value of the metric reported so far (by any trial, at any
    iteration) and, for a ``PGSearcher``, its number of policy updates.

    Args:
        searcher: the search algorithm given to Tune. A ``PGSearcher``, possibly
            wrapped (``ConcurrencyLimiter``, ``Repeater``), adds its update count
            and lends its metric and mode; any other searcher, or None, adds
            nothing.
        metric: the result key whose best value to show; None: the searcher's
            (the first one of a multi-objective search). Without any, no best
            value is shown.
        mode: ``"max"`` or ``"min"`` for ``metric``; None: the searcher's.
        file: where to draw the line (default: standard error).
        refresh_s: least seconds between two counts of the trials' states.
    """

    def __init__(self, searcher: Any = None, *, metric: str | None = None, mode: str | None = None,
                 file: IO[str] | None = None, refresh_s: float = 0.5) -> None:
        if mode not in (None, "max", "min"):
            raise ValueError(f"mode must be 'max', 'min' or None, got {mode=}")
        if refresh_s < 0:
            raise ValueError(f"refresh_s must be >= 0, got {refresh_s=}")
        self._searcher = _unwrap(searcher)
        self._metric = metric
        self._mode = mode
        self._file = file
        self._refresh_s = refresh_s
        self._bar: Any = None
        self._last_refresh = -math.inf
        self.total: int | None = None
        self.done = 0
        self.errors = 0
        self.running = 0
        self.best: float | None = None

    def __getstate__(self) -> dict:
        # Tune pickles callbacks into its experiment state: the bar and the
        # stream stay behind and are made again by `setup`.
        return {**self.__dict__, "_bar": None, "_file": None}

    # ------------------------------------------------------------ Tune hooks

    def setup(self, stop: Any = None, num_samples: int | None = None, total_num_samples: int | None = None,
              **info: Any) -> None:
        from tqdm.auto import tqdm

        self.total = total_num_samples if total_num_samples and 0 < total_num_samples < _UNBOUNDED else None
        self._bar = tqdm(total=self.total, desc="trials", unit="trial", file=self._file or sys.stderr,
                         dynamic_ncols=True, leave=True)

    def on_trial_result(self, iteration: int, trials: list[Trial], trial: Trial, result: dict, **info: Any) -> None:
        self._observe(result)

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        # A trial's final result may be withheld from on_trial_result (a
        # scheduler's stop, a class Trainable's done=True): read it here.
        self._observe(trial.last_result)
        self._refresh(trials, force=True)

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self._refresh(trials, force=True)

    def on_step_end(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        self._refresh(trials)

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        self._refresh(trials, force=True)
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    # -------------------------------------------------------------- helpers

    def _objective(self) -> tuple[str | None, str | None]:
        """(metric, mode): the ones given, else the searcher's (its first metric if several)."""
        metric, mode = self._metric, self._mode
        if self._searcher is not None:
            metric = metric if metric is not None else _first(getattr(self._searcher, "metric", None))
            mode = mode if mode is not None else _first(getattr(self._searcher, "mode", None))
        return metric, mode

    def _observe(self, result: dict | None) -> None:
        metric, mode = self._objective()
        if not result or metric is None or mode is None:
            return
        value = result.get(metric)
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
            return
        if self.best is None or (value > self.best if mode == "max" else value < self.best):
            self.best = float(value)

    def _refresh(self, trials: list[Trial], *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_refresh < self._refresh_s:
            return
        self._last_refresh = now
        statuses = [trial.status for trial in trials]
        self.errors = statuses.count(Trial.ERROR)
        self.done = statuses.count(Trial.TERMINATED) + self.errors
        self.running = statuses.count(Trial.RUNNING)
        if self._bar is None:
            return
        self._bar.n = self.done
        self._bar.set_postfix_str(self._postfix(), refresh=False)
        self._bar.refresh()

    def _postfix(self) -> str:
        parts = [f"running={self.running}"]
        if self.errors:
            parts.append(f"errors={self.errors}")
        metric, _ = self._objective()
        if self.best is not None:
            parts.append(f"best {metric}={self.best:.4g}")
        updates = getattr(self._searcher, "num_updates", None)
        if updates is not None:
            parts.append(f"updates={updates}")
        return ", ".join(parts)


def _unwrap(searcher: Any) -> Any:
    """The innermost searcher of ConcurrencyLimiter / Repeater / SearchGenerator wrappers."""
    while searcher is not None and getattr(searcher, "searcher", None) is not None:
        searcher = searcher.searcher
    return searcher


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, (list, tuple)) and value else value
