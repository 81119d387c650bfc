"""The ingest companion: feed frames -> journal -> validated ticks -> 1m bars -> live buffer.

Modules, one job each: ``validate`` (quote -> tick or reason), ``feedclock`` (the exchange's
clock), ``day`` (one session day's journal, validator and bars), ``restore`` (rebuild a day
from the store), ``pipeline`` (the feed callbacks), ``batch`` and ``flusher`` (the one thread
that writes ``market.db``), ``rollover`` (a finished day to the history lake), ``health``,
``metrics`` and ``http`` (what ingest shows), ``replay_feed`` (frames from a journal file),
``app`` (wiring and shutdown).
"""
