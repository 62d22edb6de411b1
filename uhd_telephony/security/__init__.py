"""Security: API tokens, the login rate limit and lockout, the audit log, secrets kept out of logs."""
