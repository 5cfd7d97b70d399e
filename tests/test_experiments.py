"""The benchmark harness: problem optima, method table, runner, summary and plots."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from ray import tune
from ray.tune.search import Searcher

from experiments.bench import __main__ as bench_cli
from experiments.bench import analysis, cost, results, simulate
from experiments.bench.domains import KINDS, domain_kind, invalid_paths, random_config, walk
from experiments.bench.methods import parse_method
from experiments.bench.problems import COST_PROBLEMS, PROBLEMS


def _random_configs(space: dict, n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [random_config(space, rng) for _ in range(n)]


def test_registry_has_nine_problems_using_every_domain_kind():
    assert len(PROBLEMS) >= 9
    used = {domain_kind(d) for p in PROBLEMS.values() for _, d in walk(p.space)}
    assert used == set(KINDS)
    assert any(p.noise_sd > 0 for p in PROBLEMS.values())


@pytest.mark.parametrize("name", [*PROBLEMS, *COST_PROBLEMS])
def test_stated_optimum_is_attained_and_not_beaten(name):
    problem = {**PROBLEMS, **COST_PROBLEMS}[name]
    assert invalid_paths(problem.space, problem.optimal_config) == []
    assert problem.value(problem.optimal_config) == pytest.approx(problem.optimum, abs=1e-12)
    values = np.array([problem.value(c) for c in _random_configs(problem.space, 2000, seed=1)])
    assert values.min() >= problem.optimum - 1e-12
    # The optimum is not trivial: random search does not stumble on it.
    assert values.min() > problem.optimum + 1e-6


def test_noise_changes_observed_but_not_true_value():
    problem = PROBLEMS["train_net_noisy"]
    observed, true = problem.observe(problem.optimal_config, np.random.default_rng(0))
    assert true == pytest.approx(problem.optimum)
    assert observed != true


def test_method_specs_parse_keyword_arguments():
    method, kwargs = parse_method("pg[batch_size=16, learning_rate=0.05]")
    assert kwargs == {"batch_size": 16, "learning_rate": 0.05}
    assert parse_method("pg_b16")[1] == {"batch_size": 16}
    with pytest.raises(ValueError, match="unknown method"):
        parse_method("nope")


def test_tpe_adapter_suggests_valid_values_for_every_problem():
    for name in PROBLEMS:
        rows = simulate.run_task(results.Task("suite", "tpe", name, seed=0, workers=4, budget=12),
                                 PROBLEMS[name])["trials"]
        assert len(rows) == 12
        assert rows["invalid"].sum() == 0, name


def test_runner_summary_and_plots_end_to_end(tmp_path, capsys):
    out, figures = tmp_path / "results", tmp_path / "figures"
    problems, methods = ["train_net", "needle100"], ["random", "pg"]
    argv = ["suite", "--problems", *problems, "--methods", *methods, "--seeds", "1", "--workers", "4",
            "--budget", "16", "--out", str(out), "--processes", "2", "--summary-dir", str(figures)]
    assert bench_cli.main(["run", *argv]) == 0

    files = sorted((out / "suite" / "trials").glob("*.parquet"))
    assert len(files) == 4
    rows = results.load(out, "suite")
    assert list(rows.columns) == results.KEYS + simulate.COLUMNS
    assert len(rows) == 4 * 16
    for (_, problem), run in rows.groupby(["method", "problem"]):
        run = run.sort_values("trial")
        assert run["trial"].tolist() == list(range(1, 17))
        assert sorted(run["suggest_index"]) == list(range(1, 17))
        assert (run["regret"] >= 0).all()
        assert (np.diff(run["best_so_far"]) <= 0).all()
        assert np.allclose(run["best_so_far"], run["regret"].cummin())
        assert (np.diff(run["sim_time"]) >= 0).all()
        assert (np.diff(run["wall_time"]) >= 0).all()
        assert (run["invalid"] == 0).all()
        assert np.allclose(run["regret"], run["true_value"] - PROBLEMS[problem].optimum)
    # Trials complete out of order: with 4 in flight and random durations the
    # suggestion order differs from the completion order.
    assert (rows["suggest_index"] != rows["trial"]).any()
    # A second run with the same arguments finds every file and does nothing.
    mtimes = [f.stat().st_mtime_ns for f in files]
    assert bench_cli.main(["run", *argv]) == 0
    assert [f.stat().st_mtime_ns for f in files] == mtimes

    histories = sorted((out / "suite" / "history").glob("*.parquet"))
    assert [h.name.split("__")[0] for h in histories] == ["pg", "pg"]
    history = pd.read_parquet(histories[0])
    assert {"update", "trials_used", "entropy"} <= set(history.columns)
    assert [c for c in history.columns if c.startswith(("mean_", "best_"))]  # the metric, in its own sign

    assert bench_cli.main(["summary", *argv]) == 0
    text = (figures / "summary.md").read_text()
    assert "## 4 workers, budget 16" in text
    assert "Mean rank" in text
    assert text.count("| train_net | ") == 3  # two methods in the regret table, one rank row
    # Ranks at every checkpoint, per half: needle100 and train_net are both in the tuning half.
    assert "| all problems | 16 |" in text and "| tuning half | 16 |" in text and "held-out" not in text.split(
        "### Median")[1]

    capsys.readouterr()
    assert bench_cli.main(["compare", *argv]) == 0
    printed = capsys.readouterr().out
    assert "random against each other method, 2 (problem, seed) pairs, at [16] trials" in printed
    assert printed.count("| pg | share | ") == 1 and "| pg | sd | " in printed

    assert bench_cli.main(["plots", *argv]) == 0
    pngs = sorted(p.name for p in figures.glob("*.png"))
    assert pngs == ["curves_w4_b16.png", "policy_pg_train_net_w4_s0.png"]
    assert all(0 < os.path.getsize(figures / p) < 300_000 for p in pngs)


def test_head_to_head_shares_rank_differences_and_their_sd():
    """Two problems, two seeds, three methods; at checkpoint 10 every figure worked out by hand. A run one
    method lacks leaves the ranks (not the pair's share); a tie counts half."""
    scores = {  # (problem, seed) -> scores of a, b, c
        ("p", 0): (1.0, 2.0, 3.0), ("p", 1): (2.0, 1.0, 3.0), ("q", 0): (1.0, 1.0, 0.0), ("q", 1): (0.0, 5.0, None)}
    rows = [(m, problem, seed, 8, 10, value) for (problem, seed), values in scores.items()
            for m, value in zip("abc", values) if value is not None]
    frame = pd.DataFrame(rows, columns=[*results.KEYS, 10]).set_index(results.KEYS)
    table = analysis.head_to_head(frame, "a")
    # a against b: p wins 1 of 2, q 1.5 of 2 (a tie, a win): (0.5 + 0.75) / 2.
    assert table.loc[("b", "share"), 10] == pytest.approx(0.625)
    # Ranks of the 3 runs c finished: p0 (1, 2, 3), p1 (2, 1, 3), q0 (2.5, 2.5, 1): a - b = -1, 1, 0.
    assert table.loc[("b", "rank difference"), 10] == pytest.approx(0.0)
    assert table.loc[("b", "sd"), 10] == pytest.approx(1.0 / np.sqrt(3))
    # a against c: p 2 of 2, q 0 of 1 (c lacks q1): (1 + 0) / 2; ranks a - c = -2, -1, 1.5.
    assert table.loc[("c", "share"), 10] == pytest.approx(0.5)
    assert table.loc[("c", "rank difference"), 10] == pytest.approx(-0.5)
    assert table.loc[("c", "sd"), 10] == pytest.approx(np.std([-2.0, -1.0, 1.5], ddof=1) / np.sqrt(3))


def test_cost_windows_and_plot(tmp_path, capsys):
    argv = ["--methods", "random", "pg", "--max-trials", "60", "--processes", "1", "--repeats", "2",
            "--results", str(tmp_path), "--out", str(tmp_path)]
    assert cost.main(argv) == 0
    table = pd.read_parquet(tmp_path / "cost" / "cost.parquet")
    assert set(table["method"]) == {"random", "pg"}
    assert table.groupby(["method", "repeat"])["trials"].max().tolist() == [60, 60, 60, 60]
    # The ratio of each repeat's last window, PG's over random's in the same repeat.
    last = table[table["trials"] == 60].set_index(["repeat", "method"])["ms_per_trial"]
    assert cost.ratios(table)["pg"].tolist() == [last[r, "pg"] / last[r, "random"] for r in (0, 1)]
    assert "ratio to random per repeat" in capsys.readouterr().out
    # A run stopped early by a time cap has other windows: no ratio for it, the order of the methods kept.
    capped = table[~((table["method"] == "pg") & (table["repeat"] == 1) & (table["trials"] == 60))]
    assert list(cost.ratios(capped)) == ["pg"] and np.isnan(cost.ratios(capped)["pg"][1])
    assert (table["ms_per_trial"] > 0).all()
    # The longest single call is at most all the window's calls together.
    assert (table["worst_ms"] > 0).all()
    assert (table["worst_ms"] <= table["ms_per_trial"] * (table["trials"] - table["window_start"])).all()
    assert (tmp_path / "cost.png").stat().st_size > 0


class _Clocked(Searcher):
    """A searcher whose calls take set CPU seconds on a fake clock: set_search_properties 10, suggest 4,
    on_trial_result 2, on_trial_complete 3 (the 11th: 20)."""

    def __init__(self, clock: list[float]):
        super().__init__(metric="value", mode="min")
        self.clock, self.completed = clock, 0

    def set_search_properties(self, metric, mode, config, **spec):
        self.clock[0] += 10
        return True

    def suggest(self, trial_id):
        self.clock[0] += 4
        return {"x": 0.5}

    def on_trial_result(self, trial_id, result):
        self.clock[0] += 2

    def on_trial_complete(self, trial_id, result=None, error=False):
        self.completed += 1
        self.clock[0] += 20 if self.completed == 11 else 3


def test_simulate_times_each_call_and_keeps_the_longest_since_the_last_completion(monkeypatch):
    """The worst call is one call, not the CPU between two completions (set_search_properties and the
    first suggestions had counted as one 'call'); a suggestion made after a completion counts in the next."""
    clock = [0.0]
    monkeypatch.setattr(simulate.time, "process_time", lambda: clock[0])
    done = list(simulate.simulate(_Clocked(clock), {"x": tune.uniform(0, 1)}, "value", "min", workers=4,
                                  budget=12, seed=0, evaluate=lambda config: ({"value": 1.0}, None)))
    assert [d.longest_call for d in done] == [10, 4, 4, 4, 4, 4, 4, 4, 4, 3, 20, 3]
    # Searcher CPU: set_search_properties and 4 suggestions, 5 per completion, 4 per later suggestion.
    cpu = np.cumsum([10 + 16 + 5] + [9] * 8 + [5, 22, 5])
    assert [d.cpu for d in done] == cpu.tolist()
    rows = cost.windows(pd.DataFrame({"wall_time": [d.cpu for d in done],
                                      "longest_call": [d.longest_call for d in done]}))
    assert rows["worst_ms"].tolist() == [10_000, 20_000]
    assert rows["ms_per_trial"].tolist() == [1000 * cpu[9] / 10, 1000 * (cpu[11] - cpu[9]) / 2]


@pytest.mark.slow
def test_sklearn_benchmark_runs_real_trials_and_writes_the_same_rows(tmp_path):
    argv = ["run", "sklearn", "--methods", "pg", "--seeds", "1", "--workers", "2", "--budget", "4",
            "--out", str(tmp_path)]
    assert bench_cli.main(argv) == 0
    rows = results.load(tmp_path, "sklearn").sort_values("trial")
    assert list(rows.columns) == results.KEYS + simulate.COLUMNS
    assert set(rows["method"]) == {"pg"} and set(rows["problem"]) == {"sklearn_digits"}
    assert rows["trial"].tolist() == [1, 2, 3, 4]
    assert rows["value"].between(0, 1).all() and (rows["invalid"] == 0).all()
    assert (np.diff(rows["best_so_far"]) <= 0).all() and (rows["wall_time"] > 0).all()


def test_modules_import_no_circle_and_stay_small():
    """No import circle among the project's modules; a module over 300 lines says why in its docstring."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    files = {".".join(f.relative_to(root).with_suffix("").parts): f
             for folder in ("experiments", "ray_pg") for f in (root / folder).rglob("*.py")}
    graph = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text())
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
        graph[name] = {t for t in targets if t in files and t != name}
        if len(path.read_text().splitlines()) > 300:
            assert "Over 300 lines" in (ast.get_docstring(tree) or ""), name

    def reaches(start: str, goal: str, seen: set) -> bool:
        return any(n == goal or (n not in seen and not seen.add(n) and reaches(n, goal, seen)) for n in graph[start])

    circles = [name for name in graph if reaches(name, name, set())]
    assert circles == []


def test_catcma_suggests_valid_values_on_every_problem_and_learns():
    for name, problem in PROBLEMS.items():
        rows = simulate.run_task(results.Task("suite", "catcma", name, seed=0, workers=4, budget=40),
                                 problem)["trials"]
        assert len(rows) == 40 and rows["invalid"].sum() == 0, name
    # Log domains become log axes, grids integer axes, big grids continuous axes, randn wide axes.
    from experiments.bench.catcma import make_axes

    kinds = {a.path[-1]: (a.kind, a.log) for a in make_axes(PROBLEMS["mixed_hd24"].space, max_grid=1000)}
    assert kinds["l0"] == ("x", True) and kinds["li0"] == ("z", True) and kinds["qi0"] == ("z", False)
    assert kinds["g0"] == ("x", False) and kinds["c5"] == ("c", False)
    assert make_axes({"r": tune.qloguniform(1e-4, 10.0, 1e-4)}, max_grid=1000)[0].kind == "x"
    # 200 trials on the sphere: far better than its first generation.
    rows = simulate.run_task(results.Task("suite", "catcma", "sphere", 0, 4, 200), PROBLEMS["sphere"])["trials"]
    assert rows["best_so_far"].iloc[-1] < 0.01 < rows["best_so_far"].iloc[10]


def test_catcma_tells_a_generation_once_its_population_is_in_and_drops_stale_results():
    from experiments.bench.catcma import CatCMASearcher

    space = {"x": tune.uniform(-1.0, 1.0), "n": tune.randint(0, 5), "c": tune.choice(["a", "b", "c"])}
    searcher = CatCMASearcher(space, metric="loss", mode="min", seed=1, popsize=4)
    first = [str(i) for i in range(6)]  # more suggestions than the population, all of generation 0
    configs = {t: searcher.suggest(t) for t in first}
    assert all(invalid_paths(space, c) == [] for c in configs.values())
    for t in first[:3]:
        searcher.on_trial_complete(t, {"loss": configs[t]["x"] ** 2})
    assert searcher.generation == 0
    searcher.on_trial_complete(first[3], {"loss": float("nan")})  # dropped: not finite
    searcher.on_trial_complete(first[4], error=True)  # dropped: failed
    assert searcher.generation == 0
    searcher.on_trial_complete(first[5], {"loss": 0.5})
    assert searcher.generation == 1
    late = searcher.suggest("late")
    searcher.on_trial_complete("unknown", {"loss": 0.0})  # ignored
    assert searcher.generation == 1 and invalid_paths(space, late) == []
    big = CatCMASearcher(space, metric="loss", mode="max", seed=1, popsize=256)
    assert big._optimizer.population_size == 256
    with pytest.raises(ValueError, match="conditional"):
        CatCMASearcher({"o": tune.choice([{"a": tune.uniform(0, 1)}, "b"])})
    assert parse_method("catcma[popsize=256]")[1] == {"popsize": 256}


def test_gp_rival_runs_through_optuna_search_with_valid_values():
    pytest.importorskip("torch")
    # 14 trials at 4 in flight: the last suggestions come from the GP (10 random start-up trials).
    rows = simulate.run_task(results.Task("suite", "gp", "branin_cat", seed=0, workers=4, budget=14),
                             PROBLEMS["branin_cat"])["trials"]
    assert len(rows) == 14 and rows["invalid"].sum() == 0 and (rows["regret"] >= 0).all()


@pytest.mark.parametrize("name", ["bbob-mixint_f001_i01_d10", "bbob-mixint_f015_i06_d10", "bbob-mixint_f024_i03_d20"])
def test_bbob_mixint_problems_have_tune_spaces_and_their_stated_optimum(name):
    pytest.importorskip("cocoex")
    from experiments.bench import coco

    problem = coco.get_problem(name)
    kinds = [domain_kind(d) for _, d in walk(problem.space)]
    assert len(kinds) == coco.parse(name)[2] and set(kinds) == {"randint", "uniform"}
    assert invalid_paths(problem.space, problem.optimal_config) == []
    assert problem.value(problem.optimal_config) == pytest.approx(problem.optimum, abs=1e-12)
    values = np.array([problem.value(c) for c in _random_configs(problem.space, 500, seed=2)])
    assert values.min() > problem.optimum + 1e-6


def test_bbob_mixint_is_one_benchmark_entry_with_halves_and_a_report(tmp_path):
    pytest.importorskip("cocoex")
    from experiments.bench import coco

    assert coco.is_tuning("bbob-mixint_f003_i05_d20") and not coco.is_tuning("bbob-mixint_f003_i06_d20")
    with pytest.raises(ValueError, match="not a bbob-mixint problem"):
        coco.parse("bbob_f001_i01_d10")
    argv = ["bbob-mixint", "--problems", "bbob-mixint_f00[12]_i0[16]_d10", "--methods", "random", "catcma",
            "--seeds", "1", "--workers", "4", "--budget", "12", "--out", str(tmp_path), "--processes", "1",
            "--summary-dir", str(tmp_path)]
    assert bench_cli.main(["all", *argv]) == 0
    assert len(list((tmp_path / "bbob-mixint" / "trials").glob("*.parquet"))) == 2 * 4
    text = (tmp_path / "bbob_mixint.md").read_text()
    assert "| tuning half | 12 |" in text and "| held-out half | 12 |" in text


def test_checkpoint_benchmark_writes_sizes_and_save_times(tmp_path):
    from experiments.bench import checkpoint

    out = tmp_path / "checkpoint.md"
    assert checkpoint.main(["--checkpoints", "200", "400", "--out", str(out)]) == 0
    rows = [[c.strip().replace(",", "") for c in line.split("|")[1:-1]] for line in out.read_text().splitlines()
            if line.startswith("| ") and line[2].isdigit()]
    assert [int(r[0]) for r in rows] == [200, 400]
    sizes, history = [int(r[2]) for r in rows], [int(r[4]) for r in rows]
    # The state (a 24-parameter space: covariance and the 118 recent results the rank model is fitted to,
    # held from 120 trials on) stays small and flat ...
    assert 0 < sizes[1] < 150_000 and abs(sizes[1] - sizes[0]) < 0.1 * sizes[0]
    assert 0 < history[0] < history[1]  # ... while the history file beside it is appended to
