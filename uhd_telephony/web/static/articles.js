"use strict";
// Sofort-Support in the console's pop (console.js tells of each pop with the event "uhd:pop"): the solution
// articles for the chosen category, each expandable to its text, with "Gelöst mit diesem Artikel"; and the time a
// phone ticket has left at 1st level (the 10-minute rule), counted down from the server's figures, with one click
// to hand the ticket to 2nd level through the routing API. Requests go through console.js's api() (CSRF token).

(function () {
  const { t } = i18n;
  const $ = (id) => document.getElementById(id);
  const TICK_MS = 1000;
  const SUGGESTIONS = 5;
  // the ticket of the pop shown, its articles, and the countdown: the deadline on this page's monotonic clock
  const sofort = { pop: null, deadline: null, budget: 0, timer: null, group: "2nd_level", request: 0 };

  function tenantPath(rest) { return `/api/tenants/${encodeURIComponent(sofort.pop.tenant)}${rest}`; }
  function ticketPath(rest) { return tenantPath(`/tickets/${sofort.pop.ticket.id}${rest}`); }
  function clock(seconds) {
    const s = Math.max(0, Math.ceil(seconds));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }
  function say(el, value) { el.textContent = value == null ? "" : String(value); }

  // -- the 10-minute rule's countdown -------------------------------------------------------------------------

  function stopClock() {
    clearInterval(sofort.timer);
    sofort.timer = null;
    sofort.deadline = null;
  }

  // first_level: {due_at, started_at, budget_s, remaining_s} as the server counted at its answer (null: none runs)
  function showBudget(firstLevel) {
    stopClock();
    $("first-level").hidden = !firstLevel;
    if (!firstLevel) return;
    sofort.budget = firstLevel.budget_s;
    sofort.deadline = performance.now() + firstLevel.remaining_s * 1000;  // the browser's wall clock plays no part
    $("first-level-bar").max = Math.max(1, Math.round(firstLevel.budget_s));
    $("handover").hidden = false;
    $("handover").disabled = false;
    tick();
    sofort.timer = setInterval(tick, TICK_MS);
  }

  function tick() {
    if (sofort.deadline === null) return;
    const left = (sofort.deadline - performance.now()) / 1000;
    $("first-level-bar").value = Math.max(0, left);
    $("first-level").classList.toggle("overdue", left <= 0);
    say($("first-level-text"), left > 0
      ? t("Time at 1st level: %(left)s of %(budget)s left", { left: clock(left), budget: clock(sofort.budget) })
      : t("Time at 1st level is up: the ticket goes to 2nd level"));
  }

  async function handOver() {
    const button = $("handover");
    button.disabled = true;
    try {
      await api(ticketPath("/route"), {
        method: "POST",
        body: JSON.stringify({ group: sofort.group, reason: t("Handed to 2nd level from the console: not solved at 1st level") }),
      });
      stopClock();
      button.hidden = true;
      say($("first-level-text"), t("Handed to 2nd level"));
      $("first-level").classList.remove("overdue");
      $("first-level-bar").hidden = true;
    } catch (error) {
      button.disabled = false;
      say($("first-level-text"), t("Error: %(message)s", { message: error.message }));
    }
  }

  // -- the suggested articles ---------------------------------------------------------------------------------

  async function suggest(categoryId) {
    const list = $("article-list");
    const asked = ++sofort.request;  // a later choice wins over an answer still on its way
    $("sofort-support").hidden = !categoryId;
    if (!categoryId) return;
    say($("article-state"), t("Looking for solution articles …"));
    try {
      const body = await api(tenantPath(`/articles?category=${encodeURIComponent(categoryId)}&limit=${SUGGESTIONS}`));
      if (asked !== sofort.request) return;
      list.replaceChildren(...body.articles.map(articleItem));
      say($("article-state"), body.articles.length ? "" : t("No solution article for this category"));
    } catch (error) {
      if (asked === sofort.request) say($("article-state"), t("Error: %(message)s", { message: error.message }));
    }
  }

  function articleItem(article) {
    const item = document.createElement("li");
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    say(summary, article.title);
    const text = document.createElement("div");
    text.className = "article-text";
    details.append(summary, text);
    details.addEventListener("toggle", () => { if (details.open && !text.childElementCount) showText(article, text); });
    const solved = document.createElement("button");
    solved.className = "article-solved";
    say(solved, t("Solved with this article"));
    const tried = document.createElement("button");
    tried.className = "secondary article-tried";
    say(tried, t("Did not help"));
    solved.addEventListener("click", () => record(article, true, [solved, tried]));
    tried.addEventListener("click", () => record(article, false, [solved, tried]));
    const actions = document.createElement("div");
    actions.className = "article-actions";
    actions.append(solved, tried);
    item.append(details, actions);
    return item;
  }

  async function showText(article, into) {
    say(into, t("Loading …"));
    try {
      const body = await api(tenantPath(`/articles/${article.id}`));
      into.innerHTML = body.article.html;  // the server's rendering of the Markdown: no raw HTML, no script
    } catch (error) {
      say(into, t("Error: %(message)s", { message: error.message }));
    }
  }

  async function record(article, solved, buttons) {
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const body = await api(ticketPath("/article"), {
        method: "POST",
        body: JSON.stringify({ article_id: article.id, solved }),
      });
      if (solved) {
        say($("article-state"), body.resolved
          ? t("Solved with “%(title)s” · ticket resolved", { title: article.title })
          : t("Solved with “%(title)s”", { title: article.title }));
        if (body.resolved) { stopClock(); $("first-level").hidden = true; }
      } else {
        say($("article-state"), t("“%(title)s” noted: did not help", { title: article.title }));
        buttons.forEach((b) => { b.disabled = false; });
      }
    } catch (error) {
      buttons.forEach((b) => { b.disabled = false; });
      say($("article-state"), t("Error: %(message)s", { message: error.message }));
    }
  }

  // -- a new pop ----------------------------------------------------------------------------------------------

  async function popped(pop) {
    sofort.pop = pop;
    stopClock();
    $("first-level").hidden = true;
    $("first-level-bar").hidden = false;
    $("article-list").replaceChildren();
    say($("article-state"), "");
    suggest(pop.ticket.category ? pop.ticket.category.id : "");
    try {
      const state = await api(ticketPath("/article"));
      if (sofort.pop !== pop) return;  // another call popped meanwhile
      sofort.group = state.handover_group;
      showBudget(state.first_level);
      const solved = state.articles.find((used) => used.solved);
      if (solved) say($("article-state"), t("Solved with “%(title)s”", { title: solved.title }));
    } catch (error) {
      say($("first-level-text"), t("Error: %(message)s", { message: error.message }));
    }
  }

  document.addEventListener("uhd:pop", (event) => popped(event.detail));
  $("category").addEventListener("change", () => { if (sofort.pop) suggest($("category").value); });
  $("handover").addEventListener("click", handOver);
})();
