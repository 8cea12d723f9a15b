// Tether console: the shell (sign-in, navigation, hash routing). Pages
// live in their own modules and use only the JSON API.
import { api, setCSRF, onSignInExpired, ApiError } from "./api.js";
import { h, $, notice } from "./ui.js";
import { endpointsPage, endpointPage } from "./endpoints.js";
import { sessionsPage } from "./sessions.js";
import { auditPage } from "./audit.js";
import { settingsPage } from "./settings.js";
import { notificationsPage } from "./notifications.js";

// The signed-in user, with can(permission).
let me = null;
// cleanup stops the current page's timers.
let cleanup = null;

const anyOf = (...ps) => (m) => ps.some((p) => m.can(p));

// Pages in the navigation, in order, with what a user needs to see them.
const pages = [
  { path: "endpoints", label: "Endpoints", allowed: anyOf("endpoints.view") },
  { path: "sessions", label: "Screen Share Sessions", allowed: anyOf("screenshare.start", "screenshare.sessions") },
  { path: "notifications", label: "Notifications", allowed: anyOf("notifications.read", "notifications.manage", "notifications.send", "notifications.approve") },
  { path: "audit", label: "Audit Log", allowed: anyOf("audit.read") },
  { path: "settings", label: "Settings", allowed: anyOf("users.manage", "roles.manage", "tokens.manage", "groups.manage", "screenshare.settings", "settings.manage") },
];

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] || "", rest: parts.slice(1) };
}

function render() {
  if (!me) return;
  if (cleanup) { cleanup(); cleanup = null; }
  const r = route();
  const allowed = pages.filter((p) => p.allowed(me));
  let page = pages.find((p) => p.path === r.page);
  if (!page) {
    if (!allowed.length) return show(h("section", {}, h("h1", {}, "Nothing to show"),
      h("p", {}, "Your account has no role that uses this console. Ask an administrator for a role.")));
    location.replace("#/" + allowed[0].path);
    return;
  }
  for (const a of $("nav").querySelectorAll("a")) {
    if (a.dataset.page === page.path) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (!page.allowed(me)) {
    return show(h("section", { id: "denied" }, h("h1", {}, page.label),
      h("p", { class: "notice error" }, "Permission denied: your roles do not include this page.")));
  }
  const ctx = { me, rest: r.rest, show, setCleanup: (f) => { cleanup = f; } };
  const fn = { endpoints: r.rest.length ? endpointPage : endpointsPage, sessions: sessionsPage, audit: auditPage, settings: settingsPage, notifications: notificationsPage }[page.path];
  fn(ctx);
  document.title = `${page.label} — Tether`;
}

// show replaces the page content.
function show(node) {
  $("app").replaceChildren(node);
}

function signedIn(data) {
  setCSRF(data.csrf_token);
  const perms = new Set(data.permissions || []);
  me = { ...data, can: (p) => perms.has(p) };
  $("signin").hidden = true;
  $("app").hidden = false;
  $("signout").hidden = false;
  $("who").textContent = data.name;
  $("who").title = (data.roles || []).join(", ");
  const nav = $("nav");
  nav.replaceChildren(...pages.filter((p) => p.allowed(me)).map((p) => h("a", { href: "#/" + p.path, "data-page": p.path }, p.label)));
  nav.hidden = false;
  render();
}

function signedOut(message, kind = "info") {
  if (cleanup) { cleanup(); cleanup = null; }
  me = null;
  setCSRF("");
  $("app").replaceChildren();
  $("app").hidden = true;
  $("nav").hidden = true;
  $("nav").replaceChildren();
  $("who").textContent = "";
  $("signout").hidden = true;
  $("signin").hidden = false;
  notice($("signin-error"), message || "", kind);
  document.title = "Sign in — Tether";
  $("name").focus();
}

onSignInExpired(() => { if (me) signedOut("Your sign-in has expired. Please sign in again.", "error"); });

$("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const name = $("name").value.trim(), password = $("password").value;
  if (!name || !password) return notice($("signin-error"), "Enter your name and password.");
  const btn = ev.submitter || $("signin-form").querySelector("button");
  btn.disabled = true;
  try {
    const data = await api("POST", "/api/v1/login", { name, password });
    $("password").value = "";
    notice($("signin-error"), "");
    signedIn(data);
  } catch (e) {
    let msg = e.message;
    if (e instanceof ApiError) {
      if (e.status === 401) msg = "Wrong name or password.";
      else if (e.status === 429) {
        const min = Math.max(1, Math.ceil((e.retryAfter || 60) / 60));
        msg = `Too many failed sign-in attempts. Try again in ${min} minute${min === 1 ? "" : "s"}.`;
      }
    }
    notice($("signin-error"), msg);
    $("password").select();
  } finally {
    btn.disabled = false;
  }
});

$("signout").addEventListener("click", async () => {
  await api("POST", "/api/v1/logout", {}).catch(() => {});
  signedOut("You have signed out.");
});

// A new page takes the focus unless it put it somewhere itself (a search box).
window.addEventListener("hashchange", () => {
  render();
  if (!$("app").contains(document.activeElement)) $("app").focus({ preventScroll: true });
});

api("GET", "/api/v1/me").then(signedIn, () => signedOut());
