"use strict";
// Agent console: one WebSocket for pops (reconnects with backoff), a form to classify the popped ticket,
// and the callback list. Every state-changing request carries the session's CSRF token.

const state = { account: null, csrf: "", pop: null, socket: null, retry: 500 };
const $ = (id) => document.getElementById(id);
const { t, label } = i18n;  // the pages' language (static/i18n.js)

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json", "X-CSRF-Token": state.csrf, ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) { window.location.assign("/login"); throw new Error(t("Not logged in")); }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) { const error = new Error(i18n.errorText(body, response.statusText)); error.status = response.status; throw error; }
  return body;
}

function text(el, value) { el.textContent = value == null ? "" : String(value); }

function fillLevels(select, selected) {
  select.replaceChildren(...[1, 2, 3, 4, 5].map((value) => new Option(i18n.level(value), value, false, value === selected)));
}

function flattenCategories(nodes, depth = 0, out = []) {
  for (const node of nodes || []) {
    out.push([node.id, "\u00a0\u00a0".repeat(depth) + node.name, node]);
    flattenCategories(node.children, depth + 1, out);
  }
  return out;
}

function showPop(pop) {
  state.pop = pop;
  const caller = pop.caller || {};
  const who = caller.user || caller.place;
  $("pop-idle").hidden = true;
  $("pop-body").hidden = false;
  $("pop").classList.add("live");
  text($("caller-name"), who ? who.name : callerName(pop.call.caller_name, pop.call.caller_number));
  text($("caller-number"), pop.call.caller_number);
  $("caller-vip").hidden = !(caller.user && caller.user.vip);
  const role = who && who.role ? label("person_role", who.role) : "";
  const details = who ? [who.department, who.location, role, who.email].filter(Boolean).join(" · ") : "";
  text($("caller-details"), caller.kind === "candidates" ? t("Several matches – please choose") : details);
  const candidates = $("candidates");
  candidates.replaceChildren(...(caller.candidates || []).map((c) => {
    const li = document.createElement("li");
    text(li, [c.user.name, c.user.department, c.user.location].filter(Boolean).join(" · "));
    return li;
  }));
  candidates.hidden = !(caller.candidates || []).length;
  text($("ticket-number"), pop.ticket.number);
  text($("call-state"), t("on the call · waited %(wait)s", { wait: i18n.duration(pop.call.wait_s || 0) }));
  const options = flattenCategories(pop.categories);
  $("category").replaceChildren(new Option(t("– choose a category –"), ""),
    ...options.map(([id, label]) => new Option(label, id, false, pop.ticket.category && id === pop.ticket.category.id)));
  fillLevels($("impact"), pop.ticket.impact || 3);
  fillLevels($("urgency"), pop.ticket.urgency || 3);
  $("subject").value = pop.ticket.subject || "";
  $("description").value = pop.ticket.description || "";
  text($("save-state"), "");
  $("recent-block").hidden = !(pop.recent_tickets || []).length;  // no heading over an empty list
  $("recent").replaceChildren(...(pop.recent_tickets || []).map((ticket) => {
    const li = document.createElement("li");
    text(li, `${ticket.number} · ${label("status", ticket.status)} · ${ticket.subject || ""}`);
    if (ticket.sla) {  // an open ticket of the caller: its SLA state, what is due when (sla.js)
      li.classList.add("sla-" + ticket.sla.state);
      const due = document.createElement("div");
      due.className = "muted sla-line";
      text(due, sla.due(ticket.sla));
      li.append(" ", sla.badge(ticket.sla), due);
    }
    return li;
  }));
  refreshCallbacks();
  document.dispatchEvent(new CustomEvent("uhd:pop", { detail: pop }));  // the pop's add-ons (articles.js)
}

function callEnded(message) {
  if (state.pop && state.pop.call.linkedid === message.call.linkedid) {
    text($("call-state"), t("call ended · %(talk)s", { talk: i18n.duration(message.call.talk_s || 0) }));
    $("pop").classList.remove("live");
  }
  refreshCallbacks();
}

