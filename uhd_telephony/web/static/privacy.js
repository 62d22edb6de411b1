"use strict";
// The data-protection officer's page (privacy/api.py, /privacy): the tenant's log of reads of personal data (who
// read whose data when, in words and German time; by period, reader, kind and person; page by page), a person found
// by name, number or mail, their data exported (Art. 15 GDPR, a JSON file) or erased (Art. 17, after a dry run and
// a confirmation). Everything comes through /api/tenants/{tenant}/privacy/…, which checks role and tenant again;
// every request carries the session's CSRF token.

const state = { account: null, csrf: "", tenant: "", tenantNames: {}, before: null, person: null };
const $ = (id) => document.getElementById(id);
const { t, tn } = i18n;  // the pages' language (static/i18n.js)
// the kinds of entries a tenant's log has (audit.log.AuditAction), in the order the filter offers them
const ACTIONS = ["requester_read", "calls_read", "directory_read", "incident_read", "person_exported", "person_erased",
  "retention_set", "works_agreement", "kpi_contract"];

async function api(path, body) {
  const options = body === undefined ? {} : { method: "POST", body: JSON.stringify(body) };
  const headers = { "Content-Type": "application/json", "X-CSRF-Token": state.csrf };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) { window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname)); throw new Error(t("Not logged in")); }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) { const error = new Error(i18n.errorText(answer, response.statusText)); error.status = response.status; throw error; }
  return answer;
}

function text(el, value) { el.textContent = value == null ? "" : String(value); }
function showError(el, error) { el.hidden = !error; text(el, error ? t("Error: %(message)s", { message: error.message }) : ""); }
function privacyUrl(rest) { return `/api/tenants/${encodeURIComponent(state.tenant)}/privacy${rest}`; }
function cell(content) {
  const td = document.createElement("td");
  if (content instanceof Node) td.append(content); else text(td, content);
  return td;
}

// -- the log -----------------------------------------------------------------------------------------------
function logQuery() {
  const from = i18n.parseDay($("log-from").value);
  const to = i18n.parseDay($("log-to").value);
  if (from === null || to === null) throw new Error(t("Please type a date as DD.MM.YYYY."));
  if (Boolean(from) !== Boolean(to)) throw new Error(t("Please give both days of the period, or neither."));
  const query = { limit: 50 };
  if (from) { query.from = from; query.to = to; }
  const actor = $("log-actor").value.trim();
  if (actor) query.actor = actor;
  if ($("log-action").value) query.action = $("log-action").value;
  if (state.person) query.person = state.person.selector;
  return query;
}

function whose(entry) {
  if (!entry.subjects.length) return "–";
  const list = document.createElement("ul");
  list.className = "whose";
  for (const subject of entry.subjects) {
    const item = document.createElement("li");
    text(item, subject.text);
    list.append(item);
  }
  if (entry.more > 0) {
    const item = document.createElement("li");
    item.className = "muted";
    text(item, tn("and %(n)s more", "and %(n)s more", entry.more));
    list.append(item);
  }
  return list;
}

function logRow(entry) {
  const row = document.createElement("tr");
  const who = document.createElement("button");
  who.type = "button";
  who.className = "link";
  who.title = t("Show only this person's reads");
  text(who, entry.actor_name);
  who.addEventListener("click", () => { $("log-actor").value = entry.actor; loadLog(true); });
  row.append(cell(entry.when), cell(who), cell(entry.action_text), cell(whose(entry)), cell(entry.details_text || ""));
  return row;
}

async function loadLog(fresh) {
  showError($("log-error"), null);
  let query;
  try { query = logQuery(); } catch (error) { showError($("log-error"), error); return; }
  if (!fresh && state.before) query.before = state.before;
  try {
    const page = await api(privacyUrl("/log"), query);
    if (fresh) $("log-rows").replaceChildren();
    for (const entry of page.entries) $("log-rows").append(logRow(entry));
    state.before = page.next_before;
    $("log-more").hidden = !page.next_before;
    $("log-empty").hidden = $("log-rows").children.length > 0;
    $("log-incomplete").hidden = page.person_complete;
  } catch (error) {
    showError($("log-error"), error);
  }
}

function filterByPerson(person) {
  state.person = person;
  $("log-person-box").hidden = !person;
  text($("log-person"), person ? person.name || personLabel(person) : "");
  loadLog(true);
}

// -- a person: search, export, erasure ---------------------------------------------------------------------
function personLabel(person) {
  return person.name || person.email || person.numbers.join(", ") || "–";
}

function where(person) {
  if (person.in_directory) return person.department ? t("directory (%(department)s)", { department: person.department }) : t("directory");
  return tn("requester of %(n)s ticket", "requester of %(n)s tickets", person.tickets);
}

async function search(event) {
  event.preventDefault();
  showError($("person-error"), null);
  $("person-state").hidden = true;
  try {
    const found = await api(privacyUrl("/persons"), { q: $("person-q").value.trim() });
    $("person-rows").replaceChildren(...found.persons.map(personRow));
    $("person-table").hidden = !found.persons.length;
    $("person-empty").hidden = found.persons.length > 0;
  } catch (error) {
    showError($("person-error"), error);
  }
}

