"""Incident tickets: the ticket and its append-only history, the category tree, the ITIL priority matrix."""
