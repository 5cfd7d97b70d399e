"""The multi-objective benchmark: its known fronts and hypervolumes, the driver's rows, the summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments.bench import __main__ as bench_cli
from experiments.bench import methods, results
from experiments.bench import zdt as mo
from experiments.bench import zdt_report
from experiments.bench.analysis import fmt
from experiments.bench.domains import invalid_paths, random_config
from ray_pg.pareto import hypervolume


def _random_configs(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [random_config(mo.SPACE, rng) for _ in range(n)]


ZDT1 = mo.PROBLEMS["zdt1_mixed"]


@pytest.mark.parametrize("name, curve", [("zdt1_mixed", lambda f1: 1.0 - np.sqrt(f1)),
                                         ("zdt2_mixed", lambda f1: 1.0 - f1**2)])
def test_hv_constants_are_the_areas_under_the_stated_fronts(name, curve):
    problem = mo.PROBLEMS[name]
    # Numerical integration of the dominated area inside the reference box.
    f1 = np.linspace(0.0, problem.reference[0], 200_001)
    f2_front = np.where(f1 <= 1.0, curve(np.minimum(f1, 1.0)), 0.0)
    integrate = np.trapezoid if hasattr(np, "trapezoid") else np.trapz
    assert integrate(problem.reference[1] - f2_front, f1) == pytest.approx(problem.hv_true, abs=1e-4)
    assert ZDT1.hv_true == pytest.approx(0.876667, abs=1e-6)


def test_zdt3_and_dtlz2_constants_from_dense_fronts():
    zdt3 = mo.PROBLEMS["zdt3_mixed"]
    x1 = np.linspace(0.0, 1.0, 400_001)
    dense = np.column_stack([x1, 1.0 - np.sqrt(x1) - x1 * np.sin(10 * np.pi * x1)])
    assert hypervolume(dense, reference=zdt3.reference) == pytest.approx(zdt3.hv_true, abs=2e-5)
    dtlz2 = mo.PROBLEMS["dtlz2_mixed"]
    grid = np.linspace(0.0, 1.0, 41)
    points = np.array([dtlz2.evaluate(mo.front_config(a, b)) for a in grid for b in grid])
    np.testing.assert_allclose(np.linalg.norm(points, axis=1), 1.0, atol=1e-12)  # on the unit sphere
    hv = hypervolume(points, reference=dtlz2.reference)
    assert hv < dtlz2.hv_true and hv == pytest.approx(dtlz2.hv_true, abs=0.03)


@pytest.mark.parametrize("name", ["zdt1_mixed", "zdt2_mixed", "zdt3_mixed"])
def test_configs_on_the_front_reach_its_hypervolume_from_below(name):
    problem = mo.PROBLEMS[name]
    best = min(mo.OFFSETS, key=mo.OFFSETS.get)
    assert list(mo.OFFSETS).index(best) != 0  # the best category is not the first
    configs = [mo.front_config(float(v)) for v in np.linspace(0.0, 1.0, 2001)]
    assert all(invalid_paths(mo.SPACE, c) == [] for c in configs)
    points = np.array([problem.evaluate(c) for c in configs])
    hv = hypervolume(points, reference=problem.reference)
    assert hv <= problem.hv_true + 1e-9
    assert hv == pytest.approx(problem.hv_true, abs=2e-3)
    assert hypervolume(points[::100], reference=problem.reference) < hv  # fewer points, less volume


def test_random_configs_are_dominated_by_the_fronts():
    configs = _random_configs(3000, seed=3)
    for name, problem in mo.PROBLEMS.items():
        points = np.array([problem.evaluate(c) for c in configs])
        if len(problem.metrics) == 3:
            gap = np.linalg.norm(points, axis=1) - 1.0  # the front is the unit sphere
        else:  # the front is the same shape at g = 1, and f2 grows with g
            gap = points[:, 1] - np.array([problem.evaluate(mo.front_config(x))[1] for x in points[:, 0]])
        assert (gap >= -1e-12).all() and (gap > 1e-6).mean() > 0.99, name
        assert hypervolume(points, reference=problem.reference) < 0.9 * problem.hv_true, name
        # Each offset moves g: the best variant's points are closer to the front.
        gaps = pd.Series(gap).groupby([c["variant"] for c in configs]).median()
        assert gaps.idxmin() == min(mo.OFFSETS, key=mo.OFFSETS.get), name


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mo")
    argv = ["run", "multiobjective", "--methods", "random", "pg", "--seeds", "1", "--workers", "4", "--budget", "24",
            "--out", str(out), "--processes", "1"]
    assert bench_cli.main(argv) == 0
    return out, argv


def _file(out, method, problem="zdt1_mixed"):
    return results.run_file(out, results.Task("multiobjective", method, problem, 0, 4, 24))


def test_tiny_run_writes_tidy_rows_with_monotone_hypervolume(tiny_run):
    out, _ = tiny_run
    files = sorted((out / "multiobjective" / "trials").glob("*.parquet"))
    assert [f.name for f in files] == [f"{m}__{p}__w4__s0.parquet" for m in ("pg", "random") for p in sorted(mo.PROBLEMS)]
    for f in files:
        frame = pd.read_parquet(f)
        problem = mo.PROBLEMS[frame["problem"].iloc[0]]
        assert list(frame.columns) == results.KEYS + mo.COLUMNS
        np.testing.assert_allclose(frame["best_so_far"], 1 - frame["hv_so_far"] / problem.hv_true)
        assert frame["trial"].tolist() == list(range(1, 25))
        assert (frame[["workers", "budget", "seed"]].drop_duplicates().values == [[4, 24, 0]]).all()
        assert sorted(frame["suggest_index"]) == list(range(1, 25))
        assert (frame["invalid"] == 0).all()
        assert np.isfinite(frame[problem.metrics].to_numpy()).all()
        assert frame["f3"].isna().all() == (len(problem.metrics) == 2)
        assert (np.diff(frame["hv_so_far"]) >= 0).all()
        assert (np.diff(frame["wall_time"]) >= 0).all()
        _assert_hv_of_prefixes(frame, problem)
        assert 0 <= frame["hv_so_far"].iloc[-1] < problem.hv_true


def _assert_hv_of_prefixes(frame: pd.DataFrame, problem: mo.MOProblem) -> None:
    points = frame[problem.metrics].to_numpy()
    expected = [hypervolume(points[:k], reference=problem.reference) for k in range(1, len(points) + 1)]
    np.testing.assert_allclose(frame["hv_so_far"], expected, rtol=1e-12, atol=1e-12)


def test_hv_so_far_counts_every_completed_trial_near_the_front(monkeypatch):
    """A searcher that often proposes near-front configs, so the hypervolume really grows."""
    from experiments.bench.methods import Method, RandomSearcher

    class NearFront(RandomSearcher):
        def suggest(self, trial_id: str) -> dict:
            config = super().suggest(trial_id)
            if self._rng.random() < 0.7:
                config.update(u=float(self._rng.uniform(0, 0.1)), q=0.0, n=0,
                              lr=float(mo.LR_LOW * 10 ** self._rng.uniform(0, 0.3)))
            return config

    monkeypatch.setitem(methods.METHODS, "near_front",
                        Method(lambda space, metric, mode, seed: NearFront(metric=metric, mode=mode, seed=seed)))
    frame = mo.run_task(results.Task("multiobjective", "near_front", "zdt1_mixed", 1, 4, 40))["trials"]
    assert (frame["invalid"] == 0).all()
    _assert_hv_of_prefixes(frame, ZDT1)
    hv = frame["hv_so_far"].to_numpy()
    assert (np.diff(hv) >= 0).all() and hv[-1] > 0.3 * ZDT1.hv_true and hv[-1] > hv[9]


def test_existing_runs_are_skipped_unless_overwritten(tiny_run):
    out, argv = tiny_run
    path = _file(out, "random")
    before = path.stat().st_mtime_ns
    assert bench_cli.main(argv) == 0
    assert path.stat().st_mtime_ns == before
    assert bench_cli.main([*argv, "--overwrite", "true"]) == 0
    assert path.stat().st_mtime_ns > before


def test_summary_renders_from_the_rows(tiny_run, tmp_path):
    out, _ = tiny_run
    frame = results.load(out, "multiobjective")
    text = zdt_report.report(frame, (12, 24), "python -m tiny", {p: f"{p}.png" for p in mo.PROBLEMS})
    assert "python -m tiny" in text
    for expected in ("| random |", "| pg |", "HV ratio @12", "HV ratio @24", "mean rank", "ms/trial",
                     *(f"## {p}" for p in mo.PROBLEMS), *(f"({p}.png)" for p in mo.PROBLEMS)):
        assert expected in text
    # A table's median at 12 trials is the stored hypervolume over hv_true.
    pg = pd.read_parquet(_file(out, "pg"))
    assert f"| pg | {fmt(pg['hv_so_far'].iloc[11] / ZDT1.hv_true)} [" in text
    # The overview's rank at 24 trials: of two methods, 1 for the larger final hypervolume on each problem.
    last = frame[frame["trial"] == 24].pivot_table(index="problem", columns="method", values="hv_so_far")
    pg_rank = (1 + (last["pg"] < last["random"]) + 0.5 * (last["pg"] == last["random"])).mean()
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| method | @12 | @24 |"))
    cells = next(line for line in lines[start:] if line.startswith("| pg |")).split("|")[1:-1]
    assert cells[2].strip() == fmt(pg_rank)
    assert bench_cli.main(["summary", "multiobjective", "--out", str(out), "--summary-dir", str(tmp_path)]) == 0
    written = (tmp_path / "multiobjective_w4.md").read_text()
    assert "| @24 |" in written and "@50" not in written  # checkpoints past the budget are left out
    for problem in mo.PROBLEMS:
        assert (tmp_path / f"multiobjective_w4_{problem}.png").stat().st_size > 5000


def test_driver_refuses_a_searcher_that_lost_the_metric_list(monkeypatch):
    from experiments.bench.methods import Method, RandomSearcher

    monkeypatch.setitem(methods.METHODS, "broken",
                        Method(lambda space, metric, mode, seed: RandomSearcher(metric="f1", mode="min", seed=seed)))
    with pytest.raises(RuntimeError, match="metric/mode did not arrive"):
        mo.run_task(results.Task("multiobjective", "broken", "zdt1_mixed", 0, 2, 4))
