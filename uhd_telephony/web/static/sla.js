"use strict";
// A ticket's SLA in words, for the ticket list and page and the console's pop: the `sla` of a ticket as the API
// gives it (sla/view.py: due instants, time left, paused, ok/warning/breached/met/none). Times in Europe/Berlin
// through static/i18n.js (load it first). The texts are German msgids of i18n.t, to be wired into the catalogs.

(function () {
  const t = (msgid, params) => window.i18n.t(msgid, params);
  const STATE = { ok: "im Plan", warning: "Warnung", breached: "verletzt", met: "erfüllt", none: "kein SLA" };
  const TARGET = { response: "Reaktion", resolution: "Lösung" };

  function stateText(code) { return t(STATE[code] || "kein SLA"); }
  function targetText(which) { return t(TARGET[which]); }
  function duration(seconds) { return window.i18n.duration(Math.abs(seconds)); }

  // one target: "fällig 07.12.2026, 14:30 (noch 25 Min.)", "seit 5 Min. überfällig", "angehalten, noch 1 Std."
  function target(sla, which) {
    const state = sla[`${which}_state`];
    const due = sla[`${which}_due_at`];
    const left = sla[`${which}_remaining_s`];
    if (state === "none") return t("kein SLA");
    if (left === null || left === undefined) return state === "breached" ? t("verletzt, inzwischen erfüllt") : t("erfüllt");
    if (sla.paused) {
      return left >= 0 ? t("angehalten, noch %(left)s", { left: duration(left) }) : t("angehalten, %(late)s überfällig", { late: duration(left) });
    }
    if (left < 0) return t("seit %(when)s fällig (%(late)s überfällig)", { when: window.i18n.dateTime(due), late: duration(left) });
    return t("fällig %(when)s (noch %(left)s)", { when: window.i18n.dateTime(due), left: duration(left) });
  }

  // the target that decides now: the unmet one with the least time left
  function pressing(sla) {
    const open = ["response", "resolution"].filter((w) => sla[`${w}_remaining_s`] !== null && sla[`${w}_remaining_s`] !== undefined);
    open.sort((a, b) => sla[`${a}_remaining_s`] - sla[`${b}_remaining_s`]);
    return open[0] || null;
  }

  // what is due next: "Lösung fällig 07.12.2026, 14:30 (noch 25 Min.)", "wartet auf Anrufer · Lösung angehalten, …"
  function due(sla) {
    if (!sla || sla.state === "none") return "";
    const which = pressing(sla);
    const parts = [];
    if (sla.paused) parts.push(t("wartet auf Anrufer"));
    if (which) parts.push(`${targetText(which)} ${target(sla, which)}`);
    return parts.join(" · ");
  }

  // one line for a list: "Warnung · Lösung fällig 07.12.2026, 14:30 (noch 25 Min.)"
  function summary(sla) {
    if (!sla) return "";
    return [stateText(sla.state), due(sla)].filter(Boolean).join(" · ");
  }

  function badge(sla) {
    const span = document.createElement("span");
    span.className = `badge sla sla-${sla ? sla.state : "none"}${sla && sla.paused ? " sla-paused" : ""}`;
    span.textContent = sla ? stateText(sla.state) + (sla.paused ? " · " + t("angehalten") : "") : "–";
    return span;
  }

  // a team lead's controls for one open escalation, the same on the ticket page and the KPI page: "Quittieren"
  // (while not acknowledged), a reason field and "Zurücknehmen". act(action, body, button) sends it;
  // missingReason() is told when "Zurücknehmen" is pressed with an empty reason
  function escalationControls(escalation, act, missingReason) {
    const controls = [];
    if (!escalation.acknowledged_at) {
      const ack = document.createElement("button");
      ack.className = "secondary";
      ack.dataset.action = "acknowledge";
      ack.textContent = t("Quittieren");
      ack.addEventListener("click", () => act("acknowledge", {}, ack));
      controls.push(ack);
    }
    const reason = document.createElement("input");
    reason.maxLength = 1000;
    reason.placeholder = t("Grund der Rücknahme");
    reason.setAttribute("aria-label", t("Grund der Rücknahme"));
    const back = document.createElement("button");
    back.dataset.action = "de-escalate";
    back.textContent = t("Zurücknehmen");
    back.addEventListener("click", () => {
      const why = reason.value.trim();
      if (!why) { missingReason(t("Bitte einen Grund für die Rücknahme angeben.")); reason.focus(); return; }
      act("de-escalate", { reason: why }, back);
    });
    controls.push(reason, back);
    return controls;
  }

  window.sla = { stateText, targetText, target, due, summary, badge, pressing, escalationControls };
})();
