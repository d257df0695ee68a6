// The base UI: Bootstrap's behaviours, the language switch and a CSRF-aware fetch helper.
import "bootstrap/dist/css/bootstrap.min.css";
import "./app.css";
import * as bootstrap from "bootstrap";

import { reloadSaying, sayWhatWasDone } from "../shared/done-message.js";

window.bootstrap = bootstrap;

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

async function send(url, options) {
  const headers = { Accept: "application/json", "X-CSRFToken": csrfToken(), ...(options.headers || {}) };
  const response = await fetch(url, { credentials: "same-origin", ...options, headers });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = new Error(data?.error?.message || response.statusText);
    error.status = response.status;
    error.code = data?.error?.code;
    error.details = data?.error?.details || [];
    throw error;
  }
  return data;
}

// After signing in again in another tab the page's CSRF token is the old session's: the editors'
// next save failed with "reload the page", which threw away the diagram, rule or form being edited.
// The new session's token is fetched and the call sent once more.
async function renewCsrfToken() {
  const { csrf_token: token } = await send("/api/v1/session/csrf-token", {});
  document.querySelector('meta[name="csrf-token"]')?.setAttribute("content", token);
}

// fetch() for the UI's own API calls: sends the session's CSRF token and JSON.
window.crmFetch = async (url, options = {}) => {
  if (options.body && typeof options.body !== "string" && !(options.body instanceof FormData)) {
    options = { ...options, headers: { "Content-Type": "application/json", ...(options.headers || {}) },
                body: JSON.stringify(options.body) };
  }
  try {
    return await send(url, options);
  } catch (error) {
    if (error.code !== "csrf_failed") throw error;
    await renewCsrfToken();  // signed out for good: its own 401 says to sign in again
    return send(url, options);
  }
};

// Selects that apply at once (the language, a list's filter): chosen with the mouse they apply
// on change; with the keyboard an arrow key changes the value too, so there they wait for Enter
// or their form's button (ArrowDown on 语言 switched the whole interface to English).
const byKeyboard = new WeakSet();
document.addEventListener("keydown", (event) => {
  const select = event.target;
  if (!select.matches?.("select[data-autosubmit]")) return;
  if (event.key === "Enter" && byKeyboard.has(select)) {
    event.preventDefault();
    select.form.submit();
  } else if (event.key !== "Tab") {
    byKeyboard.add(select);
  }
});
document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-autosubmit]") && !byKeyboard.has(event.target)) event.target.form.submit();
});
// Not on leaving it: a keyboard user listening to the next option and tabbing on switched the
// whole interface to English (a change of context nobody asked for); Tab leads to the button.

// Forms (or the button that sends them) with data-confirm ask before submitting (delete buttons).
document.addEventListener("submit", (event) => {
  const message = event.submitter?.dataset?.confirm || event.target.dataset?.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});

// Navigation badges (open tasks, unread messages) refresh without a page reload.
const badges = document.querySelectorAll("[data-live-count]");
async function refreshBadges() {
  try {
    const counts = await window.crmFetch("/api/v1/live-counts");
    const shown = (badge, value) => {
      badge.textContent = value > 99 ? "99+" : String(value);
      badge.classList.toggle("d-none", value === 0);
    };
    badges.forEach((badge) => shown(badge, counts[badge.dataset.liveCount] || 0));
    const total = [...new Set([...badges].map((b) => b.dataset.liveCount))].reduce((sum, key) => sum + (counts[key] || 0), 0);
    document.querySelectorAll("[data-live-total]").forEach((badge) => shown(badge, total));
  } catch (error) {
    // Logged out or offline: leave the badges as they are.
  }
}
if (badges.length) {
  refreshBadges();
  setInterval(refreshBadges, 30000);
  document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && refreshBadges());
}

// Messages page: mark read on click, or all at once.
document.addEventListener("click", async (event) => {
  const one = event.target.closest("[data-mark-read]");
  if (one) window.crmFetch(one.dataset.markRead, { method: "POST" }).catch(() => {});
  const all = event.target.closest("[data-mark-all-read]");
  if (all) {
    await window.crmFetch(all.dataset.markAllRead, { method: "POST" });
    reloadSaying(all.dataset.done);
  }
});

// A record form's answers were saved on the request before: its draft (static/crm) can go.
const savedForm = document.querySelector('meta[name="saved-form"]')?.content;
if (savedForm) sessionStorage.removeItem(`crm-draft:${savedForm}`);

sayWhatWasDone();
