// Screen Share Sessions: the active sessions the user may see (their own,
// or all for Screen Sharing Administrators — the server decides), live,
// with Join Screen Share and End Screen Share for one or several.
import { api, describe } from "./api.js";
import { h, when, notice, openViewer, empty, stateNames, sessionKind } from "./ui.js";
import { endSessions } from "./endpoints.js";
import { openBrokerDialog } from "./brokerdialog.js";

export function sessionsPage(ctx) {
  const selected = new Set();
  const err = h("p", { id: "ss-error", class: "notice", role: "alert", hidden: true });
  const status = h("p", { id: "ss-status", class: "hint", role: "status" });
  const all = h("input", { type: "checkbox", id: "ss-all", "aria-label": "Select all sessions" });
  const rows = h("tbody", { id: "ss-rows" });
  const join = h("button", { type: "button", id: "ss-join", class: "primary", disabled: true }, "Join Screen Share");
  const end = h("button", { type: "button", id: "ss-end", class: "danger", disabled: true }, "End Screen Share");
  const tbl = h("div", { class: "table-wrap" }, h("table", { id: "ss-table" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col", class: "pick" }, all),
      ["Endpoint", "Technician", "Mode", "State", "Started", "Viewers", "Control"].map((x) => h("th", { scope: "col" }, x)))), rows));
  const emptyBox = h("div", { id: "ss-empty", hidden: true }, empty("No active screen share sessions.",
    ctx.me.can("screenshare.sessions") ? "Sessions started by any technician appear here as they start." : "Sessions you start appear here; you can rejoin or end them from this list."));
  ctx.show(h("section", { id: "sessions", "aria-labelledby": "ss-title" },
    h("h1", { id: "ss-title" }, "Screen Share Sessions"),
    h("div", { class: "actions-bar" }, join, end,
      ctx.me.can("screenshare.start") ? h("button", { type: "button", id: "ss-broker", onclick: () => openBrokerDialog(() => load()) }, "Start Broker Session") : null,
      status), err, tbl, emptyBox));

  let list = [], stopped = false, seq = 0;
  const sync = () => {
    for (const id of [...selected]) if (!list.some((s) => s.id === id)) selected.delete(id);
    join.disabled = end.disabled = selected.size === 0;
    all.checked = list.length > 0 && selected.size === list.length;
    all.indeterminate = selected.size > 0 && selected.size < list.length;
    status.textContent = selected.size ? `${selected.size} selected` : "";
  };

  async function load() {
    const my = ++seq;
    try {
      const data = await api("GET", "/api/v1/sessions?state=active");
      if (stopped || my !== seq) return;
      list = data.sessions;
      notice(err, "");
    } catch (e) {
      if (!stopped && my === seq) notice(err, describe(e, "list sessions"));
      return;
    }
    rows.replaceChildren(...list.map((s) => {
      const box = h("input", { type: "checkbox", checked: selected.has(s.id), "aria-label": `Select the session on ${s.hostname}`,
        onchange: (ev) => { ev.target.checked ? selected.add(s.id) : selected.delete(s.id); sync(); } });
      const holder = s.viewers.find((v) => v.id === s.control_holder);
      return h("tr", { "data-id": s.id },
        h("td", { class: "pick" }, box),
        h("th", { scope: "row" }, h("a", { href: "#/endpoints/" + encodeURIComponent(s.endpoint_id) }, s.hostname || s.endpoint_id)),
        h("td", {}, s.technician),
        h("td", {}, sessionKind(s) + (s.attended ? "" : " · unattended")),
        h("td", {}, h("span", { class: "state state-" + s.state }, stateNames[s.state] || s.state)),
        h("td", { title: s.started ? "active since " + when(s.started) : "" }, when(s.created)),
        h("td", {}, s.viewers.length ? [...new Set(s.viewers.map((v) => v.user))].join(", ") : "—"),
        h("td", {}, holder ? holder.user : "nobody"));
    }));
    tbl.hidden = list.length === 0;
    emptyBox.hidden = list.length > 0;
    sync();
  }

  all.addEventListener("change", () => {
    if (all.checked) for (const s of list) selected.add(s.id); else selected.clear();
    // Tick the rows and enable the buttons now, not after the next list fetch.
    for (const box of rows.querySelectorAll("tr[data-id] input[type=checkbox]")) box.checked = selected.has(box.closest("tr").dataset.id);
    sync();
  });
  join.addEventListener("click", () => {
    for (const id of selected) {
      if (!openViewer(id)) { notice(err, "The browser blocked a new tab: allow pop-ups for this console to join several sessions at once."); break; }
    }
  });
  end.addEventListener("click", async () => {
    const ids = [...selected];
    end.disabled = true;
    status.textContent = `Ending ${ids.length} session${ids.length === 1 ? "" : "s"}…`;
    const errs = await endSessions(ids);
    for (const id of ids) selected.delete(id);
    notice(err, errs.join(" "));
    await load();
    if (!errs.length) status.textContent = `Ended ${ids.length} session${ids.length === 1 ? "" : "s"}.`;
  });

  const poll = setInterval(load, 2500);
  ctx.setCleanup(() => { stopped = true; clearInterval(poll); });
  load();
}
