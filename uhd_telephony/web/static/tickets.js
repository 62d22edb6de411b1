"use strict";
// Ticket pages: /tickets lists and searches a tenant's tickets, /tickets/{tenant}/{id} shows one with its history
// and the actions the account's role allows. Every state-changing request carries the session's CSRF token.

const state = { account: null, csrf: "", tenant: "", cursor: null, ticket: null, categories: [], agents: [], groups: [] };
const $ = (id) => document.getElementById(id);
const { t, label } = i18n;  // the pages' language (static/i18n.js)
const STATUSES = ["new", "in_progress", "waiting", "resolved", "closed", "reopened"];
const PRIORITIES = [1, 2, 3, 4, 5];

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json", "X-CSRF-Token": state.csrf, ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) { window.location.assign("/login"); throw new Error(t("Not logged in")); }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(i18n.errorText(body, response.statusText));
  return body;
}

function text(el, value) { el.textContent = value == null ? "" : String(value); }
function when(iso) { return i18n.dateTime(iso); }
function tenantName(tenant) { return (state.tenantNames || {})[tenant] || tenant; }
function tenantUrl(tenant, rest = "") { return `/api/tenants/${encodeURIComponent(tenant)}${rest}`; }
function canWrite() { return state.account && ["agent", "admin"].includes(state.account.role); }
// acknowledging and taking back an SLA escalation: the tenant's managers and the admins (sla/api.py)
function canManage() { return state.account && ["manager", "admin"].includes(state.account.role); }
function showError(el, error) { el.hidden = !error; text(el, error ? t("Error: %(message)s", { message: error.message }) : ""); }

function flatten(nodes, depth = 0, out = []) {
  for (const node of nodes || []) {
    out.push([node.id, "\u00a0\u00a0".repeat(depth) + node.name, node]);
    flatten(node.children, depth + 1, out);
  }
  return out;
}

function fillLevels(select, selected) {
  select.replaceChildren(...[1, 2, 3, 4, 5].map((value) => new Option(i18n.level(value), value, false, value === selected)));
}

async function loadTenantData(tenant) {
  const [tree, agents, groups] = await Promise.all([
    api(tenantUrl(tenant, "/categories")),
    api(tenantUrl(tenant, "/agents")),
    api(tenantUrl(tenant, "/groups")),
  ]);
  state.categories = flatten(tree.categories);
  state.agents = agents.agents;
  state.groups = groups.groups;  // by name: the filter and routing never ask anyone to type a code
}

// -- list ---------------------------------------------------------------------------------------------------

function listQuery() {
  const params = new URLSearchParams();
  const q = $("q").value.trim();
  if (q) params.set("q", q);
  for (const box of document.querySelectorAll("#status-boxes input:checked")) params.append("status", box.value);
  for (const [key, id] of [["priority", "priority"], ["channel", "channel"], ["category", "category"], ["agent", "agent"], ["group", "group"]]) {
    const value = $(id).value.trim();
    if (value) params.set(key, value);
  }
  // the day fields take German dates (07.12.2026) whatever the browser's language: never <input type="date">
  for (const [key, id] of [["created_from", "created-from"], ["created_to", "created-to"]]) {
    const day = i18n.parseDay($(id).value);
    if (day === null) throw new Error(t("Not a date: %(text)s (DD.MM.YYYY)", { text: $(id).value }));
    if (day) params.set(key, day);
  }
  params.set("sort", $("sort").value);
  params.set("limit", "50");
  return params;
}

function row(ticket) {
  const tr = document.createElement("tr");
  const link = document.createElement("a");
  link.href = `/tickets/${encodeURIComponent(ticket.tenant)}/${ticket.id}`;
  link.className = "mono";
  text(link, ticket.number);
  const cells = [
    link,
    ticket.subject || "–",
    label("status", ticket.status),
    ticket.priority ? i18n.priority(ticket.priority) : "–",
    requesterName(ticket.requester) || "–",
    ticket.agent ? ticket.agent.name : "–",
    when(ticket.created_at),
    slaCell(ticket.sla),
  ];
  for (const cell of cells) {
    const td = document.createElement("td");
    if (cell instanceof Node) td.append(cell); else text(td, cell);
    tr.append(td);
  }
  tr.classList.add("status-" + ticket.status);
  return tr;
}

