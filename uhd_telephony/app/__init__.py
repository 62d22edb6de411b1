"""The composition root: the server process, the web app, the schema registry, the CLI and the demo.

The only place that knows every capability; capabilities plug in through their ``plugin.py``.
"""
