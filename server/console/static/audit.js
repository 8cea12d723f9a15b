// Audit Log: Screen Share Sessions (history with filters and CSV export)
// and Other events (sign-ins, users, roles, policies, tokens).
import { api, describe } from "./api.js";
import { h, when, duration, notice, empty, reasonNames, stateNames, sessionKind } from "./ui.js";

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
      h("thead", {}, h("tr", {}, ["Technician", "Endpoint", "Mode or tool", "Attended", "Start", "End", "Duration", "End reason", "Joined", "Control hand-offs", "Recording"]
        .map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, list.map((s) => h("tr", { "data-id": s.id },
        h("td", {}, s.technician),
        h("td", {}, h("a", { href: "#/endpoints/" + encodeURIComponent(s.endpoint_id) }, s.hostname || s.endpoint_id)),
        h("td", {}, sessionKind(s)),
        h("td", {}, s.attended ? "Yes" : "No"),
        h("td", {}, when(s.created)),
        h("td", {}, s.ended ? when(s.ended) : h("span", { class: "state state-" + s.state }, stateNames[s.state] || s.state)),
        h("td", {}, s.ended ? duration(s.duration_s) : "—"),
        h("td", {}, reasonNames[s.reason] || s.reason || "—"),
        h("td", {}, s.joined.join(", ") || "—"),
        h("td", {}, s.control.length ? h("ul", { class: "plain" }, s.control.map((c) =>
          h("li", {}, `${new Date(c.time).toLocaleTimeString()} ${c.op} by ${c.by}: ${c.from || "nobody"} → ${c.to || "nobody"}`))) : "—"),
        // The player opens in its own tab: /play/{id}.
        h("td", {}, s.recorded ? h("a", { class: "play", href: "/play/" + encodeURIComponent(s.id), target: "_blank", rel: "noopener",
          "aria-label": `Play the recording of ${s.hostname || s.endpoint_id}, ${when(s.created)}` }, "Play")
          : s.transcript ? h("a", { class: "transcript", href: "/api/v1/sessions/" + encodeURIComponent(s.id) + "/transcript", download: "",
            "aria-label": `Download the terminal transcript of ${s.hostname || s.endpoint_id}, ${when(s.created)}` }, "Transcript") : "—")))))));
  }
  load();
}

// Event types in words; others are shown as they are.
const eventNames = {
  "login": "Signed in", "login.failed": "Sign-in failed", "logout": "Signed out",
  "user.created": "User created", "user.roles": "Roles changed", "user.bootstrap": "First administrator created",
  "user.changed": "User changed", "user.disabled": "User disabled", "user.enabled": "User enabled",
  "user.password_reset": "Password reset", "user.deleted": "User deleted",
  "role.created": "Role created", "role.changed": "Role changed", "role.deleted": "Role deleted",
  "apitoken.created": "API token created", "apitoken.deleted": "API token deleted", "policy.changed": "Policy changed",
  "agent.revoked": "Endpoint revoked", "agent.reenrolled": "Endpoint re-enrolled", "agent.groups": "Endpoint groups changed",
  "enrollment_token.created": "Enrollment token created", "enrollment_token.revoked": "Enrollment token revoked",
  "group.created": "Computer group created", "group.changed": "Computer group changed", "group.deleted": "Computer group deleted",
  "agent.enrolled": "Endpoint enrolled", "action.queued": "Action queued",
  "code.issued": "Connection code issued", "code.extended": "Connection code extended", "code.cancelled": "Connection code cancelled",
  "code.used": "Connection code used", "code.failed": "Wrong connection code", "code.throttled": "Connection code entry throttled",
  "recording.downloaded": "Recording played or downloaded", "recording.deleted": "Recording deleted (retention)",
  "session.transcript": "Terminal transcript stored", "transcript.read": "Terminal transcript read",
  "tool.action": "Support tool action (process ended, service started or stopped)",
};

