"""Call tracking: the call record, the tracker state machine and its domain events."""
