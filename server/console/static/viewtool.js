// A support tool's pane: the terminal, the processes or services list, or
// the file browser, as the viewer page shows a tool's session and the
// endpoint page's tool tabs do. Its data channels are control and the
// tool's own (shared/protocol/tools.go, admintools.go).
import { TerminalPane } from "./viewterm.js";
import { AdminPane, el } from "./viewadmin.js";
import { FilesPane } from "./viewfiles.js";

const isTerminal = (tool) => tool === "terminal" || tool === "terminal.system";
const isFiles = (tool) => tool === "files.user" || tool === "files.system";

// toolChannels are a tool's session's data channels, ch(label, id) making
// each: control and the tool's own.
export function toolChannels(tool, ch) {
  const own = isFiles(tool) ? { admin: ch("admin", 7), file: ch("file", 5) }
    : isTerminal(tool) ? { terminal: ch("terminal", 6) } : { admin: ch("admin", 7) };
  return { control: ch("control", 3), ...own };
}

export class ToolPane {
  // root: where the pane goes; tool: the session's; onStatus(text)
  // reports in words; stats and debug serve the file transfers;
  // idPrefix keeps ids apart where one page shows several panes.
  constructor(root, tool, { onStatus, stats, debug, idPrefix = "" }) {
    this.tool = tool;
    this.terminal = this.admin = this.files = null;
    if (isTerminal(tool)) {
      const box = el("div", { id: idPrefix + "term", class: "term", "aria-label": "Terminal on the endpoint" });
      root.replaceChildren(box);
      this.terminal = new TerminalPane(box, tool === "terminal.system" ? "system" : "user", onStatus);
    } else if (tool === "processes" || tool === "services") {
      const box = el("div", { id: idPrefix + "admin", class: "admin-pane" });
      root.replaceChildren(box);
      this.admin = new AdminPane(box, tool, onStatus, idPrefix);
    } else if (isFiles(tool)) {
      const box = el("div", { id: idPrefix + "admin", class: "admin-pane" });
      root.replaceChildren(box);
      this.files = new FilesPane(box, onStatus, stats, debug, idPrefix);
    } else {
      onStatus(`This console does not know the tool ${tool}.`);
    }
  }

  // attach takes the channels of a new connection (toolChannels).
  attach(chs) {
    if (this.terminal && chs.terminal) this.terminal.attach(chs.terminal);
    if (this.admin && chs.admin) this.admin.attach(chs.admin);
    if (this.files && chs.admin) this.files.attach(chs.admin, chs.file);
  }

  close() { if (this.admin) this.admin.close(); }

  // For tests and devtools: the terminal's text, a request on the admin
  // channel as the page would send it, the file transfers.
  text() { return this.terminal ? this.terminal.text() : ""; }
  request(op, args) { return (this.files ? this.files.admin : this.admin.admin).request(op, args); }
  get transfers() { return this.files ? this.files.transfers : null; }
}
