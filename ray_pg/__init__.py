"""ray_pg: a Ray Tune searcher that tunes mixed spaces with policy gradients."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ray_pg.progress import ProgressBar
    from ray_pg.searcher import PGSearcher

__version__ = "0.1.0"
__all__ = ["PGSearcher", "ProgressBar", "__version__"]


def __getattr__(name: str) -> Any:
    # Imported lazily so that `ray_pg.actors` and `ray_pg.policy` load without Ray.
    if name == "PGSearcher":
        from ray_pg.searcher import PGSearcher

        return PGSearcher
    if name == "ProgressBar":
        from ray_pg.progress import ProgressBar

        return ProgressBar
    raise AttributeError(f"module 'ray_pg' has no attribute {name!r}")
