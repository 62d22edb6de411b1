// The rating page (feedback/page.py). A link in the closure mail opens it with its score chosen; this script sends
// that form at once, a same-origin POST, so one click in the mail is all a person does. Mail link scanners fetch
// the page but run no script: they record nothing. Without a script the form's button sends it.
"use strict";

(function sendTheChosenRating() {
  const form = document.getElementById("rating");
  if (!form || form.dataset.auto !== "1" || !form.querySelector('input[name="score"]:checked')) {
    return;
  }
  const sending = document.getElementById("sending");
  if (sending) {
    sending.hidden = false;
  }
  form.dataset.auto = "sent"; // once: a back-and-forward cached page must not send it again
  if (typeof form.requestSubmit === "function") {
    form.requestSubmit();
  } else {
    form.submit();
  }
})();
