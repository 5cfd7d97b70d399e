"""The two-objective benchmark: its known front and hypervolume, the driver's rows, the summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments.bench import __main__ as bench_cli
from experiments.bench import methods, results
from experiments.bench import zdt as mo
from experiments.bench import zdt_report
from experiments.bench.analysis import fmt
from experiments.bench.domains import invalid_paths, set_path, walk
from ray_pg.pareto import hypervolume


def _random_configs(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    configs = []
    for _ in range(n):
        config: dict = {}
        for path, domain in walk(mo.SPACE):
            set_path(config, path, domain.sample(random_state=rng))
        configs.append(config)
    return configs


def test_hv_constant_is_the_area_under_the_stated_front():
    assert mo.HV_TRUE == pytest.approx(0.1 + 2 / 3 + 0.11, abs=1e-12)
    assert mo.HV_TRUE == pytest.approx(0.876667, abs=1e-6)
    # Independent check: numerical integration of the dominated area inside the reference box.
    f1 = np.linspace(0.0, mo.REFERENCE[0], 200_001)
    f2_front = np.where(f1 <= 1.0, 1.0 - np.sqrt(np.minimum(f1, 1.0)), 0.0)
    area = np.trapezoid(mo.REFERENCE[1] - f2_front, f1) if hasattr(np, "trapezoid") else np.trapz(
        mo.REFERENCE[1] - f2_front, f1)
    assert area == pytest.approx(mo.HV_TRUE, abs=1e-4)


def test_configs_on_the_front_reach_the_front_and_its_hypervolume_from_below():
    best = min(mo.OFFSETS, key=mo.OFFSETS.get)
    assert list(mo.OFFSETS).index(best) != 0  # the best category is not the first
    x = np.linspace(0.0, 1.0, 2001)
    configs = [mo.front_config(float(v)) for v in x]
    assert all(invalid_paths(mo.SPACE, c) == [] for c in configs)
    points = np.array([mo.objectives(c) for c in configs])
    np.testing.assert_allclose(points[:, 1], 1.0 - np.sqrt(x), atol=1e-12)
    hv = hypervolume(points, reference=mo.REFERENCE)
    assert hv <= mo.HV_TRUE
    assert hv == pytest.approx(mo.HV_TRUE, abs=2e-3)
    assert hypervolume(points[::100], reference=mo.REFERENCE) < hv  # fewer points, less volume


def test_random_configs_are_dominated_by_the_front():
    configs = _random_configs(3000, seed=3)
    points = np.array([mo.objectives(c) for c in configs])
    on_front = 1.0 - np.sqrt(points[:, 0])
    assert (points[:, 1] >= on_front - 1e-12).all()
    assert (points[:, 1] > on_front + 1e-6).mean() > 0.99
    assert hypervolume(points, reference=mo.REFERENCE) < 0.9 * mo.HV_TRUE
    # Each offset moves g: the best variant's points are closer to the front.
    gaps = pd.Series(points[:, 1] - on_front).groupby([c["variant"] for c in configs]).median()
    assert gaps.idxmin() == min(mo.OFFSETS, key=mo.OFFSETS.get)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mo")
    argv = ["run", "multiobjective", "--methods", "random", "pg", "--seeds", "1", "--workers", "4", "--budget", "24",
            "--out", str(out), "--processes", "1"]
    assert bench_cli.main(argv) == 0
    return out, argv


def _file(out, method):
    return results.run_file(out, results.Task("multiobjective", method, mo.PROBLEM, 0, 4, 24))


def test_tiny_run_writes_tidy_rows_with_monotone_hypervolume(tiny_run):
    out, _ = tiny_run
    files = sorted((out / "multiobjective" / "trials").glob("*.parquet"))
    assert [f.name for f in files] == ["pg__zdt1_mixed__w4__s0.parquet", "random__zdt1_mixed__w4__s0.parquet"]
    for f in files:
        frame = pd.read_parquet(f)
        assert list(frame.columns) == results.KEYS + mo.COLUMNS
        np.testing.assert_allclose(frame["best_so_far"], 1 - frame["hv_so_far"] / mo.HV_TRUE)
        assert frame["trial"].tolist() == list(range(1, 25))
        assert (frame[["workers", "budget", "seed"]].drop_duplicates().values == [[4, 24, 0]]).all()
        assert sorted(frame["suggest_index"]) == list(range(1, 25))
        assert (frame["invalid"] == 0).all()
        assert np.isfinite(frame[["f1", "f2"]].to_numpy()).all()
        assert (np.diff(frame["hv_so_far"]) >= 0).all()
        assert (np.diff(frame["wall_time"]) >= 0).all()
        _assert_hv_of_prefixes(frame)
        assert 0 <= frame["hv_so_far"].iloc[-1] < mo.HV_TRUE


def _assert_hv_of_prefixes(frame: pd.DataFrame) -> None:
    points = frame[["f1", "f2"]].to_numpy()
    expected = [hypervolume(points[:k], reference=mo.REFERENCE) for k in range(1, len(points) + 1)]
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
    frame = mo.run_task(results.Task("multiobjective", "near_front", mo.PROBLEM, 1, 4, 40))["trials"]
    assert (frame["invalid"] == 0).all()
    _assert_hv_of_prefixes(frame)
    hv = frame["hv_so_far"].to_numpy()
    assert (np.diff(hv) >= 0).all() and hv[-1] > 0.3 * mo.HV_TRUE and hv[-1] > hv[9]


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
    md = tmp_path / "mo.md"
    frame = results.load(out, "multiobjective")
    md.write_text(zdt_report.summarize(frame, (12, 24, 50), "python -m tiny", "mo.png"))
    text = md.read_text()
    assert "python -m tiny" in text
    for expected in ("| random |", "| pg |", "HV ratio @12", "HV ratio @24", "mean rank", "ms/trial"):
        assert expected in text
    assert "@50" not in text  # checkpoints past the budget are left out
    # The table's median at 12 trials is the stored hypervolume over HV_TRUE.
    frame = pd.read_parquet(_file(out, "pg"))
    assert f"| pg | {fmt(frame['hv_so_far'].iloc[11] / mo.HV_TRUE)} [" in text
    assert bench_cli.main(["summary", "multiobjective", "--out", str(out), "--summary-dir", str(tmp_path)]) == 0
    png = tmp_path / "multiobjective_w4.png"
    assert png.stat().st_size > 5000


def test_driver_refuses_a_searcher_that_lost_the_metric_list(monkeypatch):
    from experiments.bench.methods import Method, RandomSearcher

    monkeypatch.setitem(methods.METHODS, "broken",
                        Method(lambda space, metric, mode, seed: RandomSearcher(metric="f1", mode="min", seed=seed)))
    with pytest.raises(RuntimeError, match="metric/mode did not arrive"):
        mo.run_task(results.Task("multiobjective", "broken", mo.PROBLEM, 0, 2, 4))
