"use strict";
// The major incidents' pages (incidents/page.py): /incidents lists a tenant's open and resolved incidents, the
// pile-ups offered, the NIS2 export and the pile-up threshold, and declares one; /incidents/{tenant}/{id} shows one
// with its tickets, subscribers, NIS2 times and deadlines, and edits or resolves it. Everything comes through
// /api/tenants/{tenant}/incidents…; every state-changing request carries the session's CSRF token. Times are shown
// and typed in German time (Europe/Berlin), whatever the browser's zone.

const state = { account: null, csrf: "", tenant: "", categories: [], resolvedOffset: 0, declareTickets: [], detail: null };
const $ = (id) => document.getElementById(id);
const { t, tn, label } = i18n;  // the pages' language (static/i18n.js)
const REFRESH_MS = 30000;
const RESOLVED_PAGE = 20;
const MAX_EXPORT_DAYS = 400;  // what the export API allows
const DAY_S = 86400;
const BERLIN = "Europe/Berlin";

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json", "X-CSRF-Token": state.csrf, ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) { window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname)); throw new Error(t("Not logged in")); }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) { const error = new Error(i18n.errorText(body, response.statusText)); error.status = response.status; throw error; }
  return body;
}

function text(el, value) { el.textContent = value == null ? "" : String(value); }
function when(iso) { return i18n.dateTime(iso); }
function tenantName(tenant) { return (state.tenantNames || {})[tenant] || tenant; }
function incidentsUrl(rest = "") { return `/api/tenants/${encodeURIComponent(state.tenant)}/incidents${rest}`; }
function pageUrl(incident) { return `/incidents/${encodeURIComponent(incident.tenant)}/${incident.id}`; }
function canManage() { return state.account && ["manager", "admin"].includes(state.account.role); }
function canWork() { return state.account && ["agent", "admin"].includes(state.account.role); }
function showError(el, error) { el.hidden = !error; text(el, error ? t("Error: %(message)s", { message: error.message }) : ""); }
function cell(content) {
  const td = document.createElement("td");
  if (content instanceof Node) td.append(content); else text(td, content);
  return td;
}
function link(href, caption, className) {
  const a = document.createElement("a");
  a.href = href;
  if (className) a.className = className;
  text(a, caption);
  return a;
}

// -- time in words, and typed in German time --------------------------------------------------------------

// a stretch of time: "25 Min.", "3 Std. 5 Min." (i18n.duration), from two days on "29 Tage" (nominative: the
// texts put it where no case ending changes it, "noch 29 Tage", "29 Tage überfällig")
function span(seconds) {
  const s = Math.abs(seconds);
  if (s < 2 * DAY_S) return i18n.duration(s);
  return new Intl.NumberFormat(i18n.locale, { style: "unit", unit: "day", unitDisplay: "long" }).format(Math.floor(s / DAY_S));
}
function secondsSince(iso) { return (Date.now() - new Date(iso).getTime()) / 1000; }
// "vor 3 Std. 5 Min." (hours at most: "vor 2 Tage" would want the dative)
function ago(iso) { return t("%(time)s ago", { time: i18n.duration(Math.max(0, secondsSince(iso))) }); }

const wallClock = new Intl.DateTimeFormat("en-GB", {
  timeZone: BERLIN, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
});
const hourMinute = new Intl.DateTimeFormat("en-GB", { timeZone: BERLIN, hourCycle: "h23", hour: "2-digit", minute: "2-digit" });

// the German wall time of an instant, read as if it were UTC (milliseconds)
function wall(ms) {
  const p = Object.fromEntries(wallClock.formatToParts(new Date(ms)).map((part) => [part.type, part.value]));
  return Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
}

// "2026-12-07" and "12:05" in German time as an ISO instant (summer and winter time alike)
function berlinInstant(day, time) {
  const [y, m, d] = day.split("-").map(Number);
  const [h, mi] = time.split(":").map(Number);
  const target = Date.UTC(y, m - 1, d, h, mi);
  let guess = target;
  for (let i = 0; i < 3; i++) guess += target - wall(guess);
  return new Date(guess).toISOString();
}

// what a person typed in a time field (12:05, 9.30) as HH:MM; "" when empty, null when no time
function parseTime(value) {
  const typed = (value || "").trim();
  if (!typed) return "";
  const found = /^(\d{1,2})[:.](\d{2})$/.exec(typed);
  if (!found || Number(found[1]) > 23 || Number(found[2]) > 59) return null;
  return `${found[1].padStart(2, "0")}:${found[2]}`;
}

