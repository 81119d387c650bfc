"""The scanner's view model: read-only functions returning DataFrames for the dashboard.

``notebooks/scanner.ipynb`` only lays these out; everything it shows is computed here and
tested without a browser::

    view = ScannerView("data", clock=WallClock())
    snap = view.refresh()          # every 2 s: four short reads, one per store
    snap["overview"]               # one row per (symbol, strategy): columns.OVERVIEW
    snap.values                    # the header: session_date, market_phase, day_pnl, ...
    view.drawer(symbol, strategy_id)["candles"]   # also "signals", "fills", "marks"
    snap.errors, snap.notes        # what could not be read; what to start first

Every store is opened read-only (``mode=ro``, ``query_only``) through its ``*Reader``; the
readers stay open between refreshes but never inside a transaction. Each refresh is one
short snapshot per store and set-based SQL (a few index seeks per symbol, no query per
symbol); the stores that change only on bar closes (config, signals, paper) are answered
from the last result while their ``data_version`` stands still. A store that does not exist
yet gives empty frames (with all their columns) and a note saying what to start; one that
cannot be read gives its message in ``errors``; nothing raises to the dashboard.

The one-shot functions ``overview``, ``header`` and ``drawer`` open, read and close.
"""

from pixity.scanner.columns import CANDLES, FILLS, MARKS, OVERVIEW, SIGNALS
from pixity.scanner.result import ViewResult
from pixity.scanner.sources import SCANNER_BUSY_TIMEOUT_S
from pixity.scanner.view import ScannerView, drawer, empty_overview, header, overview

__all__ = [
    "CANDLES",
    "FILLS",
    "MARKS",
    "OVERVIEW",
    "SCANNER_BUSY_TIMEOUT_S",
    "SIGNALS",
    "ScannerView",
    "ViewResult",
    "drawer",
    "empty_overview",
    "header",
    "overview",
]
