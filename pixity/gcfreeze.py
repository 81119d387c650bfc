"""Keep the cyclic garbage collector's full passes off the objects a process starts with.

A long-running loop (the ingest, a backtest) makes millions of short-lived objects, so the
collector runs often, and each of its full passes walks every object of the process: in the
ingest, with its libraries loaded, about 90,000 objects: 35-65 ms a pass with the GIL held,
two or three times in ten seconds at 60,000 ticks/s. Those objects live as long as the process.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def older_objects_frozen() -> Iterator[None]:
    """Exempt the objects alive now from collection until the block ends (``gc.freeze``).

    The collector still runs over everything made inside the block; nothing is freed
    differently except a cycle among the exempted objects, which waits until the block ends.
    On the way out, whatever ends the block, the exempted objects go back to the collector.
    If someone else has frozen objects, their freeze is left as it is.
    """
    freezing = not gc.get_freeze_count()
    if freezing:
        gc.freeze()
    try:
        yield
    finally:
        if freezing:
            gc.unfreeze()
