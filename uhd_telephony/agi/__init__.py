"""The AGI side of the hotline: the caller lookup Asterisk runs for every call before ``Queue()``.

``session`` wraps pyst2's ``asterisk.agi`` (explicit streams, our own decoding, a deadline, one hang-up outcome);
``callerdb`` reads the directory tables with the plain drivers (fast to import); ``lookup`` is the script.
"""
