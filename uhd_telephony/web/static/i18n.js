"use strict";
// The pages' language: one catalog for every script, GET /api/i18n — the same .po files the server speaks
// (uhd_telephony/i18n/locale/<lang>/LC_MESSAGES/messages.po): the account's language, else the browser's, else German.
//
//   await i18n.ready;                          // before the first text is written
//   i18n.t("Error: %(message)s", {message})    // msgids are English; placeholders %(name)s as in Python
//   i18n.label("status", ticket.status)        // enumerations: the catalog's "<kind>.<code>" keys
//   i18n.dateTime(iso)                         // 07.12.2026, 12:05 — Europe/Berlin, never the browser's zone
//
// Static texts of a page carry their msgid: <button data-i18n="Log out">Abmelden</button> (also
// data-i18n-placeholder, -title, -aria-label); translatePage() sets them once the catalog is here. The German text
// in the HTML is what shows should the catalog fail to load.

(function () {
  const state = { locale: "de", tag: "de-DE", timeZone: "Europe/Berlin", messages: {} };

  function fill(text, params) {
    if (!params) return text;
    return text.replace(/%\((\w+)\)s|%%/g, (match, name) => (name ? String(params[name] ?? "") : "%"));
  }

  function t(msgid, params) {
    const text = state.messages[msgid];
    return fill(typeof text === "string" ? text : msgid, params);
  }

  function tn(singular, plural, n, params) {
    const forms = state.messages[singular];
    const text = Array.isArray(forms) ? forms[n === 1 ? 0 : 1] : (n === 1 ? singular : plural);
    return fill(text, { n, ...(params || {}) });
  }

  // the human word for a stored code: label("status", "in_progress") is "In Bearbeitung"
  function label(kind, code) {
    if (code === null || code === undefined || code === "") return "–";
    const text = state.messages[`${kind}.${code}`];
    return typeof text === "string" ? text : String(code);
  }

  function priority(level) {
    return level ? t("%(level)s – %(name)s", { level, name: label("priority", level) }) : label("priority", "none");
  }

  function level(value) {
    return t("%(level)s – %(name)s", { level: value, name: label("level", value) });
  }

  function translatePage(root) {
    const scope = root || document;
    for (const el of scope.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    for (const [attr, key] of [["placeholder", "i18nPlaceholder"], ["title", "i18nTitle"], ["aria-label", "i18nAriaLabel"]]) {
      for (const el of scope.querySelectorAll(`[data-i18n-${attr}]`)) el.setAttribute(attr, t(el.dataset[key]));
    }
    if (!root) document.documentElement.lang = state.locale;
  }

  // -- times, numbers: Europe/Berlin and the language's format, whatever the browser's settings --------------
  function asDate(value) { return value instanceof Date ? value : new Date(value); }
  function formatter(options) { return new Intl.DateTimeFormat(state.tag, { timeZone: state.timeZone, ...options }); }
  function dateTime(value) { return value ? formatter({ dateStyle: "medium", timeStyle: "short" }).format(asDate(value)) : ""; }
  function date(value) { return value ? formatter({ dateStyle: "medium" }).format(asDate(value)) : ""; }
  function time(value, seconds) {
    return value ? formatter({ hour: "2-digit", minute: "2-digit", ...(seconds ? { second: "2-digit" } : {}) }).format(asDate(value)) : "";
  }
  function number(value, digits) {
    if (value === null || value === undefined) return "–";
    const options = digits === undefined ? {} : { minimumFractionDigits: digits, maximumFractionDigits: digits };
    return new Intl.NumberFormat(state.tag, options).format(value);
  }
  function percent(ratio) {
    if (ratio === null || ratio === undefined) return "–";
    return new Intl.NumberFormat(state.tag, { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(ratio);
  }
  function unit(count, name) { return new Intl.NumberFormat(state.tag, { style: "unit", unit: name, unitDisplay: "short" }).format(count); }
  // 42 s → "42 Sek.", 63 s → "1 Min. 3 Sek.", 300 s → "5 Min.", 5400 s → "1 Std. 30 Min." (as the server's)
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    if (seconds < 60) return unit(Math.round(seconds), "second");
    if (seconds < 3600) {
      const whole = Math.round(seconds);
      const [m, s] = [Math.floor(whole / 60), whole % 60];
      return s ? `${unit(m, "minute")} ${unit(s, "second")}` : unit(m, "minute");
    }
    const minutes = Math.round(seconds / 60);
    const hours = Math.floor(minutes / 60);
    if (!hours) return unit(minutes, "minute");
    return minutes % 60 ? `${unit(hours, "hour")} ${unit(minutes % 60, "minute")}` : unit(hours, "hour");
  }

  // a calendar day as the API takes it (YYYY-MM-DD), in Europe/Berlin
  function isoDay(value) {
    const parts = formatter({ year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(asDate(value || new Date()));
    const get = (type) => parts.find((p) => p.type === type).value;
    return `${get("year")}-${get("month")}-${get("day")}`;
  }
  // what a date field shows for YYYY-MM-DD: 07.12.2026 (German day format in both languages: fields never follow the browser)
  function showDay(iso) {
    const found = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || "");
    return found ? `${found[3]}.${found[2]}.${found[1]}` : "";
  }
  // what a person typed in a date field (07.12.2026, 7.12.26, or 2026-12-07) as YYYY-MM-DD; "" when empty, null when no date
  function parseDay(text) {
    const value = (text || "").trim();
    if (!value) return "";
    let found = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(value);
    let [year, month, day] = found ? [Number(found[1]), Number(found[2]), Number(found[3])] : [0, 0, 0];
    if (!found) {
      found = /^(\d{1,2})\.(\d{1,2})\.(\d{2}|\d{4})$/.exec(value);
      if (!found) return null;
      [day, month, year] = [Number(found[1]), Number(found[2]), Number(found[3])];
      if (year < 100) year += 2000;
    }
    const check = new Date(Date.UTC(year, month - 1, day));
    if (check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) return null;
    return `${String(year).padStart(4, "0")}-${String(month).padStart(2, "0")}-${String(day).padStart(2, "0")}`;
  }

  // the text of an error answer for people: the server's own in this language (``text``), else its message
  function errorText(body, fallback) {
    return (body && (body.text || body.message)) || fallback || t("Something went wrong: please try again.");
  }

  const ready = fetch("/api/i18n", { headers: { Accept: "application/json" }, credentials: "same-origin" })
    .then((response) => (response.ok ? response.json() : null))
    .catch(() => null)
    .then((body) => {
      if (body && body.messages) {
        state.locale = body.locale;
        state.tag = body.tag || state.tag;
        state.timeZone = body.time_zone || state.timeZone;
        state.messages = body.messages;
      }
      translatePage();
      return state.locale;
    });

  window.i18n = {
    ready, t, tn, label, priority, level, translatePage, errorText,
    dateTime, date, time, number, percent, duration, isoDay, showDay, parseDay,
    get locale() { return state.locale; },
  };
})();
