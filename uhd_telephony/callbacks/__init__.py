"""The callback list: abandoned calls of known callers, cleared by calling back or by the caller calling again."""