// the SLA column: the state as a badge, and for work still open what is due when (sla.js)
function slaCell(current) {
  const wrap = document.createElement("span");
  wrap.className = "sla-cell";
  if (!current) return wrap;
  wrap.append(sla.badge(current));
  const which = sla.pressing(current);
  if (which) {
    const due = document.createElement("span");
    due.className = "muted small";
    text(due, ` ${sla.targetText(which)} ${sla.target(current, which)}`);
    wrap.append(due);
  }
  return wrap;
}

async function search(append = false) {
  try {
    const params = listQuery();
    if (append && state.cursor) params.set("cursor", state.cursor);
    const body = await api(tenantUrl(state.tenant, "/tickets?" + params.toString()));
    if (!append) $("rows").replaceChildren();
    $("rows").append(...body.tickets.map(row));
    state.cursor = body.next_cursor;
    $("more").hidden = !body.next_cursor;
    text($("total"), i18n.tn("%(n)s ticket", "%(n)s tickets", body.total, { n: i18n.number(body.total) }));
    showError($("list-error"), null);
  } catch (error) {
    showError($("list-error"), error);
  }
}

async function chooseTenant(tenant) {
  state.tenant = tenant;
  await loadTenantData(tenant);
  $("category").replaceChildren(new Option(t("all"), ""), ...state.categories.map(([id, name]) => new Option(name, id)));
  $("new-category").replaceChildren(new Option(t("– later –"), ""), ...state.categories.map(([id, name]) => new Option(name, id)));
  $("agent").replaceChildren(new Option(t("all"), ""), new Option(t("me"), "me"), new Option(t("not assigned"), "none"),
    ...state.agents.map((a) => new Option(a.display_name, a.id)));
  $("group").replaceChildren(new Option(t("all"), ""), ...state.groups.map((g) => new Option(g.name, g.code)));
  $("route-group").replaceChildren(new Option(t("– the category's group –"), ""),
    ...state.groups.map((g) => new Option(g.name, g.code)));
  await search();
}

async function startList() {
  $("list-view").hidden = false;
  $("status-boxes").replaceChildren(...STATUSES.map((value) => {
    const wrap = document.createElement("label");
    wrap.className = "inline";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = value;
    box.checked = !["closed"].includes(value);
    wrap.append(box, " " + label("status", value));
    return wrap;
  }));
  $("priority").append(...PRIORITIES.map((value) => new Option(i18n.priority(value), value)));
  const tenants = state.account.tenants;
  $("tenant").replaceChildren(...tenants.map((tenant) => new Option(tenantName(tenant), tenant)));
  $("tenant-label").hidden = tenants.length < 2;
  $("create").hidden = !canWrite();
  $("tenant").addEventListener("change", () => chooseTenant($("tenant").value));
  $("filters").addEventListener("submit", (event) => { event.preventDefault(); search(); });
  $("more").addEventListener("click", () => search(true));
  $("create-form").addEventListener("submit", createTicket);
  if (tenants.length) await chooseTenant(tenants[0]);
  else text($("total"), t("Your account works for no tenant."));
}

async function createTicket(event) {
  event.preventDefault();
  const requester = {};
  for (const [key, id] of [["name", "new-name"], ["number", "new-number"]]) requester[key] = $(id).value.trim();
  if ($("new-email").value.trim()) requester.email = $("new-email").value.trim();
  const body = { channel: $("new-channel").value, subject: $("new-subject").value, description: $("new-description").value, requester };
  if ($("new-category").value) body.category_id = Number($("new-category").value);
  try {
    const created = await api(tenantUrl(state.tenant, "/tickets"), { method: "POST", body: JSON.stringify(body) });
    window.location.assign(`/tickets/${encodeURIComponent(state.tenant)}/${created.ticket.id}`);
  } catch (error) {
    text($("create-state"), t("Error: %(message)s", { message: error.message }));
  }
}

// -- detail -------------------------------------------------------------------------------------------------

// the history entry in words: the server's text in the account's language (tickets API: ``text``)
function describeEntry(entry) {
  return entry.text || `${label("action", entry.action)} (${entry.actor_name || t("System")})`;
}

// a caller who withheld the number is said so in words, never Asterisk's "Anonymous"
function requesterName(r) {
  if (/^anonymous$/i.test((r.name || "").trim()) || /^anonymous$/i.test((r.number || "").trim())) return t("Number withheld");
  return r.name || r.number || r.email || "";
}

