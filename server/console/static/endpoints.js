// Endpoints: search as you type (computer name or IP), the endpoint page
// with its inventory, and the screen-share actions the user may take.
import { api, describe } from "./api.js";
import { h, $, ago, when, notice, openViewer, empty, stateNames, sessionKind } from "./ui.js";
import { openShareDialog } from "./sharedialog.js";
import { ToolTab } from "./tooltab.js";

// The search text survives moving between pages.
let lastQuery = "";

// liveSessions returns the active sessions the user may see, by endpoint
// id; empty when the user may not list sessions.
async function liveSessions(me) {
  const by = new Map();
  if (!me.can("screenshare.start") && !me.can("screenshare.sessions")) return by;
  const data = await api("GET", "/api/v1/sessions?state=active");
  for (const s of data.sessions) {
    if (!by.has(s.endpoint_id)) by.set(s.endpoint_id, []);
    by.get(s.endpoint_id).push(s);
  }
  return by;
}

// endSessions ends each session, reporting failures in words.
export async function endSessions(ids) {
  const errors = [];
  await Promise.all(ids.map((id) => api("POST", "/api/v1/sessions/" + encodeURIComponent(id) + "/end", {})
    .catch((e) => errors.push(describe(e, "end the screen share")))));
  return errors;
}

// shareButtons are the screen-share actions for one endpoint.
function shareButtons(me, ep, live, refresh, err) {
  const out = [];
  const label = (t) => `${t} with ${ep.hostname}`;
  if (live && live.length) {
    out.push(h("button", { type: "button", class: "join", "aria-label": label("Join Screen Share"),
      onclick: () => { for (const s of live) if (!openViewer(s.id)) notice(err, "The browser blocked the new tab: allow pop-ups for this console."); } }, "Join Screen Share"));
    out.push(h("button", { type: "button", class: "end danger", "aria-label": label("End Screen Share"),
      onclick: async (ev) => {
        ev.currentTarget.disabled = true;
        const errs = await endSessions(live.map((s) => s.id));
        notice(err, errs.join(" "));
        refresh();
      } }, "End Screen Share"));
  }
  if (me.can("screenshare.start")) {
    out.push(h("button", { type: "button", class: "share", disabled: !ep.online, title: ep.online ? "" : "The endpoint is offline",
      "aria-label": label("Open Screen Share"), onclick: () => openShareDialog(me, ep, refresh) }, "Open Screen Share"));
  }
  return out;
}

// The support tools, each a tab of the endpoint page shown with its
// permissions (the server checks them against the endpoint's groups).
const TOOLS = [
  ["terminal", ["tools.terminal"], "Terminal", "A shell on the endpoint as its logged-in user."],
  ["terminal.system", ["tools.terminal.system"], "Root Terminal", "A shell on the endpoint as root (SYSTEM on Windows)."],
  ["processes", ["tools.processes"], "Processes", "The endpoint's processes: list, sort, filter, end."],
  ["services", ["tools.services"], "Services", "The endpoint's services: start, stop, restart."],
  ["files.user", ["tools.files"], "Files", "The logged-in user's files: browse and download; with tools.files.write upload, rename and delete."],
  // All files, as root: as much as a root shell, so it needs that too.
  ["files.system", ["tools.files", "tools.terminal.system"], "Root Files", "Every file on the endpoint, as root (SYSTEM on Windows)."],
];

function stateCell(ep) {
  return h("span", { class: ep.online ? "online" : "offline" }, ep.online ? "● Online" : "○ Offline");
}

