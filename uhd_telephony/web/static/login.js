"use strict";
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
    const home = ((body.account || {}).role === "manager") ? "/kpis" : "/console";
    window.location.assign(/^\/(?![\/\\])/.test(next) ? next : home);
  } else {
    const body = await response.json().catch(() => ({}));
    error.textContent = body.message || "Anmeldung fehlgeschlagen";
    error.hidden = false;
  }
});