function showTicket(ticket, history) {
  state.ticket = ticket;
  text($("d-number"), ticket.number);
  text($("d-subject"), ticket.subject || t("(no subject)"));
  const r = ticket.requester;
  const withheld = requesterName(r) === t("Number withheld");
  text($("d-requester"), [withheld ? t("Number withheld") : r.name, withheld ? "" : r.number, r.email, r.vip ? "VIP" : ""].filter(Boolean).join(" · "));
  text($("d-meta"), [
    ticket.category ? (ticket.category.title_path || ticket.category.name) : t("not classified"),
    t("Channel: %(channel)s", { channel: label("channel", ticket.channel) }),
    ticket.agent ? t("Agent: %(name)s", { name: ticket.agent.name }) : t("not assigned"),
    t("created %(when)s", { when: when(ticket.created_at) }),
  ].join(" · "));
  showIncident(ticket);
  text($("d-status"), label("status", ticket.status));
  $("d-status").className = "badge status-" + ticket.status;
  text($("d-priority"), ticket.priority ? t("Priority %(priority)s", { priority: i18n.priority(ticket.priority) }) : label("priority", "none"));
  text($("d-description"), ticket.description);
  document.title = `${ticket.number} · Tickets`;
  $("history").replaceChildren(...history.map((entry) => {
    const li = document.createElement("li");
    const at = document.createElement("span");
    at.className = "muted";
    text(at, when(entry.at) + " ");
    li.append(at, describeEntry(entry));
    if (entry.action === "comment" && entry.field === "public") li.classList.add("public");
    return li;
  }));
  $("status-buttons").replaceChildren(...ticket.next_statuses.map((status) => {
    const button = document.createElement("button");
    text(button, label("status_action", status));
    button.addEventListener("click", () => changeStatus(status));
    return button;
  }));
  const closed = ticket.status === "closed";
  for (const form of ["comment-form", "assign-form", "route-form", "edit-form"]) {
    for (const el of $(form).elements) el.disabled = closed;
  }
  $("assign-agent").value = ticket.agent && ticket.agent.id ? String(ticket.agent.id) : "";
  $("edit-category").value = ticket.category ? String(ticket.category.id) : "";
  fillLevels($("edit-impact"), ticket.impact || 3);
  fillLevels($("edit-urgency"), ticket.urgency || 3);
  $("edit-subject").value = ticket.subject;
  $("edit-description").value = ticket.description;
  showSla(ticket.sla);
}

// the major incident the ticket belongs to (``ticket.incident``: its parent ticket, or a caller's linked to it)
function showIncident(ticket) {
  const incident = ticket.incident;
  const line = $("d-incident");
  line.hidden = !incident;
  line.replaceChildren();
  if (!incident) return;
  const link = document.createElement("a");
  link.href = `/incidents/${encodeURIComponent(ticket.tenant)}/${incident.id}`;
  text(link, incident.title);
  const part = incident.role === "parent" ? t("Parent ticket of the major incident") : t("Part of the major incident");
  line.append(`${part} `, link, incident.status === "resolved" ? ` (${label("incident_status", incident.status)})` : "");
}

// -- the ticket's SLA: due times, time left, paused; its escalations, acknowledged and taken back here -------

function showSla(current) {
  $("sla-card").hidden = !current;
  if (!current) return;
  $("sla-state").replaceChildren(sla.badge(current));
  text($("sla-response"), sla.target(current, "response"));
  text($("sla-resolution"), sla.target(current, "resolution"));
  $("sla-paused").hidden = !current.paused;
}

const ESCALATION = { warning: "Warnung", breach: "verletzt" };

function escalationText(e) {
  const parts = [
    t("%(target)s: %(kind)s", { target: sla.targetText(e.target), kind: t(ESCALATION[e.kind]) }),
    t("Stufe %(level)s", { level: e.level }),
    t("ausgelöst %(when)s", { when: when(e.fired_at) }),
  ];
  if (e.acknowledged_at) parts.push(t("quittiert %(when)s", { when: when(e.acknowledged_at) }));
  if (e.de_escalated_at) parts.push(t("zurückgenommen %(when)s: %(reason)s", { when: when(e.de_escalated_at), reason: e.reason || "" }));
  return parts.join(" · ");
}

