"use strict";
// Major incidents on the agent console (console.js tells of each pop with the event "uhd:pop" and of every other
// WebSocket message with "uhd:message"):
// - a pop of a tenant with open major incidents shows a banner per incident (title, since when, what callers hear)
//   with "Gehört zur Großstörung", which links the popped call's ticket to it (and takes it off again);
// - a pile-up of tickets of one category ({type: "incident_suggestion"}) shows a notice that opens the incidents
//   page's declare dialog with the category and the tickets filled in (in a new tab: the call stays on screen).
// Requests go through console.js's api() (CSRF token).

(function () {
  const { t, tn } = i18n;
  const $ = (id) => document.getElementById(id);
  // the pop shown, the incident its ticket belongs to (null: none); the banner and notices are made here
  const shown = { pop: null, linkedTo: null, request: 0 };
  const banner = document.createElement("section");
  banner.id = "incident-banner";
  banner.className = "incident-banner";
  banner.hidden = true;
  banner.setAttribute("aria-live", "polite");
  $("pop-body").prepend(banner);
  const notices = document.createElement("div");
  notices.id = "incident-notices";
  notices.className = "incident-notices";
  notices.setAttribute("aria-live", "polite");
  document.querySelector("main.layout").prepend(notices);

  function say(el, value) { el.textContent = value == null ? "" : String(value); }
  function element(tag, className, content) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (content !== undefined) say(el, content);
    return el;
  }
  function incidentPath(tenant, incidentId, rest = "") {
    return `/api/tenants/${encodeURIComponent(tenant)}/incidents/${incidentId}${rest}`;
  }
  // "seit 07.12.2026, 12:05 (vor 25 Min.)"
  function since(iso) {
    const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
    return t("since %(when)s (%(ago)s)", { when: i18n.dateTime(iso), ago: t("%(time)s ago", { time: i18n.duration(seconds) }) });
  }

  // -- the banner on the pop ----------------------------------------------------------------------------------

  function incidentBlock(incident) {
    const block = element("div", "incident");
    block.dataset.incident = incident.id;
    const head = element("div", "incident-head", t("Major incident: %(title)s", { title: incident.title }));
    const facts = element("div", "muted", [since(incident.declared_at), incident.category_label].filter(Boolean).join(" · "));
    const message = element("p", "incident-message", t("Callers hear: “%(message)s”", { message: incident.caller_message }));
    const button = element("button", "incident-link");
    button.type = "button";
    const status = element("span", "incident-status muted");
    status.setAttribute("role", "status");
    const actions = element("div", "incident-actions");
    actions.append(button, status);
    block.append(head, facts, message, actions);
    button.addEventListener("click", () => toggle(incident, button, status));
    return block;
  }

  // the blocks as the ticket's link stands: linked to one (its button takes it off), the others' buttons idle
  function showLinks() {
    const ticket = shown.pop.ticket;
    for (const block of banner.querySelectorAll(".incident")) {
      const linked = shown.linkedTo === Number(block.dataset.incident);
      const button = block.querySelector(".incident-link");
      block.classList.toggle("linked", linked);
      button.classList.toggle("secondary", linked);
      button.disabled = shown.linkedTo !== null && !linked;
      say(button, linked ? t("Take off the major incident") : t("Belongs to the major incident"));
      if (linked) say(block.querySelector(".incident-status"), t("Ticket %(number)s is linked: its caller is told when it is resolved.", { number: ticket.number }));
    }
  }

  async function toggle(incident, button, status) {
    const pop = shown.pop;
    const linked = shown.linkedTo === incident.id;
    button.disabled = true;
    try {
      await api(incidentPath(pop.tenant, incident.id, `/tickets/${pop.ticket.id}`), { method: linked ? "DELETE" : "POST", body: linked ? undefined : "{}" });
      if (shown.pop !== pop) return;  // another call popped meanwhile
      shown.linkedTo = linked ? null : incident.id;
      say(status, linked ? t("Taken off the major incident") : "");
      showLinks();
    } catch (error) {
      button.disabled = false;
      say(status, t("Error: %(message)s", { message: error.message }));
    }
  }

  // which of the pop's incidents its ticket belongs to already (a reload during the call, a second pop)
  async function linkedIncident(pop) {
    const body = await api(`/api/tenants/${encodeURIComponent(pop.tenant)}/tickets/${pop.ticket.id}`);
    const incident = body.ticket.incident;
    return incident && incident.role === "linked" ? incident.id : null;
  }

  async function popped(pop) {
    const asked = ++shown.request;
    shown.pop = pop;
    shown.linkedTo = null;
    const open = pop.incidents || [];
    banner.replaceChildren(...open.map(incidentBlock));
    banner.hidden = !open.length;
    if (!open.length) return;
    showLinks();
    try {
      const linkedTo = await linkedIncident(pop);
      if (asked !== shown.request) return;
      shown.linkedTo = linkedTo;
      showLinks();
    } catch (error) {
      for (const status of banner.querySelectorAll(".incident-status")) say(status, t("Error: %(message)s", { message: error.message }));
    }
  }

  // -- the pile-up notice -------------------------------------------------------------------------------------

  // "Auffällig viele Tickets zu KIS: 5 in 12 Minuten — Großstörung ausrufen?" (the incidents page says the same)
  function pileUpText(suggestion) {
    const minutes = Math.max(1, Math.ceil((new Date(suggestion.last_at) - new Date(suggestion.first_at)) / 60000));
    return tn("Noticeably many tickets on %(category)s: %(count)s in %(n)s minute — declare a major incident?",
      "Noticeably many tickets on %(category)s: %(count)s in %(n)s minutes — declare a major incident?",
      minutes, { category: suggestion.category_label, count: i18n.number(suggestion.count) });
  }

  function offered(message) {
    const suggestion = message.suggestion;
    const key = `${message.tenant}\n${suggestion.category}`;
    const notice = element("div", "incident-notice");
    notice.dataset.key = key;
    notice.setAttribute("role", "alert");
    const several = (state.account && state.account.tenants || []).length > 1;
    const words = pileUpText(suggestion);
    const what = element("span", "notice-text", several ? `${tenantName(message.tenant)}: ${words}` : words);
    const declare = element("a", "button", t("Declare a major incident"));
    const query = new URLSearchParams({ tenant: message.tenant, category: suggestion.category, tickets: suggestion.ticket_ids.join(",") });
    declare.href = "/incidents?" + query.toString();
    declare.target = "_blank";
    declare.rel = "noopener";
    const dismiss = element("button", "secondary", t("Dismiss"));
    dismiss.type = "button";
    dismiss.addEventListener("click", () => notice.remove());
    declare.addEventListener("click", () => notice.remove());
    const actions = element("span", "notice-actions");
    actions.append(declare, dismiss);
    notice.append(what, actions);
    const earlier = [...notices.children].find((n) => n.dataset.key === key);
    if (earlier) earlier.replaceWith(notice); else notices.append(notice);
  }

  document.addEventListener("uhd:pop", (event) => popped(event.detail));
  document.addEventListener("uhd:message", (event) => { if (event.detail.type === "incident_suggestion") offered(event.detail); });
})();
