"""Accounts of the people who log in: agents (with their Asterisk queue member identity), managers, admins, partners."""
