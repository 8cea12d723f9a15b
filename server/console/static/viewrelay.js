// The WebSocket relay (protocol/relay.go): when no WebRTC path comes up,
// the session's data channels ride the signalling websocket through the
// server. RelayLink stands in for the peer connection and RelayChannel for
// each RTCDataChannel, with the surface the viewer uses (send, readyState,
// bufferedAmount and its low-water event, onopen, onmessage, onclose).
//
// Frames on this leg: [channel u8][flags u8][payload]; flags bit 0 marks
// text. Channel 0 is flow control: 8 bytes, big-endian, the total of
// payload bytes the sender has taken in. bufferedAmount is what was sent
// and not yet taken in by the endpoint, so the file channel's high water
// mark bounds what is in flight end to end.

const ACK_CHANNEL = 0;
const TEXT = 1;
const ACK_EVERY = 64 << 10;
const ACK_DELAY_MS = 20;
const enc = new TextEncoder();
const dec = new TextDecoder();

export const CHANNEL_IDS = { screen: 1, input: 2, control: 3, chat: 4, file: 5, terminal: 6, admin: 7 };

export class RelayChannel extends EventTarget {
  constructor(link, id, label) {
    super();
    this.link = link;
    this.id = id;
    this.label = label;
    this.readyState = "connecting";
    this.binaryType = "arraybuffer";
    this.bufferedAmountLowThreshold = 0;
    this.onopen = null;
    this.onmessage = null;
    this.onclose = null;
    this.onbufferedamountlow = null;
  }

  get bufferedAmount() { return this.link.inFlight(); }

  send(data) {
    if (this.readyState !== "open") throw new DOMException("relay channel is not open", "InvalidStateError");
    const text = typeof data === "string";
    let payload;
    if (text) payload = enc.encode(data);
    else if (data instanceof ArrayBuffer) payload = new Uint8Array(data);
    else payload = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.link.write(this.id, text, payload);
  }

  close() { this.fire("close"); }

  fire(type, init) {
    if (type === "open") this.readyState = "open";
    if (type === "close") {
      if (this.readyState === "closed") return;
      this.readyState = "closed";
    }
    const ev = type === "message" ? new MessageEvent("message", init) : new Event(type);
    const h = this["on" + type];
    if (h) h.call(this, ev);
    this.dispatchEvent(ev);
  }
}

export class RelayLink {
  // ws is the signalling websocket (binaryType "arraybuffer").
  constructor(ws) {
    this.ws = ws;
    this.sent = 0; // payload bytes sent to the endpoint
    this.acked = 0; // of them, taken in by it
    this.recv = 0; // payload bytes taken in from the endpoint
    this.recvAcked = 0;
    this.ackTimer = 0;
    this.channels = {};
    for (const [label, id] of Object.entries(CHANNEL_IDS)) this.channels[label] = new RelayChannel(this, id, label);
  }

  inFlight() { return this.sent - this.acked; }

  write(id, text, payload) {
    const frame = new Uint8Array(2 + payload.length);
    frame[0] = id;
    frame[1] = text ? TEXT : 0;
    frame.set(payload, 2);
    if (this.ws.readyState !== WebSocket.OPEN) throw new DOMException("signalling is closed", "InvalidStateError");
    this.ws.send(frame);
    if (id !== ACK_CHANNEL) this.sent += payload.length;
  }

  open() { for (const ch of Object.values(this.channels)) ch.fire("open"); }

  close() {
    clearTimeout(this.ackTimer);
    for (const ch of Object.values(this.channels)) ch.fire("close");
  }

  // onFrame takes one binary message from the server; false when it is
  // malformed.
  onFrame(buf) {
    const b = new Uint8Array(buf);
    if (b.length < 2 || (b[1] & ~TEXT) !== 0) return false;
    const id = b[0];
    const payload = b.subarray(2);
    if (id === ACK_CHANNEL) {
      if (payload.length !== 8) return false;
      const total = Number(new DataView(buf, 2, 8).getBigUint64(0));
      if (total < this.acked || total > this.sent) return false;
      const before = this.inFlight();
      this.acked = total;
      const after = this.inFlight();
      for (const ch of Object.values(this.channels)) {
        if (before > ch.bufferedAmountLowThreshold && after <= ch.bufferedAmountLowThreshold) ch.fire("bufferedamountlow");
      }
      return true;
    }
    const ch = Object.values(this.channels).find((c) => c.id === id);
    if (!ch) return false;
    this.took(payload.length);
    if (ch.readyState !== "open") return true;
    const data = b[1] & TEXT ? dec.decode(payload) : payload.slice().buffer;
    ch.fire("message", { data });
    return true;
  }

  took(n) {
    this.recv += n;
    if (this.recv - this.recvAcked >= ACK_EVERY) this.ack();
    else if (!this.ackTimer) this.ackTimer = setTimeout(() => { this.ackTimer = 0; if (this.recv !== this.recvAcked) this.ack(); }, ACK_DELAY_MS);
  }

  ack() {
    this.recvAcked = this.recv;
    const p = new Uint8Array(8);
    new DataView(p.buffer).setBigUint64(0, BigInt(this.recv));
    try { this.write(ACK_CHANNEL, false, p); } catch { /* closed: nothing to ack to */ }
  }
}
