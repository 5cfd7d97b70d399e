from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import pytest
from ray import tune
from ray.tune.schedulers import ASHAScheduler, HyperBandScheduler, MedianStoppingRule

from ray_pg import PGSearcher
from ray_pg.state import CheckpointError
from spaces import SPACES, assert_valid

BAD_RESULTS = [{"loss": math.nan}, {"loss": math.inf}, {"loss": -math.inf}, {"other": 1.0}, {"loss": None}, {"loss": "x"}]


def objective(config: dict) -> float:
    """Any deterministic number of a config, for driving the searcher."""
    return float(abs(hash(json.dumps(config, sort_keys=True, default=str))) % 1000) / 1000


def drive(searcher: PGSearcher, space: dict, n: int, seed: int, in_flight: int = 6, bad: bool = True,
          score: Callable[[dict], float] = objective) -> list:
    """Run n trials with up to ``in_flight`` pending, completing them in random order with loss ``score(config)``."""
    rng = np.random.default_rng(seed)
    pending, configs = {}, []
    for i in range(n):
        config = searcher.suggest(f"t{i}")
        assert_valid(space, config)
        configs.append(config)
        pending[f"t{i}"] = config
        while len(pending) >= in_flight or (i == n - 1 and pending):
            tid = list(pending)[rng.integers(len(pending))]
            config = pending.pop(tid)
            roll = rng.random()
            if bad and roll < 0.05:
                searcher.on_trial_complete(tid, result=None, error=True)
            elif bad and roll < 0.12:
                searcher.on_trial_complete(tid, result=BAD_RESULTS[rng.integers(len(BAD_RESULTS))])
            else:
                searcher.on_trial_complete(tid, result={"loss": score(config), "done": True})
            if bad and roll > 0.95:
                searcher.on_trial_complete(tid, result={"loss": 0.0})  # repeated id: ignored
                searcher.on_trial_complete("never-suggested", result={"loss": 0.0})
    return configs


@pytest.mark.parametrize("name", sorted(SPACES))
def test_contract_on_every_space_with_bad_results(name):
    space = SPACES[name]
    searcher = PGSearcher(space, metric="loss", mode="min", seed=1)
    drive(searcher, space, 120, seed=2)
    assert searcher.num_updates >= 10
    assert searcher.num_failed > 0
    history = searcher.history()
    assert len(history) == searcher.num_updates
    assert history["trials_used"].iloc[-1] == sum(history["batch_size"])
    json.dumps(searcher.get_state(), allow_nan=False)


def test_failed_trials_rank_worst_or_are_ignored():
    space = SPACES["choice_only"]
    worst = PGSearcher(space, metric="loss", mode="min", seed=0, batch_size=4)
    ignore = PGSearcher(space, metric="loss", mode="min", seed=0, batch_size=4, failed_trials="ignore")
    for searcher in (worst, ignore):
        for i in range(4):
            searcher.suggest(str(i))
        searcher.on_trial_complete("0", error=True)
        searcher.on_trial_complete("1", result={"loss": math.nan})
        searcher.on_trial_complete("2", result={"loss": 1.0})
        searcher.on_trial_complete("3", result={"loss": 2.0})
    assert worst.num_updates == 1 and worst.history()["failed"].iloc[0] == 2
    assert ignore.num_updates == 0 and ignore.num_failed == 2


def test_trial_stopped_before_running_is_dropped():
    searcher = PGSearcher(SPACES["mixed"], metric="loss", mode="min", seed=0)
    searcher.suggest("a")
    searcher.on_trial_complete("a")
    assert searcher.num_failed == 0 and searcher.get_state()["pending"] == {} and searcher.get_state()["batch"] == []


# The natural update's margin keeps (1 - 0.73) / 4 of a lone choice on its other value (natural.py).
SETTLED = {"pg": 0.9, "natural": 0.9}


