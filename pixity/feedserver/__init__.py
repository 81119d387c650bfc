"""The local exchange (``pixity feed-server``): Upstox Market Data Feed V3 over a local websocket.

Modules: ``clock`` (simulated clock, market status), ``tape`` and ``source`` (the ticks),
``market`` (what is due, encoded once), ``client`` (per-connection queue and writer),
``auth`` (tokens, authorize endpoint), ``faults`` (fault injection), ``config``, ``server``.
"""
