"""1m history from outside into the lake: broker CSV exports and the Upstox candle API.

``validate`` checks candles whatever their source, ``writer`` writes them all or nothing,
``csv_import`` and ``upstox_fetch`` read the two sources. ``pixity history import`` and
``pixity history fetch`` (``pixity.commands.history``) are the command-line faces.
"""
