"""The README's screenshots, taken from the running demo: ``python docs/screenshots.py`` (Debian's Chromium).

Starts the embedded demo with traffic (its defaults: 100 calls an hour, clock x10; SQLite in a temporary folder,
the built-in AMI simulator), logs in as a simulated agent until a call pops on the console, and as the team lead
once the KPI page has figures, and as the lead declares a major incident on its page once its callers hear the
announcement; writes docs/console.png, docs/kpis.png and docs/incidents.png (1280 px wide, German, as a new
installation shows them).
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

from uhd_telephony.app.demo import Demo
from uhd_telephony.app.demo.data import DEMO_PASSWORD
from uhd_telephony.settings import Settings

DOCS = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"


async def logged_in(browser: Browser, base: str, username: str, path: str) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="de-DE", bypass_csp=True)
    page = await context.new_page()
    await page.goto(f"{base}{path}")
    await page.wait_for_url(re.compile(r".*/login(\?.*)?$"))
    await page.fill("#username", username)
    await page.fill("#password", DEMO_PASSWORD)
    await page.click("#login-button")
    await page.wait_for_url(re.compile(f".*{re.escape(path)}$"))
    return page


async def declared_incident(page: Page) -> None:
    """The lead declares a major incident on /incidents and waits on its page until callers pressed the key."""
    await page.click("#declare-open")
    await page.fill("#declare-title", "KIS: Anmeldung nicht möglich")
    await page.select_option("#declare-category", index=1)
    await page.fill("#declare-message", "Die Anmeldung am KIS ist gestört. Wir arbeiten daran. Drücken Sie die 1, "
                    "um bei Behebung benachrichtigt zu werden.")  # fmt: skip
    await page.click("#declare-submit")
    await page.wait_for_url(re.compile(r".*/incidents/[^/]+/\d+$"))
    for _ in range(30):  # the demo's callers hear the announcement; some press the key
        await asyncio.sleep(4)
        await page.reload()
        await page.wait_for_selector("#d-subscriber-count:not(:empty)")
        if (await page.text_content("#d-subscriber-count") or "0") != "0":
            break


async def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp}/demo.db", http_port=0, log_level="WARNING")
        async with Demo(settings, rate=100, speed=10, http_port=0, mail_dir=Path(tmp) / "mail") as demo:
            agent = next(x for x in demo.logins if x.role == "agent" and not x.person)
            lead = next(x for x in demo.logins if x.role == "manager")
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                try:
                    console = await logged_in(browser, demo.base_url, agent.username, "/console")
                    await console.wait_for_selector("#pop-body", state="visible", timeout=120_000)
                    await asyncio.sleep(1)
                    await console.screenshot(path=str(DOCS / "console.png"))
                    kpis = await logged_in(browser, demo.base_url, lead.username, "/kpis")
                    await kpis.wait_for_function(
                        "[...document.querySelectorAll('[data-kpi=\"answered\"]')]"
                        ".some((e) => Number(e.textContent) > 3)",
                        timeout=180_000,
                    )
                    await asyncio.sleep(2)
                    await kpis.screenshot(path=str(DOCS / "kpis.png"), full_page=True)
                    incidents = await logged_in(browser, demo.base_url, lead.username, "/incidents")
                    await declared_incident(incidents)
                    await incidents.screenshot(path=str(DOCS / "incidents.png"), full_page=True)
                finally:
                    await browser.close()
    print(f"wrote {DOCS / 'console.png'}, {DOCS / 'kpis.png'} and {DOCS / 'incidents.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
