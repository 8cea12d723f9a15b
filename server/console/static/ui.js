// Small DOM and formatting helpers shared by the console's pages.

// h builds an element: h("button", {type: "button", onclick: f}, "Text").
// Attributes starting with "on" are listeners; "class", "hidden" and
// "disabled" behave as expected; children may be strings, nodes, arrays
// or null.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

export const $ = (id) => document.getElementById(id);

// when formats a time for people; "" for none.
export function when(t) {
  if (!t) return "";
  const d = new Date(t);
  if (isNaN(d) || d.getFullYear() < 2000) return "never";
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

// ago says how long ago t was, roughly.
export function ago(t) {
  const d = new Date(t);
  if (!t || isNaN(d) || d.getFullYear() < 2000) return "never";
  const s = Math.round((Date.now() - d) / 1000);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return when(t);
}

// duration formats seconds as 1 h 02 min, 3 min 05 s or 42 s.
// clock formats seconds as m:ss, or h:mm:ss from an hour on.
export function clock(s) {
  s = Math.max(0, Math.floor(s));
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

export function duration(s) {
  s = Math.max(0, Math.round(s));
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  if (hh) return `${hh} h ${String(mm).padStart(2, "0")} min`;
  if (mm) return `${mm} min ${String(ss).padStart(2, "0")} s`;
  return `${ss} s`;
}

export const modeNames = { active: "Active", guidance: "Guidance", monitor: "Monitor", chat: "Chat", file: "File transfer" };
export const toolNames = { terminal: "Terminal", "terminal.system": "Root terminal", processes: "Processes", services: "Services", "files.user": "Files", "files.system": "Root files" };

// sessionKind names what a session is: its support tool, or its mode.
export function sessionKind(s) {
  if (s.tool) return toolNames[s.tool] || s.tool;
  return modeNames[s.mode] || s.mode;
}
export const stateNames = { requested: "Deploying", awaiting_acceptance: "Waiting for the user", connecting: "Connecting", active: "Active", ended: "Ended" };
export const reasonNames = {
  ended_by_technician: "Ended by technician", ended_by_user: "Ended by user", declined: "Declined by user",
  acceptance_timeout: "User did not answer", code_expired: "Code expired", agent_offline: "Endpoint offline", error: "Error",
  user_changed: "User changed", connection_lost: "Connection lost",
};

// reasonSentences say why a session ended, as a sentence's end ("ended: …").
export const reasonSentences = {
  ended_by_technician: "ended by a technician",
  ended_by_user: "ended by the user at the endpoint",
  declined: "the user declined",
  acceptance_timeout: "the user did not answer in time",
  code_expired: "the connection code expired",
  agent_offline: "the endpoint went offline",
  error: "an error occurred",
  user_changed: "another user (or the login screen) took over the endpoint's screen; start a new session to ask them",
  connection_lost: "the endpoint's connection to the server was lost for more than a minute",
};

// table builds a scrollable table; rows are arrays of cells (strings or nodes).
export function table(id, headers, rows, opts = {}) {
  return h("div", { class: "table-wrap" },
    h("table", { id },
      opts.caption ? h("caption", { class: "visually-hidden" }, opts.caption) : null,
      h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, rows)));
}

// empty is a clear empty state.
export function empty(title, text) {
  return h("div", { class: "empty", role: "status" }, h("p", { class: "empty-title" }, title), text ? h("p", {}, text) : null);
}

// openViewer opens the viewer of a session in a new tab; false when the
// browser blocked it.
export function openViewer(id) {
  const w = window.open("/view/" + encodeURIComponent(id), "_blank");
  if (!w) return false;
  try { w.opener = null; } catch (_) { /* cross-origin already */ }
  return true;
}

// notice shows a message in the page's live region.
export function notice(el, text, kind = "error") {
  el.textContent = text || "";
  el.className = "notice " + (text ? kind : "");
  el.hidden = !text;
}
