// Progressive enhancement only: every page works without this file (and without JavaScript).
// 1. A "Show password" button after each password field that names its labels in
//    data-show / data-hide (the page's language).
// 2. A form marked data-once is sent once: a second submit (a double click) is dropped and its
//    buttons are disabled while the answer comes (no two link sessions at NOX).
"use strict";

for (const input of document.querySelectorAll("input[type=password][data-show]")) {
  const toggle = document.createElement("button");
  toggle.type = "button";
  toggle.className = "toggle-password";
  toggle.textContent = input.dataset.show;
  toggle.setAttribute("aria-controls", input.id);
  toggle.setAttribute("aria-pressed", "false");
  toggle.addEventListener("click", () => {
    const shown = input.type === "password";
    input.type = shown ? "text" : "password";
    toggle.textContent = shown ? input.dataset.hide : input.dataset.show;
    toggle.setAttribute("aria-pressed", String(shown));
    input.focus();
  });
  input.insertAdjacentElement("afterend", toggle);
}

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-once")) return;
  if (form.dataset.sent) {
    event.preventDefault();
    return;
  }
  form.dataset.sent = "1";
  // After this task: a button disabled now would drop its own name/value from the form.
  setTimeout(() => {
    for (const button of form.querySelectorAll("button")) button.disabled = true;
  }, 0);
});

// Back to a page kept in the browser's cache: its forms may be sent again.
window.addEventListener("pageshow", (event) => {
  if (!event.persisted) return;
  for (const form of document.querySelectorAll("form[data-once]")) {
    delete form.dataset.sent;
    for (const button of form.querySelectorAll("button")) button.disabled = false;
  }
});
