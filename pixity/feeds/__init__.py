"""Market-data feed adapters. Wire bytes, epoch milliseconds and feed field names stop here."""
