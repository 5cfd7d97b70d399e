"""PGSearcher: a Ray Tune searcher that learns a sampling policy with policy gradients."""

from __future__ import annotations

import base64
import json
import math
import pickle
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd
from ray.tune.search import Searcher

from ray_pg import concurrency
from ray_pg.pareto import pareto_scores
from ray_pg.policy import Adam, Policy, UpdateSettings, advantages, by_level, update
from ray_pg.space import Space

STATE_VERSION = 2
# The result key that says how far a trial went; Tune adds it to every result.
TRAINING_ITERATION = "training_iteration"
# Upper bound on every Gaussian's sd (in the units of its raw variable): above
# this a squashed Gaussian piles its mass on the range's two ends.
_MAX_SD = 2.0
# Default start of the sharpened sampling, as a fraction of the budget (single
# objective; benchmark sweeps in experiments/results/summary.md).
_EXPLOIT_FROM = 0.7
# Auto batch size: at least this many completed trials (full-length equivalents) per update ...
_MIN_AUTO_BATCH = 8
# ... and a quarter of the trials in flight: fresh enough, and enough updates.
_AUTO_BATCH_FRACTION = 0.25


class CheckpointError(ValueError):
    """A searcher state that cannot be restored: another version or space, or corrupted."""


class PGSearcher(Searcher):
    """Suggests configs from a policy over the search space, improved by REINFORCE.

    Each parameter gets an actor (softmax logits for ``tune.choice``, a Gaussian
    for every numeric domain); each branch of a conditional choice gets actors of
    its own. Completed trials fill a batch; each full batch ranks its trials,
    turns the ranks into advantages and runs ``passes`` PPO-clipped Adam steps,
    with importance weights for samples drawn under an older policy.

    Trials are ranked by the metric; with several metrics, by Pareto front and
    then crowding distance. A trial that a scheduler (ASHA, HyperBand) or a
    stopper cut short ranks below every trial of its batch that went further
    (more ``training_iteration``s, or finished on its own); within one level
    the metric decides.

    Args:
        space: Tune search space. Leave None to take Tune's ``param_space``/``config``.
        metric: Result key to optimise, or a list of keys for multi-objective
            search. None: take Tune's (a metric given here wins over Tune's,
            which may be there for a scheduler only).
        mode: "max" or "min", or a list of them, one per metric. None: take Tune's.
        points_to_evaluate: Configs (possibly partial) to try first; missing
            parameters are drawn from the policy. A conditional choice is named
            by the values of its branch.
        evaluated_rewards: Metric values already known for ``points_to_evaluate``
            (with several metrics, one list of values per point); those points
            are then learnt from instead of suggested.
        batch_size: Completed trials per update. None follows the concurrency:
            ``max(8, a quarter of the trials in flight)``. A trial that Tune cut
            short at iteration t counts t / T, T the most iterations any trial
            reached, so updates follow the training spent.
        learning_rate: Adam step size on logits, means and log sds.
        passes: Adam steps per batch (clipped importance weights keep them safe).
        clip: PPO clip range of the importance ratio.
        entropy_coef: Weight of the policy entropy bonus (keeps it exploring).
        min_sd: Floor on each Gaussian's sd, in units of its raw variable.
        advantage: "nes" (log-rank utilities of natural evolution strategies),
            "rank" (centred ranks) or "zscore" (of the metric; of the ranks when
            there are several metrics or early-stopped trials).
        failed_trials: "worst": errored trials and NaN/inf/missing metrics rank
            below every other trial of their batch; "ignore": they are dropped.
        exploit_from: Fraction of Tune's ``num_samples`` after which suggestions
            come from a sharpened policy (1 disables it; no effect when the budget
            is unknown). None: 0.7 with one metric, 1 with several (a Pareto
            front needs the spread that sharpening takes away).
        exploit_temperature: Temperature reached at the end of the budget: logits
            are divided by it and every sd multiplied by it.
        seed: Seed of the searcher's own random generator (no global RNG is used).
    """

    def __init__(
        self,
        space: dict | None = None,
        *,
        metric: str | None = None,
        mode: str | None = None,
        points_to_evaluate: list[dict] | None = None,
        evaluated_rewards: list[float] | None = None,
        batch_size: int | None = None,
        learning_rate: float = 0.1,
        passes: int = 8,
        clip: float = 0.2,
        entropy_coef: float = 0.0,
        min_sd: float = 0.05,
        advantage: str = "nes",
        failed_trials: str = "worst",
        exploit_from: float | None = None,
        exploit_temperature: float = 0.5,
        seed: int | None = None,
    ):
        _check_objectives(metric, mode)
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 2):
            raise ValueError(f"batch_size must be None or an int >= 2, got {batch_size=}")
        if not (learning_rate > 0 and isinstance(passes, int) and passes >= 1 and clip > 0
                and entropy_coef >= 0 and 0 < min_sd < _MAX_SD):
            raise ValueError(f"expected learning_rate > 0, int passes >= 1, clip > 0, entropy_coef >= 0, "
                             f"0 < min_sd < {_MAX_SD}; got {learning_rate=}, {passes=}, {clip=}, "
                             f"{entropy_coef=}, {min_sd=}")
        if not ((exploit_from is None or 0 <= exploit_from <= 1) and 0 < exploit_temperature <= 1):
            raise ValueError(f"expected exploit_from None or in [0, 1] and 0 < exploit_temperature <= 1, got "
                             f"{exploit_from=}, {exploit_temperature=}")
        if advantage not in ("rank", "zscore", "nes"):
            raise ValueError(f"advantage must be 'nes', 'rank' or 'zscore', got {advantage=}")
        if failed_trials not in ("worst", "ignore"):
            raise ValueError(f"failed_trials must be 'worst' or 'ignore', got {failed_trials=}")
        if evaluated_rewards is not None and len(evaluated_rewards) != len(points_to_evaluate or []):
            raise ValueError(f"evaluated_rewards needs one value per point of points_to_evaluate, got "
                             f"{len(evaluated_rewards)} for {len(points_to_evaluate or [])} points")
        super().__init__(metric=metric, mode=mode)
        self._settings = UpdateSettings(learning_rate, passes, clip, entropy_coef, min_sd, _MAX_SD)
        self._batch_size = batch_size
        self._advantage = advantage
        self._failed_trials = failed_trials
        self._exploit_from = exploit_from
        self._exploit_temperature = exploit_temperature
        self._num_suggested = 0
        self._points_to_evaluate = list(points_to_evaluate or [])
        self._evaluated_rewards = None if evaluated_rewards is None else list(evaluated_rewards)
        self._rng = np.random.default_rng(seed)
        self._space: Space | None = None
        self._space_from_checkpoint = False
        self._max_concurrent: int | None = None
        self._num_samples: int | None = None
        # Tune's `stop={key: value}`: a trial stopped by it ended on its own terms.
        self._stop: dict | None = None
        self._pending: dict[str, tuple[np.ndarray, float]] = {}
        # training_iteration of each pending trial's last result seen in
        # on_trial_result: its final result differs when Tune cut it short.
        self._seen_iteration: dict[str, int] = {}
        # The most training_iterations any completed trial reached.
        self._full_iterations = 1.0
        # (raw, log-prob under the drawing policy, rewards, level); see _complete.
        self._batch: list[tuple[np.ndarray, float, np.ndarray, float]] = []
        self._history: list[dict] = []
        self.num_updates = 0
        self.num_failed = 0
        self._trials_used = 0
        self._peak_in_flight = 0
        if space is not None:
            self._setup(space)

    # ----------------------------------------------------------------- set-up

    def _setup(self, config: dict) -> None:
        self._space = Space(config)
        # Tune keeps no param_space for `Tuner.restore(path, trainable)`, so the
        # state carries the space itself. Domains and categories are arbitrary
        # Python objects: pickled, as Tune pickles them for its trials.
        self._space_pickle = base64.b64encode(pickle.dumps(config)).decode("ascii")
        self._policy = Policy(self._space.columns())
        self._adam = Adam.zeros(self._policy.params.size)
        points = [self._space.encode(point) for point in self._points_to_evaluate]
        if self._evaluated_rewards is None:
            self._queue = points
            return
        if self._mode is None or self._metric is None:
            raise ValueError("evaluated_rewards need a metric and a mode ('max' or 'min') to tell good "
                             "from bad: pass metric= and mode= to PGSearcher")
        self._queue = []
        for point, config_point, value in zip(points, self._points_to_evaluate, self._evaluated_rewards):
            active = self._space.active(point)
            if np.isnan(point[active]).any():
                raise ValueError(f"a point with an evaluated reward must set every parameter, got {config_point}")
            point = np.where(active, point, np.nan)
            self._complete(point, float(self._policy.log_prob(point)[0]), self._rewards_of(value), math.inf)

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec) -> bool:
        if self._space is not None and not self._space_from_checkpoint:
            return False
        # The searcher's own metric and mode win: Tune's may be there only for a
        # scheduler (e.g. one metric of a multi-objective search, for ASHA).
        metric = self._metric if self._metric is not None else metric
        mode = self._mode if self._mode is not None else mode
        _check_objectives(metric, mode)
        # Restored before Tune handed its space over: keep the state, use Tune's space.
        restored = self.get_state() if self._space_from_checkpoint else None
        self._setup(config)
        if restored is not None:
            self.set_state(restored)  # CheckpointError if Tune's space is another one
            self._space_from_checkpoint = False
        self._metric, self._mode = metric, mode
        self._num_samples = spec.get("num_samples", self._num_samples)
        stop = spec.get("stop")
        if isinstance(stop, dict):
            self._stop = {str(key): float(value) for key, value in stop.items() if isinstance(value, Real)}
        # Tune's pending-trial limit for custom searchers is 1 unless set: raise it (ray_pg/concurrency.py).
        concurrency.open_window(self, limited=self._max_concurrent is not None)
        return True

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        # Returning True lets a ConcurrencyLimiter hand the limit to us: the auto
        # batch size then follows it from the first trial on.
        self._max_concurrent = max_concurrent
        return True

    # ------------------------------------------------------- suggest / complete

    def suggest(self, trial_id: str) -> dict | None:
        concurrency.close_window(self, limited=self._max_concurrent is not None)  # Tune has read the limit
        if self._space is None:
            raise RuntimeError("PGSearcher has no search space: pass one to PGSearcher(space=...) or "
                               "as Tuner(param_space=...) / tune.run(config=...)")
        if self._metric is None or self._mode is None:
            raise RuntimeError("PGSearcher needs a metric and a mode: pass them to PGSearcher(...) or "
                               "to tune.TuneConfig / tune.run")
        if self._max_concurrent is not None and len(self._pending) >= self._max_concurrent:
            return None
        policy = self._sampling_policy()
        raw = policy.sample(self._rng)
        if self._queue:
            given = self._queue.pop(0)
            raw = np.where(np.isnan(given), raw, given)
        raw = self._space.mask_inactive(raw)
        self._num_suggested += 1
        # The log-probability under the distribution that drew the sample keeps the
        # importance weights of later updates exact.
        self._pending[trial_id] = (raw, float(policy.log_prob(raw)[0]))
        self._peak_in_flight = max(self._peak_in_flight, len(self._pending))
        return self._space.decode(raw)

    def _sampling_policy(self) -> Policy:
        """The policy, sharpened over the last part of a known budget."""
        if not self._num_samples or self._num_samples < 0:
            return self._policy
        exploit_from = self._exploit_from
        if exploit_from is None:
            exploit_from = _EXPLOIT_FROM if len(_as_list(self._metric)) <= 1 else 1.0
        progress = self._num_suggested / self._num_samples
        if progress < exploit_from:
            return self._policy
        ramp = min(1.0, (progress - exploit_from) / max(1e-9, 1.0 - exploit_from))
        return self._policy.tempered(1.0 - ramp * (1.0 - self._exploit_temperature))

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        # Tune passes on every result except the one on which it stops a trial.
        if trial_id in self._pending:
            self._seen_iteration[trial_id] = result.get(TRAINING_ITERATION)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Record a finished, early-stopped or failed trial; update on a full batch.

        Unknown and repeated ids (after a restore) are ignored. A trial stopped
        before it ran (no result, no error) tells nothing and is dropped.
        """
        entry = self._pending.pop(trial_id, None)
        seen = self._seen_iteration.pop(trial_id, None)
        if entry is None or (result is None and not error):
            return
        if error:
            self._complete(*entry, self._rewards_of(None), math.inf)
            return
        iteration = result.get(TRAINING_ITERATION)
        if isinstance(iteration, Real):
            self._full_iterations = max(self._full_iterations, float(iteration))
        # Its last result never reached on_trial_result: Tune stopped the trial
        # there, so it ranks by how far it went. A trial that ended on its own
        # (its last result seen already) went as far as it meant to.
        stopped = isinstance(iteration, Real) and iteration != seen and not self._met_stop(result)
        self._complete(*entry, self._rewards_of(result), float(iteration) if stopped else math.inf)

    def _met_stop(self, result: dict) -> bool:
        """Whether ``result`` meets Tune's ``stop`` dict (Tune stops at ``result[key] >= value``)."""
        return self._stop is not None and any(
            isinstance(result.get(key), Real) and result[key] >= value for key, value in self._stop.items())

    def _rewards_of(self, result: dict | list | Real | None) -> np.ndarray:
        """Rewards to maximise, one per metric, from a result dict or given values.

        NaN marks a failed trial or a missing/NaN/inf/non-numeric metric.
        """
        metrics, modes = _as_list(self._metric), _as_list(self._mode)
        if isinstance(result, dict):
            values = [result.get(metric) for metric in metrics]
        else:
            values = _as_list(result) if result is not None else [None] * len(metrics)
            if len(values) != len(metrics):
                raise ValueError(f"expected one value per metric {metrics}, got {result!r}")
        rewards = np.full(len(metrics), math.nan)
        for i, (value, mode) in enumerate(zip(values, modes)):
            if not isinstance(value, bool) and isinstance(value, Real) and math.isfinite(value):
                rewards[i] = float(value) if mode == "max" else -float(value)
        return rewards

    def _complete(self, raw: np.ndarray, log_prob: float, rewards: np.ndarray, level: float) -> None:
        """Add a trial to the batch. ``level``: how far it went, inf if Tune did not cut it short."""
        if np.isnan(rewards).any():
            self.num_failed += 1
            if self._failed_trials == "ignore":
                return
        self._batch.append((raw, log_prob, rewards, level))
        if self._batch_weight() >= self.batch_size:
            self._update()

    def _batch_weight(self) -> float:
        """The batch in full trials: one cut short at iteration t, when the longest went T, counts t / T.

        With an early-stopping scheduler most trials end at a low rung; counted
        whole, they would trigger many updates on what early rungs reward.
        """
        # level <= T always: T takes every completed trial's iterations first.
        return sum(1.0 if math.isinf(level) else level / self._full_iterations for _, _, _, level in self._batch)

    @property
    def batch_size(self) -> int:
        """Completed trials per update (fixed, or following the trials in flight)."""
        if self._batch_size is not None:
            return self._batch_size
        in_flight = self._max_concurrent or self._peak_in_flight
        return max(_MIN_AUTO_BATCH, math.ceil(_AUTO_BATCH_FRACTION * in_flight))

    def _update(self) -> None:
        raw = np.array([entry[0] for entry in self._batch])
        old_log_prob = np.array([entry[1] for entry in self._batch])
        rewards = np.array([entry[2] for entry in self._batch])  # (n, metrics)
        levels = np.array([entry[3] for entry in self._batch])
        # A score per trial, higher is better, NaN for failed trials.
        scores = rewards[:, 0] if rewards.shape[1] == 1 else pareto_scores(rewards)
        self._adam = update(self._policy, self._adam, raw, old_log_prob,
                            advantages(by_level(levels, scores), self._advantage), self._settings)
        self.num_updates += 1
        self._trials_used += len(self._batch)
        failed = np.isnan(scores)
        finite = rewards[~failed]
        names = [""] if isinstance(self._metric, str) else [f"[{metric}]" for metric in self._metric]
        summary = {}
        for name, column in zip(names, finite.T):
            summary[f"mean_reward{name}"] = float(column.mean()) if len(column) else None
            summary[f"best_reward{name}"] = float(column.max()) if len(column) else None
        self._history.append({
            "update": self.num_updates,
            "trials_used": self._trials_used,
            "batch_size": len(self._batch),
            "failed": int(failed.sum()),
            "stopped_early": int(np.isfinite(levels).sum()),
            **summary,
            "entropy": self._policy.entropy(),
            **self._space.describe(self._policy.columns()),
        })
        self._batch = []

    def history(self) -> pd.DataFrame:
        """One row per policy update: its batch and the policy it left, in parameter units."""
        return pd.DataFrame(self._history)

    # ------------------------------------------------------------------ state

    def get_state(self) -> dict:
        """The searcher's whole state as a versioned, JSON-safe dict."""
        if self._space is None:
            raise RuntimeError("PGSearcher has no search space yet, so it has no state to save")
        return {
            "version": STATE_VERSION,
            "space": self._space.signature(),
            "space_pickle": self._space_pickle,
            "metric": self._metric,
            "mode": self._mode,
            "max_concurrent": self._max_concurrent,
            "num_samples": self._num_samples,
            "stop": self._stop,
            "policy": self._policy.params.tolist(),
            "adam": {"m": self._adam.m.tolist(), "v": self._adam.v.tolist(), "t": self._adam.t},
            "pending": {tid: {"raw": _to_json(raw), "log_prob": lp} for tid, (raw, lp) in self._pending.items()},
            "seen_iteration": self._seen_iteration,
            "full_iterations": self._full_iterations,
            "batch": [{"raw": _to_json(raw), "log_prob": lp, "rewards": _to_json(rewards), "level": _to_json(level)}
                      for raw, lp, rewards, level in self._batch],
            "queue": [_to_json(raw) for raw in self._queue],
            "num_updates": self.num_updates,
            "num_suggested": self._num_suggested,
            "num_failed": self.num_failed,
            "trials_used": self._trials_used,
            "peak_in_flight": self._peak_in_flight,
            "history": self._history,
            "rng": self._rng.bit_generator.state,
        }

    def set_state(self, state: dict) -> None:
        """Restore :meth:`get_state`'s dict; it must come from the same search space.

        A searcher without a space takes the checkpoint's: `Tuner.restore(path,
        trainable)` hands it none (Tune keeps no param_space).
        """
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            found = state.get("version") if isinstance(state, dict) else type(state).__name__
            raise CheckpointError(f"not a PGSearcher state of version {STATE_VERSION}: got version {found!r}")
        if self._space is None:
            self._setup(pickle.loads(base64.b64decode(state["space_pickle"])))
            self._space_from_checkpoint = True
        if state["space"] != self._space.signature():
            raise CheckpointError("this PGSearcher checkpoint was saved for a different search space: "
                             f"saved {state['space']}, current {self._space.signature()}")
        # Parse everything before assigning anything: a bad state leaves the searcher as it was.
        adam = state["adam"]
        parsed = {
            "_metric": state["metric"], "_mode": state["mode"],
            "_max_concurrent": state["max_concurrent"], "_num_samples": state["num_samples"], "_stop": state["stop"],
            "_adam": Adam(np.array(adam["m"], dtype=float), np.array(adam["v"], dtype=float), int(adam["t"])),
            "_pending": {str(tid): (_from_json(p["raw"]), float(p["log_prob"])) for tid, p in state["pending"].items()},
            "_seen_iteration": dict(state["seen_iteration"]),
            "_full_iterations": float(state["full_iterations"]),
            "_batch": [(_from_json(b["raw"]), float(b["log_prob"]), _from_json(b["rewards"]), _from_json(b["level"]))
                       for b in state["batch"]],
            "_queue": [_from_json(raw) for raw in state["queue"]],
            "num_updates": int(state["num_updates"]), "num_failed": int(state["num_failed"]),
            "_num_suggested": int(state["num_suggested"]),
            "_trials_used": int(state["trials_used"]), "_peak_in_flight": int(state["peak_in_flight"]),
            "_history": list(state["history"]),
        }
        policy = np.array(state["policy"], dtype=float)
        if policy.shape != self._policy.params.shape or parsed["_adam"].m.shape != policy.shape:
            raise CheckpointError(f"policy of {policy.size} parameters, expected {self._policy.params.size}")
        rng = np.random.default_rng()
        rng.bit_generator.state = state["rng"]
        self.__dict__.update(parsed)
        self._policy.params = policy
        self._rng = rng

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "w") as f:
            json.dump(self.get_state(), f, allow_nan=False)

    def restore(self, checkpoint_path: str) -> None:
        try:
            with open(checkpoint_path) as f:
                state = json.load(f)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"cannot read a PGSearcher checkpoint from {checkpoint_path!r}: {exc}") from exc
        try:
            self.set_state(state)
        except CheckpointError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, pickle.UnpicklingError) as exc:
            raise CheckpointError(f"corrupted PGSearcher checkpoint {checkpoint_path!r}: {exc!r}") from exc


