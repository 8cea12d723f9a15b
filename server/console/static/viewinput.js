// viewinput.js captures pointer and keyboard input over the viewer canvas
// and turns it into protocol.InputEvent messages ({"t": ...}).
//
// Pointer: coordinates are mapped from CSS pixels of the (possibly scaled)
// canvas back to pixels of the monitor being shown. Moves are sent at most
// once per animation frame (the latest position wins); a button press or
// release first sends any pending move so clicks land where they were made.
// Buttons use DOM MouseEvent.button numbers (0 left, 1 middle, 2 right).
// Wheel deltas are summed and sent in whole notches (100 CSS pixels, 3 lines
// or 1 page per notch), positive down/right.
//
// Keyboard: a hidden textarea (#keys) over the canvas holds the focus while
// the screen is captured, so that IME composition and dead keys work. The
// rule that keeps a key from being sent twice, as a key and as text:
//
//  1. A key that produces one printable character (KeyboardEvent.key is a
//     single code point) while none of Ctrl, Alt or Meta is held (AltGr
//     counts as printable) is NOT sent as a key. The browser inserts the
//     character into the textarea and its "input" event sends it as
//     {"t":"text"}. Composition (IME, dead keys) is sent once, as text, at
//     compositionend; keydowns during composition are ignored.
//  2. Every other key (Enter, Tab, Backspace, arrows, F-keys, Escape, and
//     any key with Ctrl, Alt or Meta held) is sent as {"t":"key"} down/up by
//     KeyboardEvent.code, and the browser's default action is prevented.
//  3. Modifier keys (Shift, Control, Alt, Meta) are held back: they are sent
//     down just before the first rule-2 key that needs them (Ctrl+C sends
//     ControlLeft down, KeyC down, KeyC up; ControlLeft up on release), so
//     Shift never alters text that rule 1 already sends in its final case. A
//     modifier pressed and released alone (a Windows-key or Alt tap) is sent
//     as down+up on release. A key whose event says Ctrl/Alt/Shift/Meta is
//     held when no keydown of that modifier was seen (it was pressed before
//     the capture) gets a stand-in ControlLeft/AltLeft/ShiftLeft/MetaLeft
//     down before it and up after it.
//  4. Losing the focus releases every key that was sent down.
//
// Ctrl+Alt+Shift+L leaves the captured keyboard (focus moves to the
// toolbar), so keyboard users can always get out.

const MODIFIERS = new Set(["ShiftLeft", "ShiftRight", "ControlLeft", "ControlRight",
  "AltLeft", "AltRight", "MetaLeft", "MetaRight", "OSLeft", "OSRight"]);

// isPrintable applies rule 1 to a keydown.
export function isPrintable(ev) {
  if ([...ev.key].length !== 1) return false;
  const altGr = ev.getModifierState && ev.getModifierState("AltGraph");
  return altGr || !(ev.ctrlKey || ev.altKey || ev.metaKey);
}

// wheelNotches converts accumulated wheel deltas to whole notches; it
// returns [notches, remainder].
export function wheelNotches(acc, delta, mode) {
  const unit = mode === 1 ? 3 : mode === 2 ? 1 : 100;
  const total = acc + delta / unit;
  const n = Math.trunc(total);
  return [n, total - n];
}

// Capture wires the events. send(ev) delivers one InputEvent; monitorSize()
// returns {w, h} of the monitor shown (the canvas's pixel size);
// onLeave() is called on the leave shortcut.
export class Capture {
  constructor({ canvas, keys, send, onLeave }) {
    this.canvas = canvas;
    this.keys = keys;
    this.send = send;
    this.onLeave = onLeave || (() => {});
    this.pendingMove = null;
    this.rafScheduled = false;
    this.buttons = new Set(); // DOM buttons held down (sent)
    this.sentKeys = new Set(); // codes sent down
    this.heldMods = new Map(); // modifier code -> {sent, alone}
    this.composing = false;
    this.wheelAcc = { x: 0, y: 0 };
    this.install();
  }

  // toMonitor maps client coordinates to monitor pixels, clamped.
  toMonitor(clientX, clientY) {
    const r = this.canvas.getBoundingClientRect();
    const w = this.canvas.width, h = this.canvas.height;
    if (!w || !h || !r.width || !r.height) return null;
    const x = Math.floor((clientX - r.left) * w / r.width);
    const y = Math.floor((clientY - r.top) * h / r.height);
    return { x: Math.min(Math.max(x, 0), w - 1), y: Math.min(Math.max(y, 0), h - 1) };
  }

  install() {
    const c = this.canvas, k = this.keys;
    // Clicking or focusing the canvas captures the keyboard.
    c.addEventListener("focus", () => k.focus({ preventScroll: true }));
    c.addEventListener("mousedown", (ev) => this.onDown(ev));
    c.addEventListener("mousemove", (ev) => { if (this.buttons.size === 0) this.onMove(ev); });
    window.addEventListener("mousemove", (ev) => { if (this.buttons.size > 0) this.onMove(ev); });
    window.addEventListener("mouseup", (ev) => this.onUp(ev));
    c.addEventListener("contextmenu", (ev) => ev.preventDefault());
    c.addEventListener("wheel", (ev) => this.onWheel(ev), { passive: false });
    // The textarea sits over the canvas but lets the pointer through.
    k.addEventListener("keydown", (ev) => this.onKeyDown(ev));
    k.addEventListener("keyup", (ev) => this.onKeyUp(ev));
    // Only typed or composed characters become text: line breaks and
    // deletions were sent as keys already (rule 2), even where the browser
    // inserts them regardless of the prevented keydown.
    k.addEventListener("beforeinput", (ev) => {
      const typed = ["insertText", "insertCompositionText", "insertReplacementText"].includes(ev.inputType);
      if (!typed || /[\r\n]/.test(ev.data || "")) ev.preventDefault();
    });
    k.addEventListener("compositionstart", () => { this.composing = true; });
    k.addEventListener("compositionend", () => { this.composing = false; this.flushText(); });
    k.addEventListener("input", (ev) => { if (!ev.isComposing && !this.composing) this.flushText(); });
    k.addEventListener("blur", () => this.releaseAll());
  }

