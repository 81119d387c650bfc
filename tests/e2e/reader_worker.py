"""A reader process for the e2e tests: query market.db read-only until told to stop.

Usage: python reader_worker.py MARKET_DB STOP_FILE OUT_JSON
Prints nothing; writes {"reads": n, "errors": [...]} to OUT_JSON on exit.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from pixity.stores.market import MarketReader


def main() -> None:
    db, stop, out = (Path(a) for a in sys.argv[1:4])
    reads, errors = 0, []
    deadline = time.monotonic() + 600  # a bound even if the stop file never comes
    while not db.exists() and not stop.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    reader = None
    while not stop.exists() and time.monotonic() < deadline:
        try:
            if reader is None:
                reader = MarketReader(db)
            reader.bars_1m(closed_only=False)
            reader.count_ticks()
            reader.ingest_state()
            reads += 1
        except Exception as exc:  # noqa: BLE001 - the point is to count every error
            errors.append(f"{type(exc).__name__}: {exc}")
        time.sleep(0.02)
    out.write_text(json.dumps({"reads": reads, "errors": errors[:20], "error_count": len(errors)}))


if __name__ == "__main__":
    main()
