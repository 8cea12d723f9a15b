// viewfile.js: file transfer on the "file" data channel (protocol.FileMsg
// as JSON text, protocol.FileChunk as binary), both ways, with progress,
// resume after a dropped connection and a SHA-256 check.
//
// Uploads (technician → endpoint) stay pending until the endpoint says
// "done": a new channel (the viewer reconnected) offers them again and the
// endpoint answers where its partial file ends. Downloads (endpoint →
// technician) are kept by content (SHA-256 and size) for the life of the
// page, so the same offer on a new channel resumes where this one stopped.
import { Sha256, sha256Blob } from "./sha256.js";

export const MAX_CHUNK = 16 << 10;
const HEADER = 13;
const HIGH_WATER = 1 << 20;
const LOW_WATER = 256 << 10;
const PROGRESS_EVERY = 1 << 20;

// encodeChunk and decodeChunk are the binary FileChunk: kind 1, id
// (uint32), offset (uint64), data.
export function encodeChunk(id, offset, data) {
  const b = new Uint8Array(HEADER + data.length);
  const dv = new DataView(b.buffer);
  dv.setUint8(0, 1);
  dv.setUint32(1, id);
  dv.setUint32(5, Math.floor(offset / 0x100000000));
  dv.setUint32(9, offset >>> 0);
  b.set(data, HEADER);
  return b;
}

export function decodeChunk(buf) {
  const b = new Uint8Array(buf);
  if (b.length < HEADER + 1 || b.length > HEADER + MAX_CHUNK || b[0] !== 1) throw new Error("bad file chunk");
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const id = dv.getUint32(1);
  const offset = dv.getUint32(5) * 0x100000000 + dv.getUint32(9);
  if (id === 0 || offset > 2 ** 40) throw new Error("bad file chunk");
  return { id, offset, data: b.subarray(HEADER) };
}

// browserSHA256 is a blob's SHA-256 (hex) by the browser's own hash, for
// tests to check sha256.js's against; "" without a blob.
export async function browserSHA256(blob) {
  if (!blob) return "";
  const d = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return Array.from(new Uint8Array(d), (x) => x.toString(16).padStart(2, "0")).join("");
}

