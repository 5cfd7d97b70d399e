"""MkDocs hook: the benchmark results in experiments/results/ become part of the site.

Pages link them as `../experiments/results/<file>`, the path that also works on GitHub;
each file keeps that source path, so links resolve and `mkdocs build --strict` accepts
them, and is written under `results/` in the site (results pages render, pictures copy).
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files, InclusionLevel

RESULTS = Path(__file__).resolve().parents[1] / "experiments" / "results"


def on_files(files: Files, config) -> Files:
    for path in sorted(RESULTS.glob("*")):
        if path.suffix not in (".md", ".png"):
            continue
        dest = f"results/{path.stem}/index.html" if path.suffix == ".md" else f"results/{path.name}"
        # Not in the nav on purpose: the benchmarks page links every one.
        files.append(File(f"../experiments/results/{path.name}", src_dir=config["docs_dir"],
                          dest_dir=config["site_dir"], use_directory_urls=config["use_directory_urls"],
                          dest_uri=dest, inclusion=InclusionLevel.NOT_IN_NAV))
    return files
