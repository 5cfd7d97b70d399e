"""The README's main job runs end to end: one screen of output, the results and its five pictures written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quickstart_writes_its_files_on_one_screen(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    pytest.importorskip("pyarrow")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-m", "experiments.quickstart", "--num-samples", "16",
                          "--out", str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    output = (run.stdout + run.stderr).replace("\r", "\n")
    lines = [line for line in output.splitlines() if line.strip() and not line.startswith("trials:")]
    assert len(lines) < 40, "\n".join(lines)
    assert "one trial pending" not in output  # it sets max_concurrent_trials to the cores it uses
    assert "16/16" in run.stderr  # the progress bar
    assert "best accuracy" in run.stdout and "top 5 of 16 trials" in run.stdout
    parquet, csv = pd.read_parquet(tmp_path / "results.parquet"), pd.read_csv(tmp_path / "results.csv")
    assert len(parquet) == len(csv) == 16
    # The conditional space: a trial holds exactly its kernel's parameters.
    kernel = parquet["config/svm/kernel"]

    def has(key: str) -> pd.Series:
        return parquet[key].notna() if key in parquet else pd.Series(False, index=parquet.index)

    assert (has("config/svm/gamma") == kernel.isin(["rbf", "poly"])).all()
    assert (has("config/svm/degree") == (kernel == "poly")).all()
    assert has("config/svm/C").all()
    history = pd.read_csv(tmp_path / "policy_history.csv")
    assert len(history) >= 1 and "svm:p[rbf]" in history.columns and "svm=poly/degree:mean" in history.columns
    for picture in ("best_so_far.png", "policy.png", "importance.png", "slice.png", "contour.png"):
        assert (tmp_path / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