// a day field and a time field as an ISO instant; undefined when both are empty; an error people can read else
function typedInstant(dayId, timeId) {
  const day = i18n.parseDay($(dayId).value);
  const time = parseTime($(timeId).value);
  if (day === "" && time === "") return undefined;
  if (day === null) throw new Error(t("Not a date: %(text)s (DD.MM.YYYY)", { text: $(dayId).value }));
  if (time === null) throw new Error(t("Not a time: %(text)s (HH:MM)", { text: $(timeId).value }));
  if (!day || !time) throw new Error(t("Please give the day and the time."));
  return berlinInstant(day, time);
}

function showInstant(dayId, timeId, iso) {
  $(dayId).value = iso ? i18n.showDay(i18n.isoDay(iso)) : "";
  $(timeId).value = iso ? hourMinute.format(new Date(iso)) : "";
  $(dayId).dataset.shown = $(dayId).value;
  $(timeId).dataset.shown = $(timeId).value;
}

function instantChanged(dayId, timeId) {
  return $(dayId).value.trim() !== $(dayId).dataset.shown || $(timeId).value.trim() !== $(timeId).dataset.shown;
}

// a text field's characters used of its limit, under it
function counter(fieldId, outId) {
  const field = $(fieldId);
  const update = () => text($(outId), t("%(n)s of %(max)s characters", { n: i18n.number(field.value.length), max: i18n.number(field.maxLength) }));
  field.addEventListener("input", update);
  update();
  return update;
}

// -- the tenant's category tree: chosen by title, sent by path ---------------------------------------------

function flattenCategories(nodes, parents = [], out = []) {
  for (const node of nodes || []) {
    const titles = [...parents, node.name];
    out.push({ path: node.path, shown: "\u00a0\u00a0".repeat(parents.length) + node.name, titles: titles.join(" › ") });
    flattenCategories(node.children, titles, out);
  }
  return out;
}

function categoryOptions(select, chosen) {
  select.replaceChildren(new Option(t("– none –"), ""),
    ...state.categories.map((c) => new Option(c.shown, c.path, false, c.path === chosen)));
}

function categoryTitles(path) {
  const found = state.categories.find((c) => c.path === path);
  return found ? found.titles : "";
}

// -- the list -----------------------------------------------------------------------------------------------

function titleLink(incident) { return link(pageUrl(incident), incident.title, "incident-title"); }

function openRow(incident) {
  const tr = document.createElement("tr");
  tr.append(
    cell(titleLink(incident)),
    cell(incident.category_label || "–"),
    cell(`${when(incident.declared_at)} (${ago(incident.declared_at)})`),
    cell(i18n.number(incident.tickets.linked)),
    cell(i18n.number(incident.subscribers.count)),
  );
  return tr;
}

function resolvedRow(incident) {
  const tr = document.createElement("tr");
  tr.append(
    cell(titleLink(incident)),
    cell(incident.category_label || "–"),
    cell(when(incident.known_at)),
    cell(when(incident.resolved_at)),
    cell(incident.duration_s == null ? "–" : span(incident.duration_s)),
    cell(i18n.number(incident.tickets.linked)),
  );
  return tr;
}

// "Auffällig viele Tickets zu KIS: 5 in 12 Minuten" (the console's notice says the same)
function pileUpText(suggestion) {
  const minutes = Math.max(1, Math.ceil((new Date(suggestion.last_at) - new Date(suggestion.first_at)) / 60000));
  return tn("Noticeably many tickets on %(category)s: %(count)s in %(n)s minute — declare a major incident?",
    "Noticeably many tickets on %(category)s: %(count)s in %(n)s minutes — declare a major incident?",
    minutes, { category: suggestion.category_label, count: i18n.number(suggestion.count) });
}

function suggestionItem(suggestion) {
  const li = document.createElement("li");
  const what = document.createElement("span");
  text(what, pileUpText(suggestion) + " ");
  const button = document.createElement("button");
  button.type = "button";
  text(button, t("Declare"));
  button.addEventListener("click", () => openDeclare(suggestion.category, suggestion.ticket_ids));
  li.append(what, button);
  return li;
}

async function refreshOpen() {
  try {
    const [open, offered] = await Promise.all([
      api(incidentsUrl("?status=open&limit=200")),
      api(incidentsUrl("/suggestions")),
    ]);
    $("open-rows").replaceChildren(...open.incidents.map(openRow));
    $("open-none").hidden = open.incidents.length > 0;
    $("suggestions").replaceChildren(...offered.suggestions.map(suggestionItem));
    $("suggestions-card").hidden = !offered.suggestions.length;
    showError($("list-error"), null);
  } catch (error) {
    showError($("list-error"), error);
  }
}