export function endpointsPage(ctx) {
  const { me } = ctx;
  const q = h("input", { id: "q", type: "search", placeholder: "e.g. desk-042 or 10.1.2", autocomplete: "off", value: lastQuery, "aria-describedby": "q-hint" });
  const err = h("p", { id: "ep-error", class: "notice", role: "alert", hidden: true });
  const rows = h("tbody", { id: "ep-rows" });
  const count = h("p", { id: "ep-count", class: "hint", role: "status" });
  const emptyBox = h("div", { id: "ep-empty", hidden: true });
  const tbl = h("div", { class: "table-wrap" }, h("table", { id: "ep-table" },
    h("thead", {}, h("tr", {}, ["Computer", "State", "IP addresses", "OS", "Logged-in user", "Last seen"].map((x) => h("th", { scope: "col" }, x)),
      h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))), rows));
  ctx.show(h("section", { id: "endpoints", "aria-labelledby": "ep-title" },
    h("h1", { id: "ep-title" }, "Endpoints"),
    h("label", { for: "q" }, "Search by computer name or IP address"),
    q, h("p", { id: "q-hint", class: "hint" }, "Results update as you type."),
    err, count, tbl, emptyBox));

  let seq = 0, stopped = false, timer, shown = "";
  async function search() {
    const my = ++seq;
    lastQuery = q.value;
    try {
      const [data, live] = await Promise.all([
        api("GET", "/api/v1/endpoints?q=" + encodeURIComponent(q.value.trim())),
        liveSessions(me).catch(() => new Map()),
      ]);
      if (my !== seq || stopped) return; // a newer search is under way
      notice(err, "");
      // Unchanged: the rows stay, and so do the focus and a click on
      // its way to a button.
      // (An online endpoint's last_seen moves with every poll and shows
      // as "now"; an offline one's "ago" wants a refresh each minute.)
      const sig = JSON.stringify([q.value.trim(), data.endpoints.map((ep) => ({ ...ep, last_seen: ep.online ? "" : ep.last_seen })),
        [...live.keys()].sort(), Math.floor(Date.now() / 60000)]);
      if (sig === shown) return;
      shown = sig;
      rows.replaceChildren(...data.endpoints.map((ep) => {
        const tr = h("tr", { "data-id": ep.id, "data-live": live.has(ep.id) ? "1" : null },
          h("th", { scope: "row" }, h("a", { href: "#/endpoints/" + encodeURIComponent(ep.id) }, ep.hostname)),
          h("td", {}, stateCell(ep)),
          h("td", { class: "ips" }, ep.ips.join(", ")),
          h("td", {}, `${ep.os} ${ep.os_version || ""}`.trim()),
          h("td", {}, ep.users.join(", ") || "—"),
          h("td", { title: when(ep.last_seen) }, ep.online ? "now" : ago(ep.last_seen)),
          h("td", { class: "actions" }, shareButtons(me, ep, live.get(ep.id), search, err)));
        return tr;
      }));
      tbl.hidden = data.endpoints.length === 0;
      count.textContent = data.endpoints.length ? `${data.endpoints.length} endpoint${data.endpoints.length === 1 ? "" : "s"}` : "";
      emptyBox.hidden = data.endpoints.length > 0;
      emptyBox.replaceChildren(q.value.trim()
        ? empty(`No endpoints match “${q.value.trim()}”.`, "Search by the start of an IP address or any part of a computer name.")
        : empty("No endpoints enrolled yet.", "Enroll one with tether-agent install --server URL --token TOKEN (Settings › Enrollment tokens has a ready command line)."));
    } catch (e) {
      if (my === seq && !stopped) notice(err, describe(e, "search endpoints"));
    }
  }
  q.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 150); });
  const poll = setInterval(search, 5000);
  ctx.setCleanup(() => { stopped = true; clearInterval(poll); clearTimeout(timer); });
  search();
  q.focus();
}