function personRow(person) {
  const row = $("person-row").content.firstElementChild.cloneNode(true);
  i18n.translatePage(row);
  text(row.querySelector(".p-name"), person.name || "–");
  text(row.querySelector(".p-numbers"), person.numbers.join(", ") || "–");
  text(row.querySelector(".p-email"), person.email || "–");
  text(row.querySelector(".p-where"), where(person));
  row.querySelector(".p-export").addEventListener("click", () => exportPerson(person));
  row.querySelector(".p-reads").addEventListener("click", () => filterByPerson(person));
  row.querySelector(".p-erase").addEventListener("click", () => askErase(person));
  return row;
}

async function exportPerson(person) {
  showError($("person-error"), null);
  try {
    const data = await api(privacyUrl("/exports"), person.selector);
    const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = t("data-export-%(tenant)s-%(day)s.json", { tenant: state.tenant, day: i18n.isoDay() });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    $("person-state").hidden = false;
    text($("person-state"), t("Export of %(name)s downloaded; it is recorded in the log.", { name: personLabel(person) }));
    if (!state.person) loadLog(true);
  } catch (error) {
    showError($("person-error"), error);
  }
}

function countsList(counts) {
  const items = [];
  for (const [place, n] of Object.entries(counts)) {
    if (!n) continue;
    const item = document.createElement("li");
    text(item, t("%(place)s: %(n)s", { place: i18n.label("privacy_place", place), n: i18n.number(n) }));
    items.push(item);
  }
  if (!items.length) {
    const item = document.createElement("li");
    text(item, t("nothing found"));
    items.push(item);
  }
  return items;
}

async function askErase(person) {
  showError($("person-error"), null);
  showError($("erase-error"), null);
  try {
    const dry = await api(privacyUrl("/erasures"), { ...person.selector, dry_run: true });
    state.erasing = person;
    text($("erase-person"), personLabel(person));
    $("erase-counts").replaceChildren(...countsList(dry.counts));
    $("erase-confirm-box").checked = false;
    $("erase-confirm").disabled = true;
    $("erase-dialog").showModal();
  } catch (error) {
    showError($("person-error"), error);
  }
}

async function erase() {
  const person = state.erasing;
  if (!person || !$("erase-confirm-box").checked) return;
  $("erase-confirm").disabled = true;
  try {
    const done = await api(privacyUrl("/erasures"), { ...person.selector, dry_run: false });
    $("erase-dialog").close();
    const total = Object.values(done.counts).reduce((sum, n) => sum + n, 0);
    $("person-state").hidden = false;
    text($("person-state"), tn("The data of %(name)s is erased (%(n)s entry).", "The data of %(name)s is erased (%(n)s entries).", total, { name: personLabel(person) }));
    $("person-rows").replaceChildren();
    $("person-table").hidden = true;
    if (state.person) filterByPerson(null); else loadLog(true);
  } catch (error) {
    showError($("erase-error"), error);
    $("erase-confirm").disabled = !$("erase-confirm-box").checked;
  }
}

// -- start -------------------------------------------------------------------------------------------------
function chooseTenant(tenant) {
  state.tenant = tenant;
  state.before = null;
  state.person = null;
  $("log-person-box").hidden = true;
  $("person-rows").replaceChildren();
  $("person-table").hidden = true;
  $("person-empty").hidden = true;
  $("person-state").hidden = true;
  loadLog(true);
}

$("logout").addEventListener("click", async () => {
  await api("/api/logout", {}).catch(() => null);
  window.location.assign("/login");
});
$("log-filters").addEventListener("submit", (event) => { event.preventDefault(); loadLog(true); });
$("log-more").addEventListener("click", () => loadLog(false));
$("log-person-clear").addEventListener("click", () => filterByPerson(null));
$("person-form").addEventListener("submit", search);
$("erase-confirm-box").addEventListener("change", () => { $("erase-confirm").disabled = !$("erase-confirm-box").checked; });
$("erase-confirm").addEventListener("click", erase);
$("erase-cancel").addEventListener("click", () => $("erase-dialog").close());

(async function start() {
  await i18n.ready;
  try {
    const me = await api("/api/me");
    state.account = me.account;
    state.csrf = me.account.csrf_token;
    state.tenantNames = me.account.tenant_names || {};
    text($("account-name"), me.account.display_name);
    for (const link of document.querySelectorAll(".staff-link")) link.hidden = me.account.role !== "admin";
    for (const code of ACTIONS) {
      const option = document.createElement("option");
      option.value = code;
      text(option, i18n.label("audit_action", code));
      $("log-action").append(option);
    }
    // the account's tenants (an admin's: every tenant the tenants table knows), by their display names
    const name = (tenant) => state.tenantNames[tenant] || tenant;
    const tenants = [...new Set([...(me.account.tenants || []), ...Object.keys(state.tenantNames)])].sort((a, b) => name(a).localeCompare(name(b)));
    if (!tenants.length) throw new Error(t("Your account serves no tenant."));
    for (const tenant of tenants) {
      const option = document.createElement("option");
      option.value = tenant;
      text(option, name(tenant));
      $("tenant").append(option);
    }
    $("tenant-label").hidden = tenants.length < 2;
    $("tenant").addEventListener("change", () => chooseTenant($("tenant").value));
    chooseTenant(tenants[0]);
  } catch (error) {
    showError($("page-error"), error);
  }
})();
