// Notifications: end-user notifications — the list with statuses, compose
// with a live preview drawn as the endpoint draws it, the approval queue,
// and each notification's report (counts, responses chart, endpoints,
// CSV). Every text is set as text: nothing composed is ever markup here.
import { api, describe } from "./api.js";
import { h, when, notice, empty, table } from "./ui.js";

export const statusNames = {
  draft: "Draft", pending_approval: "Pending approval", rejected: "Rejected", approved: "Approved", scheduled: "Scheduled",
  delivering: "Delivering", completed: "Completed", expired: "Expired", cancelled: "Cancelled",
};
const endpointStatusNames = {
  pending: "Pending", not_delivered: "Not delivered", delivered: "Delivered", shown: "Shown", postponed: "Postponed",
  responded: "Responded", dismissed: "Dismissed", expired: "Expired", failed: "Failed", cancelled: "Withdrawn",
};
const accents = { info: "#1d4ed8", warning: "#b45309", critical: "#b91c1c" };

export function notificationsPage(ctx) {
  const [first, second] = ctx.rest;
  if (first === "new") return composePage(ctx, null);
  if (first && second === "edit") return composePage(ctx, first);
  if (first) return detailPage(ctx, first);
  return listPage(ctx);
}

function listPage(ctx) {
  const err = h("p", { id: "nt-error", class: "notice", role: "alert", hidden: true });
  const filter = h("select", { id: "nt-status", onchange: () => load() },
    h("option", { value: "" }, "Any status"), Object.entries(statusNames).map(([k, v]) => h("option", { value: k }, v)));
  const out = h("div", {});
  const canWrite = ctx.me.can("notifications.manage");
  ctx.show(h("section", { id: "notifications", "aria-labelledby": "nt-title" },
    h("h1", { id: "nt-title" }, "Notifications"),
    h("div", { class: "buttons" },
      canWrite ? h("a", { class: "button primary", id: "nt-new", href: "#/notifications/new" }, "New notification") : null,
      ctx.me.can("notifications.approve") ? h("button", { type: "button", id: "nt-queue", onclick: () => { filter.value = "pending_approval"; load(); } }, "Approval queue") : null,
      h("label", { for: "nt-status" }, "Status"), filter),
    err, out));
  async function load() {
    let data;
    try {
      data = await api("GET", "/api/v1/notifications" + (filter.value ? "?status=" + encodeURIComponent(filter.value) : ""));
    } catch (e) {
      return notice(err, describe(e, "list notifications"));
    }
    notice(err, "");
    const ns = data.notifications || [];
    if (!ns.length) return out.replaceChildren(empty("No notifications", canWrite ? "Compose one with New notification." : ""));
    out.replaceChildren(table("nt-table", ["Title", "Status", "Targets", "Author", "Updated", ""], ns.map((n) =>
      h("tr", { "data-id": n.id },
        h("td", {}, h("a", { href: "#/notifications/" + encodeURIComponent(n.id) }, n.title)),
        h("td", { class: "nt-st" }, statusNames[n.status] || n.status),
        h("td", {}, (n.group_names || []).join(", ")),
        h("td", {}, n.author),
        h("td", {}, when(n.updated)),
        h("td", {}, n.may_approve ? h("a", { href: "#/notifications/" + encodeURIComponent(n.id) }, "Review") : "")))));
  }
  load();
}

// preview draws a notification as the endpoint's window does.
function preview(c, branding) {
  const accent = (branding && branding.accent) || accents[c.severity] || accents.info;
  // Colours through the CSSOM: the page's policy allows no style attributes.
  const tint = (el, bg, fg) => { el.style.background = bg; if (fg) el.style.color = fg; return el; };
  const buttons = (c.buttons || []).filter((b) => b.label).slice().reverse().map((b, i, all) =>
    i === all.length - 1 ? tint(h("span", { class: "np-btn" }, b.label), accent, "#fff") : h("span", { class: "np-btn" }, b.label));
  const d = c.deferral;
  return h("div", { class: "np", id: "nt-preview", "aria-label": "Preview" },
    tint(h("div", { class: "np-band" }), accent),
    h("div", { class: "np-body" },
      h("div", { class: "np-from" }, (branding && branding.name) || "IT notification"),
      h("div", { class: "np-title" }, c.title || "(title)"),
      h("div", { class: "np-msg" }, c.message || "(message)"),
      d && d.max_postpones > 0 ? h("div", { class: "np-post" }, "Remind me in ", h("span", { class: "np-sel" }, interval((d.intervals_s || [])[0] || 0)),
        h("span", { class: "np-btn np-postpone" }, "Postpone")) : null,
      h("div", { class: "np-buttons" }, buttons.length ? buttons : h("span", { class: "np-btn" }, "OK"))));
}