$("category").addEventListener("change", () => {
  const chosen = flattenCategories(state.pop ? state.pop.categories : []).find(([id]) => String(id) === $("category").value);
  if (chosen) {
    fillLevels($("impact"), chosen[2].default_impact || 3);
    fillLevels($("urgency"), chosen[2].default_urgency || 3);
  }
});

$("classify-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!state.pop) return;
  $("save").disabled = true;
  try {
    const body = await api(`/api/tenants/${encodeURIComponent(state.pop.tenant)}/tickets/${state.pop.ticket.id}/classify`, {
      method: "POST",
      body: JSON.stringify({
        category_id: Number($("category").value),
        impact: Number($("impact").value),
        urgency: Number($("urgency").value),
        subject: $("subject").value,
        description: $("description").value,
      }),
    });
    state.pop.ticket = body.ticket;
    text($("save-state"), t("saved · priority %(priority)s", { priority: i18n.priority(body.ticket.priority) }));
  } catch (error) {
    text($("save-state"), t("Error: %(message)s", { message: error.message }));
  } finally {
    $("save").disabled = false;
  }
});

async function refreshCallbacks() {
  const tenant = $("callback-tenant").value;
  if (!tenant) return;
  const list = $("callback-list");
  try {
    const body = await api(`/api/tenants/${encodeURIComponent(tenant)}/callbacks`);
    list.replaceChildren(...body.callbacks.map((entry) => {
      const li = document.createElement("li");
      const caption = document.createElement("span");
      const name = callerName(entry.caller_name, entry.caller_number);
      text(caption, t("%(name)s · %(number)s · waited %(wait)s", { name, number: entry.caller_number, wait: i18n.duration(entry.wait_s || 0) }) + " ");
      const button = document.createElement("button");
      text(button, t("Call back"));
      button.addEventListener("click", async () => {
        button.disabled = true;  // one click, one call: the server guards against a second one too
        try {
          await api(`/api/tenants/${encodeURIComponent(tenant)}/callbacks/${entry.id}/dial`, { method: "POST", body: "{}" });
          text(button, t("dialling …"));
        } catch (error) {
          text(button, t("Error: %(message)s", { message: error.message }));
        }
        setTimeout(refreshCallbacks, 1500);
      });
      li.append(caption, button);
      return li;
    }));
    if (!body.callbacks.length) { const li = document.createElement("li"); li.className = "muted"; text(li, t("no open callbacks")); list.append(li); }
  } catch (error) {
    text(list, t("Error: %(message)s", { message: error.message }));
  }
}

