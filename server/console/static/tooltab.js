// A support tool in a tab of the endpoint page: Connect opens the tool's
// session (the server checks the permission against the endpoint's
// groups), the tool's pane works in the page over its own connection
// (viewlink.js), Disconnect ends the session. Leaving the page, or the
// console, ends it too.
import { api, beacon, describe } from "./api.js";
import { h, notice, openViewer, reasonSentences } from "./ui.js";
import { SessionLink } from "./viewlink.js";
import { ToolPane, toolChannels } from "./viewtool.js";
import { browserSHA256 } from "./viewfile.js";

const STATE_WORDS = {
  requested: "Reaching the endpoint…",
  awaiting_acceptance: "Waiting for the user to accept…",
  connecting: "Connecting…",
  active: "Connecting…",
  live: "Live",
  lost: "Connection lost; reconnecting…",
};

// Test and devtools hooks, by tool: the live tab's terminal text, a
// request on its admin channel as the page would send it, a download's
// SHA-256 by the browser's own hash, its counters, a dropped connection.
const hooks = window.tetherTools = window.tetherTools || {};

export class ToolTab {
  // ep: the endpoint; tool, text, title: what the tab is; err: where the
  // page reports.
  constructor(ep, { tool, text, title }) {
    this.ep = ep;
    this.tool = tool;
    this.text = text;
    this.slug = tool.replace(".", "-");
    this.live = null; // { id, link, pane, ended }
    this.left = false; // the page is gone: nothing more opens
    this.err = h("p", { class: "notice", role: "alert", hidden: true });
    this.state = h("span", { class: "tool-state", role: "status", "aria-live": "polite" }, "Not connected");
    this.status = h("p", { class: "tool-status", "aria-live": "polite" });
    this.connectBtn = h("button", { type: "button", class: "primary", id: `epd-${this.slug}-connect`, onclick: () => this.connect() }, "Connect");
    this.endBtn = h("button", { type: "button", class: "danger", id: `epd-${this.slug}-disconnect`, hidden: true, onclick: () => this.disconnect() }, "Disconnect");
    this.popBtn = h("button", { type: "button", id: `epd-${this.slug}-window`, title: "Open the tool in a viewer tab of its own", onclick: () => this.openWindow() }, "Open in a new tab");
    this.box = h("div", { class: "toolpane", id: `epd-${this.slug}-pane` });
    this.note = h("p", { class: "notice", id: `epd-${this.slug}-note`, hidden: true });
    this.el = h("div", { class: "tool-tab" },
      h("p", { class: "hint" }, title), this.note,
      h("div", { class: "actions-bar" }, this.connectBtn, this.endBtn, this.popBtn, this.state),
      this.err, this.status, this.box);
    this.show(ep);
  }

  // show follows the endpoint's state: online, and whether its agent
  // offers this tool (one from before the tools offers none).
  show(ep = this.ep) {
    this.ep = ep;
    const online = ep.online;
    const offered = (ep.tools || []).includes(this.tool);
    const busy = this.live && !this.live.ended;
    this.connectBtn.disabled = !online || !offered || !!busy;
    this.popBtn.disabled = !online || !offered;
    this.connectBtn.title = !online ? "The endpoint is offline" : !offered ? "The endpoint's agent does not offer this tool: update it" : "";
    this.popBtn.title = this.connectBtn.title || "Open the tool in a viewer tab of its own";
    this.note.hidden = offered;
    this.note.textContent = offered ? "" : `This endpoint's agent (${ep.agent_version || "an older version"}) does not offer this tool. Update the agent to use it.`;
  }

  setState(words) { this.state.textContent = words; }

  async open() {
    return api("POST", "/api/v1/endpoints/" + encodeURIComponent(this.ep.id) + "/tools", { tool: this.tool });
  }

  async openWindow() {
    try {
      const s = await this.open();
      if (!openViewer(s.id)) notice(this.err, "The browser blocked the new tab: allow pop-ups for this console.");
      else notice(this.err, "");
    } catch (e) {
      notice(this.err, describe(e, `open ${this.text}`));
    }
  }

  async connect() {
    this.connectBtn.disabled = true;
    let s;
    try {
      s = await this.open();
    } catch (e) {
      notice(this.err, describe(e, `open ${this.text}`));
      this.show();
      return;
    }
    if (this.left) {
      // The technician left while the session was being opened: it ends
      // unseen rather than runs unseen.
      beacon("POST", "/api/v1/sessions/" + encodeURIComponent(s.id) + "/end", {});
      return;
    }
    notice(this.err, "");
    this.status.textContent = "";
    const stats = { errors: 0 };
    const live = { id: s.id, ended: false, stats };
    live.pane = new ToolPane(this.box, this.tool, { onStatus: (t) => { this.status.textContent = t; }, stats, debug: { dropAt: 0 }, idPrefix: this.slug + "-" });
    const sessionState = (st) => {
      if (live.ended) return;
      if (st.state === "ended") this.finish(live, st.reason);
      else if (st.state !== "active") this.setState(STATE_WORDS[st.state] || st.state);
    };
    live.link = new SessionLink({
      sessionID: s.id, stats,
      channels: (ch) => toolChannels(this.tool, ch),
      on: {
        hello: (m) => sessionState(m.session || {}),
        session: sessionState,
        end: (reason) => this.finish(live, reason),
        channels: (chs, current) => {
          chs.control.onopen = () => { if (current() && !live.ended) this.setState(STATE_WORDS.live); };
          live.pane.attach(chs);
        },
        lost: () => { if (!live.ended) this.setState(STATE_WORDS.lost); },
        connected: () => { if (!live.ended) this.setState(STATE_WORDS.live); },
        error: (t) => notice(this.err, t),
      },
    });
    this.live = live;
    this.endBtn.hidden = false;
    this.setState(STATE_WORDS.requested);
    hooks[this.tool] = {
      terminalText: () => live.pane.text(),
      adminRequest: (op, args) => live.pane.request(op, args),
      downloadSHA256: (i) => browserSHA256(live.pane.transfers && live.pane.transfers.blob(i)),
      stats,
      dropConnection: () => live.link.drop(),
      sessionID: s.id,
    };
    live.link.connect();
  }

  // finish shows the session ended and closes its connection; the pane
  // stays for reading until the next Connect.
  finish(live, reason) {
    if (live.ended) return;
    live.ended = true;
    live.link.close();
    live.pane.close();
    const why = reasonSentences[reason] || reason || "";
    this.setState(why ? `Ended: ${why}` : "Ended");
    this.endBtn.hidden = true;
    this.show();
  }

  async disconnect() {
    const live = this.live;
    if (!live || live.ended) return;
    this.endBtn.disabled = true;
    try {
      await api("POST", "/api/v1/sessions/" + encodeURIComponent(live.id) + "/end", {});
      this.finish(live, "ended_by_technician");
    } catch (e) {
      notice(this.err, describe(e, "end the session"));
    } finally {
      this.endBtn.disabled = false;
    }
  }

  // leave: the technician left the endpoint page, or the console; a
  // live tool ends (by a request that outlives the page).
  leave() {
    this.left = true;
    const live = this.live;
    if (!live || live.ended) return;
    beacon("POST", "/api/v1/sessions/" + encodeURIComponent(live.id) + "/end", {});
    this.finish(live, "ended_by_technician");
  }
}
