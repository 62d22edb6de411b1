"""Tenants: the customer organisations served from one installation, with their hotline numbers."""