@pytest.mark.parametrize("update", ["pg", "natural"])
@pytest.mark.parametrize("mode", ["min", "max"])
def test_reward_sign_follows_mode(mode, update):
    searcher = PGSearcher({"x": tune.choice([0, 1])}, metric="m", mode=mode, seed=0, batch_size=50,
                          learning_rate=0.3, update=update)
    for i in range(400):
        x = searcher.suggest(str(i))["x"]
        searcher.on_trial_complete(str(i), result={"m": float(x)})
    p_one = searcher.history()["x:p[1]"].iloc[-1]
    assert p_one > SETTLED[update] if mode == "max" else p_one < 1 - SETTLED[update]


def test_same_seed_same_suggestions_and_no_global_rng():
    space = SPACES["nested"]
    np.random.seed(0)
    first = drive(PGSearcher(space, metric="loss", mode="min", seed=7), space, 60, seed=3)
    np.random.seed(99)
    second = drive(PGSearcher(space, metric="loss", mode="min", seed=7), space, 60, seed=3)
    assert first == second
    state = np.random.get_state()
    drive(PGSearcher(space, metric="loss", mode="min", seed=8), space, 30, seed=3)
    assert np.array_equal(np.random.get_state()[1], state[1])  # the global RNG was not touched


@pytest.mark.parametrize("name", ["mixed", "conditional"])
def test_state_round_trip_gives_identical_suggestions(tmp_path, name):
    space = SPACES[name]
    original = PGSearcher(space, metric="loss", mode="min", seed=3, batch_size=8)
    drive(original, space, 37, seed=4, in_flight=3, bad=False)
    for tid in ("p1", "p2", "p3"):
        original.suggest(tid)  # pending when the checkpoint is taken
    path = tmp_path / "searcher-state-test.pkl"
    original.save(str(path))
    restored = PGSearcher(metric="loss", mode="min", batch_size=8)  # batch_size is not state
    restored.set_search_properties(None, None, space)
    restored.restore(str(path))
    assert json.loads(json.dumps(original.get_state())) == json.loads(json.dumps(restored.get_state()))
    for searcher in (original, restored):  # pending trials complete after the restore
        for k, tid in enumerate(("p1", "p2", "p3")):
            searcher.on_trial_complete(tid, result={"loss": float(k)})
    assert original.get_state()["batch"] == restored.get_state()["batch"]
    assert drive(original, space, 40, seed=5) == drive(restored, space, 40, seed=5)
    assert original.get_state() == restored.get_state()


@pytest.mark.parametrize("tune_hands_the_space", [True, False])
def test_restore_into_a_searcher_without_space(tmp_path, tune_hands_the_space):
    """Restored first, then Tune hands the space over; or (Tuner.restore(path, trainable)) it never does."""
    space = SPACES["nested"]
    original = PGSearcher(space, metric="loss", mode="min", seed=3)
    drive(original, space, 30, seed=4, bad=False)
    original.save(str(tmp_path / "s.json"))
    restored = PGSearcher()
    restored.restore(str(tmp_path / "s.json"))
    if tune_hands_the_space:
        assert restored.set_search_properties("loss", "min", space)
    assert restored.num_updates == original.num_updates > 0
    assert drive(original, space, 20, seed=5) == drive(restored, space, 20, seed=5)
    assert restored.get_state() == original.get_state()


def test_bad_checkpoints_raise_clear_errors(tmp_path):
    searcher = PGSearcher(SPACES["mixed"], metric="loss", mode="min", seed=0)
    searcher.save(str(tmp_path / "ok.json"))
    other = PGSearcher(SPACES["choice_only"], metric="loss", mode="min")
    with pytest.raises(ValueError, match="differs from the saved one"):
        other.restore(str(tmp_path / "ok.json"))
    (tmp_path / "junk.pkl").write_bytes(b"\x80\x04junk")
    with pytest.raises(ValueError, match="cannot read a PGSearcher checkpoint"):
        searcher.restore(str(tmp_path / "junk.pkl"))
    state = json.loads((tmp_path / "ok.json").read_text())
    del state["policy"]
    (tmp_path / "cut.json").write_text(json.dumps(state))
    with pytest.raises(ValueError, match="'policy' is missing"):
        searcher.restore(str(tmp_path / "cut.json"))
    (tmp_path / "v9.json").write_text(json.dumps({**state, "version": 9}))
    with pytest.raises(ValueError, match="version 9"):
        searcher.restore(str(tmp_path / "v9.json"))


