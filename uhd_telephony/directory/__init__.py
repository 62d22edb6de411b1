"""The caller directory: users and places per tenant, their numbers, the in-memory caller-ID lookup, imports."""
