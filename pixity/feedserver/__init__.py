"""The local exchange (``pixity feed-server``): Upstox Market Data Feed V3 over a local websocket.

Modules: ``clock`` (simulated clock, market status), ``tape`` and ``source`` (the ticks),
``entries`` (every tick's feed entry, encoded ahead of time per mode), ``market`` (what is
due), ``client`` (per-connection queue and writer), ``auth`` (tokens, authorize endpoint),
``faults`` (fault injection), ``config``, ``server``.
"""
