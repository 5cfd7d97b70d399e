"""Rung trust (ray_pg/rungs.py): results of trials a scheduler cut short count as far as their rung predicts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from ray import tune
from ray.tune.schedulers import ASHAScheduler

from experiments.bench.ablation import AblatedSearcher
from ray_pg import PGSearcher, rungs
from ray_pg.results import Finished, Sample

RUNGS = (1.0, 3.0, 9.0)  # ASHA's, for max_t=27, grace 1, reduction 3
MAX_T = 27
SPACE = {"x": tune.uniform(0.0, 1.0), "y": tune.uniform(0.0, 1.0), "c": tune.choice(["a", "b"])}


def entry(level: float, values: dict[float, float]) -> Finished:
    """A finished trial cut at ``level`` (inf: ran its course) whose first reward was ``values[t]`` at rung t."""
    passed = np.array([(t, v) for t, v in values.items() if t < level]) if any(t < level for t in values) else None
    return Finished(None, Sample(np.zeros(1), 0.0), np.array([values[level]]), level, passed)


@pytest.mark.parametrize(("power", "weight"), [(1.0, 1 + (1 + 3 + 9) / 27), (0.5, 1 + (1 + 3**0.5 + 3) / 27**0.5),
                                               (0.0, 4.0)])
def test_a_trial_cut_short_counts_its_share_of_the_training_towards_a_batch(power, weight):
    # The default counts training (t / T); the ablation's 0.5 (sqrt) and 0 (whole) lost under ASHA.
    searcher = AblatedSearcher(space=SPACE, metric="loss", mode="min", count_cut_power=power)
    searcher.suggest("0")
    learner = searcher._learner
    learner.full_iterations = float(MAX_T)
    learner.batch = [entry(level, {level: 0.0}) for level in (1.0, 3.0, 9.0, math.inf)]
    assert learner.batch_weight() == pytest.approx(weight)


def test_trust_is_the_product_of_rank_correlations_from_the_rung_up():
    rng = np.random.default_rng(0)
    known = []
    for _ in range(40):
        final = rng.normal()
        at = {1.0: -final, 3.0: final + 0.01 * rng.normal(), 9.0: final, math.inf: final}  # rung 1 misleads
        level = rng.choice([1.0, 3.0, 9.0, math.inf], p=[0.4, 0.3, 0.2, 0.1])
        known.append(entry(level, {t: v for t, v in at.items() if t <= level}))
    trust = rungs.trust(known, known)
    by_level = {e.level: t for e, t in zip(known, trust)}
    assert by_level[math.inf] == 1.0
    assert by_level[9.0] == 1.0 and by_level[3.0] == pytest.approx(1.0, abs=0.02)  # faithful rungs
    assert by_level[1.0] == 0.0  # anti-correlated with rung 3: no say


def test_a_rung_without_enough_pairs_gets_the_prior_and_links_multiply():
    known = [entry(1.0, {1.0: float(i)}) for i in range(10)]  # nobody went past rung 1
    assert (rungs.trust(known, known, prior=0.4) == 0.4).all()
    # rung 1 -> 3 measured (5 pairs, perfectly ordered), rung 3 -> end unmeasured: 1 * prior
    known += [entry(3.0, {1.0: float(i), 3.0: float(i)}) for i in range(rungs.MIN_PAIRS)]
    trust = rungs.trust(known[:1], known, prior=0.4)
    assert trust == pytest.approx([0.4])


def successive_halving(searcher: PGSearcher, n: int, curve, seed: int, in_flight: int = 4,
                       stop_after: int | None = None) -> list[dict]:
    """Drive ``searcher`` as Tune does under ASHA: each trial reports curve(config, t) for t = 1, 2, ...;
    at each rung it is cut unless its result is in the top third of that rung's results so far (the
    result it is cut on never reaches on_trial_result). Trials run in a random interleaving."""
    rng = np.random.default_rng(seed)
    seen: dict[float, list[float]] = {r: [] for r in RUNGS}
    running: dict[str, tuple[dict, int]] = {}
    configs, started = [], 0
    while started < n or running:
        while started < n and len(running) < in_flight:
            tid = f"t{started}"
            config = searcher.suggest(tid)
            configs.append(config)
            running[tid] = (config, 0)
            started += 1
        if stop_after is not None and len(configs) >= stop_after:
            return configs
        tid = list(running)[rng.integers(len(running))]
        config, t = running[tid]
        t += 1
        result = {"loss": float(curve(config, t)), "training_iteration": t}
        cut = False
        if t in seen:
            seen[t].append(result["loss"])
            cut = result["loss"] > np.quantile(seen[t], 1 / 3) and len(seen[t]) > 1
        if cut or t == MAX_T:
            del running[tid]
            searcher.on_trial_complete(tid, result=result)
        else:
            running[tid] = (config, t)
            searcher.on_trial_result(tid, result)
    return configs


def crossing(config: dict, t: int) -> float:
    """x is best at 0.3 at the end; early on a high x looks best (it converges fast)."""
    final = (config["x"] - 0.3) ** 2 + 0.1 * (config["c"] == "b") + 0.05 * config["y"]
    return final + math.exp(-t * (0.2 + 2 * config["x"])) - math.exp(-MAX_T * (0.2 + 2 * config["x"]))


def asha_searcher(seed: int = 0, rung_prior: float | None = rungs.PRIOR) -> PGSearcher:
    """A natural-update searcher under ASHA that weighs rungs by their trust (the ablation), or not (None)."""
    from experiments.bench.ablation import AblatedSearcher

    scheduler = ASHAScheduler(metric="loss", mode="min", max_t=MAX_T, grace_period=1, reduction_factor=3)
    return AblatedSearcher(space=SPACE, metric="loss", mode="min", seed=seed, scheduler=scheduler, rung_prior=rung_prior)


def test_by_default_no_rung_is_recorded_and_the_state_does_not_grow():
    searcher = PGSearcher(SPACE, metric="loss", mode="min", seed=0, scheduler=asha_searcher()._given_runtime[0])
    successive_halving(searcher, 80, crossing, seed=1, stop_after=60)
    state = searcher.get_state()
    assert searcher._pending and state["curves"] == {} and '"rungs"' not in json.dumps(state["window"])
    assert all(e.rungs is None for e in searcher._learner.window + searcher._learner.batch)


def test_weighing_rungs_each_trial_keeps_its_results_at_the_rungs_it_passed():
    searcher = asha_searcher()
    successive_halving(searcher, 120, crossing, seed=1)
    learner = searcher._learner
    assert learner.rung_levels == list(RUNGS)
    window = learner.window + learner.batch
    passed = [e for e in window if e.rungs is not None]
    assert passed and all(set(e.rungs[:, 0]) <= {r for r in RUNGS if r < e.level} for e in passed)
    assert any(math.isinf(e.level) and set(e.rungs[:, 0]) == set(RUNGS) for e in window)
    assert not searcher._curves  # nothing pending: no curve kept


def test_a_result_at_an_iteration_below_1_leaves_no_rung_point_and_the_state_restores(tmp_path):
    # Recorded, an iteration of 0 was a curve point the checkpoint refused ("expected iterations > 0").
    searcher = asha_searcher()
    searcher.suggest("a")
    searcher.on_trial_result("a", {"loss": 1.0, "training_iteration": 0})
    assert not searcher._curves.get("a")
    searcher.save(str(tmp_path / "s.json"))
    asha_searcher().restore(str(tmp_path / "s.json"))


def test_rung_data_restores_and_the_run_continues_exactly(tmp_path):
    """Saved mid-run, with trials pending between rungs: the restored searcher keeps their curves."""
    original = asha_searcher()
    successive_halving(original, 80, crossing, seed=1, stop_after=60)
    assert original._curves and original._learner.rung_levels == list(RUNGS)
    assert all(len(curve) <= len(RUNGS) + 1 for curve in original._curves.values())  # rungs and the latest
    original.save(str(tmp_path / "s.json"))
    restored = asha_searcher(seed=99)
    restored.restore(str(tmp_path / "s.json"))
    assert restored._curves == original._curves
    assert json.dumps(restored.get_state()) == json.dumps(original.get_state())
    for searcher in (original, restored):
        for tid in list(searcher._pending):  # the pending trials report their next rung and are cut
            searcher.on_trial_complete(tid, result={"loss": 1.0, "training_iteration": 3})
    assert (successive_halving(restored, 40, crossing, seed=2)
            == successive_halving(original, 40, crossing, seed=2))


def test_a_rung_of_pure_noise_has_almost_no_say():
    """Rung results independent of the end: over 200 seeds the trust of that rung averages under 0.15 (the
    floor at 0 keeps it non-negative; with ~12 pairs a noise correlation's positive part averages ~0.11)."""
    trusts = []
    for seed in range(200):
        rng = np.random.default_rng(seed)
        known = []
        for _ in range(40):
            level = rng.choice([1.0, math.inf], p=[0.7, 0.3])
            known.append(entry(level, {1.0: rng.normal(), math.inf: rng.normal()}))
        trusts.append(rungs.level_trust(known)[1.0])
    assert 0 <= min(trusts) and np.mean(trusts) < 0.15
