"""The AGI side of the hotline: the caller lookup Asterisk runs for every call before ``Queue()``, and the major
incident's subscription (the caller pressed the key during the announcement).

``session`` wraps pyst2's ``asterisk.agi`` (explicit streams, our own decoding, a deadline, one hang-up outcome);
``script`` is what both scripts share (outcomes, the guard, the deadline's backstop); ``callerdb`` and
``incidentdb`` read the directory and the open incidents with the plain drivers (fast to import); ``lookup`` and
``subscribe`` are the scripts.
"""