// Choices of the event-type filter: a family (prefix*) or one type.
const eventFamilies = [
  ["login*", "Sign-ins (all)"], ["user.*", "Users (all)"], ["role.*", "Roles (all)"], ["group.*", "Computer groups (all)"],
  ["agent.*", "Endpoints (all)"], ["enrollment_token.*", "Enrollment tokens (all)"], ["code.*", "Connection codes (all)"],
  ["policy.changed", "Policy changed"], ["apitoken.*", "API tokens (all)"], ["action.queued", "Action queued"],
  ["recording.*", "Recordings (all)"], ["transcript.read", "Terminal transcript read"], ["tool.action", "Support tool actions"],
];

// Filters of the other-events tab survive moving between tabs.
const evFilters = { actor: "", type: "", from: "", to: "" };

function evQuery() {
  const p = new URLSearchParams();
  if (evFilters.actor.trim()) p.set("actor", evFilters.actor.trim());
  if (evFilters.type) p.set("type", evFilters.type);
  if (evFilters.from) p.set("since", new Date(evFilters.from + "T00:00:00").toISOString());
  if (evFilters.to) {
    const d = new Date(evFilters.to + "T00:00:00");
    d.setDate(d.getDate() + 1);
    p.set("until", d.toISOString());
  }
  return p.toString();
}

function eventsTab(ctx) {
  const err = h("p", { id: "ev-error", class: "notice", role: "alert", hidden: true });
  const count = h("p", { id: "ev-count", class: "hint", role: "status" });
  const out = h("div", {});
  const field = (key, label, type = "text") => h("div", { class: "field" }, h("label", { for: "ev-" + key }, label),
    h("input", { id: "ev-" + key, type, value: evFilters[key], oninput: (ev) => { evFilters[key] = ev.target.value; } }));
  const typeSel = h("select", { id: "ev-type", onchange: (ev) => { evFilters.type = ev.target.value; } },
    h("option", { value: "" }, "Any event"),
    h("optgroup", { label: "Families" }, eventFamilies.map(([v, t]) => h("option", { value: v, selected: evFilters.type === v }, t))),
    h("optgroup", { label: "One event type" }, Object.entries(eventNames).filter(([k]) => !eventFamilies.some(([v]) => v === k))
      .map(([k, t]) => h("option", { value: k, selected: evFilters.type === k }, t))));
  const form = h("form", { class: "filters", id: "ev-filters", onsubmit: (ev) => { ev.preventDefault(); load(); } },
    field("actor", "Who"), h("div", { class: "field" }, h("label", { for: "ev-type" }, "Event"), typeSel),
    field("from", "From", "date"), field("to", "To", "date"),
    h("div", { class: "field buttons" }, h("button", { type: "submit", class: "primary" }, "Apply"),
      h("button", { type: "button", onclick: () => { Object.keys(evFilters).forEach((k) => { evFilters[k] = ""; }); eventsTab(ctx); } }, "Clear")));
  ctx.show(h("section", { id: "audit", "aria-labelledby": "au-title" },
    h("h1", { id: "au-title" }, "Audit Log"), tabs("events"), form, err, count, out));

  let seq = 0;
  async function load() {
    const my = ++seq;
    const qs = evQuery();
    let data;
    try {
      data = await api("GET", "/api/v1/audit?limit=1000" + (qs ? "&" + qs : ""));
    } catch (e) {
      if (my === seq) notice(err, describe(e, "read the audit log"));
      return;
    }
    if (my !== seq) return;
    notice(err, "");
    // Session events have their own tab.
    const list = data.records.filter((r) => !r.type.startsWith("session."));
    count.textContent = list.length ? `${list.length} event${list.length === 1 ? "" : "s"}${list.length >= 1000 ? " (the newest 1000)" : ""}` : "";
    if (!list.length) {
      return out.replaceChildren(qs ? empty("No events match these filters.", "Clear the filters or widen the dates.") : empty("No events yet."));
    }
    out.replaceChildren(h("div", { class: "table-wrap" }, h("table", { id: "ev-table" },
      h("thead", {}, h("tr", {}, ["Time", "Who", "Event", "Details"].map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, list.map((r) => h("tr", { "data-type": r.type },
        h("td", {}, when(r.time)), h("td", {}, r.actor), h("td", { title: r.type }, eventNames[r.type] || r.type),
        h("td", { class: "details" }, r.details ? Object.entries(r.details).map(([k, v]) => `${k}: ${v}`).join(", ") : "")))))));
  }
  load();
}
