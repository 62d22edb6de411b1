"use strict";
// Ticket pages: /tickets lists and searches a tenant's tickets, /tickets/{tenant}/{id} shows one with its history
// and the actions the account's role allows. Every state-changing request carries the session's CSRF token.

const state = { account: null, csrf: "", tenant: "", cursor: null, ticket: null, categories: [], agents: [] };
const $ = (id) => document.getElementById(id);
const STATUS = { new: "neu", in_progress: "in Bearbeitung", waiting: "wartet", resolved: "gelöst", closed: "geschlossen", reopened: "wiedereröffnet" };
const ACTION = { in_progress: "In Bearbeitung", waiting: "Warten auf Anrufer", resolved: "Lösen", closed: "Schließen", reopened: "Wiedereröffnen" };
const PRIORITY = { 1: "1 kritisch", 2: "2 hoch", 3: "3 mittel", 4: "4 niedrig", 5: "5 Planung" };
const LEVELS = [[1, "1 – sehr hoch"], [2, "2 – hoch"], [3, "3 – mittel"], [4, "4 – niedrig"], [5, "5 – sehr niedrig"]];

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json", "X-CSRF-Token": state.csrf, ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) { window.location.assign("/login"); throw new Error("nicht angemeldet"); }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const problems = ((body.details || {}).problems || []).map((p) => `${p.field}: ${p.problem}`).join("; ");
    throw new Error((body.message || response.statusText) + (problems ? ` (${problems})` : ""));
  }
  return body;
}

function text(el, value) { el.textContent = value == null ? "" : String(value); }
function when(iso) { return iso ? new Date(iso).toLocaleString("de-DE", { dateStyle: "short", timeStyle: "short" }) : ""; }
function tenantUrl(tenant, rest = "") { return `/api/tenants/${encodeURIComponent(tenant)}${rest}`; }
function canWrite() { return state.account && ["agent", "admin"].includes(state.account.role); }
function showError(el, error) { el.hidden = !error; text(el, error ? "Fehler: " + error.message : ""); }

function flatten(nodes, depth = 0, out = []) {
  for (const node of nodes || []) {
    out.push([node.id, "\u00a0\u00a0".repeat(depth) + node.name, node]);
    flatten(node.children, depth + 1, out);
  }
  return out;
}

function fillLevels(select, selected) {
  select.replaceChildren(...LEVELS.map(([value, label]) => new Option(label, value, false, value === selected)));
}

async function loadTenantData(tenant) {
  const [tree, agents] = await Promise.all([
    api(tenantUrl(tenant, "/categories")),
    api(tenantUrl(tenant, "/agents")),
  ]);
  state.categories = flatten(tree.categories);
  state.agents = agents.agents;
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
  if ($("created-from").value) params.set("created_from", $("created-from").value);
  if ($("created-to").value) params.set("created_to", $("created-to").value);
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
    STATUS[ticket.status] || ticket.status,
    ticket.priority ? PRIORITY[ticket.priority] : "–",
    ticket.requester.name || ticket.requester.number || ticket.requester.email || "–",
    ticket.agent ? ticket.agent.name : "–",
    when(ticket.created_at),
  ];
  for (const cell of cells) {
    const td = document.createElement("td");
    if (cell instanceof Node) td.append(cell); else text(td, cell);
    tr.append(td);
  }
  tr.classList.add("status-" + ticket.status);
  return tr;
}

async function search(append = false) {
  const params = listQuery();
  if (append && state.cursor) params.set("cursor", state.cursor);
  try {
    const body = await api(tenantUrl(state.tenant, "/tickets?" + params.toString()));
    if (!append) $("rows").replaceChildren();
    $("rows").append(...body.tickets.map(row));
    state.cursor = body.next_cursor;
    $("more").hidden = !body.next_cursor;
    text($("total"), `${body.total} Tickets`);
    showError($("list-error"), null);
  } catch (error) {
    showError($("list-error"), error);
  }
}

