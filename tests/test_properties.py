"""Property-based: random nested (and conditional) spaces and random result streams never crash or yield invalid values."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ray import tune

from ray_pg import PGSearcher
from spaces import assert_valid

finite = st.floats(-1e3, 1e3, allow_nan=False)


@st.composite
def domains(draw):
    kind = draw(st.sampled_from(["choice", "uniform", "quniform", "loguniform", "qloguniform", "randn", "qrandn",
                                 "randint", "qrandint", "lograndint", "qlograndint"]))
    if kind == "choice":
        return tune.choice(draw(st.lists(st.one_of(st.integers(), st.text(max_size=3), st.booleans()),
                                         min_size=1, max_size=6, unique_by=lambda v: (type(v), v))))
    if kind == "uniform":
        low = draw(finite)
        return tune.uniform(low, low + draw(st.floats(1e-3, 1e3)))
    if kind == "quniform":
        q = draw(st.sampled_from([0.1, 0.25, 0.5, 1.0, 2.0]))
        low = draw(st.integers(-50, 50)) * q
        return tune.quniform(low, low + draw(st.integers(1, 40)) * q, q)
    if kind in ("loguniform", "qloguniform"):
        low = 10 ** draw(st.integers(-6, 2))
        high = low * 10 ** draw(st.integers(1, 4))
        return tune.loguniform(low, high) if kind == "loguniform" else tune.qloguniform(low, high, low)
    if kind in ("randn", "qrandn"):
        mean, sd = draw(finite), draw(st.floats(1e-2, 1e2))
        return tune.randn(mean, sd) if kind == "randn" else tune.qrandn(mean, sd, draw(st.sampled_from([0.1, 1.0])))
    low = draw(st.integers(1, 100)) if kind.startswith(("log", "qlog")) else draw(st.integers(-100, 100))
    high = low + draw(st.integers(1, 1000))
    q = draw(st.integers(1, 9))
    return {"randint": lambda: tune.randint(low, high), "lograndint": lambda: tune.lograndint(low, high),
            "qrandint": lambda: tune.qrandint(low, high + q, q),
            "qlograndint": lambda: tune.qlograndint(max(low, q), high + q, q)}[kind]()


keys = st.text("abcdefgh", min_size=1, max_size=4)
leaves = st.one_of(domains(), domains(), st.integers(), st.text(max_size=3))
# Conditional choices: categories that are themselves (sub)spaces, nested to any depth.
spaces = st.recursive(leaves, lambda children: st.one_of(st.lists(children, min_size=1, max_size=3),
                                                         st.lists(children, min_size=1, max_size=3).map(tuple),
                                                         st.dictionaries(keys, children, min_size=1, max_size=4),
                                                         st.lists(children, min_size=1, max_size=3).map(tune.choice)),
                      max_leaves=10).map(lambda node: node if isinstance(node, dict) else {"root": node})

outcomes = st.one_of(
    st.builds(lambda v: {"loss": v}, st.floats(allow_nan=True, allow_infinity=True)),
    st.just({"other": 1.0}), st.just(None), st.just("error"), st.just("repeat"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(space=spaces, stream=st.lists(st.tuples(st.integers(0, 5), outcomes), min_size=1, max_size=60),
       batch_size=st.one_of(st.none(), st.integers(2, 6)), mode=st.sampled_from(["min", "max"]),
       failed=st.sampled_from(["worst", "ignore"]), seed=st.integers(0, 2**31))
def test_random_spaces_and_result_streams(space, stream, batch_size, mode, failed, seed):
    searcher = PGSearcher(space, metric="loss", mode=mode, batch_size=batch_size, failed_trials=failed, seed=seed)
    pending, done = [], []
    for i, (pick, outcome) in enumerate(stream):
        config = searcher.suggest(f"t{i}")
        assert_valid(space, config)
        pending.append(f"t{i}")
        if pick < len(pending) and pick % 2 == 0:  # complete a random pending trial, or let it pile up
            tid = pending.pop(pick)
            if outcome == "error":
                searcher.on_trial_complete(tid, result=None, error=True)
            elif outcome == "repeat":  # a repeated id and an unknown one are both ignored
                searcher.on_trial_complete(tid, result={"loss": 1.0})
                searcher.on_trial_complete(done[-1] if done else tid, result={"loss": 2.0})
                searcher.on_trial_complete("unknown", result={"loss": 3.0})
            else:
                searcher.on_trial_complete(tid, result=outcome)
            done.append(tid)
    state = searcher.get_state()
    assert all(math.isfinite(p) for p in state["policy"])
    assert len(state["pending"]) == len(pending)
