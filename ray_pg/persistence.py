"""PGSearcher saved and brought back: its state into a searcher, an experiment's newest checkpoint, and
the searcher object Tune pickles.

``state.py`` encodes the searcher's state as versioned JSON, checks every field and writes the files of
a checkpoint; here a decoded state is assigned to a searcher. Besides ``save`` and ``restore``, Tune
pickles the searcher object itself (``tuner.pkl``, when the Tuner is built): ``Tuner.restore``
unpickles it without running ``__init__``, then restores its newest checkpoint into it.

These functions are PGSearcher's own methods kept apart: they take the searcher and read and write its
attributes.
"""

from __future__ import annotations

import copy
import threading
from pathlib import Path
from typing import Any

from ray_pg import state as st
from ray_pg.state import CheckpointError


def assign(searcher: Any, state: Any) -> None:
    """``PGSearcher.set_state``: ``state`` decoded and checked whole, then assigned; a searcher without
    a space takes the checkpoint's."""
    space, attributes = st.decode(searcher, state)
    if searcher._space is None:
        searcher._space, searcher._space_json = space, space.to_json()
        searcher._space_digest = st.digest(searcher._space_json)
        searcher._space_from_checkpoint = True
    searcher.__dict__.update(attributes)


def newest_checkpoint(folder: str | Path) -> str:
    """The searcher's newest checkpoint in a Tune experiment's folder."""
    # Tune names them searcher-state-<session timestamp>.pkl and restores the last by name.
    files = sorted(Path(folder).glob("searcher-state-*.pkl"))
    if not files:
        raise FileNotFoundError(f"no searcher-state-*.pkl in {str(folder)!r}: not the folder of a Tune "
                                "experiment whose search algorithm was a PGSearcher")
    return str(files[-1])


def pickled(searcher: Any) -> dict:
    """What pickling keeps of a searcher (``__getstate__``): its attributes but the lock, which does not
    pickle, copied under the lock. Pickle reads them only after this returns: uncopied, they could change
    under it, in another thread's ``suggest`` or ``on_trial_complete``. The run's scheduler and stopper
    are the run's objects, not the searcher's, and the space (its constants may be large) is replaced,
    never changed: they are kept, not copied."""
    with searcher._lock:
        attributes = {key: value for key, value in searcher.__dict__.items() if key != "_lock"}
        kept = [attributes.get(key) for key in ("_given_runtime", "_runtime", "_space", "_space_json")]
        return copy.deepcopy(attributes, {id(obj): obj for obj in kept})


def unpickled(searcher: Any, state: dict) -> None:
    """A searcher made from what ``pickled`` kept (``__setstate__``), with a new lock."""
    if "_learner" not in state:  # a tuner.pkl from before learner.py: its attributes are another layout
        raise CheckpointError("this PGSearcher was pickled by an older ray_pg, whose searcher object this "
                              "version cannot take over; its checkpoint (searcher-state-*.pkl) still loads "
                              "into a new PGSearcher() with restore()")
    searcher.__dict__.update({"_curves": {}, **state}, _lock=threading.RLock())  # _curves: absent from older pickles