async function chooseTenant(tenant) {
  state.tenant = tenant;
  await loadTenantData(tenant);
  $("category").replaceChildren(new Option("alle", ""), ...state.categories.map(([id, label]) => new Option(label, id)));
  $("new-category").replaceChildren(new Option("– später –", ""), ...state.categories.map(([id, label]) => new Option(label, id)));
  $("agent").replaceChildren(new Option("alle", ""), new Option("ich", "me"), new Option("nicht zugewiesen", "none"),
    ...state.agents.map((a) => new Option(a.display_name, a.id)));
  await search();
}

async function startList() {
  $("list-view").hidden = false;
  $("status-boxes").replaceChildren(...Object.entries(STATUS).map(([value, label]) => {
    const wrap = document.createElement("label");
    wrap.className = "inline";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = value;
    box.checked = !["closed"].includes(value);
    wrap.append(box, " " + label);
    return wrap;
  }));
  $("priority").append(...Object.entries(PRIORITY).map(([value, label]) => new Option(label, value)));
  const tenants = state.account.tenants;
  $("tenant").replaceChildren(...tenants.map((t) => new Option(t, t)));
  $("tenant-label").hidden = tenants.length < 2;
  $("create").hidden = !canWrite();
  $("tenant").addEventListener("change", () => chooseTenant($("tenant").value));
  $("filters").addEventListener("submit", (event) => { event.preventDefault(); search(); });
  $("more").addEventListener("click", () => search(true));
  $("create-form").addEventListener("submit", createTicket);
  if (tenants.length) await chooseTenant(tenants[0]);
  else text($("total"), "Ihr Konto arbeitet für keinen Mandanten.");
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
    text($("create-state"), "Fehler: " + error.message);
  }
}

// -- detail -------------------------------------------------------------------------------------------------

function describeEntry(entry) {
  const who = entry.actor;
  if (entry.action === "comment") return `${entry.field === "public" ? "Öffentlicher" : "Interner"} Kommentar von ${who}: ${entry.note || ""}`;
  const change = entry.field ? `${entry.field}: ${entry.old_value ?? "–"} → ${entry.new_value ?? "–"}` : "";
  return [`${entry.action} (${who})`, change, entry.note].filter(Boolean).join(" · ");
}

function showTicket(ticket, history) {
  state.ticket = ticket;
  text($("d-number"), ticket.number);
  text($("d-subject"), ticket.subject || "(ohne Betreff)");
  const r = ticket.requester;
  text($("d-requester"), [r.name, r.number, r.email, r.vip ? "VIP" : ""].filter(Boolean).join(" · "));
  text($("d-meta"), [
    ticket.category ? ticket.category.path : "nicht klassifiziert",
    "Kanal " + ticket.channel,
    ticket.agent ? "Bearbeiter " + ticket.agent.name : "nicht zugewiesen",
    "erstellt " + when(ticket.created_at),
  ].join(" · "));
  text($("d-status"), STATUS[ticket.status] || ticket.status);
  $("d-status").className = "badge status-" + ticket.status;
  text($("d-priority"), ticket.priority ? "Prio " + PRIORITY[ticket.priority] : "ohne Priorität");
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
    text(button, ACTION[status] || status);
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
}

async function reload() {
  const body = await api(tenantUrl(state.tenant, `/tickets/${state.ticket.id}/history`));
  showTicket(body.ticket, body.history);
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
      $("assign-agent").replaceChildren(new Option("– niemand –", ""), ...state.agents.map((a) => new Option(a.display_name, a.id)));
      $("edit-category").replaceChildren(new Option("– Kategorie wählen –", ""), ...state.categories.map(([cid, label]) => new Option(label, cid)));
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
  const me = await api("/api/me");
  state.account = me.account;
  state.csrf = me.account.csrf_token;
  text($("account-name"), me.account.display_name);
  $("console-link").hidden = !canWrite();
  const detail = window.location.pathname.match(/^\/tickets\/([^/]+)\/(\d+)$/);
  if (detail) await startDetail(decodeURIComponent(detail[1]), Number(detail[2]));
  else await startList();
})();