def _check_objectives(metric: str | list[str] | None, mode: str | list[str] | None) -> None:
    """One metric and one mode, or lists of equal length (multi-objective)."""
    modes = _as_list(mode)
    if any(m not in ("max", "min") for m in modes) or (isinstance(mode, list) and not mode):
        raise ValueError(f"mode must be 'max' or 'min', or a list of them, got {mode=}")
    metrics = _as_list(metric)
    if isinstance(metric, list) and (not metric or len(set(metrics)) != len(metrics)
                                     or not all(isinstance(m, str) for m in metrics)):
        raise ValueError(f"metric must be a result key or a list of distinct keys, got {metric=}")
    if metric is not None and mode is not None and (isinstance(metric, list) != isinstance(mode, list)
                                                   or len(metrics) != len(modes)):
        raise ValueError(f"give one mode per metric (both strings, or lists of equal length), got {metric=}, {mode=}")


def _as_list(value: Any) -> list:
    """``None`` -> [], a list as it is, anything else -> [value]."""
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _to_json(x: np.ndarray | float) -> list | float | str | None:
    """Arrays as lists, NaN as None and inf (a level) as "inf": JSON has neither."""
    if isinstance(x, np.ndarray):
        return [_to_json(v) for v in x.tolist()]
    if math.isnan(x):
        return None
    return "inf" if x == math.inf else x


def _from_json(x: list | float | str | None) -> np.ndarray | float:
    if isinstance(x, list):
        return np.array([_from_json(v) for v in x], dtype=float)
    return math.nan if x is None else float(x)