function connect() {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${window.location.host}/ws/console`);
  state.socket = socket;
  socket.addEventListener("open", () => {
    state.retry = 500;
    $("connection").className = "badge online";
    text($("connection"), t("connected"));
  });
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "pop") showPop(message);
    else if (message.type === "call_ended") callEnded(message);
    document.dispatchEvent(new CustomEvent("uhd:message", { detail: message }));  // the add-ons' (incidents.js)
  });
  socket.addEventListener("close", () => {
    $("connection").className = "badge offline";
    text($("connection"), t("disconnected"));
    setTimeout(connect, state.retry);  // a console that reconnects during a call gets its pop again
    state.retry = Math.min(state.retry * 2, 10000);
  });
}

// The demo's softphone (uhd-telephony demo only: /api/me names the "demo" feature; elsewhere the card stays hidden).
// Its keys drive the simulated PBX; the pop itself comes over the WebSocket, as for every answered call.
const PHONE_MS = 1000;
const phone = { timer: null, view: null };

function showPhone(body) {
  const card = $("demo-phone");
  const view = body.phone, demo = body.demo;
  phone.view = view;
  card.hidden = false;
  text($("phone-clock"), demo.realtime ? t("Real time: a call in the browser is on") : t("Demo clock ×%(speed)s", { speed: i18n.number(demo.speed) }));
  $("phone-simulated").hidden = view !== null;
  $("phone-controls").hidden = view === null;
  card.classList.toggle("ringing", !!view && view.state === "ringing");
  card.classList.toggle("talking", !!view && view.state === "talking");
  if (!view) return;
  text($("phone-name"), `${view.name} · ${view.interface}`);
  const withheld = isWithheld(view.caller_name, view.caller_number);
  const caller = withheld ? t("Number withheld")
    : [view.caller_name, view.caller_number ? `<${view.caller_number}>` : ""].filter(Boolean).join(" ") || t("Unknown caller");
  const tenant = view.tenant ? tenantName(view.tenant) : "";
  if (view.state === "ringing") {
    text($("phone-state"), t("Ringing: %(caller)s · %(tenant)s · %(left)s left", { caller, tenant, left: i18n.duration(Math.ceil(view.ring_left_s || 0)) }));
  } else if (view.state === "talking") {
    const s = Math.round(view.talk_s || 0);
    text($("phone-state"), t("On the call with %(caller)s · %(time)s", { caller, time: `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}` }));
  } else if (view.paused) {
    text($("phone-state"), t("Paused: press “Ready” to take calls"));
  } else {
    text($("phone-state"), t("Ready: waiting for a call from the queue"));
  }
  $("phone-answer").hidden = view.state !== "ringing";
  $("phone-hangup").hidden = view.state === "idle";
  text($("phone-hangup"), view.state === "ringing" ? t("Decline") : t("Hang up"));
  text($("phone-ready"), view.paused ? t("Ready") : t("Pause"));
}

async function refreshPhone() {
  try {
    showPhone(await api("/api/demo/phone"));
  } catch (error) {
    if (error.status === 404) { clearInterval(phone.timer); $("demo-phone").hidden = true; }
  }
}

async function phoneKey(path, body = {}) {
  $("phone-error").hidden = true;
  try {
    showPhone(await api(`/api/demo/phone/${path}`, { method: "POST", body: JSON.stringify(body) }));
  } catch (error) {
    text($("phone-error"), error.message);
    $("phone-error").hidden = false;
  }
}

// the call shown ringing: a call that began ringing since the last refresh is not answered by mistake
$("phone-answer").addEventListener("click", () => phoneKey("answer", { linkedid: phone.view && phone.view.linkedid }));
$("phone-hangup").addEventListener("click", () => phoneKey("hangup"));
$("phone-ready").addEventListener("click", () => phoneKey("pause", { paused: !(phone.view && phone.view.paused) }));

$("logout").addEventListener("click", async () => {
  await api("/api/logout", { method: "POST", body: "{}" }).catch(() => null);
  window.location.assign("/login");
});
$("callback-tenant").addEventListener("change", refreshCallbacks);

// a caller who withholds the number ("anonymous" in Asterisk): said so in words, never the raw caller ID
function isWithheld(name, number) {
  return /^(anonymous|anonym|unknown|<unknown>)$/i.test((number || "").trim()) || /^anonymous$/i.test((name || "").trim());
}

function callerName(name, number) {
  if (isWithheld(name, number)) return t("Number withheld");
  return name || number || t("Unknown caller");
}

// a tenant's display name (GET /api/me's tenant_names), never its slug
function tenantName(tenant) { return (state.tenantNames || {})[tenant] || tenant; }

(async function start() {
  await i18n.ready;
  const body = await api("/api/me");
  state.account = body.account;
  state.csrf = body.account.csrf_token;
  state.tenantNames = body.account.tenant_names || {};
  text($("agent-name"), body.account.display_name);
  $("privacy-link").hidden = body.account.role !== "admin";  // the data-protection page: admins (and DPOs, who see no other page)
  $("callback-tenant").replaceChildren(...body.account.tenants.map((tenant) => new Option(tenantName(tenant), tenant)));
  refreshCallbacks();
  setInterval(refreshCallbacks, 15000);
  connect();
  if ((body.features || []).includes("demo")) {
    await refreshPhone();
    phone.timer = setInterval(refreshPhone, PHONE_MS);
  }
})();
