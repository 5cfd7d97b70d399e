"""Benchmark machinery for ray_pg (never imported by the package); user examples stay in ``experiments/``.

- ``benchmarks.py``: registry of benchmarks (adding a suite is one entry);
- ``methods.py``: registry of methods, rivals and ablations (adding a rival is one entry);
- ``runner.py``: the one runner (progress bar, resumable result files, parallel jobs);
- ``results.py``: tasks, result files, tidy frames and atomic writes;
- ``analysis.py``: scores at checkpoints, mean ranks per suite and half, markdown tables;
- ``plots.py``: figures from result files only; ``cost.py``: searcher time per trial;
- kinds of benchmark: ``simulate.py`` (simulated asynchronous workers over a problem
  suite: ``problems.py``), ``curves.py`` (learning curves under a scheduler through real
  Tune), ``zdt.py`` (two and three objectives, known fronts), ``sklearn_task.py`` (real Tune);
- ``domains.py``: the only module here that reads Tune's domain types.

Command line: ``python -m experiments.bench --help`` (see ``__main__.py``).
"""
