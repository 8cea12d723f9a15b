// Tether viewer: /view/{session_id}. Signs in through the console's cookie,
// follows the signalling flow of protocol.Signal over a websocket, answers
// the agent's WebRTC offer and shows the screen channel on <canvas id=screen>.
// The session's mode decides what else it offers (protocol.ControlMsg
// "mode" features): chat in a side panel, file transfer, clipboard sync,
// and in Guidance the technician's pointer and marks instead of input.
import { decode, decodeIndexed, KIND_TILE, KIND_FRAME_END, KIND_SIZE, KIND_COPY, KIND_BUNDLE, KIND_VIDEO, ENC_JPEG, ENC_PNG, ENC_SOLID, ENC_JPEG_HALF, ENC_INDEXED } from "./screenwire.js";
import { Capture } from "./viewinput.js";
import { FileTransfers, browserSHA256 } from "./viewfile.js";
import { SessionLink } from "./viewlink.js";
import { VideoLayer } from "./viewvideo.js";
import { api, setCSRF } from "./api.js";
import { modeNames, reasonSentences, toolNames } from "./ui.js";
import { ToolPane, toolChannels } from "./viewtool.js";

const $ = (id) => document.getElementById(id);
const sessionID = decodeURIComponent(location.pathname.replace(/^\/view\//, "").replace(/\/$/, ""));

// Counters for tests and for a curious technician's devtools.
const stats = window.tetherStats = {
  messages: 0, sizes: 0, tiles: 0, copies: 0, frames: 0, errors: 0, inputs: 0,
  state: "connecting", reason: "", viewerId: "", holder: "", monitors: 0,
  offers: 0, reconnects: 0, acks: 0, busyAcks: 0, ackedSeq: 0, ackedBusy: false, ackedLazy: false,
  mode: "", features: [], modeRefused: "", chat: [], clipboard: "", marks: 0, endpointNotice: "",
  path: "", capture: "", videoFrames: 0, videoRegion: "",
};
// Test and devtools hooks that change behaviour (see tetherDebug below).
const debug = { dropAt: 0 };

let session = null; // latest protocol.Session
let viewerID = "";
let holder = "";
let channels = {};
let ended = false;
let myName = "";
let mode = "";
let features = [];


// ---- state shown in the toolbar ----


const STATE_WORDS = {
  connecting: "Connecting…",
  waiting: "Waiting for the user to accept…",
  live: "Live",
  ended: "Ended",
  lost: "Connection lost; reconnecting…",
  switching: "Endpoint switched desktop, reconnecting…",
  signin: "Not signed in",
};

function setState(state, detail) {
  stats.state = state;
  document.body.dataset.state = state;
  let text = STATE_WORDS[state] || state;
  if (state === "ended") {
    const why = reasonSentences[detail] || detail || "";
    stats.reason = detail || "";
    text = why ? `Ended: ${why}` : "Ended";
  } else if (detail) {
    text = `${text} ${detail}`;
  }
  $("state").textContent = text;
  updateButtons();
}

function showError(msg) { $("error").textContent = msg || ""; }

// A support tool's session (session.tool) shows its tool instead of the
// screen, and its peer carries control and the tool's channel only.
let toolPane = null;

function enterTool(tool) {
  if (document.body.dataset.tool) return;
  document.body.dataset.tool = tool;
  $("stage").hidden = true;
  $("tool").hidden = false;
  $("tool-h").textContent = toolNames[tool] || tool;
  toolPane = new ToolPane($("toolpane"), tool, { onStatus: (t) => { $("tool-status").textContent = t; }, stats, debug });
}

function toolSession() { return !!(session && session.tool); }

function applySession(s) {
  if (!s) return;
  session = s;
  if (s.tool) enterTool(s.tool);
  if (s.mode && !mode) $("mode").textContent = `Mode: ${modeNames[s.mode] || s.mode}`;
  $("host").textContent = s.hostname || s.endpoint_id || "";
  document.title = `${s.hostname || "Endpoint"} — Tether viewer`;
  if (s.control_holder !== undefined) setHolder(s.control_holder || "");
  switch (s.state) {
    case "requested": if (stats.state !== "live") setState("connecting"); break;
    case "awaiting_acceptance": setState("waiting"); break;
    case "connecting": if (stats.state !== "live") setState("connecting"); break;
    case "active": if (stats.state !== "switching" && (stats.frames > 0 || stats.sizes > 0 || noScreen() || toolSession())) setState("live"); break;
    case "ended": finish(s.reason); break;
  }
}

function viewerName(id) {
  if (!id) return "nobody";
  if (id === viewerID) return "you";
  const v = session && (session.viewers || []).find((x) => x.id === id);
  return v ? v.user : "another viewer";
}

function setHolder(id) {
  holder = id || "";
  stats.holder = holder;
  $("holder").textContent = `Control: ${viewerName(holder)}`;
  updateButtons();
}

function updateButtons() {
  const live = !ended && viewerID !== "";
  const mine = holder !== "" && holder === viewerID;
  $("request").hidden = mine;
  $("release").hidden = !mine;
  $("request").disabled = !live;
  $("release").disabled = !live;
  $("cad").disabled = !live || !channels.input || currentMode() !== "active";
  $("refresh").disabled = !live || !channels.control;
  $("end").disabled = ended;
  $("monitor").disabled = !live || $("monitor").options.length < 2;
  const chatUp = !ended && channels.chat && channels.chat.readyState === "open";
  $("chat-text").disabled = !chatUp;
  $("chat-send").disabled = !chatUp;
  $("mode-switch").disabled = !live || !channels.control || $("mode-switch").options.length < 2;
  $("clip-send").hidden = !features.includes("clipboard") || !mine;
  $("clip-auto-label").hidden = $("clip-send").hidden;
  $("file-input").disabled = ended || !features.includes("file");
}

// finish shows the ended state and closes every connection.
function finish(reason) {
  if (ended) return;
  ended = true;
  setState("ended", reason);
  link.close();
  transfers.setAllowed(false, 0);
  capture.releaseAll();
}

// ---- the screen ----

const canvas = $("screen");
const ctx2d = canvas.getContext("2d");
// Copies must be pixel-exact: the agent mirrors them on its own copy of
// the picture and sends only what still differs.
ctx2d.imageSmoothingEnabled = false;
let pendingTiles = []; // tiles and copies of the frame being received, in order
let framesQueued = 0; // frames received and not yet drawn
let ackSeq = 0; // the last frame drawn
let ackTimer = 0; // a lazy ack is due
// A viewer that keeps up acks about once a second, or every ACK_EVERY
// frames drawn: half the agent's window for a calm viewer (12 frames), so
// streaming never stalls. Each ack is a packet each way (with its SCTP
// acknowledgement), which for typing costs as much as the frames.
const LAZY_ACK_MS = 1000;
const ACK_EVERY = 6;
let drawnSinceAck = 0;
let drawChain = Promise.resolve(); // keeps sizes and frames in order
// Video frames count as frames drawn: the picture changed.
const video = new VideoLayer({ ctx: ctx2d, onFrame: () => { stats.frames++; stats.videoFrames++; } });

function onScreenMessage(data) {
  stats.messages++;
  let m;
  try {
    m = decode(new Uint8Array(data));
  } catch (e) {
    stats.errors++;
    console.warn("screen:", e.message);
    return;
  }
  handleScreen(m);
}

function handleScreen(m) {
  switch (m.kind) {
    case KIND_BUNDLE:
      for (const part of m.parts) {
        let pm;
        try {
          pm = decode(part);
        } catch (e) {
          stats.errors++;
          console.warn("screen:", e.message);
          return;
        }
        handleScreen(pm);
      }
      break;
    case KIND_SIZE:
      stats.sizes++;
      drawChain = drawChain.then(() => {
        video.setRegion(null);
        stats.videoRegion = "";
        canvas.width = m.w;
        canvas.height = m.h;
        ctx2d.imageSmoothingEnabled = false; // resizing reset it
        layout();
        ctx2d.fillStyle = "#000";
        ctx2d.fillRect(0, 0, m.w, m.h);
      });
      if (!ended && stats.state !== "live") setState("live");
      break;
    case KIND_TILE: {
      stats.tiles++;
      const t = m.tile;
      let img = null;
      if (t.enc === ENC_JPEG || t.enc === ENC_PNG || t.enc === ENC_JPEG_HALF) {
        // Start decoding now, in parallel with the rest of the frame.
        img = createImageBitmap(new Blob([t.payload], { type: t.enc === ENC_PNG ? "image/png" : "image/jpeg" }))
          .catch((e) => { stats.errors++; console.warn("screen tile:", e.message); return null; });
      } else if (t.enc === ENC_INDEXED) {
        img = decodeIndexed(t.payload, t.w, t.h).then((data) => createImageBitmap(data))
          .catch((e) => { stats.errors++; console.warn("screen tile:", e.message); return null; });
      }
      const rgb = t.enc === ENC_SOLID ? `rgb(${t.payload[0]},${t.payload[1]},${t.payload[2]})` : "";
      pendingTiles.push({ x: t.x, y: t.y, w: t.w, h: t.h, img, rgb });
      break;
    }
    case KIND_COPY:
      stats.copies++;
      pendingTiles.push({ copy: m.copy });
      break;
    case KIND_VIDEO:
      pendingTiles.push({ video: { x: m.x, y: m.y, w: m.w, h: m.h } });
      break;
    case KIND_FRAME_END: {
      framesQueued++;
      const tiles = pendingTiles;
      pendingTiles = [];
      drawChain = drawChain.then(async () => {
        const bitmaps = await Promise.all(tiles.map((t) => t.img));
        const snap = snapshot(tiles);
        tiles.forEach((t, i) => {
          if (t.video) {
            video.setRegion(t.video);
            stats.videoRegion = t.video.w ? `${t.video.x},${t.video.y},${t.video.w},${t.video.h}` : "";
          } else if (t.copy) {
            const c = t.copy;
            ctx2d.drawImage(snap.canvas, c.sx - snap.x, c.sy - snap.y, c.w, c.h, c.dx, c.dy, c.w, c.h);
          } else if (t.rgb) {
            ctx2d.fillStyle = t.rgb;
            ctx2d.fillRect(t.x, t.y, t.w, t.h);
          } else if (bitmaps[i]) {
            if (bitmaps[i].width !== t.w || bitmaps[i].height !== t.h) {
              // Half resolution: scaled up, smoothly.
              ctx2d.imageSmoothingEnabled = true;
              ctx2d.drawImage(bitmaps[i], t.x, t.y, t.w, t.h);
              ctx2d.imageSmoothingEnabled = false;
            } else {
              ctx2d.drawImage(bitmaps[i], t.x, t.y);
            }
            bitmaps[i].close();
          }
        });
        stats.frames++;
        framesQueued--;
        // Tell the agent this frame is on screen: it sends newer frames
        // only while we keep up, so a slow decode never builds a backlog.
        // While we keep up (no other frame waiting), a lazy ack is enough
        // and saves a packet per frame. After a busy ack the agent holds
        // to its small window until told otherwise, so the frame that
        // empties the queue says so at once.
        ackSeq = m.seq;
        drawnSinceAck++;
        if (framesQueued > 0 || drawnSinceAck >= ACK_EVERY || stats.ackedBusy) {
          // Busy, or streaming: ack now so the agent never waits on us.
          clearTimeout(ackTimer);
          ackTimer = 0;
          drawnSinceAck = 0;
          sendAck(ackSeq, framesQueued > 0, false);
        } else if (!ackTimer) {
          ackTimer = setTimeout(() => { ackTimer = 0; drawnSinceAck = 0; sendAck(ackSeq, false, true); }, LAZY_ACK_MS);
        }
      });
      break;
    }
  }
}

// sendAck acks frame seq. stats keeps what the last ack said; the ack
// logic reads ackedBusy from there.
function sendAck(seq, busy, lazy) {
  stats.acks++;
  if (busy) stats.busyAcks++;
  stats.ackedSeq = seq;
  stats.ackedBusy = busy;
  stats.ackedLazy = lazy;
  sendControl(busy ? { t: "ack", seq, busy: true } : { t: "ack", seq });
}

// Every copy of a frame reads the picture as it was before the frame's
// first copy: one snapshot of the area they read, taken once. (Drawing the
// canvas onto itself would snapshot all of it per copy.)
const snapCanvas = document.createElement("canvas");
const snapCtx = snapCanvas.getContext("2d");
function snapshot(items) {
  let x0 = Infinity, y0 = Infinity, x1 = 0, y1 = 0;
  for (const t of items) {
    if (!t.copy) continue;
    const c = t.copy;
    x0 = Math.min(x0, c.sx); y0 = Math.min(y0, c.sy);
    x1 = Math.max(x1, c.sx + c.w); y1 = Math.max(y1, c.sy + c.h);
  }
  if (x0 === Infinity) return null;
  if (snapCanvas.width < x1 - x0 || snapCanvas.height < y1 - y0) {
    snapCanvas.width = Math.max(snapCanvas.width, x1 - x0);
    snapCanvas.height = Math.max(snapCanvas.height, y1 - y0);
  }
  snapCtx.globalCompositeOperation = "copy";
  snapCtx.drawImage(canvas, x0, y0, x1 - x0, y1 - y0, 0, 0, x1 - x0, y1 - y0);
  return { canvas: snapCanvas, x: x0, y: y0 };
}

// layout sets the canvas's CSS size: the whole picture scaled to fit the
// stage, keeping its aspect ratio, or 1:1 (monitor pixels = CSS pixels).
function layout() {
  const W = canvas.width, H = canvas.height;
  if (!W || !H) return;
  let s = 1;
  if (!document.body.classList.contains("one-to-one")) {
    const stage = $("stage");
    s = Math.min(stage.clientWidth / W, stage.clientHeight / H);
    if (!(s > 0)) s = 1;
  }
  canvas.style.width = `${Math.floor(W * s)}px`;
  canvas.style.height = `${Math.floor(H * s)}px`;
}
new ResizeObserver(layout).observe($("stage"));

// ---- control channel ----

function onControlMessage(data) {
  let m;
  try { m = JSON.parse(data); } catch { stats.errors++; return; }
  switch (m.t) {
    case "monitors": {
      const sel = $("monitor");
      sel.replaceChildren();
      (m.monitors || []).forEach((mon, i) => {
        const o = document.createElement("option");
        o.value = String(i);
        o.textContent = `${i + 1}: ${mon.w}×${mon.h}${mon.primary ? " (primary)" : ""}`;
        sel.append(o);
      });
      sel.value = String(m.i || 0);
      stats.monitors = sel.options.length;
      if (m.capture && m.capture !== stats.capture) {
        stats.capture = m.capture;
        $("desktop").textContent = CAPTURE_WORDS[m.capture] || m.capture;
        $("desktop").hidden = false;
      }
      updateButtons();
      break;
    }
    case "holder": setHolder(m.holder || ""); break;
    case "mode":
      setMode(m.mode || "", m.features || [], m.file_max || 0, m.modes || null);
      // What the endpoint withholds and why (a login screen: no chat, no files).
      stats.endpointNotice = m.notice || "";
      if (m.notice) notice(m.notice);
      break;
    case "mode_refused":
      stats.modeRefused = m.text || "refused";
      showError(`Switching to ${modeNames[m.mode] || m.mode} was refused: ${m.text || "no reason given"}.`);
      notice("");
      setModeSelect();
      break;
    case "clipboard": onRemoteClipboard(m.text || ""); break;
    case "cursor": showCursor(m.x || 0, m.y || 0); break;
  }
}

// ---- modes ----

let enabledModes = [];

// setMode applies the mode the agent works in, with what it offers.
function setMode(m, feats, fileMax, modes) {
  const changed = m !== mode;
  mode = m;
  features = feats;
  stats.mode = m;
  stats.features = feats;
  if (modes) enabledModes = modes;
  document.body.dataset.mode = m;
  const screen = ["active", "guidance", "monitor"].includes(m);
  document.body.classList.toggle("noscreen", m !== "" && !screen);
  $("mode").textContent = m ? `Mode: ${modeNames[m] || m}` : "";
  $("files-toggle").hidden = !feats.includes("file");
  transfers.setAllowed(feats.includes("file"), fileMax);
  $("files-hint").textContent = feats.includes("file")
    ? `Files up to ${fileMax ? formatLimit(fileMax) : "any size"} go to the user's Downloads folder; the user's files appear here.`
    : "File transfer is not available in this mode.";
  $("files").hidden = !feats.includes("file");
  if (!screen) openSide(feats.includes("file") ? "files" : "chat");
  if (changed && m) { stats.modeRefused = ""; showError(""); notice(`The session is in ${modeNames[m] || m} mode.`); }
  // Without a screen there is no first frame to wait for.
  if (!screen && !ended && session && session.state === "active" && stats.state !== "live") setState("live");
  if (m !== "active") capture.releaseAll();
  setModeSelect();
  layout();
}

function noScreen() { return mode === "chat" || mode === "file"; }

// currentMode is the agent's word on the mode, or the server's until the
// agent has said it (an agent from before modes never does).
function currentMode() { return mode || (session && session.mode) || ""; }

function formatLimit(n) { return n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(1)} GiB` : `${Math.round(n / (1 << 20))} MiB`; }

function setModeSelect() {
  const sel = $("mode-switch");
  sel.replaceChildren();
  for (const m of (enabledModes.length ? enabledModes : [mode]).filter(Boolean)) {
    const o = document.createElement("option");
    o.value = m;
    o.textContent = modeNames[m] || m;
    sel.append(o);
  }
  sel.value = mode;
  updateButtons();
}

// Asking the endpoint for another mode; the user accepts where the policy
// wants it, and everyone hears the result as a "mode" message.
$("mode-switch").addEventListener("change", () => {
  const m = $("mode-switch").value;
  if (!m || m === mode) return;
  requestMode(m);
});

function requestMode(m) {
  sendControl({ t: "mode_request", mode: m });
  notice(`Asking to switch to ${modeNames[m] || m}…`);
}

function notice(msg) { $("notice").textContent = msg || ""; }

// showCursor draws the endpoint's pointer over the picture, scaled like the
// canvas, so a watching technician sees where the user points.
function showCursor(x, y) {
  const canvas = $("screen"), cur = $("cursor");
  if (!canvas.width || !canvas.height) return;
  const sx = canvas.clientWidth / canvas.width, sy = canvas.clientHeight / canvas.height;
  cur.style.transform = `translate(${canvas.offsetLeft + x * sx}px, ${canvas.offsetTop + y * sy}px)`;
  cur.hidden = false;
  stats.cursor = { x, y };
}

function sendControl(msg) {
  const ch = channels.control;
  if (ch && ch.readyState === "open") ch.send(JSON.stringify(msg));
}

function sendInput(ev) {
  // Only Active mode takes input; the agent drops it anyway (and the
  // tests prove that with tetherDebug.rawInput).
  if (ended || currentMode() !== "active") return;
  const ch = channels.input;
  if (ch && ch.readyState === "open") {
    ch.send(JSON.stringify(ev));
    stats.inputs++;
  }
}

// ---- the connection (viewlink.js) ----

// ?transport=websocket starts on the relay without trying WebRTC.
const link = new SessionLink({
  sessionID, stats, relayFirst: new URLSearchParams(location.search).get("transport") === "websocket",
  channels: (ch) => toolSession() ? toolChannels(session.tool, ch)
    : { screen: ch("screen", 1), input: ch("input", 2), control: ch("control", 3), chat: ch("chat", 4), file: ch("file", 5) },
  on: {
    hello: (m) => { viewerID = m.viewer_id || ""; applySession(m.session); },
    session: applySession,
    end: finish,
    channels: wireChannels,
    closed: () => {
      channels = {};
      video.detach();
      pendingTiles = [];
      updateButtons();
    },
    lost: () => setState("lost"),
    // Back after an outage: live again, whether or not the picture
    // changed meanwhile (a still screen sends nothing new).
    connected: (again) => { if (again && stats.state === "lost" && (stats.frames > 0 || noScreen())) setState("live"); },
    switching: (reason) => setState(reason === "desktop_changed" ? "switching" : "lost"),
    holder: setHolder,
    track: (ev) => { if (ev.track.kind === "video") video.attach(ev.streams[0] || new MediaStream([ev.track]), ev.receiver); },
    path: showPath,
    error: showError,
  },
});

// wireChannels makes chs (RTCDataChannels or RelayChannels) the session's
// channels; current says whether they still are when a message comes.
function wireChannels(chs, current) {
  if (toolSession()) {
    chs.control.onmessage = (ev) => { if (current()) onControlMessage(ev.data); };
    chs.control.onopen = () => { if (current() && session.state === "active" && !ended) setState("live"); updateButtons(); };
    if (toolPane) toolPane.attach(chs);
    channels = chs;
    return;
  }
  const { screen, input, control, chat, file } = chs;
  screen.binaryType = "arraybuffer";
  screen.onmessage = (ev) => { if (current()) onScreenMessage(ev.data); };
  control.onmessage = (ev) => { if (current()) onControlMessage(ev.data); };
  chat.onmessage = (ev) => { if (current()) onChatMessage(ev.data); };
  transfers.attach(file);
  channels = chs;
  for (const ch of [screen, input, control, chat]) {
    ch.onopen = updateButtons;
    ch.onclose = updateButtons;
  }
}

// ---- network path ----

const PATH_WORDS = {
  direct: "Direct",
  "relay-udp": "Relay (UDP)",
  "relay-tcp": "Relay (TCP)",
  "relay-tls": "Relay (TLS)",
  "relay-remote": "Relay (endpoint side)",
  websocket: "WebSocket (slower)",
};

// What the endpoint's desktop is, by how its screen is captured.
const CAPTURE_WORDS = {
  x11shm: "X11", x11: "X11", portable: "X11", dxgi: "Windows",
  wlr: "Wayland (wlroots)", mutter: "Wayland (GNOME)", portal: "Wayland (portal)",
};

async function showPath() {
  const path = await link.networkPath().catch(() => "");
  if (!path || path === stats.path) return;
  stats.path = path;
  $("path").textContent = PATH_WORDS[path] || path;
  $("path").hidden = false;
}

// The pair can change while connected (a relay first, then a direct
// path), so the toolbar looks again now and then.
setInterval(() => { if (link.pc && link.pc.connectionState === "connected" && !ended) showPath(); }, 3000);

// Hooks for tests and devtools: how much input is still queued in the
// browser, and the type of the local ICE candidate in use (host, srflx,
// relay). rawInput sends an input event whatever the mode (to show the
// agent drops it); dropConnection drops the websocket and peer connection
// as a network failure would (the viewer reconnects); dropAt makes a file
// transfer do that once it has moved that many bytes; sendFile sends text
// under any name; downloadSHA256 hashes a received file with the
// browser's own SHA-256; requestMode asks for a mode.
window.tetherDebug = {
  rawInput: (ev) => {
    const ch = channels.input;
    if (!ch || ch.readyState !== "open") return false;
    ch.send(JSON.stringify(ev));
    return true;
  },
  dropConnection: () => link.drop(),
  set dropAt(n) { debug.dropAt = n; },
  get dropAt() { return debug.dropAt; },
  sendFile: (name, text) => transfers.upload(new Blob([text]), name).then(() => true),
  downloadSHA256: (i) => browserSHA256(((toolPane && toolPane.transfers) || transfers).blob(i)),
  requestMode: (m) => { requestMode(m); return true; },
  sendClipboard: () => sendClipboard(true),
  terminalText: () => (toolPane ? toolPane.text() : ""),
  // adminRequest sends a request on a tool's admin channel as the page
  // would (tests try what the page never sends).
  adminRequest: (op, args) => toolPane.request(op, args),
  channels: () => Object.fromEntries(Object.entries(channels).map(([k, ch]) => [k, ch.readyState])),
  inputBuffered: () => (channels.input ? channels.input.bufferedAmount : 0),
  // What the browser's own decoder did with the video track (WebRTC
  // stats of its inbound stream).
  videoDecoded: async () => {
    if (!link.pc) return { framesDecoded: 0, codec: "" };
    const report = await link.pc.getStats();
    const out = { framesDecoded: 0, codec: "" };
    report.forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "video") {
        out.framesDecoded = r.framesDecoded || 0;
        const c = r.codecId && report.get(r.codecId);
        out.codec = c ? c.mimeType : "";
      }
    });
    return out;
  },
  candidateType: async () => {
    if (!link.pc) return "";
    const report = await link.pc.getStats();
    let pairID = "";
    report.forEach((r) => { if (r.type === "transport" && r.selectedCandidatePairId) pairID = r.selectedCandidatePairId; });
    const pair = pairID && report.get(pairID);
    const local = pair && report.get(pair.localCandidateId);
    return local ? local.candidateType : "";
  },
};

// ---- toolbar ----

const capture = new Capture({ canvas, keys: $("keys"), send: sendInput, onLeave: () => $("request").focus() });

const transfers = new FileTransfers({ list: $("file-list"), stats, debug, onDrop: () => link.drop() });
$("file-input").addEventListener("change", () => {
  for (const f of $("file-input").files) transfers.upload(f);
  $("file-input").value = "";
});

// ---- side panel: chat and files ----

let unread = 0;

function openSide(section) {
  $("side").hidden = false;
  $("chat-toggle").setAttribute("aria-pressed", "true");
  $("files-toggle").setAttribute("aria-pressed", String(!$("files").hidden));
  if (section === "chat") { $("chat-unread").hidden = true; unread = 0; }
  layout();
}

function closeSide() {
  $("side").hidden = true;
  $("chat-toggle").setAttribute("aria-pressed", "false");
  $("files-toggle").setAttribute("aria-pressed", "false");
  layout();
}

$("chat-toggle").addEventListener("click", () => {
  if ($("side").hidden) { openSide("chat"); $("chat-text").focus(); } else closeSide();
});
$("files-toggle").addEventListener("click", () => {
  if ($("side").hidden) openSide("files"); else closeSide();
});

function onChatMessage(data) {
  let m;
  try { m = JSON.parse(data); } catch { stats.errors++; return; }
  if (m.t === "history") {
    $("chat-log").replaceChildren();
    stats.chat = [];
    for (const l of m.lines || []) addChatLine(l, false);
  } else if (m.t === "line" && m.line) {
    addChatLine(m.line, true);
  }
}

function addChatLine(l, fresh) {
  stats.chat.push({ role: l.role, from: l.from || "", text: l.text || "" });
  const li = document.createElement("li");
  li.className = l.role === "user" ? "user" : "tech";
  const time = document.createElement("span");
  time.className = "time";
  const t = new Date(l.time);
  time.textContent = isNaN(t) ? "" : t.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const from = document.createElement("span");
  from.className = "from";
  from.textContent = l.role === "user" ? "User:" : `${l.from === myName ? "You" : l.from || "Technician"}:`;
  li.append(time, from, document.createTextNode(l.text || ""));
  $("chat-log").append(li);
  li.scrollIntoView({ block: "nearest" });
  if (fresh && l.role === "user" && $("side").hidden) {
    unread++;
    $("chat-unread").textContent = String(unread);
    $("chat-unread").hidden = false;
  }
}

$("chat-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = $("chat-text").value.trim();
  const ch = channels.chat;
  if (!text || !ch || ch.readyState !== "open") return;
  ch.send(JSON.stringify({ t: "say", text }));
  // The server records the line as this technician's from here, never on
  // the endpoint's word.
  link.signal({ type: "chat", chat: { text } });
  $("chat-text").value = "";
});

// ---- clipboard (Active mode, the holder, where the policy allows) ----

let lastClip = "";

async function onRemoteClipboard(text) {
  stats.clipboard = text;
  lastClip = text;
  try {
    await navigator.clipboard.writeText(text);
    notice("The endpoint's clipboard is now on this computer's clipboard.");
  } catch {
    notice("The endpoint's clipboard changed; focus this page to receive it.");
    window.addEventListener("focus", () => navigator.clipboard.writeText(lastClip).catch(() => {}), { once: true });
  }
}

async function sendClipboard(explicit) {
  if (!features.includes("clipboard") || holder !== viewerID || !viewerID) return false;
  let text;
  try { text = await navigator.clipboard.readText(); } catch {
    if (explicit) showError("The browser did not allow reading the clipboard.");
    return false;
  }
  if (typeof text !== "string" || text === "" || text === lastClip || text.length > 48 << 10) return false;
  lastClip = text;
  sendControl({ t: "clipboard", text });
  if (explicit) notice("Clipboard sent to the endpoint.");
  return true;
}

// The technician's clipboard leaves this computer only on an explicit
// action: the button, or coming back to the page with "Auto-send" ticked
// (off by default: a password copied elsewhere must not reach the endpoint
// unasked).
window.addEventListener("focus", () => { if ($("clip-auto").checked) sendClipboard(false); });
$("clip-send").addEventListener("click", () => sendClipboard(true));

// ---- guidance: the technician's pointer and marks ----

function mayGuide() { return mode === "guidance" && !ended && (holder === "" || holder === viewerID); }

let stroke = null;
let pointerAt = null;
canvas.addEventListener("pointermove", (ev) => {
  if (!mayGuide()) return;
  const p = capture.toMonitor(ev.clientX, ev.clientY);
  if (!p) return;
  if (stroke && stroke.length < 1024) {
    const n = stroke.length;
    if (Math.abs(stroke[n - 2] - p.x) + Math.abs(stroke[n - 1] - p.y) >= 3) stroke.push(p.x, p.y);
  }
  // At most one pointer message per animation frame; the latest wins.
  if (!pointerAt) requestAnimationFrame(() => { sendControl({ t: "pointer", x: pointerAt.x, y: pointerAt.y }); pointerAt = null; });
  pointerAt = p;
});
canvas.addEventListener("pointerdown", (ev) => {
  if (!mayGuide()) return;
  const p = capture.toMonitor(ev.clientX, ev.clientY);
  if (p) stroke = [p.x, p.y];
});
window.addEventListener("pointerup", () => {
  if (!stroke) return;
  if (stroke.length >= 4 && mayGuide()) { sendControl({ t: "mark", pts: stroke }); stats.marks++; }
  stroke = null;
});
canvas.addEventListener("pointerleave", () => { if (mayGuide() && !stroke) sendControl({ t: "pointer", x: -1, y: -1 }); });

async function controlOp(op) {
  try {
    await api("POST", `/api/v1/sessions/${encodeURIComponent(sessionID)}/control`, { op, viewer: viewerID });
    showError("");
  } catch (e) {
    showError(e.status === 403 ? "You may not do that in this session." : `Control: ${e.message}`);
  }
}

$("request").addEventListener("click", () => controlOp("request"));
$("release").addEventListener("click", () => controlOp("release"));
$("cad").addEventListener("click", () => { sendInput({ t: "combo", c: "ctrl-alt-del" }); canvas.focus(); });
$("refresh").addEventListener("click", () => sendControl({ t: "refresh" }));
$("monitor").addEventListener("change", () => sendControl({ t: "monitor", i: Number($("monitor").value) }));
$("scale").addEventListener("click", () => {
  const one = document.body.classList.toggle("one-to-one");
  $("scale").textContent = one ? "Scale to fit" : "1:1";
  $("scale").setAttribute("aria-pressed", String(one));
  layout();
});
$("end").addEventListener("click", async () => {
  try {
    await api("POST", `/api/v1/sessions/${encodeURIComponent(sessionID)}/end`, {});
    finish("ended_by_technician");
  } catch (e) {
    showError(`End session: ${e.message}`);
  }
});

// ---- start ----

async function start() {
  setState("connecting");
  if (!sessionID) { showError("No session in the address."); return; }
  try {
    const me = await api("GET", "/api/v1/me");
    setCSRF(me.csrf_token);
    myName = me.name || "";
    $("who").textContent = me.name;
  } catch (e) {
    setState("signin");
    const a = document.createElement("a");
    a.href = "/";
    a.textContent = "Sign in on the console";
    $("error").replaceChildren(e.status === 401 ? "Your sign-in has expired or is missing. " : `${e.message}. `, a, ", then open this page again.");
    ended = true;
    updateButtons();
    return;
  }
  try {
    applySession(await api("GET", `/api/v1/sessions/${encodeURIComponent(sessionID)}`));
  } catch (e) {
    ended = true;
    setState("ended", e.status === 404 ? "" : "error");
    showError(e.status === 404 ? "No such session, or you may not see it." : e.status === 403 ? "You may not view this session." : e.message);
    return;
  }
  link.connect();
}

start();
