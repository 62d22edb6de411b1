"use strict";
// The wallboard: one tenant's day and queues for a big screen, refreshed by itself every 10 s, from
// GET /api/tenants/{tenant}/wallboard (metrics/wallboard.py). Signed in either by the session of whoever is logged
// in on that browser, or by a read-only token in the address's fragment: /wallboard#token=uhd_…&tenant=… — a
// fragment is never sent to any server, and the token (scope wallboard:read) opens this data and nothing else.
// Texts: German msgids of i18n.t (static/i18n.js); times and numbers in Europe/Berlin, de-DE.

const REFRESH_MS = 10000;
const SERVICE_LEVEL_TARGET = 0.8;
const state = { token: null, tenants: [], names: {}, tenant: null, timer: null };
const $ = (id) => document.getElementById(id);
const t = (msgid, params) => i18n.t(msgid, params);

function fragment() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  return { token: params.get("token"), tenant: params.get("tenant") };
}

async function api(path) {
  const headers = { Accept: "application/json" };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  const response = await fetch(path, { headers, credentials: state.token ? "omit" : "same-origin" });
  if (response.status === 401 && !state.token) {
    window.location.assign("/login?next=" + encodeURIComponent("/wallboard"));
    throw new Error(t("Nicht angemeldet"));
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(i18n.errorText(body, response.statusText));
  return body;
}

function text(el, value) { el.textContent = value == null ? "" : String(value); }
function num(value) { return value == null ? "–" : i18n.number(value); }

function verdict(tile, level) {
  const el = document.querySelector(`[data-tile="${tile}"]`);
  if (!el) return;
  for (const name of ["good", "warn", "bad"]) el.classList.toggle(name, level === name);
}

function tenantName(tenant) { return state.names[tenant] || tenant; }

function show(body) {
  const c = body.calls;
  const now = body.now;
  text($("wb-tenant"), tenantName(body.tenant));
  text($("wb-offered"), num(c.offered));
  text($("wb-answered"), num(c.answered));
  text($("wb-abandoned"), num(c.abandoned));
  text($("wb-short"), c.short_abandons ? t("dazu %(n)s Kurzaufleger", { n: num(c.short_abandons) }) : "");
  text($("wb-service-level"), i18n.percent(c.service_level));
  text($("wb-reachability"), c.reachability == null ? "" : t("Erreichbarkeit %(value)s", { value: i18n.percent(c.reachability) }));
  verdict("service-level", c.service_level == null ? null : c.service_level >= SERVICE_LEVEL_TARGET ? "good" : c.service_level >= SERVICE_LEVEL_TARGET - 0.1 ? "warn" : "bad");
  if (now) {
    text($("wb-waiting"), num(now.waiting));
    text($("wb-longest"), now.waiting ? t("längste Wartezeit %(wait)s", { wait: i18n.duration(now.longest_wait_s) }) : t("niemand wartet"));
    verdict("waiting", !now.waiting ? "good" : now.longest_wait_s <= 20 ? "warn" : "bad");
    text($("wb-ready"), num(now.agents.ready));
    text($("wb-on-call"), num(now.agents.on_call));
    text($("wb-paused"), num(now.agents.paused));
    verdict("ready", now.agents.ready ? "good" : now.agents.logged_in ? "warn" : "bad");
  } else {
    for (const id of ["wb-waiting", "wb-ready", "wb-on-call", "wb-paused"]) text($(id), "–");
    text($("wb-longest"), t("keine Live-Daten in diesem Prozess"));
    verdict("waiting", null);
    verdict("ready", null);
  }
  const today = body.day === i18n.isoDay(new Date());
  const hour = hourChart.hourNow();
  hourChart($("wb-chart"), body.hours, { target: SERVICE_LEVEL_TARGET, untilHour: today ? hour : 23 });
  const box = $("wb-agents-box");
  box.hidden = !body.agents;
  if (body.agents) {
    $("wb-agents").replaceChildren(...body.agents.map((a) => {
      const tr = document.createElement("tr");
      for (const value of [a.agent, num(a.answered), a.talk_mean_s == null ? "–" : i18n.duration(a.talk_mean_s), num(a.rings_unanswered)]) {
        const td = document.createElement("td");
        text(td, value);
        tr.append(td);
      }
      return tr;
    }));
  }
  text($("wb-updated"), t("aktualisiert %(time)s", { time: i18n.time(new Date(), true) }));
}

async function refresh() {
  if (!state.tenant) return;
  try {
    show(await api(`/api/tenants/${encodeURIComponent(state.tenant)}/wallboard`));
    $("wb-error").hidden = true;
  } catch (error) {
    // the last figures stay up; the error says they are not fresh
    text($("wb-error"), t("Keine aktuellen Daten: %(message)s", { message: error.message }));
    $("wb-error").hidden = false;
  }
}

function tick() { text($("wb-clock"), i18n.time(new Date())); }

(async function start() {
  await i18n.ready;
  hourChartLegend($("wb-legend"), SERVICE_LEVEL_TARGET);
  tick();
  setInterval(tick, 1000);
  const given = fragment();
  state.token = given.token;
  try {
    const me = await api("/api/me");
    state.names = me.account.tenant_names || {};
    state.tenants = [...me.account.tenants].sort();
    if (me.account.role === "admin" && !state.token) {  // an admin serves every tenant
      const all = await api("/api/admin/tenants").catch(() => ({ tenants: [] }));
      for (const known of all.tenants || []) state.names[known.tenant] = known.name;
      state.tenants = [...new Set([...state.tenants, ...(all.tenants || []).map((x) => x.tenant)])].sort();
    }
  } catch (error) {
    text($("wb-error"), t("Anmeldung fehlgeschlagen: %(message)s", { message: error.message }));
    $("wb-error").hidden = false;
    return;
  }
  state.tenant = state.tenants.includes(given.tenant) ? given.tenant : state.tenants[0] || null;
  const choice = $("wb-choice");
  choice.hidden = state.tenants.length < 2;
  choice.replaceChildren(...state.tenants.map((tenant) => new Option(tenantName(tenant), tenant, false, tenant === state.tenant)));
  choice.addEventListener("change", () => { state.tenant = choice.value; refresh(); });
  if (!state.tenant) {
    text($("wb-error"), t("Dieses Konto arbeitet für keinen Mandanten."));
    $("wb-error").hidden = false;
    return;
  }
  await refresh();
  state.timer = setInterval(refresh, REFRESH_MS);
})();