async function loadResolved(append) {
  if (!append) state.resolvedOffset = 0;
  try {
    const body = await api(incidentsUrl(`?status=resolved&limit=${RESOLVED_PAGE}&offset=${state.resolvedOffset}`));
    if (!append) $("resolved-rows").replaceChildren();
    $("resolved-rows").append(...body.incidents.map(resolvedRow));
    state.resolvedOffset += body.incidents.length;
    $("resolved-none").hidden = body.total > 0;
    $("resolved-more").hidden = state.resolvedOffset >= body.total;
  } catch (error) {
    showError($("list-error"), error);
  }
}

async function loadCategories() {
  const tree = await api(`/api/tenants/${encodeURIComponent(state.tenant)}/categories`);
  state.categories = flattenCategories(tree.categories);
}

async function chooseTenant(tenant) {
  state.tenant = tenant;
  window.history.replaceState(null, "", "/incidents?" + new URLSearchParams({ tenant }).toString());
  try {
    await loadCategories();
  } catch (error) {
    showError($("list-error"), error);
  }
  updateExportLink();
  await Promise.all([refreshOpen(), loadResolved(false), loadSettings()]);
}

// -- declaring ----------------------------------------------------------------------------------------------

function openDeclare(category, ticketIds) {
  const chosen = category && categoryTitles(category) ? category : "";
  categoryOptions($("declare-category"), chosen);
  $("declare-title").value = chosen ? t("Disruption: %(category)s", { category: categoryTitles(chosen) }) : "";
  $("declare-message").value = "";
  showInstant("declare-known-day", "declare-known-time", null);
  state.declareTickets = (ticketIds || []).slice(0, 500);
  const count = state.declareTickets.length;
  $("declare-tickets").hidden = !count;
  text($("declare-tickets"), tn("%(n)s ticket of the pile-up is linked at once.", "%(n)s tickets of the pile-up are linked at once.", count, { n: i18n.number(count) }));
  text($("declare-tenant"), t("Tenant: %(name)s", { name: tenantName(state.tenant) }));
  showError($("declare-error"), null);
  state.updateDeclareCount();
  $("declare-dialog").showModal();
  $("declare-title").focus();
}

async function declare(event) {
  event.preventDefault();
  const button = $("declare-submit");
  try {
    const body = { title: $("declare-title").value.trim(), caller_message: $("declare-message").value.trim() };
    if ($("declare-category").value) body.category = $("declare-category").value;
    const known = typedInstant("declare-known-day", "declare-known-time");
    if (known) body.known_at = known;
    if (state.declareTickets.length) body.ticket_ids = state.declareTickets;
    button.disabled = true;
    const made = await api(incidentsUrl(), { method: "POST", body: JSON.stringify(body) });
    window.location.assign(pageUrl(made.incident));
  } catch (error) {
    showError($("declare-error"), error);
    button.disabled = false;
  }
}

// -- the NIS2 export of a period ----------------------------------------------------------------------------

function exportPeriod() {
  const from = i18n.parseDay($("export-from").value);
  const to = i18n.parseDay($("export-to").value);
  if (!from) throw new Error(t("Not a date: %(text)s (DD.MM.YYYY)", { text: $("export-from").value }));
  if (!to) throw new Error(t("Not a date: %(text)s (DD.MM.YYYY)", { text: $("export-to").value }));
  const days = (Date.parse(to) - Date.parse(from)) / (DAY_S * 1000);
  if (days < 0) throw new Error(t("The first day comes after the last."));
  if (days >= MAX_EXPORT_DAYS) throw new Error(t("At most %(n)s days at once.", { n: MAX_EXPORT_DAYS }));
  return [from, to];
}

function updateExportLink() {
  const anchor = $("export-link");
  try {
    const [from, to] = exportPeriod();
    const format = $("export-format").value;
    anchor.href = incidentsUrl("/export?" + new URLSearchParams({ from, to, format }).toString());
    anchor.download = `major-incidents-${from}-${to}.${format}`;
    anchor.classList.remove("disabled");
    showError($("export-error"), null);
  } catch (error) {
    anchor.removeAttribute("href");
    anchor.classList.add("disabled");
    showError($("export-error"), error);
  }
}