export async function endpointPage(ctx) {
  const { me } = ctx;
  const id = ctx.rest[0];
  const err = h("p", { id: "epd-error", class: "notice", role: "alert", hidden: true });
  const body = h("div", {}, h("p", { class: "hint" }, "Loading…"));
  const tablist = h("div", { class: "tabs", role: "tablist", "aria-label": "Endpoint", id: "epd-tabs", hidden: true });
  const overview = h("div", { role: "tabpanel", id: "epd-panel-overview", "aria-labelledby": "epd-tab-overview" }, body);
  const panels = h("div", {}, overview);
  ctx.show(h("section", { id: "endpoint", "aria-labelledby": "epd-title" },
    h("p", {}, h("a", { href: "#/endpoints" }, "‹ All endpoints")),
    h("h1", { id: "epd-title" }, "Endpoint"), err, tablist, panels));
  let stopped = false, shown = "";
  // Tool tabs live across reloads of the overview: a terminal keeps
  // running while the inventory refreshes.
  const tools = new Map();
  function tabs(ep) {
    const allowed = TOOLS.filter(([, ps]) => ps.every((p) => me.can(p)));
    if (!allowed.length || tablist.childElementCount) return;
    const tab = (key, text, title, panel) => h("button", { type: "button", role: "tab", id: `epd-tab-${key}`, "aria-controls": panel.id,
      "aria-selected": "false", tabindex: "-1", title, onclick: (ev) => select(ev.currentTarget) }, text);
    const all = [tab("overview", "Overview", "The endpoint's inventory and screen shares", overview)];
    for (const [tool, , text, title] of allowed) {
      const slug = tool.replace(".", "-");
      const t = new ToolTab(ep, { tool, text, title });
      tools.set(tool, t);
      const panel = h("div", { role: "tabpanel", id: `epd-panel-${slug}`, "aria-labelledby": `epd-tool-${slug}`, hidden: true }, t.el);
      panels.append(panel);
      const b = tab(slug, text, title, panel);
      b.id = `epd-tool-${slug}`;
      b.classList.add("tool");
      b.setAttribute("aria-label", `${text} on ${ep.hostname}`);
      all.push(b);
    }
    tablist.replaceChildren(...all);
    tablist.hidden = false;
    tablist.addEventListener("keydown", (ev) => {
      const i = all.indexOf(document.activeElement);
      if (i < 0 || !["ArrowLeft", "ArrowRight", "Home", "End"].includes(ev.key)) return;
      ev.preventDefault();
      const j = ev.key === "Home" ? 0 : ev.key === "End" ? all.length - 1 : (i + (ev.key === "ArrowRight" ? 1 : all.length - 1)) % all.length;
      select(all[j]);
      all[j].focus();
    });
    const first = all.find((b) => b.id === `epd-tool-${ctx.rest[1] || ""}`) || all[0];
    select(first);
  }
  function select(btn) {
    for (const b of tablist.querySelectorAll("[role=tab]")) {
      const on = b === btn;
      b.setAttribute("aria-selected", String(on));
      b.tabIndex = on ? 0 : -1;
      document.getElementById(b.getAttribute("aria-controls")).hidden = !on;
    }
  }
  async function load() {
    let ep, live, history = [];
    try {
      ep = await api("GET", "/api/v1/endpoints/" + encodeURIComponent(id));
      live = await liveSessions(me).catch(() => new Map());
      if (me.can("screenshare.start") || me.can("screenshare.sessions")) {
        history = (await api("GET", "/api/v1/sessions").catch(() => ({ sessions: [] }))).sessions.filter((s) => s.endpoint_id === id).slice(0, 10);
      }
    } catch (e) {
      if (!stopped) { notice(err, describe(e, "open this endpoint")); body.replaceChildren(); shown = ""; }
      return;
    }
    if (stopped) return;
    notice(err, "");
    $("epd-title").textContent = ep.hostname;
    document.title = `${ep.hostname} — Tether`;
    tabs(ep);
    for (const t of tools.values()) t.show(ep);
    // Unchanged: the overview stays, and so does the focus in it.
    const sig = JSON.stringify([{ ...ep, last_seen: ep.online ? "" : ep.last_seen }, (live.get(ep.id) || []).map((s) => s.id), history]);
    if (sig === shown) return;
    shown = sig;
    const inv = [
      ["State", stateCell(ep)], ["IP addresses", ep.ips.join(", ") || "—"],
      ["Operating system", `${ep.os} ${ep.os_version || ""}`.trim()], ["Architecture", ep.arch],
      ["Logged-in users", ep.users.join(", ") || "nobody"], ["Computer groups", groupChips(ep)],
      ["Agent version", ep.agent_version], ["Last seen", ep.online ? "now" : when(ep.last_seen)],
      ["Enrolled", when(ep.enrolled)], ["Endpoint id", h("code", {}, ep.id)],
    ];
    const actions = shareButtons(me, ep, live.get(ep.id), load, err);
    if (me.can("groups.manage")) actions.push(h("button", { type: "button", id: "epd-groups", onclick: () => editGroups(ep, load) }, "Edit groups"));
    body.replaceChildren(
      h("div", { class: "actions-bar" }, actions.length ? actions : h("p", { class: "hint" }, tools.size ? "Your roles allow the tools in the tabs above." : "Your roles allow no actions on this endpoint.")),
      h("h2", {}, "Inventory"),
      h("dl", { class: "inventory" }, inv.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      ...(me.can("screenshare.start") || me.can("screenshare.sessions") ? [
        h("h2", {}, "Recent screen shares"),
        history.length ? h("div", { class: "table-wrap" }, h("table", {},
          h("thead", {}, h("tr", {}, ["Technician", "Mode", "State", "Started", "Ended"].map((x) => h("th", { scope: "col" }, x)))),
          h("tbody", {}, history.map((s) => h("tr", {}, h("td", {}, s.technician), h("td", {}, sessionKind(s)),
            h("td", {}, stateNames[s.state] || s.state), h("td", {}, when(s.created)), h("td", {}, when(s.ended))))))) :
          empty("No screen shares you can see on this endpoint yet."),
      ] : []));
  }
  const poll = setInterval(() => { if (!document.getElementById("groups-dialog")) load(); }, 5000);
  // Leaving the page, or closing the console, ends the tools it runs.
  const leave = () => { for (const t of tools.values()) t.leave(); };
  window.addEventListener("pagehide", leave);
  ctx.setCleanup(() => {
    stopped = true;
    clearInterval(poll);
    window.removeEventListener("pagehide", leave);
    leave();
  });
  await load();
}

const sourceText = { enrollment: "enrolled", rule: "by rule", manual: "added by hand" };

// groupChips lists the endpoint's groups and why it is in each.
function groupChips(ep) {
  const gs = ep.groups || [{ group: ep.group, source: ["enrollment"] }];
  return h("ul", { class: "chips", id: "epd-group-list" }, gs.map((g) =>
    h("li", {}, g.group, " ", h("span", { class: "src" }, "(" + g.source.map((x) => sourceText[x] || x).join(", ") + ")"))));
}

// editGroups picks the groups the endpoint belongs to by hand. Groups it
// is in by enrollment or by rule show checked and fixed.
async function editGroups(ep, done) {
  let all;
  try { all = (await api("GET", "/api/v1/groups")).groups; }
  catch (e) { return notice($("epd-error"), describe(e, "list computer groups")); }
  const src = new Map((ep.groups || []).map((g) => [g.group, g.source]));
  const err = h("p", { class: "notice", role: "alert", hidden: true });
  const boxes = all.map((g) => {
    const s = src.get(g.name) || [];
    const fixed = s.includes("enrollment") || s.includes("rule");
    return h("label", { class: "check" }, h("input", { type: "checkbox", value: g.name, checked: s.length > 0, disabled: fixed && !s.includes("manual") }),
      " " + g.name, fixed ? h("span", { class: "hint" }, ` — ${s.filter((x) => x !== "manual").map((x) => sourceText[x]).join(", ")}`) : null);
  });
  const dlg = h("dialog", { id: "groups-dialog", "aria-labelledby": "groups-dialog-title" });
  const close = () => { dlg.close(); dlg.remove(); };
  dlg.append(h("h2", { id: "groups-dialog-title" }, `Groups of ${ep.hostname}`),
    h("form", { onsubmit: async (ev) => {
      ev.preventDefault();
      const picked = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked && !i.disabled).map((i) => i.value);
      try {
        await api("PUT", "/api/v1/endpoints/" + encodeURIComponent(ep.id) + "/groups", { groups: picked });
        close();
        done();
      } catch (e) { notice(err, describe(e, "change the groups")); }
    } }, h("fieldset", {}, h("legend", {}, "Member of"), boxes), err,
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", id: "groups-save" }, "Save"), h("button", { type: "button", onclick: close }, "Cancel"))));
  dlg.addEventListener("cancel", (ev) => { ev.preventDefault(); close(); });
  document.body.append(dlg);
  dlg.showModal();
}
