"use strict";

// the page to go back to after the login: a path of this site only, else null (the role's start page).
// Parsed as the browser will, not matched as text: the URL parser drops tabs and line breaks and reads a
// backslash as "/", so "/<TAB>/evil.example" would be "//evil.example"
// (the server checks the same: web/pages.py safe_next)
function safeNext(next) {
  if (typeof next !== "string" || !next.startsWith("/") || next.startsWith("//")) return null;
  if (/[\u0000-\u0020\u007f-\u009f\\]/.test(next)) return null;
  let url;
  try {
    url = new URL(next, window.location.origin);
  } catch {
    return null;
  }
  // "/.//evil.example" parses to the path "//evil.example": a host again once assigned
  if (url.origin !== window.location.origin || url.pathname.startsWith("//")) return null;
  return url.pathname + url.search + url.hash;
}

document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("login-error");
  error.hidden = true;
  const response = await fetch("/api/login", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({
      username: document.getElementById("username").value,
      password: document.getElementById("password").value,
    }),
  });
  if (response.ok) {
    // back to the page that sent us here (a path of this site only), else the role's start page
    const body = await response.json().catch(() => ({}));
    const next = new URLSearchParams(window.location.search).get("next") || "";
    const homes = { manager: "/kpis", dpo: "/privacy" };  // the data-protection officer has no other page
    const home = homes[(body.account || {}).role] || "/console";
    const target = safeNext(next) || home;
    if ((body.account || {}).confidentiality_acknowledged === false) {
      // the § 203 StGB obligation first (security/confidentiality.py), then where the login was going
      window.location.assign("/confidentiality?next=" + encodeURIComponent(target));
    } else {
      window.location.assign(target);
    }
  } else {
    const body = await response.json().catch(() => ({}));
    await i18n.ready;
    error.textContent = i18n.errorText(body, i18n.t("Login failed"));
    error.hidden = false;
  }
});
