"""Shared web plumbing: authentication and roles, CSRF, the OpenAPI document, middleware, the static pages."""
