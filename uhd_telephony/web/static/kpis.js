"use strict";
// Live KPI page: per tenant the day's call and ticket KPIs and the callers waiting now from
// GET /api/tenants/{tenant}/kpis, and (managers, admins) the open SLA escalations; refreshed every few seconds.

const REFRESH_MS = 5000;
const state = { account: null, csrf: "", tenants: [], demo: null, cards: new Map(), timer: null };
const $ = (id) => document.getElementById(id);
const { t, label } = i18n;  // the pages' language (static/i18n.js)

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json", "X-CSRF-Token": state.csrf, ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) { window.location.assign("/login?next=/kpis"); throw new Error(t("Not logged in")); }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) { const error = new Error(i18n.errorText(body, response.statusText)); error.status = response.status; throw error; }
  return body;
}

function text(el, value) { el.textContent = value == null ? "" : String(value); }
function berlinDay(date) { return i18n.isoDay(date); }
function pct(value) { return i18n.percent(value); }
function secs(value) { return value == null ? "–" : i18n.duration(value); }
function num(value) { return i18n.number(value); }
function clock(iso) { return i18n.time(iso, true); }
function tenantName(tenant) { return (state.tenantNames || {})[tenant] || tenant; }
// the day field (German format, whatever the browser's language) as YYYY-MM-DD; today when empty or no date
function chosenDay() { return i18n.parseDay($("day").value) || berlinDay(new Date()); }

function card(tenant) {
  let section = state.cards.get(tenant);
  if (!section) {
    section = $("tenant-card").content.firstElementChild.cloneNode(true);
    section.dataset.tenant = tenant;
    i18n.translatePage(section);  // a template's copy: its data-i18n texts are set here
    text(section.querySelector(".tenant-name"), tenantName(tenant));
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
  const day = chosenDay();
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
  const c = body.calls, tickets = body.tickets;  // (not ``t``: that is the translation)
  put(section, "offered", num(c.offered));
  put(section, "answered", num(c.answered));
  put(section, "abandoned", num(c.abandoned));
  text(section.querySelector('[data-kpi="short"]'), c.short_abandons ? t("(+%(n)s short)", { n: num(c.short_abandons) }) : "");
  put(section, "reachability", pct(c.reachability), c.reachability == null ? null : c.reachability >= 0.9);
  put(section, "service_level", pct(c.service_level), c.service_level == null ? null : c.service_level >= 0.8);
  put(section, "reaction_mean", secs(c.reaction_time_s.mean));
  put(section, "reaction_p90", secs(c.reaction_time_s.p90));
  put(section, "in_progress", num(c.in_progress));
  const now = body.now;  // null: no live call tracking in this process
  put(section, "waiting", now == null ? "–" : num(now.waiting), now == null || !now.waiting ? null : now.longest_wait_s <= 20);
  text(section.querySelector('[data-kpi="longest"]'), now && now.waiting ? t("(longest %(wait)s)", { wait: secs(now.longest_wait_s) }) : "");
  put(section, "outside_hours", num(c.outside_hours));
  put(section, "tickets_created", num(tickets.created));
  put(section, "tickets_routed", num(tickets.routed));
  put(section, "tickets_escalated", num(tickets.escalated), tickets.escalated ? false : null);
  await refreshToday(section, tenant, to);
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
      const rest = document.createElement("span");
      text(rest, " · " + t("%(target)s: %(kind)s · level %(level)s · priority %(priority)s · %(time)s", {
        target: label("sla_target", e.target), kind: label("escalation_kind", e.kind), level: e.level,
        priority: i18n.priority(e.priority), time: i18n.dateTime(e.fired_at),
      }));
      li.append(link, rest);
      li.append(escalationActions(section, e));
      return li;
    }));
  }
}

// -- the day hour by hour, the agents now, per agent where the tenant allows it (GET …/wallboard) ----------

async function refreshToday(section, tenant, day) {
  const body = await api(`/api/tenants/${encodeURIComponent(tenant)}/wallboard?${new URLSearchParams({ day })}`);
  const today = day === berlinDay(new Date());
  const hour = hourChart.hourNow();
  hourChart(section.querySelector("[data-chart]"), body.hours, { height: 260, untilHour: today ? hour : 23 });
  const legend = section.querySelector("[data-legend]");
  if (!legend.childElementCount) hourChartLegend(legend);
  const agents = body.now && body.now.agents;
  text(section.querySelector('[data-kpi="agents_now"]'), agents ? t("Agenten jetzt: %(ready)s bereit · %(paused)s in Pause · %(on_call)s im Gespräch", {
    ready: num(agents.ready), paused: num(agents.paused), on_call: num(agents.on_call),
  }) : "");
  const table = section.querySelector(".agent-table");
  table.hidden = !body.agents;  // null unless the tenant's works agreement allows figures per agent
  table.querySelector("tbody").replaceChildren(...(body.agents || []).map((a) => {
    const tr = document.createElement("tr");
    for (const value of [a.agent, num(a.answered), secs(a.talk_mean_s), num(a.rings_unanswered)]) {
      const td = document.createElement("td");
      text(td, value);
      tr.append(td);
    }
    return tr;
  }));
}