def test_points_to_evaluate_come_first_and_fill_missing_keys():
    space = SPACES["mixed"]
    points = [{"opt": "adam", "lr": 0.01, "layers": 3, "dropout": 0.1}, {"opt": "sgd"}]
    searcher = PGSearcher(space, metric="loss", mode="min", points_to_evaluate=points, seed=0)
    first, second = searcher.suggest("a"), searcher.suggest("b")
    assert first == {**points[0], "lr": pytest.approx(0.01), "dropout": pytest.approx(0.1), "epochs": 10}
    assert second["opt"] == "sgd"
    assert_valid(space, second)


def test_evaluated_rewards_are_learnt_from_not_suggested():
    space = {"x": tune.choice(["a", "b"])}
    points = [{"x": "a"}] * 4 + [{"x": "b"}] * 4
    searcher = PGSearcher(space, metric="acc", mode="max", points_to_evaluate=points,
                          evaluated_rewards=[1.0] * 4 + [0.0] * 4, batch_size=8, seed=0)
    assert searcher.num_updates == 1 and searcher.history()["x:p[a]"].iloc[0] > 0.5
    assert searcher.suggest("t")["x"] in ("a", "b")
    with pytest.raises(ValueError, match="one value per point"):
        PGSearcher(space, points_to_evaluate=points, evaluated_rewards=[1.0])
    waiting = PGSearcher(space, points_to_evaluate=points, evaluated_rewards=[1.0] * 4 + [0.0] * 4, batch_size=8)
    assert waiting.num_updates == 0  # scored once Tune's metric and mode arrive
    assert waiting.set_search_properties("acc", "max", {}) is False and waiting.num_updates == 1
    with pytest.raises(ValueError, match="every parameter"):
        PGSearcher(SPACES["mixed"], metric="m", mode="max", points_to_evaluate=[{"opt": "sgd"}], evaluated_rewards=[1.0])


