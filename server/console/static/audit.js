// Audit Log: Screen Share Sessions (history with filters and CSV export)
// and Other events (sign-ins, users, roles, policies, tokens).
import { api, describe } from "./api.js";
import { h, when, duration, notice, empty, modeNames, reasonNames, stateNames } from "./ui.js";

// Filters survive moving between tabs.
const filters = { technician: "", endpoint: "", from: "", to: "" };

function query() {
  const p = new URLSearchParams();
  if (filters.technician.trim()) p.set("technician", filters.technician.trim());
  if (filters.endpoint.trim()) p.set("endpoint", filters.endpoint.trim());
  // Dates are the technician's local days; "to" includes its whole day.
  if (filters.from) p.set("since", new Date(filters.from + "T00:00:00").toISOString());
  if (filters.to) {
    const d = new Date(filters.to + "T00:00:00");
    d.setDate(d.getDate() + 1);
    p.set("until", d.toISOString());
  }
  return p.toString();
}

function tabs(current) {
  return h("nav", { class: "tabs", "aria-label": "Audit log" },
    h("a", { href: "#/audit", id: "tab-sessions", "aria-current": current === "sessions" ? "page" : null }, "Screen Share Sessions"),
    h("a", { href: "#/audit/events", id: "tab-events", "aria-current": current === "events" ? "page" : null }, "Other events"));
}

export function auditPage(ctx) {
  if (ctx.rest[0] === "events") return eventsTab(ctx);
  return sessionsTab(ctx);
}

function sessionsTab(ctx) {
  const err = h("p", { id: "au-error", class: "notice", role: "alert", hidden: true });
  const count = h("p", { id: "au-count", class: "hint", role: "status" });
  const field = (key, label, type = "text") => {
    const input = h("input", { id: "au-" + key, type, value: filters[key], oninput: (ev) => { filters[key] = ev.target.value; } });
    return h("div", { class: "field" }, h("label", { for: "au-" + key }, label), input);
  };
  const csv = h("a", { id: "au-csv", class: "button", href: "/api/v1/audit/sessions.csv", download: "" }, "Export CSV");
  const form = h("form", { class: "filters", id: "au-filters", onsubmit: (ev) => { ev.preventDefault(); load(); } },
    field("technician", "Technician"), field("endpoint", "Endpoint"), field("from", "From", "date"), field("to", "To", "date"),
    h("div", { class: "field buttons" }, h("button", { type: "submit", class: "primary" }, "Apply"),
      h("button", { type: "button", onclick: () => { Object.keys(filters).forEach((k) => { filters[k] = ""; }); sessionsTab(ctx); } }, "Clear"), csv));
  const out = h("div", {});
  ctx.show(h("section", { id: "audit", "aria-labelledby": "au-title" },
    h("h1", { id: "au-title" }, "Audit Log"), tabs("sessions"), form, err, count, out));

  let seq = 0;
  async function load() {
    const my = ++seq;
    const qs = query();
    csv.href = "/api/v1/audit/sessions.csv" + (qs ? "?" + qs : "");
    let data;
    try {
      data = await api("GET", "/api/v1/audit/sessions" + (qs ? "?" + qs : ""));
    } catch (e) {
      if (my === seq) notice(err, describe(e, "read the session history"));
      return;
    }
    if (my !== seq) return;
    notice(err, "");
    const list = data.sessions;
    count.textContent = list.length ? `${list.length} session${list.length === 1 ? "" : "s"}` : "";
    if (!list.length) {
      out.replaceChildren(empty(qs ? "No screen share sessions match these filters." : "No screen share sessions yet.",
        qs ? "Clear the filters or widen the dates." : "Sessions appear here once a technician starts one."));
      return;
    }
    out.replaceChildren(h("div", { class: "table-wrap" }, h("table", { id: "au-table" },
      h("thead", {}, h("tr", {}, ["Technician", "Endpoint", "Mode", "Attended", "Start", "End", "Duration", "End reason", "Joined", "Control hand-offs"]
        .map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, list.map((s) => h("tr", { "data-id": s.id },
        h("td", {}, s.technician),
        h("td", {}, h("a", { href: "#/endpoints/" + encodeURIComponent(s.endpoint_id) }, s.hostname || s.endpoint_id)),
        h("td", {}, modeNames[s.mode] || s.mode),
        h("td", {}, s.attended ? "Yes" : "No"),
        h("td", {}, when(s.created)),
        h("td", {}, s.ended ? when(s.ended) : h("span", { class: "state state-" + s.state }, stateNames[s.state] || s.state)),
        h("td", {}, s.ended ? duration(s.duration_s) : "—"),
        h("td", {}, reasonNames[s.reason] || s.reason || "—"),
        h("td", {}, s.joined.join(", ") || "—"),
        h("td", {}, s.control.length ? h("ul", { class: "plain" }, s.control.map((c) =>
          h("li", {}, `${new Date(c.time).toLocaleTimeString()} ${c.op} by ${c.by}: ${c.from || "nobody"} → ${c.to || "nobody"}`))) : "—")))))));
  }
  load();
}

// Event types in words; others are shown as they are.
const eventNames = {
  "login": "Signed in", "login.failed": "Sign-in failed", "logout": "Signed out",
  "user.created": "User created", "user.roles": "Roles changed", "user.bootstrap": "First administrator created",
  "apitoken.created": "API token created", "apitoken.deleted": "API token deleted", "policy.changed": "Policy changed",
  "agent.revoked": "Endpoint revoked", "agent.reenrolled": "Endpoint re-enrolled",
  "enrollment_token.created": "Enrollment token created", "enrollment_token.revoked": "Enrollment token revoked",
  "group.created": "Computer group created", "agent.enrolled": "Endpoint enrolled", "action.queued": "Action queued",
};

function eventsTab(ctx) {
  const err = h("p", { id: "ev-error", class: "notice", role: "alert", hidden: true });
  const out = h("div", {});
  ctx.show(h("section", { id: "audit", "aria-labelledby": "au-title" },
    h("h1", { id: "au-title" }, "Audit Log"), tabs("events"), err, out));
  api("GET", "/api/v1/audit?limit=1000").then((data) => {
    const list = data.records.filter((r) => !r.type.startsWith("session."));
    if (!list.length) return out.replaceChildren(empty("No events yet."));
    out.replaceChildren(h("div", { class: "table-wrap" }, h("table", { id: "ev-table" },
      h("thead", {}, h("tr", {}, ["Time", "Who", "Event", "Details"].map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, list.map((r) => h("tr", {},
        h("td", {}, when(r.time)), h("td", {}, r.actor), h("td", {}, eventNames[r.type] || r.type),
        h("td", { class: "details" }, r.details ? Object.entries(r.details).map(([k, v]) => `${k}: ${v}`).join(", ") : "")))))));
  }, (e) => notice(err, describe(e, "read the audit log")));
}
