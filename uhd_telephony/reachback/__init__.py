"""Callers reached back after a lost call (issue 20 item 2): see ``rules``."""
