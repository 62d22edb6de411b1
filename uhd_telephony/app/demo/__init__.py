"""``uhd-telephony demo``: the whole flow in one process, against the built-in AMI simulator.

- ``runner.py``: ``Demo`` (simulator + server + the extras below, started and stopped in order) and ``run_demo``;
- ``data.py``: tenants, accounts (simulated agents, a person's agent ``you``, the team lead ``lead``), directory,
  categories, support groups, the demo SLA;
- ``phone.py``: the browser softphone's routes (registered only by the demo);
- ``desk.py``: what the simulated agents do with their tickets after a call;
- ``mailbox.py``: the demo's mail, written to a directory instead of an SMTP relay.
"""

from __future__ import annotations

from uhd_telephony.app.demo.runner import Demo, run_demo

__all__ = ["Demo", "run_demo"]
