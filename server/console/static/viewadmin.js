// The processes and services tools (protocol/admintools.go, channel
// "admin", id 7): requests with an id, one JSON answer each. The lists
// refresh while the page is open; what changes the endpoint asks first.

const REFRESH_MS = { processes: 2000, services: 5000 };

export function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, "");
    else if (v !== false && v != null) e.setAttribute(k, v);
  }
  for (const k of kids.flat()) if (k != null) e.append(k);
  return e;
}

export function bytes(n) {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(1)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${Math.round(n / 1024)} KiB`;
}

// confirmAction asks in a dialog of the page's own; resolves true on OK.
export function confirmAction(text, ok) {
  return new Promise((resolve) => {
    const d = el("dialog", { id: "confirm", "aria-labelledby": "confirm-text" },
      el("p", { id: "confirm-text" }, text),
      el("div", { class: "buttons" },
        el("button", { type: "button", id: "confirm-ok", class: "danger", onclick: () => { d.close(); resolve(true); } }, ok),
        el("button", { type: "button", id: "confirm-cancel", onclick: () => { d.close(); resolve(false); } }, "Cancel")));
    d.addEventListener("close", () => { d.remove(); resolve(false); });
    document.body.append(d);
    d.showModal();
  });
}

// AdminClient sends requests on the admin channel and matches answers.
export class AdminClient {
  constructor(onStray) {
    this.ch = null;
    this.seq = 0;
    this.waiting = new Map();
    this.onStray = onStray;
  }

  // attach takes a new channel; requests on the old one fail.
  attach(ch, onOpen, onClose) {
    this.ch = ch;
    for (const [, w] of this.waiting) w.reject(new Error("connection replaced"));
    this.waiting.clear();
    ch.onmessage = (ev) => { if (this.ch === ch) this.onMessage(ev.data); };
    ch.onopen = () => { if (this.ch === ch) onOpen(); };
    ch.onclose = () => { if (this.ch === ch) onClose(); };
    if (ch.readyState === "open") onOpen();
  }

  open() { return !!this.ch && this.ch.readyState === "open"; }

  request(op, args = {}) {
    return new Promise((resolve, reject) => {
      if (!this.open()) return reject(new Error("not connected"));
      const id = ++this.seq;
      this.waiting.set(id, { resolve, reject });
      this.ch.send(JSON.stringify({ id, op, ...args }));
    });
  }

  onMessage(data) {
    if (typeof data !== "string") return;
    let r;
    try { r = JSON.parse(data); } catch { return; }
    const w = this.waiting.get(r.id);
    if (!w) { if (r.error && this.onStray) this.onStray(r.error); return; }
    this.waiting.delete(r.id);
    w.resolve(r);
  }
}

export class AdminPane {
  // root: where the tool draws; tool: "processes" or "services";
  // onStatus(text) reports in words.
  constructor(root, tool, onStatus, idPrefix = "") {
    this.tool = tool;
    this.onStatus = onStatus;
    this.admin = new AdminClient((e) => onStatus(`Refused: ${e}`));
    this.rows = [];
    this.sortKey = tool === "processes" ? "cpu" : "name";
    this.sortDown = tool === "processes";
    this.busy = false;
    this.filter = el("input", { type: "search", id: idPrefix + "admin-filter", placeholder: tool === "processes" ? "Filter by name, user, command or PID" : "Filter by name or description", "aria-label": "Filter" });
    this.filter.addEventListener("input", () => this.draw());
    this.count = el("span", { class: "hint", id: idPrefix + "admin-count" });
    this.table = el("table", { id: idPrefix + "admin-table", class: "admin" });
    root.replaceChildren(el("div", { class: "admin-bar" }, this.filter, this.count), el("div", { class: "admin-wrap" }, this.table));
    this.timer = setInterval(() => this.refresh(), REFRESH_MS[tool] || 5000);
  }

  attach(ch) {
    this.admin.attach(ch, () => this.refresh(), () => this.onStatus("Disconnected"));
  }

  close() { clearInterval(this.timer); }

  request(op, args) { return this.admin.request(op, args); }

  async refresh() {
    if (this.busy || !this.admin.open()) return;
    this.busy = true;
    try {
      const r = await this.request(this.tool === "processes" ? "processes.list" : "services.list");
      if (r.error) { this.onStatus(`Could not list: ${r.error}`); return; }
      this.rows = (this.tool === "processes" ? r.processes : r.services) || [];
      this.onStatus(`${this.tool === "processes" ? "Processes" : "Services"} as of ${new Date(r.taken).toLocaleTimeString()}${r.cut ? " (list shortened to fit)" : ""}`);
      this.draw();
    } catch (e) {
      this.onStatus(`Could not list: ${e.message}`);
    } finally {
      this.busy = false;
    }
  }

  columns() {
    if (this.tool === "processes") {
      return [["pid", "PID"], ["user", "User"], ["cpu", "CPU %"], ["rss", "Memory"], ["name", "Name"], ["command", "Command line"]];
    }
    return [["name", "Name"], ["description", "Description"], ["state", "State"], ["startup", "Startup"]];
  }

  draw() {
    const q = this.filter.value.trim().toLowerCase();
    const cols = this.columns();
    let rows = this.rows;
    if (q) rows = rows.filter((r) => cols.some(([k]) => String(r[k] ?? "").toLowerCase().includes(q)));
    const k = this.sortKey;
    rows = [...rows].sort((a, b) => {
      const x = a[k] ?? "", y = b[k] ?? "";
      const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
      return this.sortDown ? -c : c;
    });
    this.count.textContent = `${rows.length} of ${this.rows.length}`;
    const head = el("tr", {}, cols.map(([key, label]) => el("th", { scope: "col", "aria-sort": key === k ? (this.sortDown ? "descending" : "ascending") : "none" },
      el("button", { type: "button", class: "sort", onclick: () => { this.sortDown = key === k ? !this.sortDown : key === "cpu" || key === "rss"; this.sortKey = key; this.draw(); } }, label))),
    el("th", { scope: "col" }, "Actions"));
    const body = rows.map((r) => this.tool === "processes" ? this.processRow(r) : this.serviceRow(r));
    this.table.replaceChildren(el("thead", {}, head), el("tbody", {}, body));
  }

  processRow(p) {
    return el("tr", { "data-pid": String(p.pid) },
      el("td", {}, String(p.pid)), el("td", {}, p.user || ""), el("td", { class: "num" }, (p.cpu || 0).toFixed(1)),
      el("td", { class: "num" }, bytes(p.rss || 0)), el("td", {}, p.name || ""), el("td", { class: "cmd", title: p.command || "" }, p.command || ""),
      el("td", {}, el("button", { type: "button", class: "end danger", "aria-label": `End ${p.name} (${p.pid})`,
        onclick: () => this.endProcess(p) }, "End")));
  }

  serviceRow(s) {
    const act = (op, label) => el("button", { type: "button", class: `svc-${op}`, "aria-label": `${label} ${s.name}`, onclick: () => this.serviceOp(s, op, label) }, label);
    return el("tr", { "data-service": s.name },
      el("td", {}, s.name), el("td", {}, s.description || ""), el("td", {}, [s.state, s.sub].filter(Boolean).join(" / ")), el("td", {}, s.startup || ""),
      el("td", {}, act("start", "Start"), " ", act("stop", "Stop"), " ", act("restart", "Restart")));
  }

  async endProcess(p) {
    if (!await confirmAction(`End ${p.name} (process ${p.pid}, ${p.user})? It is asked to end, and killed if it has not after 3 seconds.`, "End process")) return;
    const r = await this.request("processes.end", { pid: p.pid, started: p.started }).catch((e) => ({ error: e.message }));
    this.onStatus(r.error ? `Could not end ${p.name} (${p.pid}): ${r.error}` : `Ended ${p.name} (${p.pid})`);
    this.refresh();
  }

  async serviceOp(s, op, label) {
    if (!await confirmAction(`${label} the service ${s.name}${s.description ? ` (${s.description})` : ""}?`, label)) return;
    const r = await this.request(`services.${op}`, { service: s.name }).catch((e) => ({ error: e.message }));
    this.onStatus(r.error ? `Could not ${op} ${s.name}: ${r.error}` : `${label}: ${s.name} done`);
    this.refresh();
  }
}
