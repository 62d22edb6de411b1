"use strict";
// The day hour by hour as an inline SVG (no library): per hour three bars — offered, answered, abandoned — and the
// service level through the day as a line on its own scale (0–100 %), with the target as a dashed line.
// `hours` is the wallboard API's `hours` (metrics/today.py). Colours come from the page's CSS (.chart-*).
// Used by the live KPI page and the wallboard. Texts are German msgids of i18n.t (static/i18n.js).

(function () {
  const NS = "http://www.w3.org/2000/svg";
  const t = (msgid, params) => (window.i18n ? window.i18n.t(msgid, params) : msgid);

  function el(name, attrs, text) {
    const node = document.createElementNS(NS, name);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // the top of the count scale: four whole, round steps (4, 8, 20, 40, 80, 200, …)
  function niceMax(value) {
    const wanted = Math.max(1, Math.ceil(value / 4));
    const magnitude = 10 ** Math.floor(Math.log10(wanted));
    const step = [1, 2, 5, 10].map((m) => m * magnitude).find((m) => m >= wanted);
    return 4 * step;
  }

  // the hour it is now in Europe/Berlin, 0..23 (whatever the browser's zone)
  function hourNow() {
    const parts = new Intl.DateTimeFormat("en-GB", { timeZone: "Europe/Berlin", hour: "numeric", hourCycle: "h23" }).formatToParts(new Date());
    return Number(parts.find((p) => p.type === "hour").value);
  }

  function pct(ratio) { return window.i18n ? window.i18n.percent(ratio) : `${Math.round(ratio * 100)} %`; }

  // the hours worth showing: the usual working day, widened to every hour that had a call
  function span(hours) {
    const busy = hours.filter((h) => h.offered > 0).map((h) => h.hour);
    const first = Math.min(7, ...busy);
    const last = Math.max(18, ...busy);
    return hours.filter((h) => h.hour >= first && h.hour <= last);
  }

  function hourChart(container, hours, options = {}) {
    const shown = span(hours || []);
    const width = options.width || 960;
    const height = options.height || 320;
    const pad = { left: 48, right: 56, top: 16, bottom: 34 };
    const target = options.target === undefined ? 0.8 : options.target;
    const untilHour = options.untilHour === undefined ? 23 : options.untilHour;
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    const top = niceMax(Math.max(1, ...shown.map((h) => h.offered)));
    const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, class: "hour-chart", role: "img" });
    svg.append(el("title", {}, t("Anrufe je Stunde und Servicelevel im Tagesverlauf")));
    const y = (n) => pad.top + plotH - (n / top) * plotH;
    const ySl = (r) => pad.top + plotH - r * plotH;
    const slot = plotW / Math.max(1, shown.length);
    for (let i = 0; i <= 4; i += 1) {
      const value = (top / 4) * i;
      svg.append(el("line", { x1: pad.left, x2: width - pad.right, y1: y(value), y2: y(value), class: "chart-grid" }));
      svg.append(el("text", { x: pad.left - 6, y: y(value) + 4, class: "chart-axis", "text-anchor": "end" }, String(Math.round(value))));
      svg.append(el("text", { x: width - pad.right + 6, y: ySl(i / 4) + 4, class: "chart-axis" }, pct(i / 4)));
    }
    if (target) {
      svg.append(el("line", { x1: pad.left, x2: width - pad.right, y1: ySl(target), y2: ySl(target), class: "chart-target" }));
    }
    const bar = Math.max(2, (slot * 0.8) / 3);
    const points = [];
    shown.forEach((h, i) => {
      const x0 = pad.left + i * slot + slot * 0.1;
      const group = el("g", { class: "chart-hour", "data-hour": h.hour });
      const level = h.service_level == null ? "–" : pct(h.service_level);
      group.append(el("title", {}, t("%(hour)s Uhr: %(offered)s angeboten, %(answered)s angenommen, %(abandoned)s aufgelegt; Servicelevel %(level)s", {
        hour: String(h.hour).padStart(2, "0"), offered: h.offered, answered: h.answered, abandoned: h.abandoned, level,
      })));
      [["offered", "chart-offered"], ["answered", "chart-answered"], ["abandoned", "chart-abandoned"]].forEach(([key, cls], k) => {
        const value = h[key];
        group.append(el("rect", { x: x0 + k * bar, y: y(value), width: bar - 1, height: Math.max(0, pad.top + plotH - y(value)), class: cls }));
      });
      svg.append(group);
      svg.append(el("text", { x: x0 + slot * 0.4, y: height - pad.bottom + 18, class: "chart-axis", "text-anchor": "middle" }, String(h.hour).padStart(2, "0")));
      // through the day: from the first hour with a call, up to the hour it is now (options.untilHour; 23: a past day)
      if (h.service_level_to_hour != null && h.hour <= untilHour) points.push([x0 + slot * 0.4, ySl(h.service_level_to_hour)]);
    });
    if (points.length) {
      svg.append(el("polyline", { points: points.map((p) => p.join(",")).join(" "), class: "chart-line" }));
      for (const [cx, cy] of points) svg.append(el("circle", { cx, cy, r: 3.5, class: "chart-dot" }));
    }
    container.replaceChildren(svg);
    return svg;
  }

  // the legend under a chart, as plain HTML
  function legend(container, target) {
    const items = [
      ["chart-offered", t("angeboten")], ["chart-answered", t("angenommen")], ["chart-abandoned", t("aufgelegt")],
      ["chart-line", t("Servicelevel im Tagesverlauf")], ["chart-target", t("Ziel %(level)s", { level: pct(target === undefined ? 0.8 : target) })],
    ];
    container.replaceChildren(...items.map(([cls, label]) => {
      const item = document.createElement("span");
      item.className = "legend-item";
      const swatch = document.createElement("span");
      swatch.className = `swatch ${cls}`;
      item.append(swatch, " " + label);
      return item;
    }));
  }

  window.hourChart = hourChart;
  window.hourChart.hourNow = hourNow;
  window.hourChartLegend = legend;
})();
