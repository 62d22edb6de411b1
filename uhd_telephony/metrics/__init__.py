"""Call and ticket KPIs: one definition (``kpi``), live for Prometheus (``live``, ``members``, ``service``), over a
period from the store (``queries``), and served by ``api`` (``GET /metrics``, ``GET /api/tenants/{tenant}/kpis``)."""
