"""The tenant's groups by name for the pages (routing, the list's filter): no codes to type, nothing of another
tenant, no addresses or webhooks."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.support.webapp import TENANT_A, TENANT_B, app_of, login
from uhd_telephony.tickets.groups import import_groups
from uhd_telephony.web import keys


async def test_the_groups_of_the_tenant_by_level_and_name(client: TestClient) -> None:
    db = app_of(client)[keys.DB]
    await import_groups(db, TENANT_A, [
        {"code": "partner:dedalus", "name": "Dedalus (KIS)", "level": 3, "mail": "kis@dedalus.example", "locale": "en"},
        {"code": "2nd_level", "name": "Klinik-IT 2nd Level", "level": 2, "mail": "it@klinik.example"},
    ])  # fmt: skip
    await import_groups(db, TENANT_B, [{"code": "2nd_level", "name": "Süd 2nd Level", "level": 2}])
    await login(client, "anna")
    response = await client.get(f"/api/tenants/{TENANT_A}/groups")
    assert response.status == 200
    groups = (await response.json())["groups"]
    names = [g["name"] for g in groups]
    assert "Klinik-IT 2nd Level" in names and "Dedalus (KIS)" in names and "Süd 2nd Level" not in names
    assert names.index("Klinik-IT 2nd Level") < names.index("Dedalus (KIS)")  # by level
    assert all(set(g) == {"code", "name", "level", "locale"} for g in groups)  # no mail addresses, no webhooks
    # the language its work orders are mailed in: German unless the groups file says otherwise
    assert {g["name"]: g["locale"] for g in groups} == {"Klinik-IT 2nd Level": "de", "Dedalus (KIS)": "en"}
    assert (await client.get(f"/api/tenants/{TENANT_B}/groups")).status == 404  # not anna's tenant