function interval(s) {
  if (s % 86400 === 0 && s) return `${s / 86400} day${s === 86400 ? "" : "s"}`;
  if (s % 3600 === 0 && s) return `${s / 3600} hour${s === 3600 ? "" : "s"}`;
  if (s % 60 === 0 && s) return `${s / 60} minute${s === 60 ? "" : "s"}`;
  return `${s} seconds`;
}

// localInput formats an ISO time for a datetime-local field.
function localInput(t) {
  if (!t) return "";
  const d = new Date(t);
  if (isNaN(d)) return "";
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

async function composePage(ctx, id) {
  const err = h("p", { id: "nc-error", class: "notice", role: "alert", hidden: true });
  let cur = null;
  let groups = [];
  try {
    groups = (await api("GET", "/api/v1/groups")).groups || [];
    if (id) cur = await api("GET", "/api/v1/notifications/" + encodeURIComponent(id));
  } catch (e) {
    return ctx.show(h("section", {}, h("h1", {}, "Notification"), h("p", { class: "notice error" }, describe(e, "open the notification"))));
  }
  const v = cur || { title: "", message: "", severity: "info", audience: "console", buttons: [], schedule: {}, targets: { groups: [] } };
  const field = (key, label, input) => h("div", { class: "field" }, h("label", { for: "nc-" + key }, label), input);
  const inp = (key, value, attrs = {}) => h("input", { id: "nc-" + key, value: value ?? "", oninput: redraw, ...attrs });
  const title = inp("title", v.title, { maxlength: 120, required: true });
  const message = h("textarea", { id: "nc-message", rows: 5, maxlength: 4000, oninput: redraw }, v.message || "");
  const severity = h("select", { id: "nc-severity", onchange: redraw }, ["info", "warning", "critical"].map((s) => h("option", { value: s, selected: v.severity === s }, s)));
  const audience = h("select", { id: "nc-audience" },
    h("option", { value: "console", selected: v.audience !== "all" }, "The active user"), h("option", { value: "all", selected: v.audience === "all" }, "Every logged-in user"));
  const btnRows = [0, 1, 2].map((i) => {
    const b = (v.buttons || [])[i] || {};
    return [inp("btn-label-" + i, b.label, { placeholder: "Label", maxlength: 40 }), inp("btn-value-" + i, b.value, { placeholder: "Response value", maxlength: 64 })];
  });
  const d = v.deferral || {};
  const postpones = inp("postpones", d.max_postpones || "", { type: "number", min: 0, max: 10 });
  const intervals = inp("intervals", (d.intervals_s || []).map((s) => s / 60).join(", "), { placeholder: "15, 60" });
  const deadline = inp("deadline", localInput(d.deadline), { type: "datetime-local" });
  const start = inp("start", v.schedule.start || "", { type: "datetime-local" });
  const local = h("input", { id: "nc-local", type: "checkbox", checked: !!v.schedule.local });
  const expires = inp("expires", localInput(v.schedule.expires), { type: "datetime-local" });
  const groupSel = h("select", { id: "nc-groups", multiple: true, size: Math.min(6, Math.max(2, groups.length)) },
    groups.map((g) => h("option", { value: g.id, selected: (v.targets.groups || []).includes(g.id) }, g.name)));
  const os = ["linux", "windows", "darwin"].map((o) => h("label", { class: "check" },
    h("input", { type: "checkbox", id: "nc-os-" + o, value: o, checked: (v.targets.os || []).includes(o) }), " " + o));
  const host = inp("host", v.targets.hostname, { placeholder: "ws-*" });
  const pv = h("div", {});
  function content() {
    const buttons = btnRows.map(([l, val]) => ({ label: l.value.trim(), value: val.value.trim() })).filter((b) => b.label || b.value);
    const n = Number(postpones.value) || 0;
    const ivs = intervals.value.split(/[ ,;]+/).filter(Boolean).map((x) => Math.round(Number(x) * 60));
    return {
      title: title.value, message: message.value, severity: severity.value, audience: audience.value, buttons,
      deferral: n > 0 ? { max_postpones: n, intervals_s: ivs, deadline: deadline.value ? new Date(deadline.value).toISOString() : undefined } : undefined,
    };
  }
  function redraw() { pv.replaceChildren(preview(content(), null)); }
  async function save(draft) {
    const body = {
      ...content(),
      schedule: { start: start.value || undefined, local: local.checked || undefined, expires: expires.value ? new Date(expires.value).toISOString() : undefined },
      targets: { groups: [...groupSel.selectedOptions].map((o) => o.value), os: os.map((l) => l.querySelector("input")).filter((c) => c.checked).map((c) => c.value), hostname: host.value.trim() || undefined },
      draft: draft || undefined,
    };
    // Start is a wall time (the endpoint's or UTC): sent as typed.
    if (!body.schedule.expires) delete body.schedule.expires;
    try {
      const n = cur ? await api("PUT", "/api/v1/notifications/" + encodeURIComponent(cur.id), { ...body, version: cur.version })
        : await api("POST", "/api/v1/notifications", body);
      location.hash = "#/notifications/" + encodeURIComponent(n.id);
    } catch (e) {
      notice(err, describe(e, "save the notification"));
    }
  }
  ctx.show(h("section", { id: "compose", "aria-labelledby": "nc-h" },
    h("h1", { id: "nc-h" }, cur ? "Change notification" : "New notification"),
    h("div", { class: "compose" },
      h("form", { id: "nc-form", onsubmit: (ev) => { ev.preventDefault(); save(false); } },
        field("title", "Title", title), field("message", "Message (plain text; https:// links become links)", message),
        field("severity", "Severity", severity), field("audience", "Shown to", audience),
        h("fieldset", {}, h("legend", {}, "Buttons (up to 3)"), btnRows.map((r) => h("div", { class: "row" }, r))),
        h("fieldset", {}, h("legend", {}, "Postpone"), field("postpones", "Times the user may postpone", postpones),
          field("intervals", "Intervals offered (minutes)", intervals), field("deadline", "Deadline (then no postpone)", deadline)),
        h("fieldset", {}, h("legend", {}, "Schedule"), field("start", "Start (empty: on approval)", start),
          h("label", { class: "check" }, local, " at this time on each endpoint's clock (else UTC)"), field("expires", "Expires", expires)),
        h("fieldset", {}, h("legend", {}, "Targets"), field("groups", "Computer groups", groupSel), h("div", { class: "row" }, os),
          field("host", "Hostname pattern", host)),
        err,
        h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", id: "nc-submit" }, "Submit for approval"),
          h("button", { type: "button", id: "nc-draft", onclick: () => save(true) }, "Save draft"),
          h("a", { class: "button", href: cur ? "#/notifications/" + encodeURIComponent(cur.id) : "#/notifications" }, "Cancel"))),
      h("div", {}, h("h2", {}, "Preview"), pv))));
  redraw();
}

