"""Runtime plumbing every capability may use: the domain-event bus, the one periodic loop, timed values."""