// -- acknowledging and taking back an open escalation where the team lead looks (sla/api.py) ------------

function escalationActions(section, e) {
  const actions = document.createElement("div");
  actions.className = "escalation-actions";
  const controls = window.sla.escalationControls(
    e,
    (action, body, button) => manageEscalation(section, e, action, body, button),
    (message) => showEscalationError(section, message),
  );
  if (e.acknowledged_at) {
    const seen = document.createElement("span");
    seen.className = "muted";
    text(seen, t("quittiert %(when)s", { when: i18n.dateTime(e.acknowledged_at) }));
    actions.append(seen);
  }
  actions.append(...controls);
  return actions;
}

function showEscalationError(section, message) {
  const el = section.querySelector('[data-kpi="escalation_error"]');
  el.hidden = !message;
  text(el, message || "");
}

async function manageEscalation(section, e, action, body, button) {
  button.disabled = true;
  state.busy = true;  // no refresh replaces the list while a reason is being sent
  try {
    await api(`/api/tenants/${encodeURIComponent(e.tenant)}/tickets/${e.ticket_id}/escalations/${e.id}/${action}`, {
      method: "POST", body: JSON.stringify(body),
    });
    showEscalationError(section, null);
  } catch (error) {
    showEscalationError(section, t("Error: %(message)s", { message: error.message }));
  } finally {
    state.busy = false;
    button.disabled = false;
  }
  await refresh(true);
}

async function refresh(force = false) {
  // a reason being typed for a de-escalation is not wiped by the next timed refresh
  const typing = document.activeElement && document.activeElement.closest(".escalation-actions");
  if (force !== true && (state.busy || typing)) return;
  try {
    if (state.demo) state.demo = (await api("/api/demo")).demo;
    showDemo();
    const [from, to] = period();
    text($("period"), from === to ? t("Period: %(from)s", { from: i18n.showDay(from) })
      : t("Period: %(from)s to %(to)s (demo clock)", { from: i18n.showDay(from), to: i18n.showDay(to) }));
    for (const tenant of state.tenants) await refreshTenant(tenant, from, to);
    text($("updated"), t("updated %(time)s", { time: clock(new Date()) }));
    $("error").hidden = true;
  } catch (error) {
    text($("error"), t("Error: %(message)s", { message: error.message }));
    $("error").hidden = false;
  }
}

function showDemo() {
  const banner = $("demo-banner");
  const demo = state.demo;
  banner.hidden = !demo;
  if (!demo) return;
  const pace = demo.realtime ? t("real time just now: someone is on a call in the browser")
    : t("demo clock ×%(speed)s", { speed: num(demo.speed) });
  text(banner, t("Demo: the calls come from the built-in simulator (%(pace)s); their times are on the demo clock (now %(now)s). Tickets and the SLA run in real time (%(sla)s). Mails are written as files to %(dir)s.", {
    pace, now: clock(demo.demo_time), sla: demo.sla, dir: demo.mail_dir,
  }));
}

$("logout").addEventListener("click", async () => {
  await api("/api/logout", { method: "POST", body: "{}" }).catch(() => null);
  window.location.assign("/login");
});
$("day").addEventListener("change", refresh);

(async function start() {
  await i18n.ready;
  const body = await api("/api/me");
  state.account = body.account;
  state.csrf = body.account.csrf_token;
  state.tenantNames = body.account.tenant_names || {};
  text($("account-name"), body.account.display_name);
  $("console-link").hidden = !["agent", "admin"].includes(body.account.role);
  $("privacy-link").hidden = body.account.role !== "admin";  // the data-protection page: admins (and DPOs, who see no other page)
  state.tenants = [...body.account.tenants].sort();
  if (body.account.role === "admin") {
    const all = await api("/api/admin/tenants").catch(() => ({ tenants: [] }));
    for (const known of all.tenants || []) state.tenantNames[known.tenant] = known.name;
    state.tenants = [...new Set([...state.tenants, ...(all.tenants || []).map((known) => known.tenant)])].sort();
  }
  if ((body.features || []).includes("demo")) state.demo = await api("/api/demo").then((b) => b.demo).catch(() => null);
  $("day").value = i18n.showDay(berlinDay(new Date()));
  for (const tenant of state.tenants) card(tenant);
  await refresh();
  state.timer = setInterval(refresh, REFRESH_MS);
})();