@pytest.mark.parametrize(
    "kwargs, message",
    [({"mode": "maximize"}, "mode"), ({"batch_size": 1}, "batch_size"), ({"learning_rate": 0}, "learning_rate"),
     ({"passes": 0}, "passes"), ({"min_sd": 5.0}, "min_sd"), ({"advantage": "raw"}, "advantage"),
     ({"failed_trials": "drop"}, "failed_trials")],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PGSearcher(SPACES["mixed"], **kwargs)


def test_missing_space_or_metric_raise_clear_errors():
    with pytest.raises(RuntimeError, match="no search space"):
        PGSearcher(metric="m", mode="max").suggest("t")
    with pytest.raises(RuntimeError, match="metric and a mode"):
        PGSearcher(SPACES["mixed"]).suggest("t")


def test_set_search_properties_contract():
    searcher = PGSearcher(metric="loss")
    assert searcher.set_search_properties(None, "min", SPACES["mixed"], num_samples=50)
    assert searcher.metric == "loss" and searcher.mode == "min"
    assert not searcher.set_search_properties("acc", "max", SPACES["mixed"])  # already has a space
    assert searcher.metric == "loss"
    # Tune's metric for a scheduler does not replace a multi-objective searcher's metrics.
    both = PGSearcher(metric=["loss", "latency"], mode=["min", "min"])
    assert both.set_search_properties("loss", "min", SPACES["mixed"])
    assert both.metric == ["loss", "latency"] and both.mode == ["min", "min"]
    with pytest.raises(ValueError, match="one mode per metric"):
        PGSearcher(metric=["loss", "latency"]).set_search_properties("loss", "min", SPACES["mixed"])


def test_suggestions_sharpen_late_in_a_known_budget():
    space = {"x": tune.uniform(0.0, 1.0)}
    # The natural update (the default) adapts its own step size: no sharpening.
    natural = PGSearcher(metric="m", mode="max", batch_size=10_000, seed=0)
    natural.set_search_properties(None, None, space, num_samples=2000)
    values = np.array([natural.suggest(str(i))["x"] for i in range(2400)])
    assert values[1800:2000].std() > 0.9 * values[:1000].std()
    assert values[2000:].std() > 0.9 * values[:1000].std()  # past the budget too (a Repeater's last group): it was sharpened
    searcher = PGSearcher(metric="m", mode="max", batch_size=10_000, seed=0, update="pg")  # the policy never moves
    searcher.set_search_properties(None, None, space, num_samples=2000)
    values = np.array([searcher.suggest(str(i))["x"] for i in range(2000)])
    early, late = values[:1000], values[1800:]
    assert late.std() < 0.8 * early.std()
    assert abs(np.median(late) - 0.5) < 0.05  # sharper, not shifted
    # With several metrics the default keeps the spread that a Pareto front needs.
    both = PGSearcher(metric=["m", "n"], mode=["max", "max"], batch_size=10_000, seed=0, update="pg")
    both.set_search_properties(None, None, space, num_samples=2000)
    values = np.array([both.suggest(str(i))["x"] for i in range(2000)])
    assert values[1800:].std() > 0.9 * values[:1000].std()
    with pytest.raises(ValueError, match="exploit_temperature"):
        PGSearcher(space, exploit_temperature=0.0)


@pytest.mark.parametrize("update, sizes", [("natural", (5, 8, 10)), ("pg", (8, 16, 20))])
def test_auto_batch_size_follows_concurrency(update, sizes):
    searcher = PGSearcher(SPACES["mixed"], metric="loss", mode="min", update=update)
    assert searcher.batch_size == sizes[0]
    assert searcher.set_max_concurrency(64) and searcher.batch_size == sizes[1]
    for i in range(64):
        assert searcher.suggest(str(i)) is not None
    assert searcher.suggest("64") is None  # the limit a ConcurrencyLimiter handed over
    unlimited = PGSearcher(SPACES["mixed"], metric="loss", mode="min", update=update)
    for i in range(80):
        unlimited.suggest(str(i))
    assert unlimited.batch_size == sizes[2]
    assert PGSearcher(SPACES["mixed"], batch_size=5).batch_size == 5


@pytest.mark.parametrize("scheduler, least", [(None, 5), (ASHAScheduler(), 2), (HyperBandScheduler(), 5),
                                              (MedianStoppingRule(), 5)])
def test_auto_batch_is_smaller_under_asha(scheduler, least):
    """ASHA stops most trials at its first rungs, each counting the training it got: the natural update's
    batch is then at least 2 full trials' training, not 5 (HyperBand, measured mixed: 5). Not under
    update="pg"."""
    searcher = PGSearcher(SPACES["mixed"], metric="loss", mode="min", scheduler=scheduler)
    assert searcher.suggest("0") is not None and searcher.batch_size == least
    assert searcher.set_max_concurrency(64) and searcher.batch_size == 8
    reinforce = PGSearcher(SPACES["mixed"], metric="loss", mode="min", scheduler=scheduler, update="pg")
    assert reinforce.suggest("0") is not None and reinforce.batch_size == 8


def test_conditional_points_to_evaluate_and_suggestions():
    space = SPACES["conditional"]
    searcher = PGSearcher(space, metric="loss", mode="min", seed=0,
                          points_to_evaluate=[{"opt": {"name": "adam", "beta1": 0.9}}, {"model": {"kind": "linear"}}])
    first, second = searcher.suggest("a"), searcher.suggest("b")
    assert first["opt"]["name"] == "adam" and first["opt"]["beta1"] == pytest.approx(0.9)
    assert set(first["opt"]) == {"name", "beta1", "eps"}
    assert second["model"] == {"kind": "linear"}
    for config in (first, second):
        assert_valid(space, config)
    with pytest.raises(ValueError, match="fits none"):
        PGSearcher(space, points_to_evaluate=[{"opt": {"name": "rmsprop"}}])


def complete_after(searcher: PGSearcher, tid: str, acc: float, last: int, cut: bool) -> None:
    """Tune's calls for a trial reporting iterations 1..last, cut by a scheduler on the last one or not."""
    for iteration in range(1, last if cut else last + 1):
        searcher.on_trial_result(tid, {"acc": 0.0, "training_iteration": iteration})
    searcher.on_trial_complete(tid, result={"acc": acc, "training_iteration": last})


def learnt_p_first(stopped_first: bool) -> float:
    """One update where "a" trials score better but (optionally) were cut at iteration 1 of 3."""
    searcher = PGSearcher({"x": tune.choice(["a", "b"])}, metric="acc", mode="max", batch_size=8, seed=0)
    cut_short, i = 0, 0
    while searcher.num_updates == 0:
        tid, i = str(i), i + 1
        x = searcher.suggest(tid)["x"]
        cut = x == "a" and stopped_first
        complete_after(searcher, tid, 0.9 if x == "a" else 0.5, 1 if cut else 3, cut)
        cut_short += cut
    assert searcher.history()["stopped_early"].iloc[0] == cut_short
    return searcher.history()["x:p[a]"].iloc[0]


def test_trials_stopped_early_rank_below_trials_that_went_further():
    assert learnt_p_first(stopped_first=False) > 0.6  # all trials ran their course: the metric decides
    assert learnt_p_first(stopped_first=True) < 0.4  # "a" was cut short by the scheduler: it ranks below


def test_a_batch_counts_trials_cut_short_by_the_training_they_got():
    searcher = PGSearcher({"x": tune.uniform(0, 1)}, metric="acc", mode="max", batch_size=4)
    for i in range(6):  # 3 full trials of 9 iterations, 3 cut at 3: 3 + 3 * 3/9 = 4 full trials
        searcher.suggest(str(i))
        complete_after(searcher, str(i), 0.5, 9 if i % 2 else 3, cut=i % 2 == 0)
        assert searcher.num_updates == (i == 5)
    assert searcher.history()["batch_size"].tolist() == [6]


def test_trials_that_meet_tunes_stop_dict_ended_on_their_own():
    searcher = PGSearcher(metric="acc", mode="max", batch_size=2)
    searcher.set_search_properties(None, None, {"x": tune.uniform(0, 1)}, stop={"acc": 0.8, "training_iteration": 9})
    for tid, acc, iteration in [("met", 0.85, 2), ("cut", 0.5, 2)]:  # both stopped by Tune at iteration 2
        searcher.suggest(tid)
        searcher.on_trial_result(tid, {"acc": 0.1, "training_iteration": 1})
        searcher.on_trial_complete(tid, result={"acc": acc, "training_iteration": iteration})
    assert searcher.history()["stopped_early"].tolist() == [1]
    assert json.loads(json.dumps(searcher.get_state()))["stop"] == {"acc": 0.8, "training_iteration": 9.0}


@pytest.mark.parametrize("update", ["pg", "natural"])
def test_multi_objective_learns_the_front_and_validates_lists(update):
    # y trades loss against latency: y = 0 or 1 are both optimal, "slow" is dominated.
    space = {"kind": tune.choice(["fast", "slow"]), "y": tune.uniform(0.0, 1.0)}
    searcher = PGSearcher(space, metric=["loss", "latency"], mode=["min", "min"], seed=0, batch_size=16,
                          update=update)
    for i in range(320):
        config = searcher.suggest(str(i))
        penalty = 0.5 if config["kind"] == "slow" else 0.0
        searcher.on_trial_complete(str(i), result={"loss": config["y"] + penalty, "latency": 1 - config["y"] + penalty})
    history = searcher.history()
    assert history["kind:p[fast]"].iloc[-1] > SETTLED[update]
    assert {"best_loss", "best_latency"} <= set(history.columns)
    json.dumps(searcher.get_state(), allow_nan=False)
    for metric, mode in [(["a", "b"], "min"), (["a", "b"], ["min"]), ("a", ["min"]), (["a", "a"], ["min", "min"]),
                         (["a", "b"], ["min", "best"])]:
        with pytest.raises(ValueError, match="metric|mode"):
            PGSearcher(space, metric=metric, mode=mode)


def test_default_update_is_natural_with_any_number_of_metrics_and_a_restore_keeps_the_saved_one(tmp_path):
    space = SPACES["mixed"]
    single = PGSearcher(space, metric="loss", mode="min", seed=0)
    several = PGSearcher(space, metric=["loss", "latency"], mode=["min", "min"], seed=0)
    reinforce = PGSearcher(space, metric=["loss", "latency"], mode=["min", "min"], seed=0, update="pg")
    for case, (searcher, rule) in enumerate(((single, "natural"), (several, "natural"), (reinforce, "pg"))):
        for i in range(12):
            searcher.suggest(str(i))
            searcher.on_trial_complete(str(i), result={"loss": float(i % 5), "latency": float(i % 3)})
        assert searcher.get_state().get("update", "pg") == rule
        path = tmp_path / f"{case}.json"
        searcher.save(str(path))
        restored = PGSearcher()  # update=None: the checkpoint's rule
        restored.restore(str(path))
        assert restored.get_state() == searcher.get_state()
        assert restored.suggest("next") == searcher.suggest("next")
        other = "pg" if rule == "natural" else "natural"
        with pytest.raises(CheckpointError, match=f"saved with update='{rule}'"):
            PGSearcher(update=other).restore(str(path))


def test_several_metrics_start_as_wide_as_the_ranges():
    # One metric: bounded numerics start at 0.4 of their column's sd, leaning towards the middle of each
    # range; several: at the full sd, so that the first suggestions are spread as random search's.
    space = {"x": tune.uniform(0.0, 1.0), "kind": tune.choice(["a", "b"])}
    one, several = (PGSearcher(space, metric=metric, mode=mode, seed=0, batch_size=10_000)
                    for metric, mode in (("m", "min"), (["m", "n"], ["min", "min"])))
    one_sd, several_sd = (np.std([searcher.suggest(str(i))["x"] for i in range(2000)]) for searcher in (one, several))
    assert several_sd == pytest.approx(np.sqrt(1 / 12), rel=0.05)  # uniform on [0, 1]
    assert one_sd < 0.6 * several_sd


def test_multi_objective_evaluated_rewards_need_one_value_per_metric():
    space = {"x": tune.choice(["a", "b"])}
    searcher = PGSearcher(space, metric=["m1", "m2"], mode=["max", "min"], points_to_evaluate=[{"x": "a"}, {"x": "b"}],
                          evaluated_rewards=[[1.0, 0.0], [0.0, 1.0]], batch_size=2)
    assert searcher.num_updates == 1 and searcher.history()["x:p[a]"].iloc[0] > 0.5  # "a" dominates "b"
    with pytest.raises(ValueError, match="one value per metric"):
        PGSearcher(space, metric=["m1", "m2"], mode=["max", "min"], points_to_evaluate=[{"x": "a"}],
                   evaluated_rewards=[1.0])


@pytest.mark.parametrize("metric, mode, rewards", [
    ("loss", "min", np.array([[1.0, 5.0], [2.0, 5.0]])),  # two values for one metric, as array rows
    ("loss", "min", "12"),  # a string of the right length
    ("loss", "min", (r for r in [1.0, 2.0])),  # a generator: no length to compare
    (["a", "b"], ["min", "min"], [[1.0, 2.0], [3.0]]),
    (None, None, [[1.0, 2.0], [3.0]]),  # metrics from Tune later: entries of unequal length
    (None, None, [{"loss": 1.0}, {"loss": 2.0}]),
])
def test_evaluated_rewards_that_do_not_fit_the_points_are_refused(metric, mode, rewards):
    points = [{"opt": "sgd", "lr": 1e-3, "layers": 2, "dropout": 0.1},
              {"opt": "adam", "lr": 1e-2, "layers": 3, "dropout": 0.2}]
    with pytest.raises(ValueError, match="evaluated_rewards"):
        PGSearcher(SPACES["mixed"], metric=metric, mode=mode, points_to_evaluate=points, evaluated_rewards=rewards)
    # The right shape as array rows, one metric or two: learnt from (one metric's were failed trials before).
    for metric, mode, rewards in [("loss", "min", np.array([[1.0], [2.0]])),
                                  (["loss", "b"], ["min", "max"], np.array([[1.0, 2.0], [2.0, 1.0]]))]:
        searcher = PGSearcher(SPACES["mixed"], metric=metric, mode=mode, points_to_evaluate=points,
                              evaluated_rewards=rewards, batch_size=2)
        assert searcher.num_updates == 1 and searcher.num_failed == 0


def test_a_blas_loaded_after_the_first_update_is_held_to_one_thread_too():
    """scikit-learn's scipy brings its own OpenBLAS; imported after the searcher's first update, it was left
    at its threads (the libraries were found once). A fresh process: this one has both loaded already."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import numpy as np
        from ray import tune
        from threadpoolctl import threadpool_info
        from ray_pg import PGSearcher, learner

        def blas():
            return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

        seen, update = [], learner.Learner.natural_update
        learner.Learner.natural_update = lambda self, size: (seen.append(blas()), update(self, size))
        # Ten numerics: a rank model of 66 coefficients, above blas.ONE_THREAD_ABOVE
        searcher = PGSearcher({f"x{i}": tune.uniform(0, 1) for i in range(10)}, metric="loss", mode="min", seed=0)
        rng = np.random.default_rng(0)

        def run(trials):
            for i in trials:
                searcher.on_trial_complete(str(i), {"loss": searcher.suggest(str(i))["x0"] + rng.normal()})

        run(range(20))
        loaded = len(blas())
        import scipy.linalg  # its own OpenBLAS
        print(len(blas()) - loaded, max(blas()))
        run(range(20, 40))
        print(max(max(threads) for threads in seen[-2:]))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    new, most_threads, most_in_update = map(int, out[-3:])
    if not new or most_threads < 2:
        pytest.skip(f"importing scipy loaded {new} other BLAS with up to {most_threads} threads: nothing to hold")
    assert most_in_update == 1


def test_updates_hold_blas_to_one_thread_and_restore_it_even_from_four_threads(monkeypatch):
    """The update's linear algebra runs on one BLAS thread where the rank model may be large (a second thread
    waits for a busy core when trials share the machine); what the process had is back after every update,
    whichever thread ran it. A small space's update leaves BLAS as it is (the hold costs more than it saves)."""
    import threading

    from threadpoolctl import threadpool_info

    from ray_pg import learner

    def blas_threads() -> set[int]:
        return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}

    before = blas_threads()
    if not before or min(before) < 2:
        pytest.skip(f"BLAS runs {before} threads here: one thread is all it has")
    seen: list[set[int]] = []
    update = learner.Learner.natural_update

    def spy(self, batch_size):
        seen.append(blas_threads())
        update(self, batch_size)

    monkeypatch.setattr(learner.Learner, "natural_update", spy)
    drive(PGSearcher(SPACES["mixed"], metric="loss", mode="min", seed=0), SPACES["mixed"], 60, 0)
    assert len(seen) >= 5 and all(threads == before for threads in seen), seen  # a model of 11 coefficients
    seen.clear()
    wide = {**SPACES["mixed"], **{f"x{i}": tune.uniform(0, 1) for i in range(7)}}  # 10 numerics: 67
    drive(PGSearcher(wide, metric="loss", mode="min", seed=0), wide, 60, 0)
    assert blas_threads() == before
    searchers = [PGSearcher(wide, metric="loss", mode="min", seed=seed) for seed in range(4)]
    threads = [threading.Thread(target=drive, args=(s, wide, 120, 0)) for s in searchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert blas_threads() == before
    assert len(seen) >= 5 * 8 and all(threads == {1} for threads in seen), seen
