"use strict";
// Live KPI page: per tenant the day's call and ticket KPIs and the callers waiting now from
// GET /api/tenants/{tenant}/kpis, and (managers, admins) the open SLA escalations; refreshed every few seconds.

const REFRESH_MS = 5000;
const state = { account: null, csrf: "", tenants: [], demo: null, cards: new Map(), timer: null };
const $ = (id) => document.getElementById(id);

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json", "X-CSRF-Token": state.csrf, ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) { window.location.assign("/login?next=/kpis"); throw new Error("nicht angemeldet"); }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) { const error = new Error(body.message || response.statusText); error.status = response.status; throw error; }
  return body;
}

function text(el, value) { el.textContent = value == null ? "" : String(value); }
function berlinDay(date) { return new Intl.DateTimeFormat("sv-SE", { timeZone: "Europe/Berlin" }).format(date); }
function pct(value) { return value == null ? "–" : (value * 100).toFixed(1).replace(".", ",") + " %"; }
function secs(value) { return value == null ? "–" : Math.round(value) + " s"; }
function num(value) { return value == null ? "–" : String(value); }
function clock(iso) { return iso ? new Date(iso).toLocaleTimeString("de-DE") : ""; }

function card(tenant) {
  let section = state.cards.get(tenant);
  if (!section) {
    section = $("tenant-card").content.firstElementChild.cloneNode(true);
    section.dataset.tenant = tenant;
    text(section.querySelector(".tenant-name"), tenant);
    $("tenants").append(section);
    state.cards.set(tenant, section);
  }
  return section;
}

function put(section, kpi, value, verdict) {
  const el = section.querySelector(`[data-kpi="${kpi}"]`);
  text(el, value);
  const tile = el.closest(".tile");
  if (tile) { tile.classList.toggle("bad", verdict === false); tile.classList.toggle("good", verdict === true); }
}

function period() {
  const day = $("day").value || berlinDay(new Date());
  let last = day;
  // the demo's simulated PBX runs ahead of the wall clock: its calls may already be on a later day
  if (state.demo && state.demo.demo_time) {
    const demoDay = berlinDay(new Date(state.demo.demo_time));
    if (demoDay > last && day === berlinDay(new Date())) last = demoDay;
  }
  return [day, last];
}

async function refreshTenant(tenant, from, to) {
  const section = card(tenant);
  const query = new URLSearchParams({ from, to });
  const body = await api(`/api/tenants/${encodeURIComponent(tenant)}/kpis?${query}`);
  const c = body.calls, t = body.tickets;
  put(section, "offered", num(c.offered));
  put(section, "answered", num(c.answered));
  put(section, "abandoned", num(c.abandoned));
  text(section.querySelector('[data-kpi="short"]'), c.short_abandons ? `(+${c.short_abandons} kurz)` : "");
  put(section, "reachability", pct(c.reachability), c.reachability == null ? null : c.reachability >= 0.9);
  put(section, "service_level", pct(c.service_level), c.service_level == null ? null : c.service_level >= 0.8);
  put(section, "reaction_mean", secs(c.reaction_time_s.mean));
  put(section, "reaction_p90", secs(c.reaction_time_s.p90));
  put(section, "in_progress", num(c.in_progress));
  const now = body.now;  // null: no live call tracking in this process
  put(section, "waiting", now == null ? "–" : num(now.waiting), now == null || !now.waiting ? null : now.longest_wait_s <= 20);
  text(section.querySelector('[data-kpi="longest"]'), now && now.waiting ? `(längste ${secs(now.longest_wait_s)})` : "");
  put(section, "outside_hours", num(c.outside_hours));
  put(section, "tickets_created", num(t.created));
  put(section, "tickets_routed", num(t.routed));
  put(section, "tickets_escalated", num(t.escalated), t.escalated ? false : null);
  if (["manager", "admin"].includes(state.account.role)) {
    const open = await api(`/api/tenants/${encodeURIComponent(tenant)}/escalations?open=true&limit=5`);
    const box = section.querySelector(".escalations");
    box.hidden = false;
    text(section.querySelector('[data-kpi="open_escalations"]'), open.total);
    section.querySelector(".escalation-list").replaceChildren(...open.escalations.map((e) => {
      const li = document.createElement("li");
      const link = document.createElement("a");
      link.href = `/tickets/${encodeURIComponent(e.tenant)}/${e.ticket_id}`;
      text(link, e.ticket_number);
      const what = e.kind === "breach" ? "verletzt" : "Warnung";
      const target = e.target === "resolution" ? "Lösungszeit" : "Reaktionszeit";
      const rest = document.createElement("span");
      text(rest, ` · ${target} ${what} · Stufe ${e.level} · Priorität ${e.priority ?? "–"} · ${clock(e.fired_at)}`);
      li.append(link, rest);
      return li;
    }));
  }
}

async function refresh() {
  try {
    if (state.demo) state.demo = (await api("/api/demo")).demo;
    showDemo();
    const [from, to] = period();
    text($("period"), from === to ? `Zeitraum: ${from}` : `Zeitraum: ${from} bis ${to} (Demo-Uhr)`);
    for (const tenant of state.tenants) await refreshTenant(tenant, from, to);
    text($("updated"), "aktualisiert " + new Date().toLocaleTimeString("de-DE"));
    $("error").hidden = true;
  } catch (error) {
    text($("error"), "Fehler: " + error.message);
    $("error").hidden = false;
  }
}

function showDemo() {
  const banner = $("demo-banner");
  const demo = state.demo;
  banner.hidden = !demo;
  if (!demo) return;
  const pace = demo.realtime ? `gerade Echtzeit: jemand telefoniert im Browser` : `Demo-Uhr ×${demo.speed}`;
  text(banner, `Demo: die Anrufe kommen aus dem eingebauten Simulator (${pace}); ihre Zeiten stehen auf der ` +
    `Demo-Uhr (jetzt ${clock(demo.demo_time)}). Tickets und SLA laufen in Echtzeit (${demo.sla}). ` +
    `Mails landen als Dateien in ${demo.mail_dir}.`);
}

$("logout").addEventListener("click", async () => {
  await api("/api/logout", { method: "POST", body: "{}" }).catch(() => null);
  window.location.assign("/login");
});
$("day").addEventListener("change", refresh);

(async function start() {
  const body = await api("/api/me");
  state.account = body.account;
  state.csrf = body.account.csrf_token;
  text($("account-name"), body.account.display_name);
  $("console-link").hidden = !["agent", "admin"].includes(body.account.role);
  state.tenants = [...body.account.tenants].sort();
  if (body.account.role === "admin") {
    const all = await api("/api/admin/tenants").catch(() => ({ tenants: [] }));
    state.tenants = [...new Set([...state.tenants, ...(all.tenants || []).map((t) => t.tenant)])].sort();
  }
  if ((body.features || []).includes("demo")) state.demo = await api("/api/demo").then((b) => b.demo).catch(() => null);
  $("day").value = berlinDay(new Date());
  for (const tenant of state.tenants) card(tenant);
  await refresh();
  state.timer = setInterval(refresh, REFRESH_MS);
})();
