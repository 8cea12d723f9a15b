// The terminal of a terminal session (protocol/tools.go, channel
// "terminal", id 6): xterm.js on the page, the shell on the endpoint. Text
// messages on the channel are JSON control (open, resize; opened, exit,
// error), binary ones the terminal's bytes: keystrokes out, output in.
import { Terminal } from "./vendor/xterm/xterm.mjs";
import { FitAddon } from "./vendor/xterm/addon-fit.mjs";

const enc = new TextEncoder();

// The console's policy allows no inline <style> elements, which xterm.js
// makes for its dimensions and colours: their text goes into a
// constructed stylesheet instead, which the policy allows.
function adoptStyles(root) {
  if (!("adoptedStyleSheets" in document)) return;
  const sheet = new CSSStyleSheet();
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
  const copy = () => {
    const css = Array.from(root.querySelectorAll("style"), (s) => s.textContent).join("\n");
    try { sheet.replaceSync(css); } catch (e) { console.warn("terminal styles:", e.message); }
  };
  new MutationObserver(copy).observe(root, { subtree: true, childList: true, characterData: true });
  copy();
}

export class TerminalPane {
  // el: where the terminal draws; as: "user" or "system"; onStatus(text)
  // reports the shell's state in words.
  constructor(el, as, onStatus) {
    this.as = as;
    this.onStatus = onStatus;
    this.ch = null;
    this.shells = 0;
    this.exited = false;
    this.term = new Terminal({ cursorBlink: true, scrollback: 5000, convertEol: false,
      fontFamily: "ui-monospace, 'DejaVu Sans Mono', monospace", fontSize: 14 });
    this.fit = new FitAddon();
    this.term.loadAddon(this.fit);
    adoptStyles(el);
    this.term.open(el);
    this.refit();
    new ResizeObserver(() => this.refit()).observe(el);
    this.term.onData((d) => this.type(d));
    this.term.onResize(({ cols, rows }) => this.control({ t: "resize", cols, rows }));
  }

  refit() {
    try { this.fit.fit(); } catch { /* not laid out yet */ }
  }

  // attach makes ch (an RTCDataChannel or a RelayChannel) the terminal's;
  // each new channel (a new connection after a drop) opens a new shell.
  attach(ch) {
    this.ch = ch;
    ch.binaryType = "arraybuffer";
    ch.onmessage = (ev) => { if (this.ch === ch) this.onMessage(ev.data); };
    ch.onopen = () => { if (this.ch === ch) this.open(); };
    ch.onclose = () => { if (this.ch === ch) this.onStatus("Disconnected"); };
    if (ch.readyState === "open") this.open();
  }

  open() {
    this.exited = false;
    this.onStatus(this.shells > 0 ? "Connection back; reaching the shell…" : "Starting the shell…");
    this.control({ t: "open", as: this.as, cols: this.term.cols, rows: this.term.rows });
  }

  control(m) {
    if (this.ch && this.ch.readyState === "open") this.ch.send(JSON.stringify(m));
  }

  type(data) {
    if (this.exited || !this.ch || this.ch.readyState !== "open") return;
    this.ch.send(enc.encode(data));
  }

  onMessage(data) {
    if (typeof data !== "string") {
      this.term.write(new Uint8Array(data));
      return;
    }
    let m;
    try { m = JSON.parse(data); } catch { return; }
    switch (m.t) {
      case "opened":
        // Back after a drop: the same shell when the endpoint kept it,
        // else a new one.
        if (this.shells > 0) this.term.write(m.resumed ? "\r\n\x1b[2m[connection back]\x1b[0m\r\n" : "\r\n\x1b[2m[connection back: a new shell]\x1b[0m\r\n");
        this.shells++;
        this.onStatus(`Shell ${m.shell || ""} as ${m.as === "system" ? "root / SYSTEM" : "the user"}`);
        this.term.focus();
        break;
      case "exit":
        this.exited = true;
        this.onStatus(`The shell ended (exit code ${m.code || 0})`);
        this.term.write(`\r\n\x1b[2m[the shell ended with exit code ${m.code || 0}]\x1b[0m\r\n`);
        break;
      case "error":
        this.onStatus(`Refused: ${m.error || "no reason given"}`);
        break;
    }
  }

  // text is the terminal's screen and scrollback as plain lines (tests).
  text() {
    const b = this.term.buffer.active;
    const out = [];
    for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true));
    return out.join("\n").replace(/\n+$/, "");
  }
}
