"""The README's recipes run as written and print what the README says (each in a fresh process)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What the README's snippets take as given: a trainable and its space.
PRELUDE = '''
from ray import tune

def trainable(config):
    return {"accuracy": config["x"]}

space = {"x": tune.uniform(0, 1)}
'''


def readme_block(heading: str) -> str:
    """The first python block under ``heading`` in the README."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index(heading):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_the_quiet_recipe_prints_only_the_progress_line(tmp_path):
    pytest.importorskip("matplotlib")
    code = PRELUDE + readme_block("## Progress and pictures").replace("num_samples=64", "num_samples=8")
    (tmp_path / "recipe.py").write_text(code)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "recipe.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [line for line in (run.stdout + run.stderr).replace("\r", "\n").splitlines()
             if line.strip() and not line.startswith("trials:") and "Token authentication" not in line]
    assert not lines, "\n".join(lines)
    assert (tmp_path / "policy.png").exists() and (tmp_path / "best_so_far.png").exists()