// -- the pile-up threshold ----------------------------------------------------------------------------------

// the fields take input only once they show the tenant's threshold (and only a lead's or an admin's): typed
// before its load came back, a value would be overwritten by the stored one, and that saved in its place
function settingsEditable(editable) {
  for (const id of ["pileup-count", "pileup-minutes", "settings-save"]) $(id).disabled = !editable;
}

async function loadSettings() {
  const tenant = state.tenant;
  settingsEditable(false);
  $("pileup-count").value = "";
  $("pileup-minutes").value = "";
  try {
    const body = await api(incidentsUrl("/settings"));
    if (tenant !== state.tenant) return;  // another tenant was chosen meanwhile: its own load fills the form
    $("pileup-count").value = body.settings.pileup_count;
    $("pileup-minutes").value = body.settings.pileup_minutes;
    text($("settings-state"), "");
    settingsEditable(canManage());
  } catch (error) {
    if (tenant !== state.tenant) return;
    text($("settings-state"), t("Error: %(message)s", { message: error.message }));
  }
}

async function saveSettings(event) {
  event.preventDefault();
  try {
    await api(incidentsUrl("/settings"), {
      method: "PUT",
      body: JSON.stringify({ pileup_count: Number($("pileup-count").value), pileup_minutes: Number($("pileup-minutes").value) }),
    });
    text($("settings-state"), t("Saved"));
    await refreshOpen();
  } catch (error) {
    text($("settings-state"), t("Error: %(message)s", { message: error.message }));
  }
}

async function startList() {
  $("list-view").hidden = false;
  const asked = new URLSearchParams(window.location.search);
  const tenants = state.account.tenants;
  $("tenant").replaceChildren(...tenants.map((tenant) => new Option(tenantName(tenant), tenant)));
  $("tenant-label").hidden = tenants.length < 2;
  $("tenant").addEventListener("change", () => chooseTenant($("tenant").value));
  $("declare-open").addEventListener("click", () => openDeclare("", []));
  $("resolved-more").addEventListener("click", () => loadResolved(true));
  const today = i18n.isoDay(new Date());
  $("export-from").value = i18n.showDay(today.slice(0, 8) + "01");
  $("export-to").value = i18n.showDay(today);
  for (const id of ["export-from", "export-to", "export-format"]) $(id).addEventListener("input", updateExportLink);
  $("export-format").addEventListener("change", updateExportLink);
  $("export-form").addEventListener("submit", (event) => event.preventDefault());
  const editable = canManage();  // the fields are enabled by loadSettings, once they show the threshold
  $("settings-save").hidden = !editable;
  $("settings-readonly").hidden = editable;
  $("settings-form").addEventListener("submit", saveSettings);
  if (!tenants.length) {
    $("declare-open").disabled = true;
    showError($("list-error"), new Error(t("Your account works for no tenant.")));
    return;
  }
  await chooseTenant(tenants.includes(asked.get("tenant")) ? asked.get("tenant") : tenants[0]);
  // the console's pile-up notice opens the dialog with its category and tickets
  if (asked.has("category") || asked.has("tickets")) {
    const ids = (asked.get("tickets") || "").split(",").filter((id) => /^\d{1,18}$/.test(id)).map(Number);
    openDeclare(asked.get("category") || "", ids);
  }
  setInterval(refreshOpen, REFRESH_MS);
}

// -- one incident -------------------------------------------------------------------------------------------

function incidentUrl(rest = "") { return incidentsUrl(`/${state.detail.id}${rest}`); }

function definition(list, term, value, className) {
  const dt = document.createElement("dt");
  text(dt, term);
  const dd = document.createElement("dd");
  text(dd, value);
  if (className) dd.className = className;
  list.append(dt, dd);
}

function byWhom(person, at) {
  return person && person.name ? t("%(when)s by %(name)s", { when: when(at), name: person.name }) : when(at);
}

function showTimes(incident) {
  const list = $("d-times");
  list.replaceChildren();
  definition(list, t("Became known"), when(incident.known_at));
  definition(list, t("Declared"), byWhom(incident.declared_by, incident.declared_at));
  definition(list, t("Users informed"), incident.communicated_at ? when(incident.communicated_at) : t("not yet"));
  definition(list, t("Resolved"), incident.resolved_at ? byWhom(incident.resolved_by, incident.resolved_at) : t("still open"));
  definition(list, t("Duration (known to resolved)"), incident.duration_s == null
    ? t("%(time)s so far", { time: span(secondsSince(incident.known_at)) }) : span(incident.duration_s));
}