async function detailPage(ctx, id) {
  const err = h("p", { id: "nd-error", class: "notice", role: "alert", hidden: true });
  const head = h("div", {});
  const rep = h("div", { id: "nd-report" });
  const filters = { status: "", response: "", host: "" };
  ctx.show(h("section", { id: "notification", "aria-labelledby": "nd-h" },
    h("p", {}, h("a", { href: "#/notifications" }, "← Notifications")), head, err, h("h2", {}, "Report"), rep));
  let n;
  async function act(path, body, what) {
    try {
      await api("POST", "/api/v1/notifications/" + encodeURIComponent(id) + path, body);
      notice(err, "");
      load();
    } catch (e) {
      notice(err, describe(e, what));
    }
  }
  function drawHead() {
    const reason = h("input", { id: "nd-reason", placeholder: "Reason (for a rejection)", maxlength: 500 });
    head.replaceChildren(
      h("h1", { id: "nd-h" }, n.title),
      h("p", {}, h("span", { id: "nd-status", class: "pill" }, statusNames[n.status] || n.status),
        ` · version ${n.version} · by ${n.author}` + (n.approved_by ? ` · approved (v${n.approved_version}) by ${n.approved_by}` : "") +
        (n.reason ? ` · ${n.reason}` : "")),
      h("p", { class: "hint" }, "Targets: " + (n.group_names || []).join(", ") +
        (n.targets.os && n.targets.os.length ? " · " + n.targets.os.join(", ") : "") + (n.targets.hostname ? " · " + n.targets.hostname : "") +
        " · starts " + (n.schedule.start ? n.schedule.start + (n.schedule.local ? " (endpoint time)" : " UTC") : "on approval") +
        " · expires " + when(n.schedule.expires)),
      preview(n, null),
      h("div", { class: "buttons" },
        n.may_approve ? h("button", { type: "button", class: "primary", id: "nd-approve", onclick: () => act("/approve", { version: n.version }, "approve it") }, "Approve") : null,
        n.may_approve ? reason : null,
        n.may_approve ? h("button", { type: "button", id: "nd-reject", onclick: () => act("/reject", { version: n.version, reason: reason.value }, "reject it") }, "Reject") : null,
        n.may_edit ? h("a", { class: "button", id: "nd-edit", href: "#/notifications/" + encodeURIComponent(id) + "/edit" }, "Change") : null,
        n.may_edit && (n.status === "draft" || n.status === "rejected") ? h("button", { type: "button", id: "nd-submit", onclick: () => act("/submit", { version: n.version }, "submit it") }, "Submit for approval") : null,
        (n.may_edit || n.may_send) && n.status !== "cancelled" ? h("button", { type: "button", id: "nd-cancel", onclick: () => act("/cancel", {}, "cancel it") }, "Cancel notification") : null),
      n.may_send ? sendForm() : null);
  }
  // sendForm sends the approved content again to other targets: a new
  // notification, which needs its own approval.
  function sendForm() {
    const groupSel = h("select", { id: "nd-send-groups", multiple: true, size: Math.min(6, Math.max(2, groups.length)) },
      groups.map((g) => h("option", { value: g.id }, g.name)));
    const expires = h("input", { id: "nd-send-expires", type: "datetime-local" });
    return h("details", { class: "card" }, h("summary", {}, "Send again to other targets"),
      h("form", { class: "filters", onsubmit: async (ev) => {
        ev.preventDefault();
        try {
          const sent = await api("POST", "/api/v1/notifications/" + encodeURIComponent(id) + "/send", {
            targets: { groups: [...groupSel.selectedOptions].map((o) => o.value) },
            schedule: expires.value ? { expires: new Date(expires.value).toISOString() } : {},
          });
          location.hash = "#/notifications/" + encodeURIComponent(sent.id);
        } catch (e) {
          notice(err, describe(e, "send it"));
        }
      } },
      h("div", { class: "field" }, h("label", { for: "nd-send-groups" }, "Computer groups"), groupSel),
      h("div", { class: "field" }, h("label", { for: "nd-send-expires" }, "Expires"), expires),
      h("div", { class: "field buttons" }, h("button", { type: "submit", class: "primary" }, "Send for approval"))));
  }
  function query() {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(filters)) if (v) p.set(k, v);
    const s = p.toString();
    return s ? "?" + s : "";
  }
  function drawReport(r) {
    const total = Math.max(1, r.targeted);
    const counts = Object.entries(r.statuses || {}).sort((a, b) => b[1] - a[1]);
    const resp = Object.entries(r.responses || {}).sort((a, b) => b[1] - a[1]);
    const max = Math.max(1, ...resp.map(([, c]) => c));
    const label = (v) => ((n.buttons || []).find((b) => b.value === v) || {}).label || v;
    const sel = (key, opts) => h("select", { id: "nd-f-" + key, onchange: (ev) => { filters[key] = ev.target.value; load(); } },
      h("option", { value: "" }, "Any"), opts.map(([v, t]) => h("option", { value: v, selected: filters[key] === v }, t)));
    rep.replaceChildren(
      h("p", { id: "nd-targeted" }, `${r.targeted} endpoint${r.targeted === 1 ? "" : "s"} targeted`),
      h("ul", { class: "counts", id: "nd-counts" }, counts.map(([k, c]) => h("li", { "data-status": k }, `${endpointStatusNames[k] || k}: ${c} (${Math.round(100 * c / total)} %)`))),
      h("div", { class: "chart", id: "nd-chart", role: "img", "aria-label": "Responses: " + resp.map(([k, c]) => `${label(k)} ${c}`).join(", ") },
        resp.length ? resp.map(([k, c]) => h("div", { class: "bar-row", "data-response": k },
          h("span", { class: "bar-label" }, label(k)), ((el) => { el.style.width = `${Math.round(100 * c / max)}%`; return el; })(h("span", { class: "bar" })), h("span", {}, String(c))))
          : h("p", { class: "hint" }, "No responses yet.")),
      h("form", { class: "filters", onsubmit: (ev) => { ev.preventDefault(); filters.host = hostIn.value.trim(); load(); } },
        h("div", { class: "field" }, h("label", { for: "nd-f-status" }, "Status"), sel("status", Object.entries(endpointStatusNames))),
        h("div", { class: "field" }, h("label", { for: "nd-f-response" }, "Response"), sel("response", (n.buttons || []).map((b) => [b.value, b.label]))),
        h("div", { class: "field" }, h("label", { for: "nd-f-host" }, "Endpoint"), hostIn),
        h("div", { class: "field buttons" }, h("button", { type: "submit" }, "Apply"),
          h("a", { class: "button", id: "nd-csv", href: "/api/v1/notifications/" + encodeURIComponent(id) + "/report.csv" + query(), download: "" }, "Export CSV"))),
      r.matching > r.endpoints.length ? h("p", { class: "hint", id: "nd-paged" },
        `Showing ${r.endpoints.length} of ${r.matching} endpoints: filter, or export the CSV for all of them.`) : null,
      r.endpoints.length ? table("nd-table", ["Endpoint", "Status", "Response", "Postponed", "Delivered", "Shown", "Answered", "Users"], r.endpoints.map((e) =>
        h("tr", { "data-id": e.endpoint_id },
          h("td", {}, e.hostname || e.endpoint_id), h("td", { class: "nd-st" }, endpointStatusNames[e.status] || e.status),
          h("td", { class: "nd-resp" }, e.response ? label(e.response) : ""), h("td", { class: "nd-post" }, String(e.postpones || 0)),
          h("td", {}, when(e.delivered)), h("td", {}, when(e.shown)), h("td", {}, when(e.answered)), h("td", {}, (e.users || []).join(", ")))))
        : empty("No endpoints", "None matches, or the notification is not approved yet."));
  }
  const hostIn = h("input", { id: "nd-f-host", value: filters.host });
  let groups = [];
  try {
    groups = (await api("GET", "/api/v1/groups")).groups || [];
  } catch (_) { /* the send form lists none */ }
  async function load() {
    try {
      n = await api("GET", "/api/v1/notifications/" + encodeURIComponent(id));
      const r = await api("GET", "/api/v1/notifications/" + encodeURIComponent(id) + "/report" + query());
      if (r.status) n.status = r.status; // the report knows when it is completed
      notice(err, "");
      if (!head.contains(document.activeElement)) drawHead();
      if (!rep.contains(document.activeElement)) drawReport(r);
    } catch (e) {
      notice(err, describe(e, "read the notification"));
    }
  }
  await load();
  const timer = setInterval(load, 3000);
  ctx.setCleanup(() => clearInterval(timer));
}
