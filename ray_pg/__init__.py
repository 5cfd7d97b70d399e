"""ray_pg: a Ray Tune searcher that tunes mixed spaces with policy gradients."""

from ray_pg.searcher import PGSearcher

__version__ = "0.1.0"
__all__ = ["PGSearcher", "__version__"]