// a NIS2 deadline: when, and how long until it or since it passed
function deadline(list, term, iso) {
  const left = -secondsSince(iso);
  const status = left >= 0 ? t("due in %(time)s", { time: span(left) }) : t("overdue by %(time)s", { time: span(left) });
  definition(list, term, `${when(iso)} · ${status}`, left >= 0 ? "due" : "overdue");
}

function showDeadlines(incident) {
  const list = $("d-deadlines");
  list.replaceChildren();
  deadline(list, t("Early warning due (24 h)"), incident.deadlines.early_warning_due_at);
  deadline(list, t("Incident notification due (72 h)"), incident.deadlines.notification_due_at);
  deadline(list, t("Final report due (one month)"), incident.deadlines.final_report_due_at);
}

function toldText(notifiedAt, via) {
  if (!notifiedAt) return "–";
  return via ? `${label("notified_via", via)} · ${when(notifiedAt)}` : t("no way to reach them");
}

function ticketRow(ticket, open) {
  const tr = document.createElement("tr");
  const action = document.createElement("span");
  if (open) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    text(button, t("Take off"));
    button.addEventListener("click", () => act(`/tickets/${ticket.id}`, { method: "DELETE" }, t("Taken off: %(number)s", { number: ticket.number })));
    action.append(button);
  }
  tr.append(
    cell(link(`/tickets/${encodeURIComponent(state.tenant)}/${ticket.id}`, ticket.number, "mono")),
    cell(ticket.subject || "–"),
    cell(ticket.requester_name || "–"),
    cell(label("status", ticket.status)),
    cell(when(ticket.linked_at)),
    cell(toldText(ticket.notified_at, ticket.notified_via)),
    cell(action),
  );
  return tr;
}

function subscriberItem(subscriber) {
  const li = document.createElement("li");
  text(li, [
    subscriber.name || t("Caller"),
    subscriber.number,
    subscriber.has_email ? t("by mail") : t("no mail address: callback list"),
    t("since %(when)s", { when: when(subscriber.created_at) }),
    subscriber.notified_at ? t("told: %(how)s", { how: toldText(subscriber.notified_at, subscriber.notified_via) }) : "",
  ].filter(Boolean).join(" · "));
  return li;
}

function showIncident(body) {
  const incident = body.incident;
  const open = incident.status === "open";
  state.detail = incident;
  document.title = `${incident.title} · ${t("Major incidents")}`;
  text($("d-title"), incident.title);
  text($("d-meta"), [
    incident.category_label || t("no category"),
    (state.account.tenants || []).length > 1 ? tenantName(incident.tenant) : "",
  ].filter(Boolean).join(" · "));
  $("d-parent").replaceChildren();
  if (incident.parent_ticket) {
    $("d-parent").append(`${t("Parent ticket")}: `,
      link(`/tickets/${encodeURIComponent(incident.tenant)}/${incident.parent_ticket.id}`, incident.parent_ticket.number, "mono"));
  }
  text($("d-status"), label("incident_status", incident.status));
  $("d-status").className = "badge status-" + (open ? "new" : "resolved");
  text($("d-message"), incident.caller_message);
  $("d-resolution-box").hidden = !incident.resolution;
  text($("d-resolution"), incident.resolution);
  showTimes(incident);
  showDeadlines(incident);
  $("d-export-csv").href = incidentUrl("/export?format=csv");
  $("d-export-json").href = incidentUrl("/export?format=json");
  $("d-export-json").download = `major-incident-${incident.id}.json`;
  text($("d-ticket-count"), i18n.number(body.tickets.length));
  $("d-tickets").replaceChildren(...body.tickets.map((ticket) => ticketRow(ticket, open)));
  $("d-tickets-none").hidden = body.tickets.length > 0;
  text($("d-subscriber-count"), i18n.number(incident.subscribers.count));
  $("d-subscribers").replaceChildren(...body.subscribers.map(subscriberItem));
  $("d-actions").hidden = false;
  $("resolve-form").closest(".card").hidden = !open;
  $("edit-title").value = incident.title;
  $("edit-message").value = incident.caller_message;
  categoryOptions($("edit-category"), incident.category || "");
  showInstant("edit-known-day", "edit-known-time", incident.known_at);
  showInstant("edit-told-day", "edit-told-time", incident.communicated_at);
  state.updateEditCount();
}

async function loadDetail() {
  const body = await api(incidentUrl());
  showIncident(body);
  showError($("d-error"), null);
}

