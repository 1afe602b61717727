"""What the long-running profiles run on: the hostile-network attacks, the ledger of
what was sent, the read-back of the sink and its checker, the collector process the
suite owns, the shrinking guard of the property cases, the sinks and the Web SDK."""
