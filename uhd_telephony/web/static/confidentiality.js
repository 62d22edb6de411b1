"use strict";
// The confidentiality acknowledgement (§ 203 StGB): the text in German (binding) and English, one button.
// Recorded by POST /api/me/confidentiality with the text's version; then back to the page that sent us here.

// the page to go back to: a path of this site only (web/pages.py safe_next checked it before the redirect; the
// same check as login.js, for an address someone typed)
function nextPath(home) {
  const next = new URLSearchParams(window.location.search).get("next") || "";
  if (!next.startsWith("/") || next.startsWith("//") || /[\u0000-\u0020\u007f-\u009f\\]/.test(next)) return home;
  try {
    const url = new URL(next, window.location.origin);
    if (url.origin !== window.location.origin || url.pathname.startsWith("//")) return home;
    return url.pathname + url.search + url.hash;
  } catch {
    return home;
  }
}

function paragraphs(element, text) {
  element.replaceChildren(...text.split("\n\n").map((part, i) => {
    const node = document.createElement(i === 0 ? "h2" : "p");
    node.textContent = part;
    return node;
  }));
}

(async function () {
  const error = document.getElementById("confidentiality-error");
  const fail = (body) => {
    error.textContent = i18n.errorText(body, i18n.t("Something went wrong: please try again."));
    error.hidden = false;
  };
  await i18n.ready;
  const [me, doc] = await Promise.all([fetch("/api/me"), fetch("/api/me/confidentiality")]);
  if (me.status === 401) {
    window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname + window.location.search));
    return;
  }
  const account = ((await me.json().catch(() => ({}))).account) || {};
  const body = await doc.json().catch(() => ({}));
  if (!doc.ok) return fail(body);
  const home = account.role === "manager" ? "/kpis" : "/console";
  paragraphs(document.getElementById("confidentiality-de"), body.text.de);
  paragraphs(document.getElementById("confidentiality-en"), body.text.en);
  if (body.acknowledged) {
    const done = document.getElementById("confidentiality-done");
    done.textContent = i18n.t("Acknowledged on %(when)s", { when: i18n.dateTime(body.acknowledged_at) });
    done.hidden = false;
    document.getElementById("confidentiality-read").checked = true;
  }
  document.getElementById("confidentiality-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const response = await fetch("/api/me/confidentiality", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": account.csrf_token },
      body: JSON.stringify({ version: body.version }),
    });
    if (!response.ok) return fail(await response.json().catch(() => ({})));
    window.location.assign(nextPath(home));
  });
  document.getElementById("confidentiality-logout").addEventListener("click", async () => {
    await fetch("/api/logout", { method: "POST", headers: { "X-CSRF-Token": account.csrf_token } });
    window.location.assign("/login");
  });
})();