// a change of the incident: then read it anew; ``done``: what the status line says after it
async function act(path, options, done) {
  try {
    await api(incidentUrl(path), options);
    text($("d-state"), done);
    await loadDetail();
    return true;
  } catch (error) {
    showError($("d-error"), error);
    return false;
  }
}

async function saveEdit(event) {
  event.preventDefault();
  try {
    const body = { title: $("edit-title").value.trim(), caller_message: $("edit-message").value.trim(), category: $("edit-category").value || null };
    if (instantChanged("edit-known-day", "edit-known-time")) body.known_at = typedInstant("edit-known-day", "edit-known-time");
    if (instantChanged("edit-told-day", "edit-told-time")) body.communicated_at = typedInstant("edit-told-day", "edit-told-time");
    for (const key of ["known_at", "communicated_at"]) if (body[key] === undefined) delete body[key];
    if (await act("", { method: "PATCH", body: JSON.stringify(body) }, t("Saved"))) text($("edit-state"), t("Saved"));
  } catch (error) {
    showError($("d-error"), error);
  }
}

// the confirmation says who will be told: the callers of the linked tickets and the subscribers not told yet
function confirmResolve(event) {
  event.preventDefault();
  const incident = state.detail;
  const told = (incident.tickets.linked - incident.tickets.notified) + (incident.subscribers.count - incident.subscribers.notified);
  text($("resolve-heading"), t("Resolve “%(title)s”?", { title: incident.title }));
  text($("resolve-told"), told > 0
    ? tn("%(n)s caller will be told: by mail, those without a mail address go on the callback list.",
      "%(n)s callers will be told: by mail, those without a mail address go on the callback list.", told, { n: i18n.number(told) })
    : t("Nobody will be told: no ticket is linked and nobody subscribed."));
  text($("resolve-tickets"), tn("The parent ticket and %(n)s linked ticket are resolved with this text as a public comment.",
    "The parent ticket and %(n)s linked tickets are resolved with this text as a public comment.", incident.tickets.linked,
    { n: i18n.number(incident.tickets.linked) }));
  showError($("resolve-error"), null);
  $("resolve-confirm").disabled = false;
  $("resolve-dialog").showModal();
}

async function resolve() {
  $("resolve-confirm").disabled = true;
  try {
    const body = await api(incidentUrl("/resolve"), { method: "POST", body: JSON.stringify({ resolution: $("resolution").value.trim() }) });
    $("resolve-dialog").close();
    text($("d-state"), tn("Resolved: %(n)s caller told.", "Resolved: %(n)s callers told.", body.told, { n: i18n.number(body.told) }));
    await loadDetail();
  } catch (error) {
    showError($("resolve-error"), error);
    $("resolve-confirm").disabled = false;
  }
}

async function startDetail(tenant, id) {
  $("detail-view").hidden = false;
  state.tenant = tenant;
  state.detail = { id };
  $("back-link").href = "/incidents?" + new URLSearchParams({ tenant }).toString();
  state.updateEditCount = counter("edit-message", "edit-message-count");
  counter("resolution", "resolution-count");
  $("edit-form").addEventListener("submit", saveEdit);
  $("resolve-form").addEventListener("submit", confirmResolve);
  $("resolve-confirm").addEventListener("click", resolve);
  $("resolve-cancel").addEventListener("click", () => $("resolve-dialog").close());
  try {
    await loadCategories();
    await loadDetail();
  } catch (error) {
    showError($("d-error"), error);
  }
}

$("logout").addEventListener("click", async () => {
  await api("/api/logout", { method: "POST", body: "{}" }).catch(() => null);
  window.location.assign("/login");
});
$("declare-form").addEventListener("submit", declare);
$("declare-cancel").addEventListener("click", () => $("declare-dialog").close());

(async function start() {
  await i18n.ready;
  const me = await api("/api/me");
  state.account = me.account;
  state.csrf = me.account.csrf_token;
  state.tenantNames = me.account.tenant_names || {};
  text($("account-name"), me.account.display_name);
  $("console-link").hidden = !canWork();
  $("privacy-link").hidden = me.account.role !== "admin";  // the data-protection page: admins (and DPOs, who see no other page)
  state.updateDeclareCount = counter("declare-message", "declare-message-count");
  const detail = window.location.pathname.match(/^\/incidents\/([^/]+)\/(\d+)$/);
  if (detail) await startDetail(decodeURIComponent(detail[1]), Number(detail[2]));
  else await startList();
})();