export function formatSize(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${(n / (1 << 30)).toFixed(2)} GiB`;
}

export class FileTransfers {
  // list: the <ul> that shows transfers; stats: window.tetherStats (files
  // counters); onDrop: called once when a transfer passes debug.dropAt
  // bytes (tests interrupt a transfer that way).
  constructor({ list, stats, debug, onDrop }) {
    this.list = list;
    this.stats = stats;
    this.debug = debug;
    this.onDrop = onDrop;
    this.ch = null;
    this.allowed = false;
    this.max = 0;
    this.nextId = 1;
    this.uploads = new Map(); // our id → upload
    this.downloads = new Map(); // sha-size → download
    this.incoming = new Map(); // the endpoint's id → download, on this channel
    stats.uploads = []; // finished: {name, size, sha256, savedAs}
    stats.downloads = []; // finished: {name, size, sha256}
    stats.resumes = 0; // transfers that went on from an offset > 0
    stats.fileMsgs = 0; // text messages received on the file channel
    stats.chunksSent = 0;
  }

  // attach takes the file channel of a new peer connection.
  attach(ch) {
    this.ch = ch;
    this.incoming.clear();
    ch.binaryType = "arraybuffer";
    ch.bufferedAmountLowThreshold = LOW_WATER;
    ch.onmessage = (ev) => {
      if (this.ch !== ch) return;
      try {
        if (typeof ev.data === "string") this.onText(JSON.parse(ev.data));
        else this.onChunk(decodeChunk(ev.data));
      } catch (e) {
        this.stats.errors++;
        console.warn("file channel:", e.message);
      }
    };
    ch.onopen = () => this.offerPending();
  }

  // setAllowed follows the session's mode (the "file" feature) and the
  // policy's size limit.
  setAllowed(on, max) {
    const was = this.allowed;
    this.allowed = on;
    this.max = max || 0;
    if (on && !was) this.offerPending();
  }

  send(msg) {
    if (this.ch && this.ch.readyState === "open") this.ch.send(JSON.stringify(msg));
  }

  // ---- uploads ----

  // upload sends a File (or Blob with a name) to the endpoint.
  async upload(file, name = file.name) {
    const up = { id: this.nextId++, file, name, size: file.size, sha: "", acked: 0, sent: 0, state: "hashing", el: null, pumping: false };
    this.uploads.set(up.id, up);
    up.el = this.row(`To the endpoint: ${name}`, up.size);
    if (this.max && up.size > this.max) {
      this.fail(up, `larger than the policy allows (${formatSize(this.max)})`);
      return up;
    }
    up.sha = await sha256Blob(file, (n) => this.show(up.el, n, up.size, "checking"));
    up.state = "offered";
    this.show(up.el, 0, up.size, "waiting for the endpoint");
    if (this.allowed) this.send({ t: "offer", id: up.id, name, size: up.size, sha256: up.sha });
    return up;
  }

  offerPending() {
    if (!this.allowed || !this.ch || this.ch.readyState !== "open") return;
    for (const up of this.uploads.values()) {
      if (up.state === "offered" || up.state === "sending") {
        up.state = "offered";
        up.pumping = false;
        this.send({ t: "offer", id: up.id, name: up.name, size: up.size, sha256: up.sha });
      }
    }
  }

  async pump(up, from) {
    const ch = this.ch;
    up.state = "sending";
    up.pumping = true;
    if (from > 0) this.stats.resumes++;
    let off = from;
    while (off < up.size) {
      if (this.ch !== ch || ch.readyState !== "open" || up.state !== "sending") return;
      if (ch.bufferedAmount > HIGH_WATER) {
        await new Promise((res) => { ch.addEventListener("bufferedamountlow", res, { once: true }); setTimeout(res, 1000); });
        continue;
      }
      const end = Math.min(off + 16 * MAX_CHUNK, up.size);
      const buf = new Uint8Array(await up.file.slice(off, end).arrayBuffer());
      for (let i = 0; i < buf.length; i += MAX_CHUNK) {
        if (this.ch !== ch || ch.readyState !== "open") return;
        ch.send(encodeChunk(up.id, off + i, buf.subarray(i, i + MAX_CHUNK)));
        this.stats.chunksSent++;
      }
      off = end;
      up.sent = off;
      this.dropCheck(off);
    }
  }

  // ---- downloads ----

  onText(m) {
    this.stats.fileMsgs++;
    if (!m || typeof m.t !== "string" || !(m.id > 0)) throw new Error("bad file message");
    const up = this.uploads.get(m.id);
    switch (m.t) {
      case "offer": this.offered(m); break;
      case "cancel": this.incoming.delete(m.id); break;
      case "accept": {
        const off = m.offset || 0; // the agent omits a zero offset
        if (up && up.state === "offered" && off >= 0 && off <= up.size) this.pump(up, off);
        break;
      }
      case "progress":
        if (up) { up.acked = m.offset || 0; this.show(up.el, up.acked, up.size, "sending"); }
        break;
      case "done":
        if (up && up.state !== "done") {
          up.state = "done";
          this.show(up.el, up.size, up.size, `sent; saved on the endpoint as ${m.name || up.name}`);
          up.el.dataset.state = "done";
          this.stats.uploads.push({ name: up.name, size: up.size, sha256: up.sha, savedAs: m.name || "" });
        }
        break;
      case "reject":
        if (up) this.fail(up, m.error || "refused");
        else this.incoming.delete(m.id);
        break;
    }
  }

  fail(up, why) {
    up.state = "failed";
    this.show(up.el, up.acked, up.size, `failed: ${why}`);
    up.el.dataset.state = "failed";
  }

  offered(m) {
    if (typeof m.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(m.sha256) || !(m.size >= 0) || typeof m.name !== "string") {
      this.send({ t: "reject", id: m.id, error: "bad offer" });
      return;
    }
    if (!this.allowed) { this.send({ t: "reject", id: m.id, error: "file transfer is off" }); return; }
    const key = `${m.sha256}-${m.size}`;
    let d = this.downloads.get(key);
    if (!d) {
      d = { key, name: m.name, size: m.size, sha: m.sha256, parts: [], have: 0, hash: new Sha256(), reported: 0, state: "receiving", el: null, url: "" };
      d.el = this.row(`From the endpoint: ${m.name}`, m.size);
      this.downloads.set(key, d);
    }
    if (d.state === "done") { this.send({ t: "done", id: m.id, name: d.name }); return; }
    d.state = "receiving";
    this.incoming.set(m.id, d);
    if (d.have > 0) this.stats.resumes++;
    this.send({ t: "accept", id: m.id, offset: d.have });
    if (d.have === d.size) this.finish(m.id, d);
  }

  onChunk(c) {
    const d = this.incoming.get(c.id);
    if (!d) return;
    if (c.offset !== d.have || d.have + c.data.length > d.size) {
      this.incoming.delete(c.id);
      this.send({ t: "reject", id: c.id, error: `data at ${c.offset}, expected ${d.have}` });
      return;
    }
    const copy = c.data.slice();
    d.parts.push(copy);
    d.hash.update(copy);
    d.have += copy.length;
    if (d.have === d.size) { this.finish(c.id, d); return; }
    if (d.have - d.reported >= PROGRESS_EVERY) {
      d.reported = d.have;
      this.send({ t: "progress", id: c.id, offset: d.have });
      this.show(d.el, d.have, d.size, "receiving");
    }
    this.dropCheck(d.have);
  }

  finish(id, d) {
    this.incoming.delete(id);
    const sum = d.hash.hex();
    if (sum !== d.sha) {
      this.downloads.delete(d.key);
      this.send({ t: "reject", id, error: "checksum mismatch" });
      this.show(d.el, d.have, d.size, "failed: damaged on the way");
      d.el.dataset.state = "failed";
      return;
    }
    d.state = "done";
    const blob = new Blob(d.parts);
    d.parts = [];
    d.blob = blob;
    d.url = URL.createObjectURL(blob);
    this.send({ t: "progress", id, offset: d.size });
    this.send({ t: "done", id, name: d.name });
    this.show(d.el, d.size, d.size, "received");
    d.el.dataset.state = "done";
    const a = document.createElement("a");
    a.href = d.url;
    a.download = d.name;
    a.textContent = "Save";
    a.className = "save";
    d.el.append(a);
    this.stats.downloads.push({ name: d.name, size: d.size, sha256: d.sha });
  }

  // blob returns a finished download's contents by index (tests check it).
  blob(i) {
    const done = [...this.downloads.values()].filter((d) => d.state === "done");
    return done[i] ? done[i].blob : null;
  }

  dropCheck(bytes) {
    if (this.debug.dropAt > 0 && bytes >= this.debug.dropAt) {
      this.debug.dropAt = 0;
      this.onDrop();
    }
  }

  // ---- the list ----

  row(title, size) {
    const li = document.createElement("li");
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = `${title} (${formatSize(size)})`;
    const bar = document.createElement("progress");
    bar.max = Math.max(size, 1);
    bar.value = 0;
    const st = document.createElement("span");
    st.className = "status";
    st.setAttribute("role", "status");
    li.append(name, bar, st);
    this.list.prepend(li);
    return li;
  }

  show(el, have, size, what) {
    const bar = el.querySelector("progress");
    bar.value = have;
    const pct = size > 0 ? Math.floor((have * 100) / size) : 100;
    el.querySelector(".status").textContent = `${what} — ${pct}%`;
  }
}