  onMove(ev) {
    const p = this.toMonitor(ev.clientX, ev.clientY);
    if (!p) return;
    this.pendingMove = p;
    if (!this.rafScheduled) {
      this.rafScheduled = true;
      requestAnimationFrame(() => { this.rafScheduled = false; this.flushMove(); });
    }
  }

  flushMove() {
    if (!this.pendingMove) return;
    const p = this.pendingMove;
    this.pendingMove = null;
    this.send({ t: "move", x: p.x, y: p.y });
  }

  onDown(ev) {
    ev.preventDefault(); // no text selection, no focus change by the browser
    this.keys.focus({ preventScroll: true });
    const p = this.toMonitor(ev.clientX, ev.clientY);
    if (!p) return;
    this.pendingMove = null;
    this.send({ t: "move", x: p.x, y: p.y });
    this.send({ t: "down", x: p.x, y: p.y, b: ev.button });
    this.buttons.add(ev.button);
  }

  onUp(ev) {
    if (!this.buttons.has(ev.button)) return;
    this.buttons.delete(ev.button);
    const p = this.toMonitor(ev.clientX, ev.clientY);
    if (!p) return;
    this.pendingMove = null;
    this.send({ t: "move", x: p.x, y: p.y });
    this.send({ t: "up", x: p.x, y: p.y, b: ev.button });
  }

  onWheel(ev) {
    ev.preventDefault();
    const p = this.toMonitor(ev.clientX, ev.clientY);
    if (!p) return;
    let dx, dy;
    [dx, this.wheelAcc.x] = wheelNotches(this.wheelAcc.x, ev.deltaX, ev.deltaMode);
    [dy, this.wheelAcc.y] = wheelNotches(this.wheelAcc.y, ev.deltaY, ev.deltaMode);
    if (dx || dy) this.send({ t: "wheel", x: p.x, y: p.y, dx, dy });
  }

  onKeyDown(ev) {
    if (ev.ctrlKey && ev.altKey && ev.shiftKey && ev.code === "KeyL") {
      ev.preventDefault();
      this.releaseAll();
      this.onLeave();
      return;
    }
    if (ev.isComposing || this.composing || ev.keyCode === 229 || ev.key === "Process" || ev.key === "Dead") return;
    if (MODIFIERS.has(ev.code)) {
      ev.preventDefault();
      if (!this.heldMods.has(ev.code)) this.heldMods.set(ev.code, { sent: false, alone: true });
      return;
    }
    for (const m of this.heldMods.values()) m.alone = false;
    if (isPrintable(ev)) return; // rule 1: the input event sends it as text
    ev.preventDefault();
    if (!ev.code) return;
    // A modifier held before the keyboard was captured has sent no keydown
    // here: stand in for it for the length of this key.
    for (const [flag, code] of [["ctrlKey", "ControlLeft"], ["altKey", "AltLeft"], ["shiftKey", "ShiftLeft"], ["metaKey", "MetaLeft"]]) {
      const prefix = code.replace("Left", "");
      if (ev[flag] && ![...this.heldMods.keys()].some((c) => c.startsWith(prefix))) {
        this.heldMods.set(code, { sent: false, alone: false, synthetic: true });
      }
    }
    for (const [code, m] of this.heldMods) {
      if (!m.sent) { m.sent = true; this.keyEvent(code, true); }
    }
    this.keyEvent(ev.code, true);
  }

  onKeyUp(ev) {
    if (MODIFIERS.has(ev.code)) {
      ev.preventDefault();
      const m = this.heldMods.get(ev.code);
      this.heldMods.delete(ev.code);
      if (!m) return;
      if (m.sent) this.keyEvent(ev.code, false);
      else if (m.alone) { this.keyEvent(ev.code, true); this.keyEvent(ev.code, false); }
      return;
    }
    if (this.sentKeys.has(ev.code)) {
      ev.preventDefault();
      this.keyEvent(ev.code, false);
      for (const [code, m] of this.heldMods) {
        if (m.synthetic) { this.heldMods.delete(code); if (m.sent) this.keyEvent(code, false); }
      }
    }
  }

  keyEvent(code, down) {
    if (down) this.sentKeys.add(code); else this.sentKeys.delete(code);
    this.send({ t: "key", k: code, d: down });
  }

  flushText() {
    const s = this.keys.value;
    this.keys.value = "";
    if (s) this.send({ t: "text", s });
  }

  // releaseAll lifts every key and button sent down (rule 4).
  releaseAll() {
    for (const code of [...this.sentKeys]) this.keyEvent(code, false);
    this.heldMods.clear();
    this.composing = false;
    this.keys.value = "";
  }
}
