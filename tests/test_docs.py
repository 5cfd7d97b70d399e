"""The documentation is tested: the site builds with --strict, and every ```python block of the
README and docs/ runs, each in a fresh process, printing what a ```text block right after it shows.

In an expected ```text block, `...` stands for any text within a line, and a line of just `...`
for any number of lines: that masks what differs from run to run (times, values, Ray's log prefix).
Ray's notice of token authentication, which depends on the machine, is not compared.
A block that cannot run here is preceded by a visible `<!-- not run: why -->` comment.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
NOT_RUN = "<!-- not run:"
MOST_NOT_RUN = 3  # a handful: more means the docs show code nobody checks
# A fenced block, the comment line before it if any, and a ```text block right after it if any.
BLOCK = re.compile(r"(?:^(?P<comment><!--.*-->)\n)?^```python\n(?P<code>.*?)^```\n"
                   r"(?:(?:[^`\n][^\n]*\n|\n)*?^```text\n(?P<expected>.*?)^```\n)?", re.S | re.M)


def blocks(not_run: bool = False) -> list:
    """The python blocks to run (``not_run``: those marked not to be run instead), named page-index."""
    params = []
    for page in PAGES:
        for index, match in enumerate(BLOCK.finditer(page.read_text())):
            if (match["comment"] or "").startswith(NOT_RUN) == not_run:
                params.append(pytest.param(match["code"], match["expected"], id=f"{page.relative_to(ROOT)}-{index}"))
    return params


# Ray's forwarding of a worker's own output, e.g. "(trainable pid=31116) Exception ignored in: ..."
RAY_WORKER_LOG = re.compile(r"\((?:\w+ )?pid=\d+(?:, ip=[\d.]+)?\)")


def screen(output: str) -> str:
    """What a terminal shows: each line as its last carriage return left it, blank lines dropped, and
    without Ray's notice of token authentication (printed only where ~/.ray/auth_token exists) or the
    lines where Ray forwards a worker's output: a worker killed at shutdown sometimes prints a traceback
    (SystemExit in Ray's sigterm handler), which has nothing to do with the snippet."""
    lines = (line.rsplit("\r", 1)[-1].rstrip() for line in output.split("\n"))
    return "".join(line + "\n" for line in lines
                   if line and "Token authentication is enabled" not in line and not RAY_WORKER_LOG.search(line))


def pattern(expected: str) -> re.Pattern:
    parts = ["(?:.*\n)*?" if line == "..." else re.escape(line).replace(r"\.\.\.", ".*") + "\n"
             for line in expected.splitlines()]
    return re.compile("".join(parts))


@pytest.mark.slow
@pytest.mark.parametrize(("code", "expected"), blocks())
def test_snippet_runs_and_prints_what_the_page_shows(code, expected, tmp_path):
    if re.search(r"^import torch$", code, re.M):
        # CI installs a CPU build of PyTorch (.ci/run); the GPU example's test skips likewise without one.
        pytest.importorskip("torch")
    (tmp_path / "snippet.py").write_text(code)
    # Merged, unbuffered: the output interleaves as a terminal would show it. Bytes: text mode
    # would turn the progress line's carriage returns into newlines.
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    run = subprocess.run([sys.executable, "snippet.py"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=300)
    output = run.stdout.decode(errors="replace")
    assert run.returncode == 0, output[-3000:]
    if expected is not None:
        shown = screen(output)
        assert pattern(expected).fullmatch(shown), f"expected:\n{expected}\ngot:\n{shown}"


def test_few_blocks_are_not_run():
    not_run = sum(page.read_text().count(NOT_RUN) for page in PAGES)
    assert not_run == len(blocks(not_run=True)) <= MOST_NOT_RUN, f"{not_run} blocks marked {NOT_RUN!r}: make them run"


def test_every_python_block_is_collected():
    fences = sum(page.read_text().count("```python\n") for page in PAGES)
    assert fences == len(blocks()) + len(blocks(not_run=True))


def test_mkdocs_build_is_strict_clean(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "api" / "index.html").exists()
