"""``pixity demo``: the whole system on the local exchange."""
