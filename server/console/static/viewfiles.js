// The file browser tool: listings, renames and deletes on the admin
// channel (protocol/admintools.go), downloads and uploads on the file
// channel in the screen share's protocol (viewfile.js: resumable, checked
// by SHA-256). Paths are literal: a link is shown with its target, and
// following it opens the target by its own path.
import { AdminClient, el, bytes, confirmAction } from "./viewadmin.js";
import { FileTransfers } from "./viewfile.js";

// join appends name to dir in the endpoint's own separators.
function join(dir, name) {
  const sep = /^[A-Za-z]:\\|^\\\\/.test(dir) ? "\\" : "/";
  return dir.endsWith(sep) ? dir + name : dir + sep + name;
}

function parent(dir) {
  const sep = /^[A-Za-z]:\\|^\\\\/.test(dir) ? "\\" : "/";
  const i = dir.replace(/[\\/]+$/, "").lastIndexOf(sep);
  if (i < 0) return dir;
  const up = dir.slice(0, i + 1);
  return up.length > 1 && !/^[A-Za-z]:\\$/.test(up) ? up.replace(/[\\/]$/, "") : up;
}

export class FilesPane {
  constructor(root, onStatus, stats, debug, idPrefix = "") {
    this.onStatus = onStatus;
    this.admin = new AdminClient((e) => onStatus(`Refused: ${e}`));
    this.path = "";
    this.write = false;
    this.pathInput = el("input", { id: idPrefix + "files-path", type: "text", "aria-label": "Folder", spellcheck: "false", autocomplete: "off" });
    this.roots = el("select", { id: idPrefix + "files-roots", "aria-label": "Drive or root" });
    this.roots.addEventListener("change", () => this.go(this.roots.value));
    const form = el("form", { class: "files-bar", onsubmit: (ev) => { ev.preventDefault(); this.go(this.pathInput.value.trim()); } },
      this.roots, el("button", { type: "button", id: idPrefix + "files-up", onclick: () => this.go(parent(this.path)) }, "Up"), this.pathInput,
      el("button", { type: "submit", id: idPrefix + "files-go" }, "Go"), el("button", { type: "button", id: idPrefix + "files-refresh", onclick: () => this.go(this.path) }, "Refresh"));
    this.upload = el("input", { type: "file", id: idPrefix + "files-upload", multiple: true, disabled: true });
    this.upload.addEventListener("change", () => this.sendFiles());
    this.uploadLabel = el("label", { class: "upload", hidden: true }, "Upload into this folder ", this.upload);
    this.table = el("table", { id: idPrefix + "files-table", class: "admin" });
    this.list = el("ul", { id: idPrefix + "files-transfers", class: "transfers" });
    this.transfers = new FileTransfers({ list: this.list, stats, debug, onDrop: () => {} });
    this.transfers.setAllowed(true, 0);
    root.replaceChildren(form, this.uploadLabel, el("div", { class: "admin-wrap" }, this.table), el("h3", {}, "Transfers"), this.list);
  }

  // attach takes the admin and file channels of a new connection.
  attach(adminCh, fileCh) {
    if (fileCh) this.transfers.attach(fileCh);
    this.admin.attach(adminCh, () => this.start(), () => this.onStatus("Disconnected"));
  }

  async start() {
    if (!this.admin.open()) return;
    const r = await this.admin.request("files.roots").catch((e) => ({ error: e.message }));
    if (r.error) { this.onStatus(`Could not list the roots: ${r.error}`); return; }
    this.write = !!r.write;
    this.roots.replaceChildren(...(r.roots || []).map((x) => el("option", { value: x }, x)));
    this.uploadLabel.hidden = !this.write;
    this.go(this.path || (r.roots || ["/"])[0]);
  }

  async go(path) {
    if (!path) return;
    const r = await this.admin.request("files.list", { path }).catch((e) => ({ error: e.message }));
    if (r.error) { this.onStatus(`Could not open ${path}: ${r.error}`); return; }
    this.path = r.path;
    this.pathInput.value = r.path;
    this.write = !!r.write;
    this.upload.disabled = !this.write;
    this.onStatus(`${r.path}: ${(r.entries || []).length} entries${r.cut ? " (list cut)" : ""}${this.write ? "" : " · read only"}`);
    this.draw(r.entries || []);
  }

  draw(entries) {
    const head = el("tr", {}, ["Name", "Size", "Modified", "Mode", "Actions"].map((x) => el("th", { scope: "col" }, x)));
    const rows = entries.map((e) => {
      const full = join(this.path, e.name);
      const name = e.dir
        ? el("button", { type: "button", class: "link dir", onclick: () => this.go(full) }, `${e.name}/`)
        : e.link
          ? el("span", {}, e.name, " → ", el("button", { type: "button", class: "link target", title: "Open the link's target by its own path", onclick: () => this.go(e.link.startsWith("/") || /^[A-Za-z]:/.test(e.link) ? e.link : join(this.path, e.link)) }, e.link))
          : el("span", {}, e.name);
      const acts = [];
      if (!e.dir && !e.link) acts.push(el("button", { type: "button", class: "download", "aria-label": `Download ${e.name}`, onclick: () => this.download(full) }, "Download"));
      if (this.write) {
        acts.push(el("button", { type: "button", class: "rename", "aria-label": `Rename ${e.name}`, onclick: () => this.rename(full, e.name) }, "Rename"));
        acts.push(el("button", { type: "button", class: "delete danger", "aria-label": `Delete ${e.name}`, onclick: () => this.remove(full, e) }, "Delete"));
      }
      return el("tr", { "data-name": e.name }, el("td", {}, name), el("td", { class: "num" }, e.dir || e.link ? "" : bytes(e.size)),
        el("td", {}, new Date(e.modified).toLocaleString()), el("td", { class: "cmd" }, e.mode), el("td", {}, acts));
    });
    this.table.replaceChildren(el("thead", {}, head), el("tbody", {}, rows));
  }

  async download(path) {
    const r = await this.admin.request("files.download", { path }).catch((e) => ({ error: e.message }));
    this.onStatus(r.error ? `Could not download ${path}: ${r.error}` : `Downloading ${path}…`);
  }

  async sendFiles() {
    const files = [...this.upload.files];
    if (!files.length) return;
    const r = await this.admin.request("files.upload_to", { path: this.path }).catch((e) => ({ error: e.message }));
    if (r.error) { this.onStatus(`Cannot upload into ${this.path}: ${r.error}`); return; }
    this.onStatus(`Uploading ${files.length} file${files.length === 1 ? "" : "s"} into ${r.path}…`);
    await Promise.all(files.map((f) => this.transfers.upload(f)));
    this.upload.value = "";
  }

  async rename(path, name) {
    const to = window.prompt(`New name for ${name}:`, name);
    if (!to || to === name) return;
    const r = await this.admin.request("files.rename", { path, name: to }).catch((e) => ({ error: e.message }));
    this.onStatus(r.error ? `Could not rename ${name}: ${r.error}` : `Renamed ${name} to ${to}`);
    this.go(this.path);
  }

  async remove(path, e) {
    if (!await confirmAction(`Delete ${path}${e.dir ? " (an empty folder)" : e.link ? " (the link only, not its target)" : ""}? This cannot be undone.`, "Delete")) return;
    const r = await this.admin.request("files.delete", { path }).catch((x) => ({ error: x.message }));
    this.onStatus(r.error ? `Could not delete ${path}: ${r.error}` : `Deleted ${path}`);
    this.go(this.path);
  }
}