function escalationItem(e) {
  const li = document.createElement("li");
  li.dataset.escalation = e.id;
  li.classList.toggle("closed", !e.open);
  const what = document.createElement("span");
  text(what, escalationText(e));
  li.append(what);
  if (!canManage() || !e.open) return li;
  const actions = document.createElement("div");
  actions.className = "escalation-actions";
  actions.append(...window.sla.escalationControls(
    e,
    (action, body, button) => manageEscalation(e.id, action, body, button),
    (message) => showError($("d-error"), new Error(message)),
  ));
  li.append(actions);
  return li;
}

async function loadEscalations() {
  const body = await api(tenantUrl(state.tenant, `/tickets/${state.ticket.id}/sla`));
  const found = body.sla.escalations || [];
  $("escalations-box").hidden = !found.length;
  $("escalations").replaceChildren(...found.map(escalationItem));
}

async function manageEscalation(escalationId, action, body, button) {
  button.disabled = true;
  try {
    await api(tenantUrl(state.tenant, `/tickets/${state.ticket.id}/escalations/${escalationId}/${action}`), { method: "POST", body: JSON.stringify(body) });
    showError($("d-error"), null);
    await reload();
  } catch (error) {
    showError($("d-error"), error);
    button.disabled = false;
  }
}

async function reload() {
  const body = await api(tenantUrl(state.tenant, `/tickets/${state.ticket.id}/history`));
  showTicket(body.ticket, body.history);
  await loadEscalations();
}

async function act(path, body, method = "POST") {
  try {
    await api(tenantUrl(state.tenant, `/tickets/${state.ticket.id}${path}`), { method, body: JSON.stringify(body) });
    showError($("d-error"), null);
    await reload();
    return true;
  } catch (error) {
    showError($("d-error"), error);
    return false;
  }
}

async function changeStatus(status) {
  const note = $("status-note").value.trim();
  if (await act("/status", { status, note: note || null })) $("status-note").value = "";
}

async function startDetail(tenant, id) {
  $("detail-view").hidden = false;
  state.tenant = tenant;
  state.ticket = { id };
  for (const el of document.querySelectorAll(".staff-only")) el.hidden = !canWrite();
  try {
    if (canWrite()) {
      await loadTenantData(tenant);
      $("assign-agent").replaceChildren(new Option(t("– nobody –"), ""), ...state.agents.map((a) => new Option(a.display_name, a.id)));
      $("edit-category").replaceChildren(new Option(t("– choose a category –"), ""), ...state.categories.map(([cid, name]) => new Option(name, cid)));
    }
    await reload();
  } catch (error) {
    showError($("d-error"), error);
    return;
  }
  $("comment-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (await act("/comments", { text: $("comment-text").value, public: $("comment-public").checked })) {
      $("comment-text").value = "";
      $("comment-public").checked = false;
    }
  });
  $("assign-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = $("assign-agent").value;
    act("/assign", { agent_id: chosen ? Number(chosen) : null });
  });
  $("route-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const group = $("route-group").value.trim();
    if (await act("/route", { group: group || null, reason: $("route-reason").value })) $("route-reason").value = "";
  });
  $("edit-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const body = {
      subject: $("edit-subject").value,
      description: $("edit-description").value,
      impact: Number($("edit-impact").value),
      urgency: Number($("edit-urgency").value),
    };
    if ($("edit-category").value) body.category_id = Number($("edit-category").value);
    act("", body, "PATCH");
  });
}

$("logout").addEventListener("click", async () => {
  await api("/api/logout", { method: "POST", body: "{}" }).catch(() => null);
  window.location.assign("/login");
});

(async function start() {
  await i18n.ready;
  const me = await api("/api/me");
  state.account = me.account;
  state.csrf = me.account.csrf_token;
  state.tenantNames = me.account.tenant_names || {};
  text($("account-name"), me.account.display_name);
  $("console-link").hidden = !canWrite();
  $("privacy-link").hidden = me.account.role !== "admin";  // the data-protection page: admins (and DPOs, who see no other page)
  const detail = window.location.pathname.match(/^\/tickets\/([^/]+)\/(\d+)$/);
  if (detail) await startDetail(decodeURIComponent(detail[1]), Number(detail[2]));
  else await startList();
})();
